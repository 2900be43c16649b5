"""Alembic: `upgrade head` builds exactly the models' schema on SQLite and MariaDB; downgrade works."""
from __future__ import annotations

import asyncio
from pprint import pformat

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from core import migrate
from models import Base


def schema_differences(url: str) -> list:
    """What alembic's autogenerate would still change to make the database match the models."""

    def compare(connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True})
        return compare_metadata(context, Base.metadata)

    return asyncio.run(_on_connection(url, compare))


def table_names(url: str) -> set[str]:
    return asyncio.run(_on_connection(url, lambda conn: set(inspect(conn).get_table_names())))


async def _on_connection(url: str, work):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def in_transaction(url: str, work):
    """Run `work(connection)` (async) in one committed transaction on `url`; its result."""

    async def run():
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


PRODUCT_AND_EMPLOYEE = (  # the rows an old record names, as of migration 0002 ({now}: a timestamp)
    "INSERT INTO products (id, sku, name, price, stock_quantity, reorder_level, created_at, updated_at)"
    " VALUES (1, 'P1', 'Gear', 1.00, 0, 0, '{now}', '{now}')",
    "INSERT INTO employees (id, name, position, email, phone, created_at, updated_at)"
    " VALUES (1, 'Dana', 'Operator', 'd@example.com', '+4930123456', '{now}', '{now}')",
)


@pytest.fixture(params=["sqlite", "mysql"])
def empty_database(request, tmp_path):
    """An empty database of this test's own: a new SQLite file, or a new MariaDB schema dropped after."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    yield request.getfixturevalue("empty_mariadb")


def test_one_linear_history():
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "two migrations share a parent: merge or re-parent one"
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert migrate.head_revision() == revisions[0].revision


def test_upgrade_head_matches_the_models(empty_database):
    migrate.upgrade(empty_database)
    differences = schema_differences(empty_database)
    assert differences == [], "the migrations and the models disagree:\n" + pformat(differences)
    tables = table_names(empty_database)
    assert set(Base.metadata.tables) <= tables
    assert tables - set(Base.metadata.tables) == {"alembic_version"}


def test_downgrade_to_base_and_up_again(empty_database):
    migrate.upgrade(empty_database)
    command.downgrade(migrate.alembic_config(empty_database), "base")
    assert table_names(empty_database) <= {"alembic_version"}
    migrate.upgrade(empty_database)
    assert schema_differences(empty_database) == []


def test_upgrade_is_idempotent(empty_database):
    migrate.upgrade(empty_database)
    migrate.upgrade(empty_database)
    assert schema_differences(empty_database) == []


def test_each_step_downgrades_cleanly(empty_database):
    """Walk the history one revision at a time, down and up, so every downgrade() is exercised."""
    script = ScriptDirectory.from_config(migrate.alembic_config(empty_database))
    config = migrate.alembic_config(empty_database)
    for revision in reversed(list(script.walk_revisions())):
        command.upgrade(config, revision.revision)
        command.downgrade(config, revision.down_revision or "base")
        command.upgrade(config, revision.revision)
    assert schema_differences(empty_database) == []


def test_the_shop_floor_migration_registers_recorded_lines_and_the_stop_reasons(empty_database):
    """Old records keep naming real lines: each distinct value becomes a line, invalid codes rewritten."""
    migrate.upgrade(empty_database, "0002")

    async def fill(connection) -> None:
        now = "2026-11-20 08:00:00"
        for sql in PRODUCT_AND_EMPLOYEE:
            await connection.execute(text(sql.format(now=now)))
        for n, line in enumerate(("L1", "Assembly 1", "L1", None, "Assembly 1")):
            await connection.execute(text(
                "INSERT INTO production_records (product_id, employee_id, quantity_produced, "
                "quantity_defective, date_produced, line, created_at, updated_at) "
                f"VALUES (1, 1, {n + 1}, 0, '2026-11-20', :line, '{now}', '{now}')"), {"line": line})

    in_transaction(empty_database, fill)
    migrate.upgrade(empty_database)

    async def read(connection):
        lines = (await connection.execute(text("SELECT code, name, active FROM `lines` ORDER BY code"))).all()
        recorded = (await connection.execute(text(
            "SELECT line FROM production_records ORDER BY id"))).scalars().all()
        reasons = (await connection.execute(text(
            "SELECT code, planned FROM stop_reasons ORDER BY code"))).all()
        return lines, recorded, reasons

    lines, recorded, reasons = in_transaction(empty_database, read)
    assert [(code, name, bool(active)) for code, name, active in lines] == [
        ("Assembly-1", "Assembly 1", True), ("L1", "L1", True)]
    assert recorded == ["L1", "Assembly-1", "L1", None, "Assembly-1"]
    assert {code: bool(planned) for code, planned in reasons} == {
        "breakdown": False, "changeover": False, "no_material": False, "quality": False,
        "no_operator": False, "planned_maintenance": True, "break": True,
        "unassigned": False}  # 0012: a machine's stop nobody has classified yet


def test_0008_backfills_placed_at_and_fills_the_summary_tables(empty_database):
    """Orders from before placed_at keep their created_at as placement; reports read them at once."""
    migrate.upgrade(empty_database, "0002")
    stamp = "2026-03-04 10:11:12.000000"

    async def seed(conn) -> None:
        for sql in (
            "INSERT INTO customers (id, name, email, phone, created_at, updated_at) "
            f"VALUES (1, 'C', 'c@example.com', '+49301234567', '{stamp}', '{stamp}')",
            "INSERT INTO products (id, sku, name, price, stock_quantity, reorder_level, created_at, "
            f"updated_at) VALUES (1, 'P-1', 'P', 2.50, 0, 0, '{stamp}', '{stamp}')",
            "INSERT INTO orders (id, customer_id, status, total_price, created_at, updated_at) "
            f"VALUES (1, 1, 'confirmed', 7.50, '{stamp}', '{stamp}')",
            "INSERT INTO order_items (id, order_id, product_id, quantity, unit_price, line_total, "
            f"created_at, updated_at) VALUES (1, 1, 1, 3, 2.50, 7.50, '{stamp}', '{stamp}')",
        ):
            await conn.execute(text(sql))

    in_transaction(empty_database, seed)
    migrate.upgrade(empty_database)

    async def read(conn):
        placed = (await conn.execute(text("SELECT placed_at, created_at FROM orders"))).one()
        sales = (await conn.execute(text(
            "SELECT day, product_id, units, revenue_cents FROM rollup_sales_day"))).one()
        counts = (await conn.execute(text(
            "SELECT name, `key`, n FROM rollup_counts WHERE name = 'orders'"))).all()
        return placed, sales, counts

    placed, sales, counts = in_transaction(empty_database, read)
    assert str(placed[0]).startswith("2026-03-04 10:11:12") and placed[0] == placed[1]
    assert (str(sales[0]), sales[1], sales[2], sales[3]) == ("2026-03-04", 1, 3, 750)
    assert [tuple(row) for row in counts] == [("orders", "confirmed", 1)]


def test_0010_places_existing_records_inside_their_shift_instance(empty_database, monkeypatch):
    """Records get a produced_at in the middle of their instance (the plant's zone), or noon of their
    day without a shift; each shift gets its first version, holding from the beginning."""
    migrate.upgrade(empty_database, "0009")
    monkeypatch.setenv("FACTORY_TIMEZONE", "Europe/Berlin")
    now = "2026-11-20 08:00:00"

    async def fill(connection) -> None:
        for sql in (
            *(row.format(now=now) for row in PRODUCT_AND_EMPLOYEE),
            "INSERT INTO shifts (id, name, starts_at, ends_at, break_minutes, days, created_at, updated_at)"
            f" VALUES (1, 'night', '22:00', '06:00', 30, 'mon,tue,wed,thu,fri', '{now}', '{now}')",
        ):
            await connection.execute(text(sql))
        for n, shift in enumerate(("night", None)):
            await connection.execute(text(
                "INSERT INTO production_records (product_id, employee_id, quantity_produced, "
                "quantity_defective, date_produced, shift, created_at, updated_at) "
                f"VALUES (1, 1, {n + 1}, 0, '2026-11-20', :shift, '{now}', '{now}')"), {"shift": shift})

    in_transaction(empty_database, fill)
    migrate.upgrade(empty_database)

    async def read(connection):
        placed = (await connection.execute(text(
            "SELECT produced_at FROM production_records ORDER BY id"))).scalars().all()
        versions = (await connection.execute(text(
            "SELECT shift_id, effective_from, starts_at, ends_at, break_minutes, days, breaks "
            "FROM shift_versions"))).all()
        return placed, versions

    placed, versions = in_transaction(empty_database, read)
    # The night of the 20th: 22:00 CET (21:00Z) to 06:00 (05:00Z); its middle 01:00Z on the 21st.
    assert [str(moment)[:19] for moment in placed] == ["2026-11-21 01:00:00", "2026-11-20 11:00:00"]
    assert [(v[0], str(v[1]), *v[2:]) for v in versions] == [
        (1, "1970-01-01", "22:00", "06:00", 30, "mon,tue,wed,thu,fri", None)]
