"""Ids are never reused, and a token is bound to its session's random key as well as to ids.

SQLite hands the highest freed rowid to the next insert unless a table says AUTOINCREMENT; a
deleted user's token must never sign in as the account created after it.
"""
from __future__ import annotations

import sqlite3
from typing import Any

import jwt
import pytest

from core import migrate
from tests.conftest import PASSWORDS, SECRET


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def sign(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, SECRET, algorithm="HS256")


async def test_a_deleted_users_token_does_not_sign_in_as_the_next_user(api: Any) -> None:
    first = await api.create("users", {"username": "night.shift", "password": "first-pass-123",
                                       "role": "user"}, role="super_admin")
    token = (await api.login("night.shift", "first-pass-123")).json["access_token"]
    assert (await api.get("/auth/me", token=token)).status == 200
    assert (await api.delete(f"/users/{first['id']}", role="super_admin")).status == 204
    second = await api.create("users", {"username": "new.admin", "password": "second-pass-123",
                                        "role": "admin"}, role="super_admin")
    await api.login("new.admin", "second-pass-123")  # a session row for the new account, too
    assert second["id"] > first["id"]
    for path in ("/auth/me", "/products", "/employees"):
        assert (await api.get(path, token=token)).status == 401, path


async def test_deleted_rows_ids_are_never_handed_out_again(api: Any, make: Any) -> None:
    for resource, build in (("products", make.product), ("customers", make.customer),
                            ("employees", make.employee)):
        row = await build()
        assert (await api.delete(f"/{resource}/{row['id']}", role="admin")).status == 204
        assert (await build())["id"] > row["id"], resource


async def test_a_token_without_its_sessions_key_is_401(api: Any) -> None:
    pair = (await api.login("test_user", PASSWORDS["user"])).json
    access = claims(pair["access_token"])
    assert access["sk"] and access["sk"] == claims(pair["refresh_token"])["sk"]
    without = {k: v for k, v in access.items() if k != "sk"}
    for forged in (sign(without), sign({**access, "sk": "x" * len(access["sk"])}), sign({**access, "sk": 7})):
        assert (await api.get("/auth/me", token=forged)).status == 401
    refresh = claims(pair["refresh_token"])
    refresh.pop("sk")
    assert (await api.post("/auth/refresh", {"refresh_token": sign(refresh)})).status == 401
    renewed = (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).json
    assert claims(renewed["access_token"])["sk"] == access["sk"]
    assert (await api.get("/auth/me", token=renewed["access_token"])).status == 200


@pytest.mark.parametrize("change", [
    {"sub": "admin"}, {"sub": "1e3"}, {"sub": "9" * 40}, {"sub": "-1"}, {"sub": 3},
    {"sid": 10**30}, {"sid": "1"}, {"sid": -1}, {"sid": True}, {"ver": 10**30},
])
async def test_signed_tokens_with_odd_ids_are_401(api: Any, change: dict[str, Any]) -> None:
    token = (await api.login("test_user", PASSWORDS["user"])).json["access_token"]
    response = await api.get("/auth/me", token=sign({**claims(token), **change}))
    assert response.status == 401, (change, response)
    assert response.headers["Content-Type"] == "application/problem+json"


def autoincrement_tables(path: str) -> dict[str, bool]:
    """Every table keyed by an `id` of its own: whether SQLite keeps that id from being handed out again.

    Tables keyed by other rows' values (the legacy-id map, the summary tables keyed by a customer or
    product id) hand out no ids and are left out.
    """
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'").fetchall()
        keys = {name: [(column[1], column[2].upper())
                       for column in conn.execute(f"PRAGMA table_info('{name}')") if column[5]]
                for name, _ in rows}
    keyed_by_id = {name for name, key in keys.items() if key == [("id", "INTEGER")]}
    return {name: "AUTOINCREMENT" in sql.upper() for name, sql in rows if name in keyed_by_id}


def test_every_migrated_sqlite_table_uses_autoincrement(sqlite_template: str) -> None:
    tables = autoincrement_tables(sqlite_template)
    assert "users" in tables and "orders" in tables and all(tables.values()), tables


def test_the_migration_rebuilds_existing_tables_keeping_rows_and_counters(tmp_path: Any) -> None:
    path = str(tmp_path / "old.db")
    migrate.upgrade(f"sqlite+aiosqlite:///{path}", "0002")
    with sqlite3.connect(path) as conn:
        for name in ("kept", "dropped"):
            conn.execute("INSERT INTO users (username, password_hash, role, is_active, token_version, "
                         "created_at, updated_at) VALUES (?, 'x', 'user', 1, 0, '2026-01-01', '2026-01-01')",
                         (name,))
        conn.execute("INSERT INTO auth_sessions (user_id, kind, expires_at, created_at, updated_at) "
                     "VALUES (1, 'login', '2030-01-01', '2026-01-01', '2026-01-01')")
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    assert all(autoincrement_tables(path).values())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT id, username FROM users ORDER BY id").fetchall() == [(1, "kept"),
                                                                                         (2, "dropped")]
        assert conn.execute("SELECT user_id FROM auth_sessions").fetchall() == [(1,)]
        conn.execute("DELETE FROM users WHERE id = 2")
        conn.execute("INSERT INTO users (username, password_hash, role, is_active, token_version, "
                     "created_at, updated_at) VALUES ('next', 'x', 'user', 1, 0, '2026-01-01', '2026-01-01')")
        assert conn.execute("SELECT id FROM users WHERE username = 'next'").fetchone() == (3,)
