"""The last active super_admin stays, even when two super_admins demote each other at the same moment."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

ROUNDS = 4
CHANGES = {
    "demote": lambda api, ident, token: api.patch(f"/users/{ident}", {"role": "admin"}, token=token),
    "deactivate": lambda api, ident, token: api.patch(f"/users/{ident}", {"is_active": False}, token=token),
    "delete": lambda api, ident, token: api.delete(f"/users/{ident}", token=token),
}


async def active_super_admins(api: Any, token: str) -> int:
    listed = await api.get("/users?role=super_admin&is_active=true&per_page=100", token=token)
    return listed.json["meta"]["total"]


@pytest.mark.parametrize("change", CHANGES)
async def test_two_super_admins_removing_each_other_at_once_leave_one(api: Any, change: str) -> None:
    for round_number in range(ROUNDS):
        # Two super_admins and nobody else of that rank: demote the built-in one first.
        names = [f"chief{round_number}a", f"chief{round_number}b"]
        ids, tokens = [], []
        for name in names:
            created = await api.create("users", {"username": name, "password": "chief-pass-123",
                                                 "role": "super_admin"}, role="super_admin")
            ids.append(created["id"])
            tokens.append((await api.login(name, "chief-pass-123")).json["access_token"])
        me = (await api.get("/auth/me", role="super_admin")).json["id"]
        assert (await api.patch(f"/users/{me}", {"role": "admin"}, token=tokens[0])).status == 200
        api.tokens.pop("super_admin", None)
        responses = await asyncio.gather(CHANGES[change](api, ids[1], tokens[0]),
                                         CHANGES[change](api, ids[0], tokens[1]))
        statuses = sorted(response.status for response in responses)
        # The loser is refused by the guard (409), or, when the winner removed it first, its own
        # token no longer signs in (401: a removed or demoted user's sessions end at once).
        assert statuses in ([200, 401], [200, 409], [204, 401], [204, 409]), (change, round_number, responses)
        survivor = tokens[0] if responses[0].status < 300 else tokens[1]
        assert await active_super_admins(api, survivor) == 1
        # Put the built-in super_admin back for the next round, and retire this round's survivor.
        assert (await api.patch(f"/users/{me}", {"role": "super_admin"}, token=survivor)).status == 200
        for ident in ids:
            await api.delete(f"/users/{ident}", role="super_admin")
