"""`python server.py seed`: a believable factory in an empty database, readable through the API."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import distinct, func, inspect, select

from core.clock import Clock
from core.config import Settings
from models import Order, OrderItem, Product, ProductionRecord, Shift, StockMovement, WorkOrder
from services.exchange.bulk import BulkWriter
from services.exchange.deferred_indexes import DeferredIndexes
from services.exchange.seed import INDEXED_AFTER, Plan, Seeder, run_seed
from services.exchange.seed_data import (
    CITIES,
    COMPANY_HEADS,
    COMPANY_TAILS,
    FIRST_NAMES,
    LAST_NAMES,
    LINES,
    PRODUCT_KINDS,
    SHIFTS,
    STREETS,
)
from services.floor.production_time import derive
from services.floor.shift_time import plan_of
from tests.catalog.test_stock import ledger_mismatches


async def seed_in_thread(settings, size=1):
    """The command runs its own event loop, as it does from the shell."""
    return await asyncio.get_running_loop().run_in_executor(None, run_seed, settings, size)


async def _answer(value):
    return value


async def count(app, query):
    async with app.ctx.db.session() as session:
        return await session.scalar(query)


async def test_seed_fills_a_believable_factory(api, app, settings):
    assert await seed_in_thread(settings) == 0
    plan = Plan.for_size(1)
    assert await count(app, select(func.count()).select_from(Order)) == plan.orders
    assert await count(app, select(func.count()).select_from(ProductionRecord)) == plan.production
    assert 3 <= await count(app, select(func.count(distinct(ProductionRecord.line)))) <= len(LINES)
    assert await count(app, select(func.count(distinct(ProductionRecord.shift)))) == len(SHIFTS)
    assert await ledger_mismatches(app) == {}
    assert await count(app, select(func.count()).select_from(StockMovement)
                       .where(StockMovement.balance_after < 0)) == 0
    # Totals are the sum of their lines, to the cent (SQLite sums its NUMERIC columns as floats).
    line_sums = select(OrderItem.order_id, func.sum(OrderItem.line_total).label("total")).group_by(
        OrderItem.order_id).subquery()
    assert await count(app, select(func.count()).select_from(Order).join(
        line_sums, line_sums.c.order_id == Order.id).where(
        func.round(Order.total_price, 2) != func.round(line_sums.c.total, 2))) == 0

    for status in ("pending", "confirmed", "in_production", "shipped", "delivered", "cancelled"):
        response = await api.get(f"/orders?status={status}&per_page=1", role="user")
        assert response.status == 200, response
        assert response.json["meta"]["total"] > 0, status

    products = (await api.get("/products?per_page=100", role="user")).json["items"]
    assert len(products) == plan.products
    assert all(p["ideal_cycle_seconds"] is not None and p["reorder_level"] > 0 for p in products)
    records = (await api.get("/production?per_page=100", role="user")).json["items"]
    assert any(r["quantity_defective"] > 0 for r in records)
    assert any(r["downtime_minutes"] > 0 for r in records)
    assert all(0 <= r["downtime_minutes"] <= r["planned_minutes"] for r in records)
    assert all(0 <= r["quantity_defective"] <= r["quantity_produced"] for r in records)
    order = (await api.get("/orders?per_page=1", role="user")).json["items"][0]
    assert order["items"] and order["total_price"]
    assert (await api.get("/employees?per_page=1", role="admin")).json["meta"]["total"] == plan.employees
    assert (await api.get("/customers?per_page=1", role="user")).json["meta"]["total"] == plan.customers


async def test_seeded_orders_keep_working_through_the_api(api, app, settings):
    assert await seed_in_thread(settings) == 0
    waiting = (await api.get("/orders?status=in_production&per_page=5", role="user")).json["items"]
    for order in waiting:
        response = await api.patch(f"/orders/{order['id']}", {"status": "shipped"}, role="admin")
        assert response.status in (200, 409), response
    product = (await api.get("/products?per_page=1", role="user")).json["items"][0]
    response = await api.post(f"/products/{product['id']}/stock-adjustments",
                              {"delta": -1, "reason": "Cycle count"}, role="admin")
    assert response.status == 201
    assert await ledger_mismatches(app) == {}


@pytest.mark.parametrize("local_infile", [True, False], ids=["load-data", "insert"])
async def test_seed_in_many_small_batches_stays_whole(api, app, settings, monkeypatch, local_infile):
    """Many batches per table over parallel connections, by LOAD DATA or (a server with local_infile
    off) multi-row INSERTs on MySQL: every row lands once."""
    monkeypatch.setattr("services.exchange.seed.BATCH_ROWS", 40)
    monkeypatch.setattr(BulkWriter, "_server_allows_local_infile", lambda self: _answer(local_infile))
    assert await seed_in_thread(settings) == 0
    plan = Plan.for_size(1)
    assert await count(app, select(func.count()).select_from(Order)) == plan.orders
    assert await count(app, select(func.count()).select_from(ProductionRecord)) == plan.production
    assert await ledger_mismatches(app) == {}


async def test_seed_refuses_a_database_with_data(api, app, settings, make):
    customer, product = await make.customer(), await make.product(stock_quantity=5)
    assert (await api.post("/orders", {"customer_id": customer["id"], "product_id": product["id"],
                                       "quantity": 1}, role="user")).status == 201
    assert await seed_in_thread(settings) == 1
    assert await count(app, select(func.count()).select_from(Order)) == 1
    assert await count(app, select(func.count()).select_from(Product)) == 1


async def test_seed_twice_is_refused_the_second_time(app, settings):
    assert await seed_in_thread(settings) == 0
    orders = await count(app, select(func.count()).select_from(Order))
    assert await seed_in_thread(settings) == 1
    assert await count(app, select(func.count()).select_from(Order)) == orders


def test_size_below_one_is_refused():
    assert run_seed(Settings(database_url="sqlite+aiosqlite:///never-created.db"), size=0) == 2


def test_sizes_scale_linearly():
    small, large = Plan.for_size(1), Plan.for_size(40)
    assert (large.orders, large.production, large.customers) == (
        40 * small.orders, 40 * small.production, 40 * small.customers)
    assert 100 <= small.orders <= 1000
    assert Plan.for_size(4000).orders == Plan.for_size(4000).production == 1_000_000


def test_word_lists_are_safe_sql_text():
    """The MySQL bulk path formats the seed's own text straight into tab-separated LOAD DATA files."""
    words = [*CITIES, *COMPANY_HEADS, *COMPANY_TAILS, *FIRST_NAMES, *LAST_NAMES, *LINES, *STREETS,
             *(kind[0] for kind in PRODUCT_KINDS), *(kind[1] for kind in PRODUCT_KINDS),
             *(shift[0] for shift in SHIFTS)]
    assert not [word for word in words if any(mark in word for mark in ("'", "\\", "%", "\t", "\n"))]


async def test_seed_gives_the_shop_floor_a_plan_and_stops(api, app, settings):
    """Lines, three 8-hour shifts, a plan for every seeded day and today, and stops: the board paces."""
    assert await seed_in_thread(settings) == 0
    plan = Plan.for_size(1)
    lines = (await api.get("/lines", role="user")).json["items"]
    assert [line["code"] for line in lines] == [f"L{n + 1}" for n in range(plan.lines)]
    shifts = (await api.get("/shifts", role="user")).json["items"]
    assert sorted((s["name"], s["duration_minutes"]) for s in shifts) == [
        ("early", 480), ("late", 480), ("night", 480)]
    assert (await api.get("/stop-reasons", role="user")).json["meta"]["total"] == 8  # with unassigned
    current = (await api.get("/shifts/current", role="user")).json["current"]
    assert current is not None  # three 8-hour shifts cover the day
    today_plan = (await api.get(f"/work-orders?date={current['date']}&shift={current['shift']}&per_page=100",
                                role="user")).json
    assert today_plan["meta"]["total"] == plan.lines
    assert (await api.get("/work-orders?status=completed&per_page=1", role="user")).json["meta"]["total"] > 20
    stops = (await api.get("/stops?per_page=1", role="user")).json["meta"]["total"]
    assert stops > plan.lines
    board = (await api.get("/lines/status", role="user")).json["items"]
    assert len(board) == plan.lines
    assert "stopped" in {line["state"] for line in board}
    assert all(line["plan"]["planned_quantity"] > 0 for line in board)
    assert all(line["shift"]["name"] == current["shift"] for line in board)
    # Every production record names a registered line and shift.
    codes = {line["code"] for line in lines}
    assert set(await count_lines(app)) <= codes


async def count_lines(app):
    async with app.ctx.db.session() as session:
        return (await session.execute(select(ProductionRecord.line).distinct())).scalars().all()


@pytest.mark.settings(timezone="Europe/Berlin")
async def test_seeded_oee_is_believable_in_every_instance(api, app, settings):
    """Every past instance that ran lies between 55 % and 90 % OEE with performance at most 1.0, by
    the shift report over the whole seeded history (Berlin time, as a plant would run it)."""
    assert await seed_in_thread(settings) == 0
    plan = Plan.for_size(1)
    rows = []
    async with app.ctx.db.session() as session:
        first = await session.scalar(select(func.min(ProductionRecord.date_produced)))
    response = await api.get(f"/analytics/shift-report?from={first}&limit=1000", role="admin")
    assert response.status == 200, response
    rows = response.json["items"]
    ran = [row for row in rows if row["scheduled"]]
    assert len(ran) >= plan.days  # a few instances a day ran
    assert not [row for row in ran if row["performance"] is None or row["performance"] > 1.0
                or not 0.55 <= row["oee"] <= 0.90], [
        (row["date"], row["shift"], row["line"], row["performance"], row["oee"]) for row in ran
        if row["performance"] is None or row["performance"] > 1.0 or not 0.55 <= row["oee"] <= 0.90]
    assert not any(row["warnings"] for row in ran)


async def test_the_seeded_summary_tables_equal_a_rebuild_from_the_rows(app, settings):
    """The seed fills the summary tables from sums kept while it makes the rows: the very rows that
    `server.py rebuild-rollups` computes from the orders and production it wrote."""
    from models import ROLLUP_TABLES, Base
    from services.analytics.rollups import rebuild

    assert await seed_in_thread(settings, 3) == 0

    async def tables() -> dict[str, list[tuple]]:
        out = {}
        async with app.ctx.db.session() as session:
            for name in ROLLUP_TABLES:
                table = Base.metadata.tables[name]
                out[name] = [tuple(row) for row in (await session.execute(
                    select(table).order_by(*table.primary_key.columns))).all()]
        return out

    seeded = await tables()
    assert all(seeded.values()), "every summary table has rows"
    async with app.ctx.db.write() as uow:
        await rebuild(uow.session)
    assert await tables() == seeded


async def test_the_seeded_history_ends_at_the_clocks_now(app, settings):
    """The seed takes "now" from the clock it is given: its last day is that clock's today, and
    nothing is placed after that moment."""
    moment = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
    clock = Clock("UTC", now=lambda: moment)
    done = await asyncio.get_running_loop().run_in_executor(None, run_seed, settings, 1, clock)
    assert done == 0
    plan = Plan.for_size(1)
    newest = await count(app, select(func.max(Order.placed_at)))
    oldest = await count(app, select(func.min(Order.placed_at)))
    assert newest <= moment.replace(tzinfo=None) and newest.date() == moment.date()
    assert oldest.date() == moment.date() - timedelta(days=plan.days - 1)


@pytest.mark.settings(timezone="Europe/Berlin")
async def test_every_seeded_record_lies_in_its_shift_instance(app, settings):
    """Records are made with their time: `produced_at` falls inside the instance their shift and
    day name (plant time, Berlin), as a record the API places would."""
    moment = datetime(2026, 3, 4, 10, 30, tzinfo=UTC)  # 11:30 in Berlin: the early shift runs
    clock = Clock("Europe/Berlin", now=lambda: moment)
    done = await asyncio.get_running_loop().run_in_executor(None, run_seed, settings, 1, clock)
    assert done == 0
    async with app.ctx.db.session() as session:
        plans = [plan_of(shift) for shift in (await session.execute(select(Shift))).scalars()]
        rows = (await session.execute(select(ProductionRecord.produced_at, ProductionRecord.shift,
                                             ProductionRecord.date_produced))).all()
    assert len(rows) == Plan.for_size(1).production
    misplaced = [(at, shift, day) for at, shift, day in rows
                 if derive(plans, at.replace(tzinfo=UTC), clock) != {"shift": shift, "date_produced": day}
                 or at.replace(tzinfo=UTC) > moment]
    assert misplaced == []


async def schema_of(db, tables=INDEXED_AFTER) -> dict[str, object]:
    """Each table's indexes and foreign keys as SQLAlchemy reads them, and on MySQL its whole
    CREATE TABLE (the keys' order too), without the AUTO_INCREMENT counter."""
    def read(conn) -> dict[str, object]:
        inspector = inspect(conn)
        return {table: (sorted((index["name"], tuple(index["column_names"]), bool(index["unique"]))
                               for index in inspector.get_indexes(table)),
                        sorted((key["name"], tuple(key["constrained_columns"]), key["referred_table"])
                               for key in inspector.get_foreign_keys(table)))
                for table in tables}

    async with db.engine.connect() as conn:
        shown = await conn.run_sync(read)
        if not db.is_sqlite:
            for table in tables:
                create = (await conn.exec_driver_sql(f"SHOW CREATE TABLE `{table}`")).one()[1]
                shown[f"{table} as created"] = " ".join(part for part in create.split()
                                                       if not part.startswith("AUTO_INCREMENT="))
    return shown


async def test_the_seeded_tables_end_with_the_migrated_indexes(app, settings):
    """The seed builds the big tables' secondary keys after their rows (MySQL): the schema it leaves
    is the migrated one, every key in place."""
    migrated = await schema_of(app.ctx.db)
    assert any(index for indexes, _ in (migrated[table] for table in INDEXED_AFTER) for index in indexes)
    assert await seed_in_thread(settings) == 0
    assert await schema_of(app.ctx.db) == migrated


async def test_a_seed_that_fails_midway_puts_the_keys_back(app, settings, monkeypatch):
    migrated = await schema_of(app.ctx.db)

    def broken(self, first_id):
        raise RuntimeError("made to fail")
        yield

    monkeypatch.setattr(Seeder, "make_production", broken)
    with pytest.raises(RuntimeError, match="made to fail"):
        await seed_in_thread(settings)
    assert await schema_of(app.ctx.db) == migrated


async def test_keys_of_a_table_with_rows_are_left_alone(app, make):
    """Only an empty table's keys are set aside: a table with rows keeps them while others load."""
    await make.customer()
    migrated = await schema_of(app.ctx.db, ("customers", "orders"))
    async with DeferredIndexes(app.ctx.db, ("customers", "orders")) as indexes:
        during = await schema_of(app.ctx.db, ("customers", "orders"))
        assert during["customers"] == migrated["customers"]
        if not app.ctx.db.is_sqlite:
            assert list(indexes.set_aside) == ["orders"]
            assert during["orders"][0] == []  # every plain key, the one backing the customer key too
            assert during["orders"][1] == migrated["orders"][1]
    assert await schema_of(app.ctx.db, ("customers", "orders")) == migrated


async def test_the_past_plan_is_what_the_seeded_records_made(app, settings):
    """The seeder sums each instance's units as it makes the records: every instance before
    yesterday gets one completed work order for its lowest product, planning what the records
    hold plus a twentieth, exactly as summed from the rows."""
    clock = Clock(settings.timezone)
    assert await seed_in_thread(settings, 2) == 0
    recent = clock.today() - timedelta(days=1)
    made = func.sum(ProductionRecord.quantity_produced)
    async with app.ctx.db.session() as session:
        from_rows = {(day, shift, line): (product_id, int(units) + int(units) // 20)
                     for day, shift, line, product_id, units in (await session.execute(
                         select(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line,
                                func.min(ProductionRecord.product_id), made)
                         .where(ProductionRecord.date_produced < recent)
                         .group_by(ProductionRecord.date_produced, ProductionRecord.shift,
                                   ProductionRecord.line))).all()}
        planned = (await session.execute(
            select(WorkOrder.date, WorkOrder.shift, WorkOrder.line, WorkOrder.product_id,
                   WorkOrder.planned_quantity, WorkOrder.status).where(WorkOrder.date < recent))).all()
    assert len(from_rows) > 50
    by_instance = {(day, shift, line): (product, n) for day, shift, line, product, n, _ in planned}
    assert by_instance == from_rows
    assert len(planned) == len(from_rows) and {row[-1] for row in planned} == {"completed"}
