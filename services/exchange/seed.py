"""Demo data: a believable factory, bulk-inserted fast enough to load millions of rows.

`python server.py seed --size N` fills an empty database. Size 1 is a small plant (a few hundred
orders and production records over four weeks); orders, production and customers grow linearly
with N (250 orders and 250 production records per unit). Rows are plain tuples written in
batches: executemany on SQLite, LOAD DATA LOCAL INFILE over parallel connections on MySQL/MariaDB,
where the big tables' plain secondary keys are set aside for the load and built by sort after it.
The stock ledger is kept exact: each product's movements (opening balance, daily production,
daily shipments) sum to its stock_quantity and never dip below zero.
"""
from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from sqlalchemy import func, select, text
from tqdm import tqdm

from core import migrate
from core.clock import Clock
from core.config import Settings
from core.db import Database
from models import ROLLUP_TABLES
from services.analytics.rollups import PRODUCTION_SUMS, forget_known_rows
from services.exchange.bulk import BulkWriter
from services.exchange.deferred_indexes import DeferredIndexes
from services.exchange.seed_data import (
    CITIES,
    COMPANY_HEADS,
    COMPANY_TAILS,
    FIRST_NAMES,
    LAST_NAMES,
    LINES,
    PRODUCT_KINDS,
    SHIFTS,
    SIZES,
    STREETS,
)
from services.exchange.seed_floor import (
    BREAK_MINUTES,
    SHIFT_HOURS,
    line_code,
    placed_in,
    seed_shifts,
    seed_shop_floor,
)
from services.floor.production_time import noon_of
from services.floor.shift_time import instance_on, plan_of

BUSINESS_TABLES = ("products", "customers", "employees", "orders", "production_records")
BATCH_ROWS = 20000
# The big tables: their plain secondary keys are built after their rows, by sort (DeferredIndexes).
INDEXED_AFTER = ("customers", "orders", "order_items", "production_records", "stock_movements")
ORDER_QUANTITIES = (20, 25, 50, 50, 100, 100, 150, 200, 250, 300, 400, 500, 800)
# Status by the order's age in days: later statuses as orders get older.
STATUS_BY_AGE = (
    (1, (("pending", 0.7), ("confirmed", 1.0))),
    (3, (("pending", 0.15), ("confirmed", 0.6), ("in_production", 1.0))),
    (7, (("confirmed", 0.1), ("in_production", 0.5), ("shipped", 1.0))),
    (12, (("in_production", 0.05), ("shipped", 0.4), ("delivered", 1.0))),
    (None, (("shipped", 0.03), ("delivered", 1.0))),
)
CANCELLED_SHARE = 0.06
# Order lots are scaled by this over the product's cycle time: shipments then take about what is made.
DEMAND_CYCLE_SECONDS = 80.0

COLUMNS = {
    "products": ("id", "sku", "name", "description", "price", "stock_quantity", "reorder_level",
                 "ideal_cycle_seconds", "created_at", "updated_at"),
    "customers": ("id", "name", "email", "phone", "address", "created_at", "updated_at"),
    "employees": ("id", "name", "position", "email", "phone", "created_at", "updated_at"),
    "orders": ("id", "customer_id", "status", "total_price", "placed_at", "created_at", "updated_at"),
    "order_items": ("id", "order_id", "product_id", "quantity", "unit_price", "line_total", "created_at",
                    "updated_at"),
    "production_records": ("id", "product_id", "employee_id", "quantity_produced", "quantity_defective",
                           "date_produced", "produced_at", "line", "shift", "planned_minutes",
                           "downtime_minutes", "created_at", "updated_at"),
    "stock_movements": ("id", "product_id", "delta", "balance_after", "reason", "note", "created_at",
                        "updated_at"),
    # The summary tables, summed per key as the rows above are made (services/analytics/rollups.py).
    "rollup_sales_day": ("day", "product_id", "units", "revenue_cents"),
    "rollup_sales_product": ("product_id", "units", "revenue_cents"),
    "rollup_customer_value": ("customer_id", "orders", "value_cents", "first_order_at", "last_order_at"),
    "rollup_production_day": ("day", "product_id", "line", *PRODUCTION_SUMS),
    "rollup_production_total": ("product_id", "line", *PRODUCTION_SUMS),
    "rollup_production_employee": ("employee_id", "product_id", *PRODUCTION_SUMS),
    "rollup_counts": ("name", "key", "n"),
}
TEXT_COLUMNS = {"sku", "name", "description", "price", "ideal_cycle_seconds", "email", "phone", "address",
                "position", "status", "total_price", "unit_price", "line_total", "date_produced",
                "produced_at", "line", "shift", "reason", "note", "placed_at", "created_at", "updated_at",
                "day", "first_order_at", "last_order_at", "key"}


@dataclass(frozen=True)
class Plan:
    """How many of each thing a size means."""

    size: int
    products: int
    customers: int
    employees: int
    orders: int
    production: int
    days: int
    lines: int

    @classmethod
    def for_size(cls, size: int) -> Plan:
        return cls(size=size, products=12 + size // 10, customers=25 * size, employees=15 + size // 4,
                   orders=250 * size, production=250 * size, days=min(365, 28 + size // 10),
                   lines=min(len(LINES), 4 + size // 50))


def run_seed(settings: Settings, size: int = 1, clock: Clock | None = None) -> int:
    """The `seed` command: exit code 0 when seeded, 1 when refused, 2 on bad arguments.

    The history ends at `clock`'s now (the plant's clock by default), the last day being today."""
    if size < 1:
        print("error: --size must be at least 1", file=sys.stderr)
        return 2
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    return asyncio.run(seed(settings, Plan.for_size(size), clock or Clock(settings.timezone)))


async def seed(settings: Settings, plan: Plan, clock: Clock) -> int:
    db = Database(settings.database_url, timeout=max(settings.db_timeout, 10.0))
    try:
        problem = await why_not(db)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        started = time.perf_counter()
        seeder = Seeder(db, plan, clock)
        counts = await seeder.run()
        took = time.perf_counter() - started
        print(f"Seeded {', '.join(f'{n:,} {name}' for name, n in counts.items())} in {took:.1f} s.")
        return 0
    finally:
        await db.dispose()


async def why_not(db: Database) -> str | None:
    """A one-line reason to refuse: an old schema, or a database that already has data."""
    async with db.engine.connect() as conn:
        current = await migrate.current_revision(conn)
        if current != migrate.head_revision():
            return (f"database schema is at revision {current or 'none'}, this code needs "
                    f"{migrate.head_revision()}: run 'python server.py migrate' first")
        filled = {}
        for table in BUSINESS_TABLES:
            count = await conn.scalar(select(func.count()).select_from(text(table)))
            if count:
                filled[table] = count
    if filled:
        found = ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in filled.items())
        return f"the database already has data ({found}); seed fills an empty database only"
    return None


# -- generating -------------------------------------------------------------------------------------

def cents(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


# Every second of a day as text: stamping a million rows is then a lookup, not a strftime.
CLOCK = [f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000000" for second in range(86400)]


class Seeder:
    """Makes the factory's rows in time order and writes them as it goes.

    The loops below run a few million times at the largest sizes, so they draw with
    `random()` and look prepared text up instead of calling `choice` or formatting per row.
    """

    def __init__(self, db: Database, plan: Plan, clock: Clock, seed: int = 20261126) -> None:
        self.db = db
        self.plan = plan
        self.clock = clock
        self.rng = random.Random(seed + plan.size)
        now = clock.utcnow()
        self.now_second = now.hour * 3600 + now.minute * 60 + now.second
        today = now.date()
        self.day_text = [str(today - timedelta(days=plan.days - 1 - day)) for day in range(plan.days)]
        self.counts: dict[str, int] = {}
        # Units made and shipped per (product index, day): the ledger is written from these at the end.
        self.made: dict[tuple[int, int], int] = defaultdict(int)
        self.shipped: dict[tuple[int, int], int] = defaultdict(int)
        # The summary tables' sums, kept as the rows are made (written once at the end, instead of
        # summed again from a million rows): per (day, product index) and (employee, product index).
        self.sales: dict[tuple[str, int], list[int]] = {}  # per (day, product): units, revenue in cents
        self.customer_value: dict[int, list] = {}  # orders, cents, first and last placement
        self.order_statuses: dict[str, int] = defaultdict(int)
        self.output: dict[tuple[int, int], list[int]] = {}  # records, produced, defective, planned, running
        self.crew_output: dict[tuple[int, int], list[int]] = {}
        self.instances: dict[tuple[int, int, int], tuple[int, int]] = {}  # (day, shift, line): write_floor

    def stamp(self, day: int, second: int) -> str:
        """`YYYY-MM-DD HH:MM:SS.000000` for a second of a history day (or later), never after now."""
        day += second // 86400
        second %= 86400
        last = self.plan.days - 1
        if day >= last:
            day, second = last, min(second if day == last else 86399, max(0, self.now_second - 60))
        return f"{self.day_text[day]} {CLOCK[second]}"

    def placements(self) -> list[list[str]]:
        """`produced_at` (as text) of the records of each history day's instance of each shift:
        the instance's middle on the plant's clock, or of its start and now while it runs."""
        now, zone = self.clock.now(), self.clock.zone
        plans = [plan_of(shift) for shift in seed_shifts()]
        placed = []
        for day_text in self.day_text:
            day = date.fromisoformat(day_text)
            moments = []
            for plan in plans:
                instance = instance_on(plan, day, zone)
                moment = placed_in(instance, now) if instance is not None else noon_of(day, zone, now)
                moments.append(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
            placed.append(moments)
        return placed

    async def run(self) -> dict[str, int]:
        ids = await self.next_ids()
        async with self.db.write() as uow:  # summary rows left at zero by earlier writes: made anew below
            for table in ROLLUP_TABLES:
                await uow.session.execute(text(f"DELETE FROM {table}"))
        with tqdm(total=self.plan.orders + self.plan.production, unit=" rows", file=sys.stderr,
                  desc="seeding orders and production", mininterval=0.5, dynamic_ncols=True) as progress:
            async with (DeferredIndexes(self.db, INDEXED_AFTER) as indexes,
                        BulkWriter(self.db, COLUMNS, TEXT_COLUMNS, progress.update) as writer):
                self.products = self.make_products(ids["products"])
                await writer.insert("products", [row for row, _ in self.products], counted=False)
                self.customer_ids = range(ids["customers"], ids["customers"] + self.plan.customers)
                for batch in batched(self.make_customers(ids["customers"])):
                    await writer.insert("customers", batch, counted=False)
                self.employees = list(self.make_employees(ids["employees"]))
                await writer.insert("employees", [row for row, _ in self.employees], counted=False)
                # Production first: the largest key build then runs while the orders are made.
                for batch in self.make_production(ids["production_records"]):
                    await writer.insert("production_records", batch)
                await writer.drain()
                indexes.build_soon("customers", "production_records")
                await self.write_summary(writer, self.production_summary_rows())
                for table, batch in self.make_orders(ids["orders"], ids["order_items"]):
                    await writer.insert(table, batch, counted=table == "orders")
                movements, stock = self.make_ledger(ids["stock_movements"])
                for batch in batched(iter(movements)):
                    await writer.insert("stock_movements", batch, counted=False)
                await writer.drain()
                indexes.build_soon("orders", "order_items", "stock_movements")
                await writer.execute("UPDATE products SET stock_quantity = ?, reorder_level = ? WHERE id = ?",
                                     stock)
                await self.write_summary(writer, self.sales_summary_rows())
                # The floor reads production records only: it goes on beside the orders' key builds
                # and the last summary rows' loads.
                self.counts.update(await self.write_floor())
        self.counts["stock movements"] = len(movements)
        forget_known_rows()
        shown = ("products", "customers", "employees", "orders", "order items", "production records",
                 "stock movements")
        return {name: self.counts[name] for name in (*shown, *(n for n in self.counts if n not in shown))}

    @staticmethod
    async def write_summary(writer: BulkWriter, tables: Iterator[tuple[str, list[tuple]]]) -> None:
        for table, rows in tables:
            for batch in batched(iter(rows)):
                await writer.insert(table, batch, counted=False)

    async def write_floor(self) -> dict[str, int]:
        """Lines, shifts, the plan and stops, from the records just written."""
        by_line: dict[int, int] = {}
        for _, facts in self.products:
            by_line.setdefault(facts["line"], facts["id"])
        days = [date.fromisoformat(day) for day in self.day_text]
        made = {(days[day], SHIFTS[shift][0], line_code(line)): sums
                for (day, shift, line), sums in self.instances.items()}
        return await seed_shop_floor(self.db, self.clock, self.plan.lines, by_line, days[0], self.rng, made)

    async def next_ids(self) -> dict[str, int]:
        async with self.db.engine.connect() as conn:
            return {table: (await conn.scalar(select(func.max(text("id"))).select_from(text(table))) or 0) + 1
                    for table, columns in COLUMNS.items() if columns[0] == "id"}

    def make_products(self, first_id: int) -> list[tuple[tuple, dict]]:
        rng, start = self.rng, self.stamp(0, 6 * 3600)
        products = []
        for n in range(self.plan.products):
            name, prefix, base_cents, base_cycle = PRODUCT_KINDS[n % len(PRODUCT_KINDS)]
            variant = n // len(PRODUCT_KINDS)
            grade = variant % len(SIZES)
            series = f" series {variant // len(SIZES) + 1}" if variant >= len(SIZES) else ""
            price = int(base_cents * (1 + 0.35 * grade) * rng.uniform(0.9, 1.1))
            cycle = round(base_cycle * (1 + 0.2 * grade) * rng.uniform(0.9, 1.1), 1)
            # Customers order fast-made parts in bigger lots: demand roughly matches what each line makes.
            lots = [max(5, round(q * DEMAND_CYCLE_SECONDS / cycle / 5) * 5) for q in ORDER_QUANTITIES]
            facts = {"id": first_id + n, "price": price, "cycle": cycle, "line": n % self.plan.lines,
                     "defects": rng.uniform(0.004, 0.04), "lots": lots,
                     "line_totals": [(price * lot, cents(price * lot)) for lot in lots]}
            row = (facts["id"], f"{prefix}-{n + 1:05d}", f"{name} {SIZES[grade]}{series}",
                   f"{name}, size {SIZES[grade]}; ideal cycle {cycle} s per unit.", cents(price), 0, 0,
                   f"{cycle:.3f}", start, start)
            products.append((row, facts))
        self.counts["products"] = len(products)
        return products

    def make_customers(self, first_id: int) -> Iterator[tuple]:
        rng, start = self.rng, self.stamp(0, 7 * 3600)
        for n in range(self.plan.customers):
            company = f"{rng.choice(COMPANY_HEADS)} {rng.choice(COMPANY_TAILS)}"
            slug = company.lower().replace(" ", "-")
            yield (first_id + n, company, f"purchasing{n + 1}@{slug}.example", f"+4930{n + 1:08d}",
                   f"{rng.randint(1, 240)} {rng.choice(STREETS)}, {rng.choice(CITIES)}", start, start)
        self.counts["customers"] = self.plan.customers

    def make_employees(self, first_id: int) -> Iterator[tuple[tuple, dict]]:
        rng, start = self.rng, self.stamp(0, 6 * 3600)
        positions = ("Machine operator",) * 6 + ("Line lead", "Maintenance technician", "Quality inspector")
        for n in range(self.plan.employees):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            facts = {"id": first_id + n, "line": n % self.plan.lines, "shift": n // self.plan.lines % 3}
            yield ((facts["id"], f"{first} {last}", positions[n % len(positions)],
                    f"{first.lower()}.{last.lower()}.{n + 1}@factory.example", f"+4940{n + 1:08d}",
                    start, start), facts)
        self.counts["employees"] = self.plan.employees

    def per_day(self, total: int) -> Iterator[tuple[int, int]]:
        """Spread `total` rows evenly over the history's days: (day, count)."""
        done = 0
        for day in range(self.plan.days):
            count = round(total * (day + 1) / self.plan.days) - done
            done += count
            yield day, count

    def status_of(self, age: float) -> tuple[str, float]:
        """A status that fits the order's age (days), and how many days after placement it last moved."""
        draw = self.rng.random
        if age > 0.5 and draw() < CANCELLED_SHARE:
            return "cancelled", 0.1 + draw() * min(age, 3)
        roll = draw()
        for limit, shares in STATUS_BY_AGE:
            if limit is None or age < limit:
                status = next(name for name, share in shares if roll < share)
                break
        if status == "pending":
            return status, 0.0
        return status, min(age, 0.2 + draw() * 4.8)

    def make_orders(self, first_id: int, first_item_id: int) -> Iterator[tuple[str, list[tuple]]]:
        """Orders and their lines in time order, a day at a time. The stamps and statuses of all
        but the last days are made inline: the same values `stamp` and `status_of` give, without
        their calls, which were a third of the time here."""
        draw, last_day, day_text, shipped = self.rng.random, self.plan.days - 1, self.day_text, self.shipped
        catalogue = [(facts["id"], facts["lots"], facts["line_totals"], cents(facts["price"]))
                     for _, facts in self.products]
        count_products, count_lots = len(catalogue), len(ORDER_QUANTITIES)
        customers, count_customers = self.customer_ids, len(self.customer_ids)
        order_id, item_id, orders, items = first_id, first_item_id, [], []
        sales, customer_value, statuses = self.sales, self.customer_value, self.order_statuses
        old_age, old_shares = STATUS_BY_AGE[-2][0], STATUS_BY_AGE[-1][1]
        for day, count in self.per_day(self.plan.orders):
            latest = 20 * 3600 if day < last_day else max(6 * 3600 + 1, self.now_second - 60)
            today = day_text[day]  # every order's placement falls on its own day
            prefix = today + " "
            for second in sorted(6 * 3600 + int(draw() * (latest - 6 * 3600)) for _ in range(count)):
                created = prefix + CLOCK[second] if day < last_day else self.stamp(day, second)
                age = max(0.0, last_day - day + (self.now_second - second) / 86400)
                if age >= old_age:  # status_of, for an order older than every limit
                    if draw() < CANCELLED_SHARE:
                        status, moved_after = "cancelled", 0.1 + draw() * min(age, 3)
                    else:
                        roll = draw()
                        status = next(name for name, share in old_shares if roll < share)
                        moved_after = min(age, 0.2 + draw() * 4.8)
                else:
                    status, moved_after = self.status_of(age)
                if moved_after:
                    later = second + int(moved_after * 86400)
                    moved_to = day + later // 86400
                    updated = (day_text[moved_to] + " " + CLOCK[later % 86400] if moved_to < last_day
                               else self.stamp(day, later))
                else:
                    updated = created
                ships = status == "shipped" or status == "delivered"
                lines = 1 if draw() < 0.65 else (2 if draw() < 0.7 else 3)
                picks = [int(draw() * count_products)]
                while len(picks) < lines:
                    pick = int(draw() * count_products)
                    if pick not in picks:
                        picks.append(pick)
                total = 0
                counted = status != "cancelled"
                for index in picks:
                    product_id, lots, line_totals, unit_price = catalogue[index]
                    lot = int(draw() * count_lots)
                    line_cents, line_text = line_totals[lot]
                    total += line_cents
                    items.append((item_id, order_id, product_id, lots[lot], unit_price, line_text,
                                  created, created))
                    item_id += 1
                    if counted:
                        sums = sales.get((today, index))
                        if sums is None:
                            sums = sales[(today, index)] = [0, 0]
                        sums[0] += lots[lot]
                        sums[1] += line_cents
                    if ships:
                        shipped_on = day + (second + int(min(moved_after, 0.5 + draw() * 2) * 86400)) // 86400
                        shipped[(index, min(shipped_on, last_day))] += lots[lot]
                customer = customers[int(draw() * count_customers)]
                price = f"{total // 100}.{total % 100:02d}"  # cents(total)
                orders.append((order_id, customer, status, price, created, created, updated))
                order_id += 1
                statuses[status] += 1
                if counted:
                    value = customer_value.get(customer)
                    if value is None:
                        customer_value[customer] = [1, total, created, created]
                    else:
                        value[0] += 1
                        value[1] += total
                        if created < value[2]:
                            value[2] = created
                        elif created > value[3]:
                            value[3] = created
                if len(orders) >= BATCH_ROWS:
                    yield "orders", orders
                    yield "order_items", items
                    orders, items = [], []
        yield "orders", orders
        yield "order_items", items
        self.counts["orders"] = order_id - first_id
        self.counts["order items"] = item_id - first_item_id

    def make_production(self, first_id: int) -> Iterator[list[tuple]]:
        """Records shift instance by shift instance, so every instance's OEE is believable.

        A day's records are dealt out over its (line, shift) instances; an instance's records share
        between 67 % and 78 % of its planned time (8 h − 30 min break) as ideal work (ideal cycle ×
        units made), split at random between them. With at most 45 minutes of planned maintenance and
        45 of unplanned stops an instance's performance stays below 1.0 and its OEE between about 55 %
        and 87 %. Today only shifts that have started get records (the running one its share so far);
        the others' records go to yesterday.
        """
        draw, last_day = self.rng.random, self.plan.days - 1
        crews: dict[tuple[int, int], list[int]] = defaultdict(list)
        for _, facts in self.employees:
            crews[(facts["line"], facts["shift"])].append(facts["id"])
        any_crew = [facts["id"] for _, facts in self.employees]
        # Per line: its products (id, index, seconds per unit, usual defect rate).
        made_on: dict[int, list[tuple[int, int, float, float]]] = defaultdict(list)
        for index, (_, facts) in enumerate(self.products):
            made_on[facts["line"]].append((facts["id"], index, facts["cycle"], facts["defects"]))
        lines = [line for line in range(self.plan.lines) if made_on[line]]
        shift_minutes = SHIFT_HOURS * 60
        planned_seconds = (shift_minutes - BREAK_MINUTES) * 60
        counts = dict(self.per_day(self.plan.production))
        started = [n for n, (_, hour) in enumerate(SHIFTS) if hour * 3600 <= self.now_second]
        if last_day and not started:
            counts[last_day - 1] += counts.pop(last_day)
        record_id, batch = first_id, []
        output, crew_output = self.output, self.crew_output
        placed = self.placements()
        for day, count in counts.items():
            shifts = started if day == last_day else range(len(SHIFTS))
            slots = [(line, shift) for line in lines for shift in shifts]
            if not count or not slots:
                continue
            offset = int(draw() * len(slots))
            members: dict[tuple[int, int], int] = defaultdict(int)
            for k in range(count):
                members[slots[(offset + k) % len(slots)]] += 1
            for (line, shift), many in members.items():
                name, start_hour = SHIFTS[shift]
                # A shift still running (today's, or last night's): its share so far.
                begins = (day - last_day) * 86400 + start_hour * 3600
                share = min(1.0, max(0.05, (self.now_second - begins) / (shift_minutes * 60)))
                ideal = planned_seconds * (0.67 + draw() * 0.11) * share
                weights = [0.5 + draw() for _ in range(many)]
                total = sum(weights)
                crew = crews.get((line, shift)) or any_crew
                lowest, units = None, 0
                for weight in weights:
                    product_id, index, cycle, defects = made_on[line][int(draw() * len(made_on[line]))]
                    produced = max(1, round(ideal * weight / total / cycle))
                    units += produced
                    lowest = product_id if lowest is None or product_id < lowest else lowest
                    rate = min(0.04, defects * ((3 + draw() * 2) if draw() < 0.05 else (0.5 + draw())))
                    defective = min(produced, int(produced * rate + draw() * 0.5))
                    planned = max(1, round(shift_minutes * share * weight / total))
                    downtime = int(planned * (0.02 + draw() * 0.12))
                    self.made[(index, day)] += produced - defective
                    created = self.stamp(day, start_hour * 3600 + int(shift_minutes * 60 * share) - 60)
                    employee_id = crew[int(draw() * len(crew))]
                    batch.append((record_id, product_id, employee_id, produced, defective,
                                  self.day_text[day], placed[day][shift], line_code(line), name, planned,
                                  downtime, created, created))
                    # The summary tables' sums, kept as the rows are made (written with them).
                    for sums_of, key in ((output, (day, index)), (crew_output, (employee_id, index))):
                        sums = sums_of.get(key)
                        if sums is None:
                            sums = sums_of[key] = [0, 0, 0, 0, 0]
                        sums[0] += 1
                        sums[1] += produced
                        sums[2] += defective
                        sums[3] += planned
                        sums[4] += planned - downtime
                    record_id += 1
                    if len(batch) >= BATCH_ROWS:
                        yield batch
                        batch = []
                if lowest is not None:  # the instance's lowest product and units, for the floor's plan
                    self.instances[(day, shift, line)] = (lowest, units)
        yield batch
        self.counts["production records"] = record_id - first_id

    def production_summary_rows(self) -> Iterator[tuple[str, list[tuple]]]:
        """The production summary tables' rows from the sums kept while making the records: what
        `server.py rebuild-rollups` would compute from them (every record has a line and times)."""
        product_ids = [facts["id"] for _, facts in self.products]
        lines = [line_code(facts["line"]) for _, facts in self.products]
        yield "rollup_production_day", [(self.day_text[day], product_ids[index], lines[index], *sums, 0)
                                        for (day, index), sums in sorted(self.output.items())]
        totals: dict[int, list[int]] = {}
        for (_, index), sums in self.output.items():
            kept = totals.setdefault(index, [0] * 5)
            for n, value in enumerate(sums):
                kept[n] += value
        yield "rollup_production_total", [(product_ids[index], lines[index], *sums, 0)
                                          for index, sums in sorted(totals.items())]
        crews = sorted(self.crew_output.items())
        yield "rollup_production_employee", [(employee, product_ids[index], *sums, 0)
                                             for (employee, index), sums in crews]

    def sales_summary_rows(self) -> Iterator[tuple[str, list[tuple]]]:
        """The sales summary tables' rows and the row counts, from the sums kept while making orders
        and production: what `server.py rebuild-rollups` would compute from the rows."""
        product_ids = [facts["id"] for _, facts in self.products]
        yield "rollup_sales_day", [(day, product_ids[index], units, revenue)
                                   for (day, index), (units, revenue) in sorted(self.sales.items())]
        per_product: dict[int, list[int]] = {}
        for (_, index), (units, revenue) in self.sales.items():
            sums = per_product.setdefault(index, [0, 0])
            sums[0] += units
            sums[1] += revenue
        yield "rollup_sales_product", [(product_ids[index], units, revenue)
                                       for index, (units, revenue) in sorted(per_product.items())]
        yield "rollup_customer_value", [(customer, *sums)
                                        for customer, sums in sorted(self.customer_value.items())]
        records = sum(sums[0] for sums in self.output.values())
        yield "rollup_counts", [*(("orders", status, n) for status, n in sorted(self.order_statuses.items())),
                                ("production_records", "", records)]

    def make_ledger(self, first_id: int) -> tuple[list[tuple], list[tuple[int, int, int]]]:
        """Opening balance, then daily shipments and production per product, in time order.

        The reorder level covers a few days of the product's demand; the opening balance is just
        enough that stock never goes negative plus a buffer, which for a few products is so small
        that they end at or below their reorder level and the dashboard has warnings to show.
        """
        rng, rows, stock, movement_id = self.rng, [], [], first_id
        opening_at = self.stamp(0, 5 * 3600)
        for index, (_, facts) in enumerate(self.products):
            steps = []
            for day in range(self.plan.days):
                if self.shipped.get((index, day)):
                    steps.append((-self.shipped[(index, day)], self.stamp(day, 17 * 3600), "shipment",
                                  f"Shipments of {self.day_text[day]}"))
                if self.made.get((index, day)):
                    steps.append((self.made[(index, day)], self.stamp(day, 23 * 3600), "production",
                                  f"Good units produced on {self.day_text[day]}"))
            balance, lowest, shipped = 0, 0, 0
            for delta, *_ in steps:
                balance += delta
                lowest = min(lowest, balance)
                shipped -= min(delta, 0)
            reorder = max(10, int(shipped / self.plan.days * rng.uniform(2, 5) / 10) * 10)
            low = rng.random() < 0.15
            opening = (rng.randint(0, reorder // 2) if low else rng.randint(reorder, 4 * reorder)) - lowest
            if opening:
                steps.insert(0, (opening, opening_at, "opening", "Opening balance"))
            balance = 0
            for delta, at, reason, note in steps:
                balance += delta
                rows.append((movement_id, facts["id"], delta, balance, reason, note, at, at))
                movement_id += 1
            stock.append((balance, reorder, facts["id"]))
        return rows, stock


def batched(rows: Iterator[tuple], size: int = BATCH_ROWS) -> Iterator[list[tuple]]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
