"""Users, logins and tokens as the API reads and writes them."""
from typing import Any

from marshmallow import Schema, fields, validate

from core.security import normalize_username
from models.user import ROLES
from schemas.common import ApiSchema, ListQuerySchema, StrictBoolean, Text

USERNAME = validate.Regexp(r"^[a-z0-9_.\-]{3,64}$", error="3 to 64 letters, digits, '.', '_' or '-'.")


class Username(Text):
    """A username in its one stored form: NFKC, case-folded, trimmed (`Admin` is `admin`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalize_username(super()._deserialize(value, attr, data, **kwargs))
PASSWORD = validate.Length(min=8, max=256)


class UserSchema(ApiSchema):
    username = Username(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))
    is_active = StrictBoolean(load_default=True)


class UserListQuery(ListQuerySchema):
    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = fields.Boolean()
    q = Text(validate=validate.Length(max=64), metadata={"description": "Search username"})


class LoginSchema(Schema):
    username = Username(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    new_password = fields.String(required=True, load_only=True, validate=PASSWORD)


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class TokenPairSchema(Schema):
    access_token = fields.String()
    token_type = fields.String(dump_default="Bearer")
    expires_in = fields.Integer()
    refresh_token = fields.String()


class SignInSchema(TokenPairSchema):
    """The login answer: the pair, and the access token again as `token` (what the old system sent)."""

    token = fields.String(metadata={"description": "The access token again, as `access_token`; for "
                                                   "clients of the system this one replaces."})


class DisplayTokenRequestSchema(Schema):
    label = Text(required=True, validate=validate.Length(min=1, max=120))
    expires_in_days = fields.Integer(load_default=365, strict=True, validate=validate.Range(min=1, max=3650))


class DisplayTokenSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    token = fields.String(metadata={"description": "Shown once; store it on the wall screen."})
    expires_at = fields.String()
    created_at = fields.String()


DISPLAY_TOKEN_SORT = ("id", "created_at", "expires_at")


class DisplayTokenListQuery(ListQuerySchema):
    sort_by = fields.String(load_default=None, validate=validate.OneOf(DISPLAY_TOKEN_SORT))


class ActorSchema(Schema):
    id = fields.Integer()
    username = fields.String()


class DisplayTokenAuditSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    created_at = fields.String()
    expires_at = fields.String()
    revoked_at = fields.String(allow_none=True)
    minted_by = fields.Nested(ActorSchema)
    revoked_by = fields.Nested(ActorSchema, allow_none=True)


class MeSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    role = fields.String()
    token_kind = fields.String()
