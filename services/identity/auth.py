"""Sign-in, token refresh and revocation, and resolving a token to the caller's current rights."""
from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from cachetools import TTLCache
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core.db import Change, Database, UnitOfWork
from core.security import (
    DUMMY_HASH,
    Principal,
    TokenError,
    TokenService,
    hash_password,
    needs_rehash,
    new_session_key,
    normalize_username,
    session_key_matches,
    verify_password,
)
from models import AuthSession, User, utcnow
from schemas.common import iso_utc
from services.common.crud import Page, same_text

ACCESS_KINDS = ("access", "display", "station")
# A token's `typ` claim → the kind of session it must belong to.
SESSION_KINDS = {"access": "login", "display": "display", "station": "station"}
log = logging.getLogger("factory.auth")


class SharedRotations(Protocol):
    """Where every process keeps the pairs it rotated, for the reuse window (core.cluster.SharedValues)."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str, seconds: float) -> None: ...


class AuthService:
    """Owns the token rules; caches resolved principals until users or sessions change."""

    def __init__(self, db: Database, tokens: TokenService, principal_ttl: float = 60.0,
                 refresh_reuse_window: float = 5.0) -> None:
        self.db = db
        self.tokens = tokens
        # A refresh token sent twice at once (a client retrying, two tabs) gets the pair its first
        # use got, for this many seconds; sent again later it is a replay and revokes the session.
        self._rotated: TTLCache = TTLCache(maxsize=10_000, ttl=refresh_reuse_window)
        self.refresh_reuse_window = refresh_reuse_window
        # Cluster mode: the pairs rotated by every process, so a twin that lands on another process
        # gets the same pair instead of revoking the session as a replay (app.py wires it).
        self.shared_rotations: SharedRotations | None = None
        self._refreshing: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._principals: TTLCache = TTLCache(maxsize=50_000, ttl=principal_ttl)
        # Token string → its verified claims: an HS256 check costs more than a cached GET. Only
        # the signature check is skipped; expiry is checked here and revocation by the principal.
        self._verified: TTLCache = TTLCache(maxsize=50_000, ttl=principal_ttl)
        self._generation = 0  # bumped by forget(): a load that straddles a change is not kept
        # Whether a cached principal may be trusted: in cluster mode only while the relay that
        # brings the other processes' revocations (deactivation, role, password, a revoked
        # token) is up; while it is down every token is resolved from the database (app.py).
        self.cache_trusted: Callable[[], bool] = lambda: True

    def forget_on_change(self, change: Change) -> None:
        """Commit listener: a write to users or sessions may revoke rights, so resolve afresh."""
        if change.tables & {"users", "auth_sessions"}:
            self.forget()

    def forget(self) -> None:
        """Drop every resolved principal: the next request re-reads user and session state."""
        self._generation += 1
        self._principals.clear()

    async def resolve(self, token: str) -> Principal:
        claims = self._verified.get(token)
        if claims is None or claims["exp"] <= time.time():
            claims = self.tokens.decode(token, typ=ACCESS_KINDS)  # raises on a bad or expired token
            self._verified[token] = claims
        key = (claims["sid"], claims["sub"], claims["ver"], claims["typ"], claims.get("sk"))
        trusted = self.cache_trusted()
        principal = self._principals.get(key) if trusted else None
        if principal is None:
            generation = self._generation
            principal = await self._load_principal(claims)
            # A deactivation committed while we read may have been missed: use it once, don't cache it.
            if trusted and generation == self._generation:
                self._principals[key] = principal
        return principal

    async def _load_principal(self, claims: dict[str, Any]) -> Principal:
        async with self.db.session() as session:
            row = (await session.execute(
                select(User, AuthSession).join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.id == claims["sid"], User.id == int(claims["sub"]))
            )).first()
        if row is None:
            raise TokenError("token revoked")
        user, auth_session = row
        kind = SESSION_KINDS[claims["typ"]]
        # Display and station tokens have a lifetime of their own (their expiry, their revocation):
        # the minter's password or role changing ends the minter's sign-ins, not the screens and
        # tablets on the floor.
        own_version = kind in ("display", "station") or user.token_version == claims["ver"]
        if (not user.is_active or not own_version or auth_session.revoked_at
                or auth_session.expires_at <= utcnow() or auth_session.kind != kind
                or not session_key_matches(claims.get("sk"), auth_session.key_digest)):
            raise TokenError("token revoked")
        if kind == "station":  # an operator's tablet: a user's rights on its lines, whoever minted it
            lines = frozenset(code for code in (auth_session.lines or "").split(",") if code)
            return Principal(user.id, user.username, "user", auth_session.id, kind, lines)
        return Principal(user.id, user.username, user.role, auth_session.id, kind)

    # -- sign-in and sessions -------------------------------------------------------------

    async def check_password(self, username: str, password: str) -> User | None:
        """The user if the password matches and the account is active; same cost either way."""
        username = normalize_username(username)
        async with self.db.session() as session:
            match = same_text(User.username, username, self.db.engine.dialect.name)
            user = (await session.execute(select(User).where(match))).scalar()
        # MariaDB's collations call "ädmin" and "admin " equal to "admin": the code has the last word.
        if user is not None and user.username != username:
            user = None
        stored = user.password_hash if user is not None else DUMMY_HASH
        matches = await asyncio.get_running_loop().run_in_executor(None, verify_password, password, stored)
        if user is None or not matches or not user.is_active:
            return None
        if needs_rehash(stored):
            await self._rehash(user, password)
        return user

    async def _rehash(self, user: User, password: str) -> None:
        """An imported (Werkzeug) hash becomes this service's own at its first successful sign-in."""
        new_hash = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
        async with self.db.write() as uow:
            row = await uow.session.get(User, user.id, with_for_update=True)
            if row is not None and row.password_hash == user.password_hash:  # not changed meanwhile
                row.password_hash = new_hash
        user.password_hash = new_hash

    async def login(self, user: User) -> dict[str, Any]:
        async with self.db.write() as uow:
            return await self._signed_in(uow, user)

    async def _signed_in(self, uow: UnitOfWork, user: User) -> dict[str, Any]:
        """A new login session for `user`, and its token pair."""
        key, digest = new_session_key()
        auth_session = AuthSession(user_id=user.id, kind="login", key_digest=digest,
                                   expires_at=utcnow() + timedelta(seconds=self.tokens.refresh_ttl))
        uow.session.add(auth_session)
        await uow.session.flush()
        return self._token_pair(uow, user, auth_session, key)

    def _token_pair(self, uow: UnitOfWork, user: User, auth_session: AuthSession,
                    key: str) -> dict[str, Any]:
        """A fresh pair bound to the session's ids and its random key."""
        access, _ = self.tokens.issue(typ="access", user_id=user.id, role=user.role,
                                      session_id=auth_session.id, version=user.token_version,
                                      ttl=self.tokens.access_ttl, session_key=key)
        refresh, jti = self.tokens.issue(typ="refresh", user_id=user.id, role=user.role,
                                         session_id=auth_session.id, version=user.token_version,
                                         ttl=self.tokens.refresh_ttl, session_key=key)
        auth_session.refresh_jti = jti
        return {"access_token": access, "token_type": "Bearer",
                "expires_in": self.tokens.access_ttl, "refresh_token": refresh}

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Rotate a refresh token; the same token again within the reuse window gets the same pair,
        later it is a replay and revokes the whole session."""
        claims = self.tokens.decode(refresh_token, typ="refresh")
        lock = self._refreshing.setdefault(claims["sid"], asyncio.Lock())
        async with lock:  # one rotation of a session at a time in this process: a twin waits for it
            repeat = self._rotated.get(claims["jti"]) or await self._rotated_elsewhere(claims["jti"])
            if repeat is not None:
                return repeat
            pair = await self._rotate(claims)
            self._rotated[claims["jti"]] = pair
            return pair

    async def _rotated_elsewhere(self, jti: str) -> dict[str, Any] | None:
        """The pair another process gave this refresh token within the reuse window, if any."""
        if self.shared_rotations is None:
            return None
        kept = await self.shared_rotations.get(jti)
        return json.loads(kept) if kept is not None else None

    async def _rotate(self, claims: dict[str, Any]) -> dict[str, Any]:
        reused = False
        async with self.db.write() as uow:
            auth_session = (await uow.session.execute(
                select(AuthSession).where(AuthSession.id == claims["sid"]).with_for_update()
            )).scalar()
            user = await uow.session.get(User, int(claims["sub"]))
            if (auth_session is None or user is None or auth_session.user_id != user.id
                    or auth_session.kind != "login" or auth_session.revoked_at is not None
                    or auth_session.expires_at <= utcnow() or not user.is_active
                    or user.token_version != claims["ver"]
                    or not session_key_matches(claims.get("sk"), auth_session.key_digest)):
                raise TokenError("refresh token revoked")
            if auth_session.refresh_jti != claims["jti"]:
                # A twin another process rotated a moment ago (it shared the pair before its
                # commit, which this transaction waited for): the same answer, not a replay.
                repeat = await self._rotated_elsewhere(claims["jti"])
                if repeat is not None:
                    return repeat
                auth_session.revoked_at = utcnow()
                reused = True
            else:
                key = claims.get("sk")
                if key is None:  # a session from before keys: it gets one now
                    key, auth_session.key_digest = new_session_key()
                pair = self._token_pair(uow, user, auth_session, key)
                if self.shared_rotations is not None:
                    await self.shared_rotations.put(claims["jti"], json.dumps(pair),
                                                    self.refresh_reuse_window)
        if reused:
            raise TokenError("refresh token already used; the session is revoked")
        return pair

    async def change_password(self, principal: Principal, current: str, new: str) -> dict[str, Any] | None:
        """Set a new password if `current` is right: every token issued before ends, and the caller
        gets a fresh pair in a new session. None (and nothing changed) when `current` is wrong."""
        user = await self.check_password(principal.username, current)
        if user is None or user.id != principal.user_id:
            return None
        new_hash = await asyncio.get_running_loop().run_in_executor(None, hash_password, new)
        async with self.db.write() as uow:
            user = await uow.session.get(User, principal.user_id, with_for_update=True)
            if user is None or not user.is_active:
                return None
            user.password_hash = new_hash
            user.token_version += 1
            return await self._signed_in(uow, user)

    async def logout(self, principal: Principal) -> None:
        async with self.db.write() as uow:
            auth_session = await uow.session.get(AuthSession, principal.session_id)
            if auth_session is not None and auth_session.revoked_at is None:
                auth_session.revoked_at = utcnow()

    async def mint_display_token(self, principal: Principal, label: str, days: int) -> dict[str, Any]:
        async with self.db.write() as uow:
            user = await uow.session.get(User, principal.user_id)
            ttl = days * 24 * 3600
            key, digest = new_session_key()
            auth_session = AuthSession(user_id=user.id, kind="display", label=label, key_digest=digest,
                                       expires_at=utcnow() + timedelta(seconds=ttl))
            uow.session.add(auth_session)
            await uow.session.flush()
            token, jti = self.tokens.issue(typ="display", user_id=user.id, role=user.role,
                                           session_id=auth_session.id, version=user.token_version,
                                           ttl=ttl, session_key=key)
            auth_session.refresh_jti = jti
            log.info("display token %d (%r) minted by user %d (%s), valid %d days", auth_session.id, label,
                     user.id, user.username, days)
            return {"auth_session": auth_session, "token": token}

    async def revoke_display_token(self, session_id: int, principal: Principal) -> bool:
        """Any admin may revoke any display token (admins run the screens); who did is kept."""
        async with self.db.write() as uow:
            auth_session = await uow.session.get(AuthSession, session_id)
            if auth_session is None or auth_session.kind != "display":
                return False
            if auth_session.revoked_at is None:
                auth_session.revoked_at = utcnow()
                auth_session.revoked_by_id = principal.user_id
                log.info("display token %d (%r, minted by user %d) revoked by user %d (%s)", session_id,
                         auth_session.label, auth_session.user_id, principal.user_id, principal.username)
            return True

    async def display_tokens(self, page: int, per_page: int, sort_by: str = "id",
                             sort_order: str = "desc") -> Page:
        """Display tokens with who minted and who revoked each."""
        column = getattr(AuthSession, sort_by)
        order = (column.desc() if sort_order == "desc" else column.asc(), AuthSession.id.desc())
        minter, revoker = aliased(User), aliased(User)
        async with self.db.session() as session:
            total = await session.scalar(select(func.count()).select_from(AuthSession)
                                         .where(AuthSession.kind == "display")) or 0
            rows = (await session.execute(
                select(AuthSession, minter.username, revoker.username)
                .join(minter, minter.id == AuthSession.user_id)
                .outerjoin(revoker, revoker.id == AuthSession.revoked_by_id)
                .where(AuthSession.kind == "display").order_by(*order)
                .limit(per_page).offset((page - 1) * per_page)
            )).all()
        items = [{"id": row.id, "label": row.label, "created_at": iso_utc(row.created_at),
                  "expires_at": iso_utc(row.expires_at), "revoked_at": iso_utc(row.revoked_at),
                  "minted_by": {"id": row.user_id, "username": minted_by},
                  "revoked_by": ({"id": row.revoked_by_id, "username": revoked_by}
                                 if row.revoked_by_id is not None else None)}
                 for row, minted_by, revoked_by in rows]
        return Page(items, page, per_page, total)

    async def ensure_admin(self, password: str) -> bool:
        """Create super_admin `admin` when there are no users yet; True if it did."""
        async with self.db.write() as uow:
            if await uow.session.scalar(select(func.count()).select_from(User)):
                return False
            uow.session.add(User(username="admin", role="super_admin", is_active=True,
                                 password_hash=await asyncio.get_running_loop().run_in_executor(
                                     None, hash_password, password)))
            return True
