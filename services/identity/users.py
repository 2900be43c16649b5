"""Users: managed by super_admins; a change of password, role or activation ends old tokens."""
from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from core.db import UnitOfWork
from core.errors import conflict
from core.security import Principal, hash_password
from models import User
from schemas.user import UserListQuery, UserSchema
from services.common.crud import CrudService


async def hash_in_thread(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


class UserService(CrudService):
    name = "users"
    label = "User"
    model = User
    schema = UserSchema
    list_query = UserListQuery
    sort_fields = ("id", "username", "role", "created_at", "updated_at")
    unique_fields = ("username",)
    search_fields = ("username",)

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Principal | None = None) -> User:
        data = dict(data)
        data["password_hash"] = await hash_in_thread(data.pop("password"))
        return await super().create(uow, data, actor)

    async def update(self, uow: UnitOfWork, ident: int, data: dict[str, Any],
                     actor: Principal | None = None) -> User:
        await self._lock_super_admins(uow)
        return await super().update(uow, ident, data, actor)

    async def delete(self, uow: UnitOfWork, ident: int, actor: Principal | None = None) -> User:
        await self._lock_super_admins(uow)
        return await super().delete(uow, ident, actor)

    async def _lock_super_admins(self, uow: UnitOfWork) -> list[int]:
        """Lock the active super_admins, in id order and before the target row: two admins demoting
        each other at once then take turns, and the second sees the first's change (no deadlock)."""
        return list((await uow.session.execute(
            select(User.id).where(User.role == "super_admin", User.is_active.is_(True))
            .order_by(User.id).with_for_update()
        )).scalars())

    async def before_update(self, uow: UnitOfWork, row: User, data: dict[str, Any],
                            actor: Principal | None) -> None:
        if actor is not None and row.id == actor.user_id:
            if data.get("role", row.role) != row.role:
                raise conflict("You cannot change your own role.", errors={"role": ["Not allowed."]})
            if data.get("is_active", True) is False:
                raise conflict("You cannot deactivate yourself.", errors={"is_active": ["Not allowed."]})
        if row.role == "super_admin" and (data.get("role", "super_admin") != "super_admin"
                                          or data.get("is_active", True) is False):
            await self._keep_one_super_admin(uow, row)
        if "password" in data:
            data["password_hash"] = await hash_in_thread(data.pop("password"))
            row.token_version += 1
        elif ("role" in data and data["role"] != row.role) or (
                "is_active" in data and data["is_active"] != row.is_active):
            row.token_version += 1

    async def before_delete(self, uow: UnitOfWork, row: User, actor: Principal | None) -> None:
        if actor is not None and row.id == actor.user_id:
            raise conflict("You cannot delete yourself.")
        if row.role == "super_admin":
            await self._keep_one_super_admin(uow, row)

    async def _keep_one_super_admin(self, uow: UnitOfWork, row: User) -> None:
        # A locking read: it sees what committed while this transaction waited for the lock.
        others = [ident for ident in await self._lock_super_admins(uow) if ident != row.id]
        if not others:
            raise conflict("This is the last active super_admin; appoint another first.")
