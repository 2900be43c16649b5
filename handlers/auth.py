"""Sign-in, token refresh, sign-out, who-am-I and wall-display tokens."""
from __future__ import annotations

from core.errors import ApiError, invalid
from core.security import TokenError, normalize_username
from handlers.base import BaseHandler
from handlers.exports import send_every_page_csv, wants_csv
from schemas.common import iso_utc
from schemas.openapi import page_of
from schemas.user import (
    DISPLAY_TOKEN_SORT,
    DisplayTokenAuditSchema,
    DisplayTokenListQuery,
    DisplayTokenRequestSchema,
    DisplayTokenSchema,
    LoginSchema,
    MeSchema,
    PasswordChangeSchema,
    RefreshSchema,
    SignInSchema,
    TokenPairSchema,
)

INVALID_LOGIN = "Unknown username or wrong password."


def login_key(address: str, username: str) -> str:
    """The rate-limit bucket of one client's sign-ins to one (normalised) username."""
    return f"login-user:{address}:{normalize_username(username)}"


class LoginHandler(BaseHandler):
    """`POST /auth/login`: username and password for an access and a refresh token."""

    access = {"POST": None}
    budgets = {"POST": "login"}
    docs = {"POST": {"summary": "Sign in for an access and a refresh token", "tags": ["auth"],
                     "body": LoginSchema, "responses": {200: SignInSchema}, "errors": (401,),
                     "description": "Unknown user and wrong password get the same 401. The login budget "
                                    "counts per client and per (client, username). The answer carries "
                                    "the access token twice, as `access_token` and as `token`."}}

    async def prepare(self) -> None:
        await super().prepare()
        # The login budget counts per client (in admit) and per (client, username): guessing one
        # account stays slow, and nobody spends another client's budget for that account.
        data = self.load_body(LoginSchema())
        await self.take_budget("login", login_key(self.client_ip, data["username"]))
        self.credentials = data

    async def post(self) -> None:
        user = await self.ctx.auth.check_password(self.credentials["username"], self.credentials["password"])
        if user is None:
            raise ApiError(401, INVALID_LOGIN, headers={"WWW-Authenticate": 'Bearer realm="factory"'})
        pair = await self.ctx.auth.login(user)
        self.send_json({**pair, "token": pair["access_token"]})

    def budget_name(self, method: str) -> str:
        return "login"


class RefreshHandler(BaseHandler):
    """`POST /auth/refresh`: a refresh token for a new pair (the old one stops working)."""

    access = {"POST": None}
    budgets = {"POST": "login"}
    docs = {"POST": {"summary": "Swap a refresh token for a new pair", "tags": ["auth"],
                     "body": RefreshSchema, "responses": {200: TokenPairSchema}, "errors": (401,),
                     "description": "The old refresh token stops working; replaying it revokes the session."}}

    async def post(self) -> None:
        data = self.load_body(RefreshSchema())
        try:
            pair = await self.ctx.auth.refresh(data["refresh_token"])
        except TokenError as exc:
            challenge = 'Bearer realm="factory", error="invalid_token"'
            raise ApiError(401, f"Refresh failed: {exc}.", headers={"WWW-Authenticate": challenge}) from None
        self.send_json(pair)


class LogoutHandler(BaseHandler):
    """`POST /auth/logout`: revoke the session behind the presented token."""

    access = {"POST": "user"}
    allow_display = True
    docs = {"POST": {"summary": "Sign out: revoke this token's session", "tags": ["auth"],
                     "responses": {204: None}}}

    def parse_body(self) -> None:
        return None

    async def post(self) -> None:
        await self.ctx.auth.logout(self.principal)
        self.no_content()


class MeHandler(BaseHandler):
    """`GET /auth/me`: who the token belongs to."""

    access = {"GET": "user"}
    allow_display = True
    docs = {"GET": {"summary": "Who the token belongs to", "tags": ["auth"], "responses": {200: MeSchema}}}

    async def get(self) -> None:
        p = self.principal
        self.send_json({"id": p.user_id, "username": p.username, "role": p.role, "token_kind": p.kind})


class PasswordHandler(BaseHandler):
    """`POST /auth/password`: change one's own password; every older token ends, a new pair is returned."""

    access = {"POST": "user"}
    budgets = {"POST": "login"}  # guessing the current password is throttled like signing in
    docs = {"POST": {"summary": "Change your own password", "tags": ["auth"],
                     "body": PasswordChangeSchema, "responses": {200: TokenPairSchema}, "errors": (422,),
                     "description": "Needs the current password. Every token issued before (this one "
                                    "included, and other devices') stops working; the answer is a new "
                                    "pair. A wrong current password is 422 and changes nothing."}}

    async def post(self) -> None:
        data = self.load_body(PasswordChangeSchema())
        await self.take_budget("login", login_key(self.client_ip, self.principal.username))
        pair = await self.ctx.auth.change_password(self.principal, data["current_password"],
                                                   data["new_password"])
        if pair is None:
            raise invalid({"current_password": ["Wrong password."]}, "The current password is wrong.")
        self.send_json(pair)


DISPLAY_TOKEN_COLUMNS = ["id", "label", "created_at", "expires_at", "revoked_at", "minted_by", "revoked_by"]


class DisplayTokenCollectionHandler(BaseHandler):
    """`POST /auth/display-tokens`: mint a long-lived token for a wall screen (it reads only the live
    feed, the dashboard and the line status); `GET` lists them with who minted and who revoked each."""

    access = {"GET": "admin", "POST": "admin"}
    docs = {"POST": {"summary": "Mint a display token for a wall screen", "tags": ["auth"],
                     "body": DisplayTokenRequestSchema, "responses": {201: DisplayTokenSchema},
                     "description": "The token may only read the live feed and the dashboard."},
            "GET": {"summary": "List display tokens", "tags": ["auth"], "query": DisplayTokenListQuery,
                    "sort_fields": DISPLAY_TOKEN_SORT, "responses": {200: page_of(DisplayTokenAuditSchema)},
                    "description": "With who minted and who revoked each (the token itself is never "
                                   "shown again); newest first unless sorted. `Accept: text/csv` answers "
                                   "every display token as CSV instead (`minted_by` and `revoked_by` "
                                   "as JSON cells)."}}
    cache_tags = ("auth_sessions", "users")

    async def get(self) -> None:
        query = self.load_query(DisplayTokenListQuery())
        if wants_csv(self.request.headers.get("Accept", "")):
            sort_by = query["sort_by"] or "id"
            order = "desc" if query["sort_by"] is None else query["sort_order"]
            await send_every_page_csv(
                self, lambda page, per_page: self.ctx.auth.display_tokens(page, per_page, sort_by, order),
                DISPLAY_TOKEN_COLUMNS, "display-tokens")
            return
        await self.send_list(lambda: self.ctx.auth.display_tokens(
            query["page"], query["per_page"], query["sort_by"] or "id",
            "desc" if query["sort_by"] is None else query["sort_order"]))

    async def post(self) -> None:
        data = self.load_body(DisplayTokenRequestSchema())
        minted = await self.ctx.auth.mint_display_token(self.principal, data["label"],
                                                        data["expires_in_days"])
        row = minted["auth_session"]
        self.created({"id": row.id, "label": row.label, "token": minted["token"],
                      "expires_at": iso_utc(row.expires_at), "created_at": iso_utc(row.created_at)},
                     f"/auth/display-tokens/{row.id}")


class DisplayTokenItemHandler(BaseHandler):
    """`DELETE /auth/display-tokens/{id}`: revoke a display token at once."""

    access = {"DELETE": "admin"}
    docs = {"DELETE": {"summary": "Revoke a display token", "tags": ["auth"], "responses": {204: None}}}

    async def delete(self, ident: str) -> None:
        if not await self.ctx.auth.revoke_display_token(int(ident), self.principal):
            raise ApiError(404, f"Display token {ident} does not exist.")
        self.no_content()
