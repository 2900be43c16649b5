"""`/auth/station-tokens`: admins mint, list and revoke the tokens of operators' tablets at the lines."""
from __future__ import annotations

from core.errors import ApiError
from handlers.base import BaseHandler
from handlers.exports import send_every_page_csv, wants_csv
from schemas.common import iso_utc
from schemas.openapi import page_of
from schemas.station_token import (
    StationTokenAuditSchema,
    StationTokenListQuery,
    StationTokenRequestSchema,
    StationTokenSchema,
)
from schemas.user import DISPLAY_TOKEN_SORT
from services.identity.station_tokens import mint_station_token, revoke_station_token, station_tokens

COLUMNS = ["id", "label", "lines", "created_at", "expires_at", "revoked_at", "minted_by", "revoked_by"]


class StationTokenCollectionHandler(BaseHandler):
    """`POST /auth/station-tokens`: mint a long-lived token for a station at some lines; `GET` lists them."""

    access = {"GET": "admin", "POST": "admin"}
    docs = {"POST": {"summary": "Mint a station token for an operator's tablet", "tags": ["auth"],
                     "body": StationTokenRequestSchema, "responses": {201: StationTokenSchema},
                     "description": "The token acts as a user on the lines it names, for the operator's "
                                    "writes only: production records on those lines, opening, ending and "
                                    "classifying their stops, raising and acknowledging their andon calls; "
                                    "and it reads what the station shows (line status, shifts, work "
                                    "orders, stop reasons, stops, calls, production). Anything else is "
                                    "403. 422 for an unknown or inactive line."},
            "GET": {"summary": "List station tokens", "tags": ["auth"], "query": StationTokenListQuery,
                    "sort_fields": DISPLAY_TOKEN_SORT, "responses": {200: page_of(StationTokenAuditSchema)},
                    "description": "With their lines, who minted and who revoked each (the token itself "
                                   "is never shown again); newest first unless sorted. `Accept: "
                                   "text/csv` answers every station token as CSV instead (`lines`, "
                                   "`minted_by` and `revoked_by` as JSON cells)."}}
    cache_tags = ("auth_sessions", "users")

    async def get(self) -> None:
        query = self.load_query(StationTokenListQuery())
        sort_by = query["sort_by"] or "id"
        order = "desc" if query["sort_by"] is None else query["sort_order"]
        if wants_csv(self.request.headers.get("Accept", "")):
            await send_every_page_csv(
                self, lambda page, per_page: station_tokens(self.ctx.auth, page, per_page, sort_by, order),
                COLUMNS, "station-tokens")
            return
        await self.send_list(lambda: station_tokens(self.ctx.auth, query["page"], query["per_page"],
                                                    sort_by, order))

    async def post(self) -> None:
        data = self.load_body(StationTokenRequestSchema())
        minted = await mint_station_token(self.ctx.auth, self.principal, data["label"], data["lines"],
                                          data["expires_in_days"])
        row = minted["auth_session"]
        self.created({"id": row.id, "label": row.label, "lines": row.lines.split(","),
                      "token": minted["token"], "expires_at": iso_utc(row.expires_at),
                      "created_at": iso_utc(row.created_at)},
                     f"/auth/station-tokens/{row.id}")


class StationTokenItemHandler(BaseHandler):
    """`DELETE /auth/station-tokens/{id}`: revoke a station token at once."""

    access = {"DELETE": "admin"}
    docs = {"DELETE": {"summary": "Revoke a station token", "tags": ["auth"], "responses": {204: None}}}

    async def delete(self, ident: str) -> None:
        if not await revoke_station_token(self.ctx.auth, int(ident), self.principal):
            raise ApiError(404, f"Station token {ident} does not exist.")
        self.no_content()
