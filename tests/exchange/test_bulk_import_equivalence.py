"""The chunked bulk write of an orders import writes exactly what creating each order through its
service writes: the same rows and ids, stock, ledger, summary tables and row counts, and the same
refusals (row, field, message); checked on random imports, SQLite and MariaDB. (Production imports
go through the production service itself: each record is placed in its shift instance by time.)"""
from __future__ import annotations

import asyncio
import shutil
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select

import services.exchange.imports as imports
from core.db import Database
from models import (
    ROLLUP_TABLES,
    Base,
    Customer,
    Employee,
    Line,
    Product,
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
        session.add_all([Line(code="A", name="Line A"), Line(code="B", name="Line B", active=False)])
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
    importer = Importer(resource)
    if not bulk:  # every row through the schema and its service's create, one at a time
        importer.bulk, importer.fast_load = False, None
    try:
        return await import_rows(db, importer, importer.read_json(rows), dry_run=False, actor=None)
    except ImportRejected as exc:
        return ("rejected", [error.as_dict() for error in exc.rows])


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


def test_bulk_imports_write_what_the_services_write(twin_urls, monkeypatch):
    monkeypatch.setattr(imports, "BULK", 3)  # several chunks per import, and chunk edges
    bulk_db, service_db = Database(twin_urls[0]), Database(twin_urls[1])
    loop = asyncio.new_event_loop()
    try:
        ids = loop.run_until_complete(base_rows(bulk_db))
        assert loop.run_until_complete(base_rows(service_db)) == ids

        @examples(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.lists(st.tuples(st.just("orders"), order_rows), min_size=1, max_size=3))
        def run(batches: list[tuple[str, list[dict[str, Any]]]]) -> None:
            # The databases carry over from one example to the next: each adds to what is there.
            async def go() -> None:
                for resource, rows in batches:
                    body = [order_json(row, ids) for row in rows]
                    fast = await run_import(bulk_db, resource, body, bulk=True)
                    slow = await run_import(service_db, resource, body, bulk=False)
                    assert fast == slow, (resource, body)
                assert await state(bulk_db) == await state(service_db)

            loop.run_until_complete(go())

        run()

        async def clean_batch() -> None:  # one import known to go through, whatever the draws were
            body = [order_json({"customer": 0, "product": 0, "quantity": 2 + n,
                                "placed_at": "2025-03-01T10:00:00Z"}, ids) for n in range(5)]
            assert await run_import(bulk_db, "orders", body, bulk=True) == await run_import(
                service_db, "orders", body, bulk=False)
            assert await state(bulk_db) == await state(service_db)

        loop.run_until_complete(clean_batch())
        assert loop.run_until_complete(state(bulk_db))["orders"], "orders went through the bulk path"
    finally:
        loop.run_until_complete(bulk_db.dispose())
        loop.run_until_complete(service_db.dispose())
        loop.close()
