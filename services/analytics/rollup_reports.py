"""The reports from the summary tables: the same columns, order and numbers as from the raw rows.

Which table answers which shape (None: the raw rows answer it):

| report                      | all history                  | a from/to range             |
|-----------------------------|------------------------------|-----------------------------|
| top-products                | rollup_sales_product         | rollup_sales_day            |
| customer-lifetime-value     | rollup_customer_value        | raw (a customer-day is ~one order) |
| employee-performance        | rollup_production_employee   | raw                         |
| production-efficiency       | product, line: rollup_production_total; day: rollup_production_day;     |
|                             | employee: rollup_production_employee; any range but employee: _day      |

Over all history, customer value and production efficiency by employee or day page themselves
(their queries carry `total`): the page's keys come first, from an index, and only their rows are read.

Rows at zero (every order or record of the key gone) are skipped. Ranges are whole days (UTC days
of placed_at for sales, date_produced for production), so a day table serves a range exactly.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, select

from models import (
    Customer,
    CustomerValue,
    Employee,
    Product,
    ProductionDay,
    ProductionEmployee,
    ProductionTotal,
    SalesDay,
    SalesProduct,
)
from services.analytics.raw_reports import Shape, count_if, production_efficiency_query, ratio

NO_LINE = ""


def _ranged(shape: Shape) -> bool:
    return shape.start or shape.end


def _day_window(day: Any, shape: Shape) -> list[Any]:
    conditions = []
    if shape.start:
        conditions.append(day >= bindparam("start_day"))
    if shape.end:
        conditions.append(day <= bindparam("end_day"))
    return conditions


def top_products(shape: Shape) -> Select:
    if _ranged(shape):
        per_product = (select(SalesDay.product_id, func.sum(SalesDay.units).label("units"),
                              func.sum(SalesDay.revenue_cents).label("revenue_cents"))
                       .where(SalesDay.units > 0, *_day_window(SalesDay.day, shape))
                       .group_by(SalesDay.product_id).subquery("per_product"))
    else:
        per_product = (select(SalesProduct.product_id, SalesProduct.units.label("units"),
                              SalesProduct.revenue_cents.label("revenue_cents"))
                       .where(SalesProduct.units > 0).subquery("per_product"))
    g = per_product.c
    return (select(g.product_id, Product.name.label("product_name"), g.units, g.revenue_cents)
            .select_from(per_product).join(Product, Product.id == g.product_id)
            .order_by(g.units.desc(), g.revenue_cents.desc(), g.product_id))


def customer_value(shape: Shape) -> Select | None:
    """Already paged (it carries `total`): the page's customer ids are one range of the index
    (value_cents DESC, customer_id), read from the index alone however deep the page, and only
    those rows are then looked up. A customer counts when value_cents > 0: every counted order
    has a total above zero.
    """
    if _ranged(shape):
        return None
    cv = CustomerValue
    at_least = bindparam("threshold_floor", type_=Integer)
    ids = (select(cv.customer_id, cv.value_cents).where(cv.value_cents >= at_least)
           .order_by(cv.value_cents.desc(), cv.customer_id)
           .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
           .subquery("ids"))
    total = select(func.count()).select_from(cv).where(cv.value_cents >= at_least).scalar_subquery()
    g = ids.c
    return (select(g.customer_id, Customer.name.label("customer_name"), cv.orders, g.value_cents,
                   cv.first_order_at, cv.last_order_at, total.label("total"))
            .select_from(ids.join(cv, cv.customer_id == g.customer_id)
                         .join(Customer, Customer.id == g.customer_id))
            .order_by(g.value_cents.desc(), g.customer_id))


def employee_performance(shape: Shape) -> Select | None:
    if _ranged(shape):
        return None
    pe = ProductionEmployee
    per_employee = (select(pe.employee_id, func.sum(pe.produced).label("produced"),
                           func.sum(pe.defective).label("defective"), func.sum(pe.records).label("records"))
                    .where(pe.records > 0).group_by(pe.employee_id).subquery("per_employee"))
    g = per_employee.c
    return (select(g.employee_id, Employee.name.label("employee_name"), g.produced, g.defective,
                   ratio(g.defective, g.produced).label("defect_rate"), g.records)
            .select_from(per_employee).join(Employee, Employee.id == g.employee_id)
            .order_by(g.produced.desc(), g.employee_id))


def production_efficiency(shape: Shape) -> Select | None:
    group_by = shape.group_by
    if group_by == "employee":
        if _ranged(shape):
            return None
        table, key, window = ProductionEmployee, [ProductionEmployee.employee_id], []
    elif group_by == "day" or _ranged(shape):
        table, window = ProductionDay, _day_window(ProductionDay.day, shape)
        key = {"product": [ProductionDay.product_id],
               "line": [func.nullif(ProductionDay.line, NO_LINE).label("line")],
               "day": [ProductionDay.day]}[group_by]
    else:
        table, window = ProductionTotal, []
        key = ([func.nullif(ProductionTotal.line, NO_LINE).label("line")] if group_by == "line"
               else [ProductionTotal.product_id])
    # One grouping: each summary row joined to its product's (current) ideal cycle time. The
    # ideal seconds are linear in the units, so this sums what the raw report's per-product step
    # sums; `no_ideal` counts rows instead of (group, product) pairs: only zero or not matters.
    source: Any = table
    total = None
    if group_by in ("employee", "day") and not _ranged(shape):
        # Thousands of groups, each of many rows (per product, and line): the page's groups are
        # taken first (the key leads the primary key), and only their rows are joined and summed.
        column = key[0]
        page = (select(column).where(table.records > 0).group_by(column).order_by(column)
                .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
                .subquery("page_keys"))
        source = page.join(table, table.__table__.c[column.name] == page.c[column.name])
        total = (select(func.count(func.distinct(column))).where(table.records > 0)
                 .scalar_subquery().label("total"))
    sums = (select(*key, func.sum(table.produced).label("produced"),
                   func.sum(table.defective).label("defective"), func.sum(table.no_time).label("no_time"),
                   func.sum(table.planned).label("planned"), func.sum(table.running).label("running"),
                   count_if(Product.ideal_cycle_seconds.is_(None)).label("no_ideal"),
                   func.sum(Product.ideal_cycle_seconds * table.produced).label("ideal_seconds"))
            .select_from(source).join(Product, Product.id == table.product_id)
            .where(table.records > 0, *window).group_by(*key))
    report = production_efficiency_query(shape, sums)
    return report if total is None else report.add_columns(total)  # paged already: it has `total`
