"""Station tokens: long-lived, revocable tokens for an operator's tablet at one or more lines.

A station token acts as a user limited to the lines it names: it records production, opens, ends and
classifies stops and raises and acknowledges andon calls there, and reads what the station shows
(handlers list what it may reach). Any admin mints, lists and revokes them, like display tokens.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core.errors import invalid
from core.security import Principal, new_session_key
from models import AuthSession, Line, User, utcnow
from schemas.common import iso_utc
from services.common.crud import Page

log = logging.getLogger("factory.auth")
KIND = "station"


async def mint_station_token(auth: Any, principal: Principal, label: str, lines: list[str],
                             days: int) -> dict[str, Any]:
    """A new station token for these active lines (422 naming `lines` for an unknown or inactive one)."""
    async with auth.db.write() as uow:
        session = uow.session
        found = {row.code: row.active for row in (await session.execute(
            select(Line.code, Line.active).where(Line.code.in_(lines)))).all()}
        wrong = [code for code in lines if not found.get(code)]
        if wrong:
            raise invalid({"lines": [f"No active line has the code {code!r}." for code in wrong]})
        user = await session.get(User, principal.user_id)
        ttl = days * 24 * 3600
        key, digest = new_session_key()
        auth_session = AuthSession(user_id=user.id, kind=KIND, label=label, key_digest=digest,
                                   lines=",".join(sorted(set(lines))),
                                   expires_at=utcnow() + timedelta(seconds=ttl))
        session.add(auth_session)
        await session.flush()
        token, jti = auth.tokens.issue(typ=KIND, user_id=user.id, role="user", session_id=auth_session.id,
                                       version=user.token_version, ttl=ttl, session_key=key)
        auth_session.refresh_jti = jti
        log.info("station token %d (%r, lines %s) minted by user %d (%s), valid %d days", auth_session.id,
                 label, auth_session.lines, user.id, user.username, days)
        return {"auth_session": auth_session, "token": token}


async def revoke_station_token(auth: Any, session_id: int, principal: Principal) -> bool:
    """Any admin may revoke any station token; who did is kept. False if there is no such token."""
    async with auth.db.write() as uow:
        auth_session = await uow.session.get(AuthSession, session_id)
        if auth_session is None or auth_session.kind != KIND:
            return False
        if auth_session.revoked_at is None:
            auth_session.revoked_at = utcnow()
            auth_session.revoked_by_id = principal.user_id
            log.info("station token %d (%r) revoked by user %d (%s)", session_id, auth_session.label,
                     principal.user_id, principal.username)
        return True


async def station_tokens(auth: Any, page: int, per_page: int, sort_by: str = "id",
                         sort_order: str = "desc") -> Page:
    """Station tokens with their lines, who minted and who revoked each."""
    column = getattr(AuthSession, sort_by)
    order = (column.desc() if sort_order == "desc" else column.asc(), AuthSession.id.desc())
    minter, revoker = aliased(User), aliased(User)
    async with auth.db.session() as session:
        total = await session.scalar(select(func.count()).select_from(AuthSession)
                                     .where(AuthSession.kind == KIND)) or 0
        rows = (await session.execute(
            select(AuthSession, minter.username, revoker.username)
            .join(minter, minter.id == AuthSession.user_id)
            .outerjoin(revoker, revoker.id == AuthSession.revoked_by_id)
            .where(AuthSession.kind == KIND).order_by(*order)
            .limit(per_page).offset((page - 1) * per_page)
        )).all()
    items = [{"id": row.id, "label": row.label, "lines": (row.lines or "").split(","),
              "created_at": iso_utc(row.created_at), "expires_at": iso_utc(row.expires_at),
              "revoked_at": iso_utc(row.revoked_at),
              "minted_by": {"id": row.user_id, "username": minted_by},
              "revoked_by": ({"id": row.revoked_by_id, "username": revoked_by}
                             if row.revoked_by_id is not None else None)}
             for row, minted_by, revoked_by in rows]
    return Page(items, page, per_page, total)
