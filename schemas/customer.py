"""Customers as the API reads and writes them."""
from marshmallow import validate

from schemas.common import ApiSchema, Email, ListQuerySchema, Phone, Text


class CustomerSchema(ApiSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    email = Email(required=True, validate=validate.Length(max=254))
    phone = Phone(required=True)
    address = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class CustomerListQuery(ListQuerySchema):
    name = Text(validate=validate.Length(max=200))
    q = Text(validate=validate.Length(max=200), metadata={"description": "Search name or email"})
