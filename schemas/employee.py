"""Employees as the API reads and writes them."""
from marshmallow import validate

from schemas.common import ApiSchema, ArchivedListQuery, Email, ListQuerySchema, Phone, Text, archive_flag


class EmployeeSchema(ApiSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    position = Text(required=True, validate=validate.Length(min=1, max=120))
    email = Email(required=True, validate=validate.Length(max=254))
    phone = Phone(required=True)
    active = archive_flag()


class EmployeeListQuery(ArchivedListQuery, ListQuerySchema):
    name = Text(validate=validate.Length(max=120))
    position = Text(validate=validate.Length(max=120))
    q = Text(validate=validate.Length(max=120), metadata={"description": "Search name or email"})
