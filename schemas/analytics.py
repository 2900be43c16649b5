"""Query parameters of the analytics endpoints; a bad one is a 400 that names it."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import RAISE, ValidationError, fields, post_load, validate, validates_schema

from schemas.common import MAX_INT, DateRangeMixin, Day

GROUPS = ("product", "line", "employee", "day")
MAX_LIMIT = 1000
# Thresholds are compared in integer cents; keep them well inside a 64-bit integer.
MAX_THRESHOLD = Decimal("1000000000000")


class AnalyticsQuery(DateRangeMixin):
    """`from`/`to` (inclusive dates), `limit` rows per page and `page`."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": f"Rows per page, 1 … {MAX_LIMIT}."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_INT))


class CustomerValueQuery(AnalyticsQuery):
    threshold = fields.Decimal(load_default=Decimal(0), allow_nan=False,
                               validate=validate.Range(min=0, max=MAX_THRESHOLD),
                               metadata={"description": "Only customers whose lifetime value is at least "
                                                        "this much money, e.g. 1000.00."})


class ProductionEfficiencyQuery(AnalyticsQuery):
    date = Day(load_default=None, metadata={"description": "One day: the same as from=to=date."})
    group_by = fields.String(load_default="product", validate=validate.OneOf(GROUPS))

    @validates_schema
    def _date_or_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("date") is not None and (data.get("from_") is not None or data.get("to") is not None):
            raise ValidationError("Give either 'date' or 'from'/'to', not both.", field_name="date")

    @post_load
    def _day_as_range(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        day = data.pop("date", None)
        if day is not None:
            data["from_"] = data["to"] = day
        return data



class ShiftReportQuery(ProductionEfficiencyQuery):
    """One row per (date, shift, line) of whole past shift instances; default: yesterday (plant-local)."""

    class Meta:
        unknown = RAISE
        exclude = ("group_by",)

    line = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"),
                         metadata={"description": "One line's code (default: every active line)"})
