"""The lean read path: rows as plain tuples, serialized by converters prepared once per schema.

Marshmallow still validates input and describes the API; on the hot list and item paths its
per-row dump machinery (get_value, hooks, error collection) is replaced by a flat list of
(key, column, converter) built from the same schema's fields, so the output is the same bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import ColumnElement, and_, or_

from schemas.common import Money, UtcDateTime

Converter = Callable[[Any], Any]


CENT = Decimal("0.01")


def _utc_text(value: datetime | None) -> str | None:
    """As UtcDateTime dumps it; isoformat is a tenth of strftime's cost."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value.year < 1000:  # strftime does not pad such years; keep its exact output
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat(timespec="seconds") + "Z"


def _converter(field: fields.Field, name: str) -> Converter:
    """A function from the column's value to what `field` dumps; the field's own code when unsure."""
    if isinstance(field, UtcDateTime):
        return _utc_text
    if isinstance(field, Money):
        return lambda value: (format(value.quantize(CENT), "f") if type(value) is Decimal
                              else field._serialize(value, name, None))
    exact = {fields.Integer: int, fields.String: str}
    for kind, python_type in exact.items():
        if isinstance(field, kind) and not getattr(field, "as_string", False):
            # The common case costs one type check; anything else goes through the field.
            return lambda value, t=python_type: (
                value if value is None or type(value) is t else field._serialize(value, name, None))
    return lambda value: field._serialize(value, name, None)


class Serializer:
    """Dump rows (mappings of column name to value) as `schema` would dump the model objects."""

    def __init__(self, schema: type[Schema] | Schema, *, skip: Sequence[str] = ()) -> None:
        instance = schema() if isinstance(schema, type) else schema
        # (key, column, converter); a nested list has no converter: its items come dumped already
        # (rows), or are dumped from the object's attribute of that name (objects).
        self.plan: list[tuple[str, str | None, Converter | None]] = []
        self.nested: dict[str, Serializer] = {}
        for name, field in instance.dump_fields.items():
            key = field.data_key or name
            if name in skip:
                continue
            if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
                self.nested[key] = Serializer(field.inner.nested)
                self.plan.append((key, field.attribute or name, None))
            else:
                self.plan.append((key, field.attribute or name, _converter(field, name)))
        self.flat = not self.nested

    def dump(self, row: Any, children: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """One row (a mapping); nested lists (an order's items) come in `children`, already dumped."""
        if self.flat:
            return {key: convert(row[column]) for key, column, convert in self.plan}
        return {key: (children or {}).get(key, []) if convert is None else convert(row[column])
                for key, column, convert in self.plan}

    def dump_object(self, obj: Any) -> dict[str, Any]:
        """A model object (a write's result), by attribute: what `schema.dump(obj)` gives."""
        return {key: [self.nested[key].dump_object(child) for child in getattr(obj, column)]
                if convert is None else convert(getattr(obj, column))
                for key, column, convert in self.plan}


# -- keyset positions -------------------------------------------------------------------------

def after(column: ColumnElement, ident: ColumnElement, value: Any, row_id: int, *, descending: bool,
          forward: bool) -> ColumnElement:
    """Rows past (value, id) in the list's order (`forward`) or before it, as an index range.

    Written as `col >= v AND (col > v OR id > i)` rather than a row-value comparison, so both
    SQLite and MariaDB read it as a range on the (col, id) index.
    """
    upward = descending != forward  # ascending going forward, or descending going back
    if column is ident:
        return ident > row_id if upward else ident < row_id
    if upward:
        return and_(column >= value, or_(column > value, ident > row_id))
    return and_(column <= value, or_(column < value, ident < row_id))


def plain(value: Any) -> Any:
    """A sort value as JSON can carry it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def parsed(value: Any, python_type: type) -> Any:
    """A sort value back from JSON, as the column's type; ValueError when it cannot be one."""
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is date:
        return date.fromisoformat(value)
    if python_type is Decimal:
        if not isinstance(value, str):
            raise ValueError("not a decimal")
        return Decimal(value)
    if python_type is int:
        if type(value) is not int:
            raise ValueError("not an integer")
        return value
    if python_type is bool:
        if type(value) is not bool:
            raise ValueError("not a boolean")
        return value
    if not isinstance(value, str):
        raise ValueError("not text")
    return value
