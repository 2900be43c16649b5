"""Customers as the API reads and writes them."""
from marshmallow import validate

from schemas.common import ApiSchema, ArchivedListQuery, Email, ListQuerySchema, Phone, Text, archive_flag


class CustomerSchema(ApiSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    email = Email(required=True, validate=validate.Length(max=254))
    phone = Phone(required=True)
    address = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))
    active = archive_flag()


class CustomerListQuery(ArchivedListQuery, ListQuerySchema):
    name = Text(validate=validate.Length(max=200))
    q = Text(validate=validate.Length(max=200), metadata={"description": "Search name or email"})
