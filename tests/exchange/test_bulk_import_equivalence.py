"""The chunked bulk write of an orders or production import writes exactly what creating each row
through its service writes: the same rows and ids, stock, ledger, summary tables and row counts, and
the same refusals (row, field, message); checked on random imports, SQLite and MariaDB. Production
records are placed in their shift instances by their time: versioned shifts, a night shift, timed
and spread breaks, line calendars, a plant zone and a DST change, on a fixed clock."""
from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select

import services.exchange.imports as imports
from core.clock import Clock
from core.db import Database
from models import (
    ROLLUP_TABLES,
    Base,
    Customer,
    Employee,
    Line,
    Product,
    Shift,
    ShiftVersion,
)
from schemas.common import MAX_INT
from services.exchange.import_jobs import import_rows
from services.exchange.imports import Importer, ImportRejected
from tests.conftest import MYSQL_URL
from tests.databases import mariadb_database

COMPARED = ("orders", "order_items", "production_records", "stock_movements", "products", *ROLLUP_TABLES)
STAMPS = {"created_at", "updated_at"}  # set from the wall clock as each path writes

# Index 3 is archived, index 4 does not exist; product 2 is dear (order totals over the limit) and
# product 1's stock is near the INT limit (production past it is refused).
PRODUCTS = [("1.25", 0), ("19.99", MAX_INT - 60), ("999999999.99", 5), ("3.00", 1)]
ref = st.integers(0, 4)
placed = st.builds(lambda day, second: f"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:"
                                       f"{second % 60:02d}Z",
                   st.dates(date(2025, 1, 1), date(2026, 3, 31)), st.integers(0, 86399))
order_rows = st.lists(st.one_of(
    st.fixed_dictionaries({"customer": ref, "product": ref, "quantity": st.integers(0, 2000),
                           "placed_at": placed}),
    st.fixed_dictionaries({"customer": ref, "placed_at": placed, "items": st.lists(
        st.tuples(ref, st.integers(1, 50)), min_size=1, max_size=3)})), min_size=1, max_size=12)

# Production: a plant in Berlin on a fixed clock, the days around the DST change of 29 March 2026.
# Early changes its window from 30 March; Night runs over midnight; line A runs Early and Late, C
# every shift; B is archived and Z does not exist. Some days, moments and shift instances are still
# to come at NOW (refused while writing, as the service refuses them).
NOW = datetime(2026, 3, 31, 13, 30, tzinfo=UTC)
CLOCK = Clock("Europe/Berlin", now=lambda: NOW)
SHIFTS = [("Early", "06:00", "14:00", 30, "10:00/30", "mon,tue,wed,thu,fri"),
          ("Late", "14:00", "22:00", 30, None, "mon,tue,wed,thu,fri,sat"),
          ("Night", "22:00", "06:00", 0, None, "sun,mon,tue,wed,thu")]
EARLY_FROM_30_MARCH = ("06:30", "14:00", 20, "12:00/20", "mon,tue,wed,thu,fri,sat")  # as `window`
usual = st.sampled_from([0] * 20 + [1] * 10 + [2, 3, 4])  # mostly usable, so many imports reach the write
days = st.dates(date(2026, 3, 27), date(2026, 3, 31))
moments = st.builds(lambda day, second: (datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                                         + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    days, st.integers(0, 86399))
shift_names = st.sampled_from(["Early", "Late", "Night"] * 4 + ["Nope"])
forms = [st.tuples(st.just("date_produced"), days), st.tuples(st.just("produced_at"), moments),
         st.tuples(st.just("date_produced+shift"), days, shift_names)]
production_rows = st.lists(st.fixed_dictionaries({
    "product": usual, "employee": usual, "produced": st.integers(1, 40), "defective": st.integers(0, 5),
    "line": st.sampled_from([None, "A", "C"] * 10 + ["B", "Z"]),
    "timing": st.sampled_from([(None, None), (480, 30), (60, None)]),
    "when": st.one_of(*forms, *forms, st.just(("now",)), st.tuples(st.just("shift"), shift_names),
                      st.tuples(st.just("produced_at+shift"), moments, shift_names),
                      st.tuples(st.just("produced_at+date_produced"), moments, days))}),
    min_size=1, max_size=6)


def record_json(row: dict[str, Any], ids: dict[str, list[int]]) -> dict[str, Any]:
    planned, downtime = row["timing"]
    body: dict[str, Any] = {
        "product_id": ids["products"][row["product"]], "employee_id": ids["employees"][row["employee"]],
        "quantity_produced": row["produced"], "quantity_defective": row["defective"], "line": row["line"],
        "planned_minutes": planned, "downtime_minutes": downtime}
    form, *values = row["when"]
    for name, value in zip(form.split("+"), values, strict=False):
        body[name] = value.isoformat() if isinstance(value, date) else value
    return body


def order_json(row: dict[str, Any], ids: dict[str, list[int]]) -> dict[str, Any]:
    body: dict[str, Any] = {"customer_id": ids["customers"][row["customer"]], "placed_at": row["placed_at"]}
    if "items" in row:
        merged: dict[int, int] = {}
        for product, quantity in row["items"]:
            merged[ids["products"][product]] = merged.get(ids["products"][product], 0) + quantity
        body["items"] = [{"product_id": p, "quantity": q} for p, q in merged.items()]
    else:
        body.update(product_id=ids["products"][row["product"]], quantity=row["quantity"])
    return body


async def base_rows(db: Database) -> dict[str, list[int]]:
    async with db.write() as uow:
        session = uow.session
        session.add_all([Line(code="A", name="Line A", shifts="Early,Late"),
                         Line(code="B", name="Line B", active=False), Line(code="C", name="Line C")])
        shifts = [Shift(name=name, starts_at=start, ends_at=end, break_minutes=minutes, breaks=breaks,
                        days=days) for name, start, end, minutes, breaks, days in SHIFTS]
        session.add_all(shifts)
        await session.flush()
        window = ("starts_at", "ends_at", "break_minutes", "breaks", "days")
        session.add_all([ShiftVersion(shift_id=shift.id, effective_from=date(1970, 1, 1),
                                      **{name: getattr(shift, name) for name in window}) for shift in shifts])
        session.add(ShiftVersion(shift_id=shifts[0].id, effective_from=date(2026, 3, 30),
                                 **dict(zip(window, EARLY_FROM_30_MARCH, strict=True))))
        products = [Product(sku=f"P-{n}", name=f"P {n}", price=price, stock_quantity=stock, active=n != 3)
                    for n, (price, stock) in enumerate(PRODUCTS)]
        customers = [Customer(name=f"C {n}", email=f"c{n}@example.com", phone=f"+493010000{n}", active=n != 3)
                     for n in range(4)]
        employees = [Employee(name=f"E {n}", position="Operator", email=f"e{n}@example.com",
                              phone=f"+494010000{n}", active=n != 3) for n in range(4)]
        session.add_all([*products, *customers, *employees])
        await session.flush()
        return {"products": [p.id for p in products] + [999_999],
                "customers": [c.id for c in customers] + [999_999],
                "employees": [e.id for e in employees] + [999_999]}


async def run_import(db: Database, resource: str, rows: list[dict[str, Any]], *, bulk: bool) -> Any:
    importer = Importer(resource, clock=CLOCK)
    if not bulk:  # every row through the schema and its service's create, one at a time
        importer.bulk, importer.fast_load = False, None
    try:
        return await import_rows(db, importer, importer.read_json(rows), dry_run=False, actor=None)
    except ImportRejected as exc:
        return ("rejected", [error.as_dict() for error in exc.rows])


async def forget_burnt_ids(*dbs: Database) -> None:
    """After a refused import, each table's next id back to just past its last row. On MariaDB a
    rolled-back INSERT still uses up its AUTO_INCREMENT ids: the one-row path those of the rows it
    wrote before the refused one, the bulk path those of the chunks before the refused row's. Nothing
    of either is left in the data; later ids would differ only by that gap."""
    for db in dbs:
        if not db.is_sqlite:  # SQLite hands out max(id) + 1 after a rollback
            async with db.engine.begin() as conn:
                for table in ("orders", "order_items", "production_records", "stock_movements"):
                    await conn.exec_driver_sql(f"ALTER TABLE `{table}` AUTO_INCREMENT = 1")


async def state(db: Database) -> dict[str, list[tuple]]:
    out = {}
    async with db.session() as session:
        for name in COMPARED:
            table = Base.metadata.tables[name]
            columns = [column for column in table.c if column.name not in STAMPS]
            rows = [tuple(row) for row in (await session.execute(
                select(*columns).order_by(*table.primary_key.columns))).all()]
            if name in ROLLUP_TABLES:
                # A summary row at zero counts nothing (the reports skip it); on MariaDB a key's zero
                # row is committed aside before the write that uses it, and stays if that write is refused.
                keys = len(table.primary_key.columns)
                rows = [row for row in rows if any(value not in (0, None) for value in row[keys:])]
            out[name] = rows
    return out


@pytest.fixture
def twin_urls(database_url: str, tmp_path: Any, sqlite_template: str) -> Any:
    """Two databases that start alike, of the test's backend."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "twin.db"
        shutil.copy(sqlite_template, path)
        yield database_url, f"sqlite+aiosqlite:///{path}"
        return
    # Two fresh databases: the session's own has emptied tables but AUTO_INCREMENT counters that
    # earlier tests moved on, and the two paths must hand out the same ids to compare rows.
    with mariadb_database(MYSQL_URL, "factory_bulk") as bulk, \
            mariadb_database(MYSQL_URL, "factory_twin") as twin:
        yield bulk, twin


def compare(twin_urls: tuple[str, str], resource: str, rows: Any, shape: Any,
            clean: list[dict[str, Any]], refused: tuple[list[dict[str, Any]], ...] = (),
            draws: int = 25) -> None:
    """Random imports of `resource` into both databases, then `refused` (imports known to be
    refused while writing) and `clean` (one known to go through, whatever the draws were): the same
    answers and the same tables after each."""
    bulk_db, service_db = Database(twin_urls[0]), Database(twin_urls[1])
    loop = asyncio.new_event_loop()
    try:
        ids = loop.run_until_complete(base_rows(bulk_db))
        assert loop.run_until_complete(base_rows(service_db)) == ids

        @examples(max_examples=draws, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.lists(rows, min_size=1, max_size=3))
        def run(batches: list[list[dict[str, Any]]]) -> None:
            # The databases carry over from one example to the next: each adds to what is there.
            async def go() -> None:
                for batch in batches:
                    body = [shape(row, ids) for row in batch]
                    fast = await run_import(bulk_db, resource, body, bulk=True)
                    slow = await run_import(service_db, resource, body, bulk=False)
                    assert fast == slow, (resource, body)
                    if isinstance(fast, tuple):  # ("rejected", errors)
                        await forget_burnt_ids(bulk_db, service_db)
                assert await state(bulk_db) == await state(service_db)

            loop.run_until_complete(go())

        run()

        async def known_batches() -> None:
            for batch in refused:
                body = [shape(row, ids) for row in batch]
                fast = await run_import(bulk_db, resource, body, bulk=True)
                assert fast == await run_import(service_db, resource, body, bulk=False)
                assert fast[0] == "rejected", body
                await forget_burnt_ids(bulk_db, service_db)
            body = [shape(row, ids) for row in clean]
            fast = await run_import(bulk_db, resource, body, bulk=True)
            assert fast == await run_import(service_db, resource, body, bulk=False)
            assert fast["imported"] == len(body)
            assert await state(bulk_db) == await state(service_db)

        loop.run_until_complete(known_batches())
    finally:
        loop.run_until_complete(bulk_db.dispose())
        loop.run_until_complete(service_db.dispose())
        loop.close()


def test_bulk_imports_write_what_the_services_write(twin_urls, monkeypatch):
    monkeypatch.setattr(imports, "BULK", 3)  # several chunks per import, and chunk edges
    good = {"customer": 0, "product": 0, "quantity": 2, "placed_at": "2025-03-01T10:00:00Z"}
    compare(twin_urls, "orders", order_rows, order_json, [{**good, "quantity": 2 + n} for n in range(5)],
            # Refused while writing, in the second chunk: a total over the limit, a time to come.
            refused=([good] * 4 + [{**good, "product": 2, "quantity": 2000}],
                     [good] * 4 + [{**good, "placed_at": "2099-01-01T00:00:00Z"}]))


def test_bulk_production_imports_write_what_the_service_writes(twin_urls, monkeypatch):
    monkeypatch.setattr(imports, "BULK", 3)
    good = {"product": 0, "employee": 0, "produced": 5, "defective": 1, "timing": (480, 30), "line": "C",
            "when": ("date_produced", date(2026, 3, 27))}
    refusals = [("produced_at", "2026-03-31T13:30:01Z"),  # in the future
                ("date_produced", date(2026, 4, 1)),  # a plant day to come
                ("date_produced+shift", date(2026, 3, 29), "Early"),  # Early does not run on Sundays
                ("date_produced+shift", date(2026, 3, 31), "Night"),  # Night of today has not started
                ("produced_at+shift", "2026-03-30T23:00:00Z", "Late"),  # that moment is in Night
                ("shift", "Late")]  # a shift needs its day
    compare(twin_urls, "production", production_rows, record_json, [
        {**good, "line": "A", "when": ("produced_at", "2026-03-29T04:30:00Z")},  # Early, after the DST change
        {**good, "line": "A", "when": ("produced_at", "2026-03-30T23:00:00Z")},  # between A's shifts
        {**good, "when": ("produced_at", "2026-03-30T23:00:00Z")},  # Night of 30 March on C
        {**good, "line": None, "when": ("date_produced+shift", date(2026, 3, 31), "Early")},
        {**good, "when": ("now",)}, good],
        # Each refused in the second chunk (row 5), after rows that went in; and stock past the limit.
        refused=tuple([good] * 4 + [{**good, "when": when}] for when in refusals)
        + ([{**good, "product": 1, "produced": 30, "defective": 0}] * 3,),
        draws=50)
