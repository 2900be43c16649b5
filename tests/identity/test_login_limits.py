"""Usernames have one form (NFKC, case-folded, trimmed) everywhere, and failed sign-ins are limited per
address and per (address, username): an attacker spends only their own budget, never the victim's.
"""
from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from core import migrate
from handlers.auth import login_key
from tests.conftest import PASSWORDS

TIGHT = "login=3/60,read=100000/60,write=100000/60,analytics=100000/60"
ATTACKER = {"X-Forwarded-For": "203.0.113.5"}
OWNER = {"X-Forwarded-For": "198.51.100.7"}


async def sign_in(api: Any, username: str, password: str, headers: dict[str, str] | None = None) -> Any:
    return await api.post("/auth/login", {"username": username, "password": password}, headers=headers)


LOOKALIKES = ["test_süper_admin", "test_super_admın", "test_super_admin\u00a0x", "tést_super_admin"]


@pytest.mark.parametrize("variant", LOOKALIKES)
async def test_names_the_database_calls_equal_do_not_sign_in_as_another(api: Any, variant: str) -> None:
    response = await sign_in(api, variant, PASSWORDS["super_admin"])
    assert response.status in (401, 422), (variant, response)


FOLDS = ["test_super_admin ", "  TEST_Super_Admin", "ｔｅｓｔ＿ｓｕｐｅｒ＿ａｄｍｉｎ"]


@pytest.mark.parametrize("variant", FOLDS)
async def test_width_case_and_blanks_fold_to_the_same_account(api: Any, variant: str) -> None:
    response = await sign_in(api, variant, PASSWORDS["super_admin"])
    assert response.status == 200, (variant, response)
    me = await api.get("/auth/me", token=response.json["access_token"])
    assert me.json["username"] == "test_super_admin"


async def test_usernames_are_stored_folded_and_unique_in_that_form(api: Any) -> None:
    created = await api.create("users", {"username": " Shift.Lead ", "password": "lead-pass-123"},
                               role="super_admin")
    assert created["username"] == "shift.lead"
    for twin in ("SHIFT.LEAD", "ｓｈｉｆｔ.ｌｅａｄ", "shift.lead "):
        response = await api.post("/users", {"username": twin, "password": "lead-pass-123"},
                                   role="super_admin")
        assert response.status == 409, (twin, response)
    assert (await sign_in(api, "Shift.Lead", "lead-pass-123")).status == 200


def test_the_rate_limit_key_uses_the_folded_name() -> None:
    assert login_key("10.0.0.1", "ＡＤＭＩＮ ") == login_key("10.0.0.1", "admin")
    assert login_key("10.0.0.1", "admin") != login_key("10.0.0.2", "admin")


@pytest.mark.settings(rate_limits=TIGHT, trusted_proxies=("127.0.0.1",))
async def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(api: Any) -> None:
    for _ in range(3):
        assert (await sign_in(api, "test_admin", "wrong-guess", ATTACKER)).status == 401
    assert (await sign_in(api, "test_admin", "wrong-guess", ATTACKER)).status == 429
    assert (await sign_in(api, "TEST_ADMIN ", PASSWORDS["admin"], ATTACKER)).status == 429
    owner = await sign_in(api, "test_admin", PASSWORDS["admin"], OWNER)
    assert owner.status == 200, owner
    change = await api.post("/auth/password", {"current_password": PASSWORDS["admin"],
                                                "new_password": "admin-pass-456"},
                            token=owner.json["access_token"], headers=OWNER)
    assert change.status == 200, change


@pytest.mark.settings(rate_limits=TIGHT, trusted_proxies=("127.0.0.1",))
async def test_guessing_stays_slow_per_address(api: Any) -> None:
    statuses = [(await sign_in(api, name, "wrong-guess", ATTACKER)).status
                for name in ("test_admin", "test_user", "test_super_admin", "someone")]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.settings(rate_limits=TIGHT, trusted_proxies=("127.0.0.1",))
async def test_a_bearer_token_does_not_move_sign_in_attempts_off_the_address_budget(api: Any) -> None:
    tokens = [await api.token(role) for role in ("user", "admin")]  # signed in from 127.0.0.1
    statuses = []
    for n, name in enumerate(("test_admin", "test_super_admin", "someone", "test_admin")):
        headers = {**ATTACKER, "Authorization": f"Bearer {tokens[n % 2]}"}
        statuses.append((await sign_in(api, name, "wrong-guess", headers)).status)
    assert statuses == [401, 401, 401, 429]


def test_the_migration_folds_existing_usernames(tmp_path: Any) -> None:
    path = str(tmp_path / "old.db")
    migrate.upgrade(f"sqlite+aiosqlite:///{path}", "0002")
    with sqlite3.connect(path) as conn:
        for name in ("Night.Shift", "ＦＯＲＥＭＡＮ", "Twin", "twin "):
            conn.execute("INSERT INTO users (username, password_hash, role, is_active, token_version, "
                         "created_at, updated_at) VALUES (?, 'x', 'user', 1, 0, '2026-01-01', '2026-01-01')",
                         (name,))
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as conn:
        names = [row[0] for row in conn.execute("SELECT username FROM users ORDER BY id")]
    assert names == ["night.shift", "foreman", "Twin", "twin "]  # twins are left for an admin to rename
