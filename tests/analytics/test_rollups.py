"""Summary tables: after random histories of writes through the API, every report read from them
equals the plain SQL over the raw rows, to the cent; `server.py rebuild-rollups` restores them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from models import ROLLUP_TABLES, Base, Order, ProductionRecord
from services.analytics.raw_reports import run_report
from services.analytics.reports import ANALYTICS

ROOT = Path(__file__).resolve().parents[2]
REPORTS = [
    ("employee-performance", {}), ("top-products", {}), ("customer-lifetime-value", {}),
    ("customer-lifetime-value", {"threshold": "25.00"}),
    *[("production-efficiency", {"group_by": group}) for group in ("product", "line", "employee", "day")],
]
RANGES = [{}, {"from": "2026-02-01", "to": "2026-02-28"}, {"from": "2026-01-15"}, {"to": "2026-02-10"},
          {"from": "2026-03-03", "to": "2026-03-03"},
          # Pages past the first, and past the last: some summary queries cut the page themselves.
          {"limit": "1", "page": "2"}, {"limit": "2", "page": "2", "from": "2026-02-01"},
          {"limit": "1", "page": "40"}]
NEXT = {"pending": ("confirmed", "cancelled"), "confirmed": ("in_production", "cancelled"),
        "in_production": ("cancelled",)}  # shipping needs stock: the lifecycle stops short of it here

days = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 3, 31))
placements = st.one_of(st.none(), st.builds(
    lambda day, second: f"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z",
    days, st.integers(0, 86399)))
timing = st.one_of(st.just((None, None)), st.integers(0, 480).flatmap(
    lambda planned: st.tuples(st.just(planned), st.one_of(st.none(), st.integers(0, planned)))))
operations = st.one_of(
    st.tuples(st.just("order"), st.integers(0, 2), st.lists(st.tuples(st.integers(0, 2), st.integers(1, 9)),
                                                            min_size=1, max_size=3), placements),
    st.tuples(st.just("status"), st.integers(0, 50), st.integers(0, 1)),
    st.tuples(st.just("delete_order"), st.integers(0, 50)),
    st.tuples(st.just("record"), st.integers(0, 2), st.integers(0, 1), st.sampled_from([None, "A", "B"]),
              days, st.integers(1, 50), st.integers(0, 5), timing),
    st.tuples(st.just("edit_record"), st.integers(0, 50), st.integers(0, 2), st.sampled_from([None, "A"]),
              days, st.integers(1, 50)),
    st.tuples(st.just("delete_record"), st.integers(0, 50)),
    st.tuples(st.just("ideal"), st.integers(0, 2), st.sampled_from([None, 6, 30])),
)


class History:
    """Applies operations through the HTTP API, remembering what exists."""

    def __init__(self, api: Any, ids: dict[str, list[int]]) -> None:
        self.api, self.ids = api, ids
        self.orders: dict[int, str] = {}
        self.records: list[int] = []

    async def apply(self, op: tuple) -> None:
        api, ids, kind = self.api, self.ids, op[0]
        if kind == "order":
            _, customer, lines, placed = op
            merged: dict[int, int] = {}
            for product, quantity in lines:
                merged[ids["products"][product]] = merged.get(ids["products"][product], 0) + quantity
            body: dict[str, Any] = {"customer_id": ids["customers"][customer],
                                    "items": [{"product_id": p, "quantity": q} for p, q in merged.items()]}
            if placed:
                body["placed_at"] = placed
            response = await api.post("/orders", body, role="admin")
            assert response.status == 201, response
            self.orders[response.json["id"]] = "pending"
        elif kind == "status" and self.orders:
            ident = sorted(self.orders)[op[1] % len(self.orders)]
            choices = NEXT.get(self.orders[ident])
            if choices:
                status = choices[op[2] % len(choices)]
                response = await api.patch(f"/orders/{ident}", {"status": status}, role="admin")
                assert response.status == 200, response
                self.orders[ident] = status
        elif kind == "delete_order" and self.orders:
            ident = sorted(self.orders)[op[1] % len(self.orders)]
            response = await api.delete(f"/orders/{ident}", role="admin")
            assert response.status == (204 if self.orders[ident] in ("pending", "cancelled") else 409)
            if response.status == 204:
                del self.orders[ident]
        elif kind == "record":
            _, product, employee, line, day, produced, defective, (planned, downtime) = op
            body = {"product_id": ids["products"][product], "employee_id": ids["employees"][employee],
                    "line": line, "date_produced": day.isoformat(), "quantity_produced": produced,
                    "quantity_defective": min(defective, produced), "planned_minutes": planned,
                    "downtime_minutes": downtime}
            response = await api.post("/production", body, role="user")
            assert response.status == 201, response
            self.records.append(response.json["id"])
        elif kind == "edit_record" and self.records:
            _, index, product, line, day, produced = op
            ident = self.records[index % len(self.records)]
            response = await api.patch(f"/production/{ident}", {
                "product_id": ids["products"][product], "line": line, "date_produced": day.isoformat(),
                "quantity_produced": produced, "quantity_defective": 0}, role="admin")
            # Taking good units back out of stock may be refused (409): then nothing changed.
            assert response.status in (200, 409), response
        elif kind == "delete_record" and self.records:
            ident = self.records[op[1] % len(self.records)]
            response = await api.delete(f"/production/{ident}", role="admin")
            assert response.status in (204, 409), response
            if response.status == 204:
                self.records.remove(ident)
        elif kind == "ideal":
            response = await api.patch(f"/products/{ids['products'][op[1]]}",
                                       {"ideal_cycle_seconds": op[2]}, role="admin")
            assert response.status == 200, response


def query_params(name: str, extra: dict[str, str], window: dict[str, str]) -> dict[str, Any]:
    """The parameters as the handler's schema loads them (for the raw report)."""
    from schemas.analytics import AnalyticsQuery, CustomerValueQuery, ProductionEfficiencyQuery

    schema = {"customer-lifetime-value": CustomerValueQuery,
              "production-efficiency": ProductionEfficiencyQuery}.get(name, AnalyticsQuery)
    return schema().load({**extra, **window})


async def compare_reports(api: Any, app: Any) -> int:
    """Every report and range through the API (summary tables) against the raw SQL; how many rows."""
    compared = 0
    for name, extra in REPORTS:
        for window in RANGES:
            query = "&".join(f"{k}={v}" for k, v in {**extra, **window}.items())
            response = await api.get(f"/analytics/{name}?{query}", role="admin")
            assert response.status == 200, response
            async with app.ctx.db.session() as session:
                raw = await run_report(session, ANALYTICS[name], query_params(name, extra, window), raw=True)
            expected = json.loads(json.dumps(raw.items, default=str))
            assert response.json["items"] == expected, (name, extra, window)
            assert response.json["meta"]["total"] == raw.total
            compared += len(expected)
    state = (await api.get("/dashboard/state", role="admin")).json
    async with app.ctx.db.session() as session:
        raw_counts = dict((await session.execute(
            select(Order.status, func.count()).group_by(Order.status))).all())
        records = await session.scalar(select(func.count()).select_from(ProductionRecord))
    # The dashboard's open orders come from the per-status counts the writes keep.
    open_orders = sum(raw_counts.get(status, 0) for status in ("pending", "confirmed", "in_production"))
    assert state["orders_today"]["open"] == open_orders
    assert (await api.get("/orders", role="user")).json["meta"]["total"] == sum(raw_counts.values())
    for status, count in raw_counts.items():
        assert (await api.get(f"/orders?status={status}", role="user")).json["meta"]["total"] == count
    assert (await api.get("/production", role="user")).json["meta"]["total"] == records
    return compared


async def base_rows(make: Any) -> dict[str, list[int]]:
    for code in ("A", "B"):  # the lines the records name
        await make.line(code)
    return {"products": [(await make.product(price=price, ideal_cycle_seconds=ideal))["id"]
                         for price, ideal in (("2.50", 12), ("10.00", None), ("99.99", 30))],
            "customers": [(await make.customer())["id"] for _ in range(3)],
            "employees": [(await make.employee())["id"] for _ in range(2)]}


def test_reports_equal_the_raw_sql_after_random_histories(io_loop, api, make, app):
    ids = io_loop.run_sync(lambda: base_rows(make))
    history = History(api, ids)

    @examples(max_examples=int(os.environ.get("FACTORY_TEST_ROLLUP_EXAMPLES", "12")), deadline=None,
              suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(operations, min_size=1, max_size=10))
    def run(ops: list[tuple]) -> None:
        # The database carries over from one history to the next: each adds to what is there.
        async def go() -> None:
            for op in ops:
                await history.apply(op)
            await compare_reports(api, app)

        io_loop.run_sync(go, timeout=300)

    run()


async def test_rebuild_rollups_restores_identical_reports(api, make, app, settings):
    ids = await base_rows(make)
    history = History(api, ids)
    for op in [("order", 0, [(0, 3), (1, 2)], "2026-02-03T10:00:00Z"), ("order", 1, [(2, 1)], None),
               ("order", 2, [(1, 4)], "2026-03-03T23:59:59Z"), ("status", 0, 1), ("status", 2, 0),
               ("record", 0, 0, "A", date(2026, 2, 5), 40, 2, (480, 30)),
               ("record", 2, 1, None, date(2026, 3, 3), 10, 0, (None, None)),
               ("edit_record", 1, 1, "A", date(2026, 2, 6), 12)]:
        await history.apply(op)
    before = await snapshot(api)
    assert before["top-products"], "the history made sales"
    async with app.ctx.db.write() as uow:
        for table in ROLLUP_TABLES:
            await uow.session.execute(delete(Base.metadata.tables[table]))
    app.ctx.cache.clear()
    emptied = await snapshot(api)
    assert emptied != before  # the reports really read the summary tables
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env.update(FACTORY_DATABASE_URL=settings.database_url, FACTORY_JWT_SECRET=settings.jwt_secret,
               FACTORY_LOG_DIR=settings.log_dir)
    done = subprocess.run([sys.executable, str(ROOT / "server.py"), "rebuild-rollups"], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "rebuilding summary tables" in done.stderr  # the progress bar
    app.ctx.cache.clear()
    assert await snapshot(api) == before
    await compare_reports(api, app)


async def snapshot(api: Any) -> dict[str, Any]:
    out = {}
    for name, extra in REPORTS:
        query = "&".join(f"{k}={v}" for k, v in extra.items())
        out[name + query] = (await api.get(f"/analytics/{name}?{query}", role="admin")).json["items"]
    out["dashboard"] = (await api.get("/dashboard/state", role="admin")).json["orders_today"]
    return out
