"""Analytics: each report is one SQL query (GROUP BY, SUM, CASE), the same text on SQLite and MariaDB.

Aggregation happens in the database; Python only formats the few rows that come back.
Money is summed in whole cents (`SUM(ROUND(x * 100))`) because SQLite keeps NUMERIC as REAL;
ratios divide by a DOUBLE (`1e0`) because MariaDB's DECIMAL division keeps only four places
and SQLite's integer division truncates.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from models import Customer, Employee, Order, OrderItem, Product, ProductionRecord
from schemas.common import iso_utc
from services.common.crud import Page

CENT = Decimal("0.01")
FLOAT_ONE = literal_column("1e0", Float)
RATIO_DIGITS = 6
SALES_TABLES = ("orders", "order_items")
PRODUCTION_TABLES = ("production_records",)


@dataclass(frozen=True)
class Shape:
    """What changes a report's SQL text: which date bounds are given, and the grouping."""

    start: bool
    end: bool
    group_by: str = "product"

    @classmethod
    def of(cls, params: dict[str, Any]) -> Shape:
        end = params.get("to")
        return cls(params.get("from_") is not None, end is not None and end < date.max,
                   params.get("group_by", "product"))


@dataclass(frozen=True)
class Analytic:
    """One report: its query, the row shape it answers with, and the tables whose writes change it."""

    name: str
    build: Callable[[Shape], Select]
    shape: Callable[[Row], dict[str, Any]]
    columns: Callable[[dict[str, Any]], tuple[str, ...]]
    tables: tuple[str, ...]
    # The same report from the summary tables, or None for a shape they do not cover.
    rollup: Callable[[Shape], Select | None] = field(default=lambda shape: None, compare=False)
    # Built once per shape and reused with new parameter values: building a nested Core
    # statement costs more Python time than a small report costs the database.
    _queries: dict[Shape, Select] = field(default_factory=dict, compare=False, repr=False)

    def query(self, shape: Shape) -> Select:
        """The whole report as one SELECT: the page's rows, each carrying the count of all rows."""
        if shape not in self._queries:
            rolled = self.rollup(shape)
            if rolled is None:
                rolled = paged(self.build(shape))
            elif "total" not in rolled.selected_columns:  # a summary query may page itself
                rolled = paged(rolled)
            self._queries[shape] = rolled
        return self._queries[shape]

    def raw_query(self, shape: Shape) -> Select:
        """The report computed from the raw rows, whatever summary tables exist."""
        return paged(self.build(shape))

    def statement(self, params: dict[str, Any]) -> Select:
        """The query with these parameters' values bound in (to show or EXPLAIN it)."""
        return self.query(Shape.of(params)).params(bind_values(params))


def paged(query: Select) -> Select:
    """The report's rows, each carrying the count of all rows, one page of them; a query that
    pages itself already (it selects `total`) as it is."""
    if "total" in query.selected_columns:
        return query
    return (query.add_columns(func.count().over().label("total"))
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))


def bind_values(params: dict[str, Any]) -> dict[str, Any]:
    """Values for the query's named parameters; the date range is inclusive of both days."""
    limit, page = params.get("limit", 100), params.get("page", 1)
    values: dict[str, Any] = {"limit": limit, "offset": (page - 1) * limit}
    start, end = params.get("from_"), params.get("to")
    if start is not None:
        values["start_day"] = start
        values["start_time"] = datetime.combine(start, time.min)
    if end is not None and end < date.max:
        values["end_day"] = end
        values["end_time"] = datetime.combine(end + timedelta(days=1), time.min)
    threshold = Decimal(params.get("threshold") or 0) * 100
    # Whole cents compare exactly with the threshold rounded up to the next cent.
    values["threshold_cents"] = int(threshold.to_integral_value(ROUND_CEILING))
    # For the summary of customer value: counted customers have at least a cent.
    values["threshold_floor"] = max(values["threshold_cents"], 1)
    return values


async def run_report(session: AsyncSession, analytic: Analytic, params: dict[str, Any], *,
                     raw: bool = False) -> Page:
    """One page of the report; `raw` computes it from the raw rows (to check the summary tables)."""
    shape = Shape.of(params)
    query = analytic.raw_query(shape) if raw else analytic.query(shape)
    values = bind_values(params)
    rows = (await session.execute(query, values)).all()
    limit, page = params.get("limit", 100), params.get("page", 1)
    if rows:
        total = rows[0].total
    elif page > 1:
        # Past the last page the window count has no row to ride on: ask for the first row only.
        first = (await session.execute(query, {**values, "limit": 1, "offset": 0})).first()
        total = first.total if first else 0
    else:
        total = 0
    return Page([analytic.shape(row) for row in rows], page, limit, int(total))


# -- SQL building blocks ----------------------------------------------------------------------

def cents(column: Any) -> ColumnElement:
    """Exact money sum, in whole cents."""
    return func.sum(func.round(column * 100))


def count_if(condition: ColumnElement) -> ColumnElement:
    return func.sum(case((condition, 1), else_=0))


def ratio(numerator: Any, denominator: Any, missing: Any = None) -> ColumnElement:
    """numerator / denominator as a float; NULL when an input is missing or the denominator is 0."""
    usable = denominator > 0 if missing is None else and_(missing == 0, denominator > 0)
    return case((usable, numerator * FLOAT_ONE / denominator), else_=None)


def at_most_one(value: ColumnElement) -> ColumnElement:
    return case((value > 1, FLOAT_ONE), else_=value)


def order_window(shape: Shape) -> list[ColumnElement]:
    """Sales in the date range: placed (orders.placed_at) from `from` through `to`, not cancelled."""
    conditions = [Order.status != "cancelled"]
    if shape.start:
        conditions.append(Order.placed_at >= bindparam("start_time"))
    if shape.end:
        conditions.append(Order.placed_at < bindparam("end_time"))
    return conditions


def production_window(shape: Shape) -> list[ColumnElement]:
    conditions = []
    if shape.start:
        conditions.append(ProductionRecord.date_produced >= bindparam("start_day"))
    if shape.end:
        conditions.append(ProductionRecord.date_produced <= bindparam("end_day"))
    return conditions


def money(whole_cents: Any) -> str:
    return str((Decimal(int(whole_cents)) / 100).quantize(CENT))


def fraction(value: Any) -> float | None:
    return None if value is None else round(float(value), RATIO_DIGITS)


# -- employee performance ---------------------------------------------------------------------

def employee_performance_query(shape: Shape) -> Select:
    pr = ProductionRecord
    per_employee = (
        select(pr.employee_id, func.sum(pr.quantity_produced).label("produced"),
               func.sum(pr.quantity_defective).label("defective"), func.count().label("records"))
        .where(*production_window(shape))
        .group_by(pr.employee_id)
        .subquery("per_employee"))
    g = per_employee.c
    return (select(g.employee_id, Employee.name.label("employee_name"), g.produced, g.defective,
                   ratio(g.defective, g.produced).label("defect_rate"), g.records)
            .select_from(per_employee).join(Employee, Employee.id == g.employee_id)
            .order_by(g.produced.desc(), g.employee_id))


def employee_performance_row(row: Row) -> dict[str, Any]:
    return {"employee_id": row.employee_id, "employee_name": row.employee_name,
            "units_produced": int(row.produced), "units_defective": int(row.defective),
            "defect_rate": fraction(row.defect_rate), "records": int(row.records)}


# -- top products -----------------------------------------------------------------------------

def top_products_query(shape: Shape) -> Select:
    per_product = (
        select(OrderItem.product_id, func.sum(OrderItem.quantity).label("units"),
               cents(OrderItem.line_total).label("revenue_cents"))
        .select_from(Order).join(OrderItem, OrderItem.order_id == Order.id)
        .where(*order_window(shape))
        .group_by(OrderItem.product_id)
        .subquery("per_product"))
    g = per_product.c
    return (select(g.product_id, Product.name.label("product_name"), g.units, g.revenue_cents)
            .select_from(per_product).join(Product, Product.id == g.product_id)
            .order_by(g.units.desc(), g.revenue_cents.desc(), g.product_id))


def top_products_row(row: Row) -> dict[str, Any]:
    return {"product_id": row.product_id, "product_name": row.product_name,
            "units_sold": int(row.units), "revenue": money(row.revenue_cents)}


# -- customer lifetime value ------------------------------------------------------------------

def customer_value_query(shape: Shape) -> Select:
    """Paged before the names are joined: a month has ~60k customers, and joining each to its name
    (then sorting them all) cost twice what summing the orders did."""
    value = cents(Order.total_price)
    per_customer = (
        select(Order.customer_id, func.count().label("orders"), value.label("value_cents"),
               func.min(Order.placed_at).label("first_order_at"),
               func.max(Order.placed_at).label("last_order_at"))
        .where(*order_window(shape))
        .group_by(Order.customer_id)
        .having(value >= bindparam("threshold_cents", type_=Integer))
        .subquery("per_customer"))
    g = per_customer.c
    page = paged(select(*g).order_by(g.value_cents.desc(), g.customer_id)).subquery("page")
    p = page.c
    return (select(p.customer_id, Customer.name.label("customer_name"), p.orders, p.value_cents,
                   p.first_order_at, p.last_order_at, p.total)
            .select_from(page).join(Customer, Customer.id == p.customer_id)
            .order_by(p.value_cents.desc(), p.customer_id))


def customer_value_row(row: Row) -> dict[str, Any]:
    orders, value = int(row.orders), Decimal(int(row.value_cents))
    average = (value / orders / 100).quantize(CENT, ROUND_HALF_UP)
    return {"customer_id": row.customer_id, "customer_name": row.customer_name, "orders": orders,
            "lifetime_value": money(value), "average_order_value": str(average),
            "first_order_at": iso_utc(row.first_order_at), "last_order_at": iso_utc(row.last_order_at)}


# -- production efficiency (OEE) --------------------------------------------------------------

GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "product": ("product_id", "product_name"), "line": ("line",),
    "employee": ("employee_id", "employee_name"), "day": ("day",),
}
EFFICIENCY_FIELDS = ("produced", "defective", "good", "availability", "performance", "quality", "oee")


KEY_COLUMN = {"product": "product_id", "line": "line", "employee": "employee_id", "day": "day"}


def production_efficiency_query(shape: Shape, sums: Select | None = None) -> Select:
    """OEE per group, summed over the group's records; a factor is NULL when any record lacks its inputs.

    `sums` (the group's sums, as `sums_per_product` has them) comes from the summary tables when
    they cover the shape; by default the raw records are summed.
    """
    group_by = shape.group_by
    if sums is None:
        # Records are first summed per (group, product), then joined to the product's ideal cycle
        # time: few pairs for product, line and day. Per employee the pairs come close to one per
        # record, so over a date range each record is joined to its product instead. Without a range
        # that join could steer MariaDB off the covering date index, so all history keeps the pairs.
        per_record = group_by == "employee" and (shape.start or shape.end)
        sums = sums_per_record(shape) if per_record else sums_per_product(shape)
    per_group = sums.subquery("per_group")
    g = per_group.c
    key = g[KEY_COLUMN[group_by]]
    keys: list[Any] = [key]
    source: Any = per_group
    if group_by == "product":
        keys.append(Product.name.label("product_name"))
        source = per_group.join(Product, Product.id == key)
    elif group_by == "employee":
        keys.append(Employee.name.label("employee_name"))
        source = per_group.join(Employee, Employee.id == key)
    factors = (
        select(*keys, g.produced, g.defective,
               ratio(g.running, g.planned, g.no_time).label("availability"),
               ratio(g.ideal_seconds, g.running * 60, g.no_time + g.no_ideal).label("performance"),
               ratio(g.produced - g.defective, g.produced).label("quality"))
        .select_from(source)
        .subquery("factors"))
    f = factors.c
    # Faster than the ideal cycle means the ideal is set too slow; the contract keeps ratios in 0…1.
    performance = at_most_one(f.performance)
    out_keys = [f[name] for name in GROUP_KEYS[group_by]]
    return (select(*out_keys, f.produced, f.defective, (f.produced - f.defective).label("good"),
                   f.availability, performance.label("performance"), f.quality,
                   (f.availability * performance * f.quality).label("oee"))
            .order_by(*out_keys))


def record_key(group_by: str) -> list[Any]:
    pr = ProductionRecord
    return {"product": [], "line": [pr.line], "employee": [pr.employee_id],
            "day": [pr.date_produced.label("day")]}[group_by]


def time_sums(pr: Any) -> list[ColumnElement]:
    return [func.sum(pr.quantity_produced).label("produced"),
            func.sum(pr.quantity_defective).label("defective"),
            count_if(or_(pr.planned_minutes.is_(None), pr.downtime_minutes.is_(None))).label("no_time"),
            func.sum(pr.planned_minutes).label("planned"),
            func.sum(pr.planned_minutes - pr.downtime_minutes).label("running")]


def sums_per_record(shape: Shape) -> Select:
    """The group's sums, each record joined to its product's ideal cycle time."""
    pr = ProductionRecord
    key = record_key(shape.group_by)
    return (select(*key, *time_sums(pr),
                   count_if(Product.ideal_cycle_seconds.is_(None)).label("no_ideal"),
                   func.sum(Product.ideal_cycle_seconds * pr.quantity_produced).label("ideal_seconds"))
            .select_from(pr).join(Product, Product.id == pr.product_id)
            .where(*production_window(shape))
            .group_by(*key))


def sums_per_product(shape: Shape) -> Select:
    """The group's sums, from records first summed per (group, product) and then joined to products."""
    pr = ProductionRecord
    key = record_key(shape.group_by)
    per_product = (select(*key, pr.product_id, *time_sums(pr))
                   .where(*production_window(shape))
                   .group_by(*key, pr.product_id)
                   .subquery("per_product"))
    p = per_product.c
    group = p[KEY_COLUMN[shape.group_by]]
    return (select(group, func.sum(p.produced).label("produced"), func.sum(p.defective).label("defective"),
                   func.sum(p.no_time).label("no_time"), func.sum(p.planned).label("planned"),
                   func.sum(p.running).label("running"),
                   count_if(Product.ideal_cycle_seconds.is_(None)).label("no_ideal"),
                   func.sum(Product.ideal_cycle_seconds * p.produced).label("ideal_seconds"))
            .select_from(per_product).join(Product, Product.id == p.product_id)
            .group_by(group))


def production_efficiency_row(row: Row) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name in ("product_id", "product_name", "line", "employee_id", "employee_name", "day"):
        if name in row._fields:
            value = getattr(row, name)
            item[name] = value.isoformat() if isinstance(value, date) else value
    item.update(produced=int(row.produced), defective=int(row.defective), good=int(row.good))
    for name in ("availability", "performance", "quality", "oee"):
        item[name] = fraction(getattr(row, name))
    return item
