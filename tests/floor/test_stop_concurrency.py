"""Operators opening and ending stops on their own lines at once: no deadlock reaches them.

On MariaDB, row locks taken in different orders (or through a joined load under FOR UPDATE) used
to deadlock (error 1213) and were answered 503 "database unavailable", leaving a line stopped.
"""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest

LINES = ["L1", "L2", "L3", "L4"]
ROUNDS = 15


async def operate(api, line: str, answers: Counter) -> None:
    for _ in range(ROUNDS):
        opened = await api.post(f"/lines/{line}/stops", {"reason": "breakdown"}, role="user")
        answers[("open", opened.status)] += 1
        ended = await api.post(f"/lines/{line}/stops/current/end", role="user")
        answers[("end", ended.status)] += 1


@pytest.mark.settings(db_timeout=10.0)
async def test_four_operators_on_their_own_lines_never_meet_a_deadlock(api, make, app):
    for code in LINES:
        await make.line(code)
    await api.token("user")
    answers: Counter = Counter()
    await asyncio.gather(*(operate(api, code, answers) for code in LINES))
    assert answers == Counter({("open", 201): ROUNDS * len(LINES), ("end", 200): ROUNDS * len(LINES)})
    status = (await api.get("/lines/status", role="user")).json["items"]
    assert {line["line"]: line["stop"] for line in status} == {code: None for code in LINES}
    stops = (await api.get("/stops?open=true", role="user")).json
    assert stops["meta"]["total"] == 0
