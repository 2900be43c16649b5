"""The report registry: each report's raw SQL, its summary-table form, row shape and tables."""
from __future__ import annotations

from services.analytics import rollup_reports
from services.analytics.raw_reports import (
    EFFICIENCY_FIELDS,
    GROUP_KEYS,
    PRODUCTION_TABLES,
    SALES_TABLES,
    Analytic,
    customer_value_query,
    customer_value_row,
    employee_performance_query,
    employee_performance_row,
    production_efficiency_query,
    production_efficiency_row,
    top_products_query,
    top_products_row,
)

ANALYTICS: dict[str, Analytic] = {
    "employee-performance": Analytic(
        "employee-performance", employee_performance_query, employee_performance_row,
        lambda params: ("employee_id", "employee_name", "units_produced", "units_defective", "defect_rate",
                        "records"),
        (*PRODUCTION_TABLES, "employees"), rollup_reports.employee_performance),
    "top-products": Analytic(
        "top-products", top_products_query, top_products_row,
        lambda params: ("product_id", "product_name", "units_sold", "revenue"),
        (*SALES_TABLES, "products"), rollup_reports.top_products),
    "customer-lifetime-value": Analytic(
        "customer-lifetime-value", customer_value_query, customer_value_row,
        lambda params: ("customer_id", "customer_name", "orders", "lifetime_value", "average_order_value",
                        "first_order_at", "last_order_at"),
        ("orders", "customers"), rollup_reports.customer_value),
    "production-efficiency": Analytic(
        "production-efficiency", production_efficiency_query, production_efficiency_row,
        lambda params: (*GROUP_KEYS[params.get("group_by", "product")], *EFFICIENCY_FIELDS),
        (*PRODUCTION_TABLES, "products", "employees"), rollup_reports.production_efficiency),
}
