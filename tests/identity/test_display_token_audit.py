"""Display tokens: any admin may revoke any (admins run the screens), and who minted and who revoked
each is kept — in GET /auth/display-tokens and in the log."""
from __future__ import annotations

import logging
from typing import Any

from tests.conftest import PASSWORDS


async def test_who_minted_and_who_revoked_each_display_token(api: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="factory.auth")
    minted = await api.post("/auth/display-tokens", {"label": "Hall 2"}, role="admin")
    other = await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")
    assert minted.status == other.status == 201
    assert (await api.delete(f"/auth/display-tokens/{minted.json['id']}", role="super_admin")).status == 204
    listed = await api.get("/auth/display-tokens", role="admin")
    assert listed.status == 200 and listed.json["meta"]["total"] == 2
    rows = {row["label"]: row for row in listed.json["items"]}
    assert "token" not in rows["Hall 2"]
    assert rows["Hall 2"]["minted_by"]["username"] == "test_admin"
    assert rows["Hall 2"]["revoked_by"]["username"] == "test_super_admin" and rows["Hall 2"]["revoked_at"]
    assert rows["Hall 3"]["revoked_by"] is None and rows["Hall 3"]["revoked_at"] is None
    logged = caplog.text
    assert f"display token {minted.json['id']} ('Hall 2') minted by user" in logged
    assert f"display token {minted.json['id']} ('Hall 2', minted by user" in logged
    assert "revoked by user" in logged and "(test_super_admin)" in logged


async def test_only_admins_list_display_tokens(api: Any) -> None:
    assert (await api.get("/auth/display-tokens", role="user")).status == 403
    assert (await api.get("/auth/display-tokens")).status == 401
    assert (await api.get("/auth/display-tokens?sort_by=label", role="admin")).status == 400
    oldest_first = await api.get("/auth/display-tokens?sort_by=created_at&sort_order=asc", role="admin")
    assert oldest_first.status == 200


async def test_a_display_token_outlives_its_minters_password_and_role_change(api: Any) -> None:
    minted = await api.post("/auth/display-tokens", {"label": "Hall 4"}, role="admin")
    assert minted.status == 201, minted
    screen = minted.json["token"]
    admin_token = await api.token("admin")
    changed = await api.post("/auth/password", {"current_password": PASSWORDS["admin"],
                                                 "new_password": "admin-pass-789"}, token=admin_token)
    assert changed.status == 200, changed
    assert (await api.get("/auth/me", token=admin_token)).status == 401  # the minter's own sign-in ends
    assert (await api.get("/lines/status", token=screen)).status == 200  # the screen goes on
    users = (await api.get("/users?role=admin", role="super_admin")).json["items"]
    admin_id = next(user["id"] for user in users if user["username"] == "test_admin")
    assert (await api.patch(f"/users/{admin_id}", {"role": "user"}, role="super_admin")).status == 200
    assert (await api.get("/lines/status", token=screen)).status == 200
    # its own end: revoked (or its minter deactivated)
    assert (await api.patch(f"/users/{admin_id}", {"is_active": False}, role="super_admin")).status == 200
    assert (await api.get("/lines/status", token=screen)).status == 401
