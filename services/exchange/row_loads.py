"""Fast loads of the rows an import sees most: what the schema's `load` gives, for a clean row.

An import of a million orders spends ~200 µs per row in marshmallow's `load` (hooks, unknown-field
checks, nested schemas), more than the database takes to write it. The rows of a real file are
almost all clean, so each resource here has a loader that checks a clean row's shape directly
(the same fields, types and ranges, each field's own `deserialize` for dates and text) and returns
exactly what `schema.load` would; for any row it is not sure of it returns None, and the caller
loads that row through the schema, which also words every error. A property test holds the two
equal on random rows.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError

from schemas.common import MAX_INT
from schemas.order import MAX_ITEMS, MAX_QUANTITY, OrderSchema
from schemas.production import MINUTES_PER_DAY, ProductionRecordSchema

Loader = Callable[[dict[str, Any]], dict[str, Any] | None]


def _id(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_INT


def _quantity(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_QUANTITY


class OrderLoad:
    """`{customer_id, product_id, quantity}` or `{customer_id, items: [{product_id, quantity}…]}`,
    with an optional `placed_at`."""

    ONE_LINE = frozenset({"customer_id", "product_id", "quantity"})
    ITEMS = frozenset({"customer_id", "items"})
    ITEM = frozenset({"product_id", "quantity"})

    def __init__(self, schema: Schema) -> None:
        self.placed_at = schema.fields["placed_at"]

    def __call__(self, row: dict[str, Any]) -> dict[str, Any] | None:
        keys = row.keys() - {"placed_at"}
        if not _id(row.get("customer_id")):
            return None
        if keys == self.ONE_LINE:
            if not (_id(row["product_id"]) and _quantity(row["quantity"])):
                return None
            data = {"customer_id": row["customer_id"], "one_line": True,
                    "items": [{"product_id": row["product_id"], "quantity": row["quantity"]}]}
        elif keys == self.ITEMS:
            items = row["items"]
            if type(items) is not list or not 1 <= len(items) <= MAX_ITEMS:
                return None
            lines = []
            for item in items:
                if (type(item) is not dict or item.keys() != self.ITEM or not _id(item["product_id"])
                        or not _quantity(item["quantity"])):
                    return None
                lines.append({"product_id": item["product_id"], "quantity": item["quantity"]})
            data = {"customer_id": row["customer_id"], "items": lines, "one_line": False}
        else:
            return None
        if "placed_at" in row:
            if row["placed_at"] is None:
                return None
            try:
                data["placed_at"] = self.placed_at.deserialize(row["placed_at"])
            except ValidationError:
                return None
        return data


class ProductionLoad:
    """A production record's fields, the optional ones defaulted as the schema defaults them; its
    time as `produced_at` (a UTC moment), `date_produced` (a day) or both, as given."""

    REQUIRED = frozenset({"product_id", "employee_id", "quantity_produced"})
    OPTIONAL = {"quantity_defective": 0, "line": None, "shift": None, "planned_minutes": None,
                "downtime_minutes": None, "work_order_id": None}

    def __init__(self, schema: Schema) -> None:
        self.fields = schema.fields
        self.known = self.REQUIRED | set(self.OPTIONAL) | {"date_produced", "produced_at"}
        self.dates: dict[Any, Any] = {}  # a file's rows share a few hundred dates

    def __call__(self, row: dict[str, Any]) -> dict[str, Any] | None:
        if not self.REQUIRED <= row.keys() or not row.keys() <= self.known:
            return None
        if not (_id(row["product_id"]) and _id(row["employee_id"])):
            return None
        produced = row["quantity_produced"]
        if type(produced) is not int or not 1 <= produced <= MAX_INT:
            return None
        data = {**self.OPTIONAL, "product_id": row["product_id"], "employee_id": row["employee_id"],
                "quantity_produced": produced}
        if "date_produced" in row:
            day = row["date_produced"]
            if type(day) is not str:
                return None
            date = self.dates.get(day)
            if date is None:
                try:
                    date = self.fields["date_produced"].deserialize(day)
                except ValidationError:
                    return None
                if len(self.dates) < 10_000:
                    self.dates[day] = date
            data["date_produced"] = date
        if "produced_at" in row:
            if type(row["produced_at"]) is not str:
                return None
            try:
                data["produced_at"] = self.fields["produced_at"].deserialize(row["produced_at"])
            except ValidationError:
                return None
        for name in ("quantity_defective", "planned_minutes", "downtime_minutes", "work_order_id"):
            if name in row:
                value = row[name]
                if value is None and name != "quantity_defective":
                    continue
                top = MINUTES_PER_DAY if name.endswith("_minutes") else MAX_INT
                least = 1 if name == "work_order_id" else 0
                if type(value) is not int or not least <= value <= top:
                    return None
                data[name] = value
        for name in ("line", "shift"):
            if row.get(name) is not None:
                try:
                    data[name] = self.fields[name].deserialize(row[name])
                except ValidationError:
                    return None
        return data


def fast_loader(resource: str, schema: Schema) -> Loader | None:
    """The fast load of a resource's plain (not restore) rows, where one is worth having."""
    if resource == "orders" and isinstance(schema, OrderSchema):
        return OrderLoad(schema)
    if resource == "production" and isinstance(schema, ProductionRecordSchema):
        return ProductionLoad(schema)
    return None
