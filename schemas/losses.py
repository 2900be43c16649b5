"""Query parameters of the downtime analysis and the loss waterfall; a bad one is a 400 naming it."""
from __future__ import annotations

from marshmallow import RAISE, fields, validate

from schemas.analytics import AnalyticsQuery
from schemas.common import DateRangeMixin

DOWNTIME_GROUPS = ("reason", "category", "line", "shift")
_CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$")


class DowntimeQuery(AnalyticsQuery):
    """`from`/`to`, `line`, `shift`, `planned`, `group_by`, `limit`, `page`."""

    class Meta:
        unknown = RAISE

    line = fields.String(load_default=None, validate=_CODE,
                         metadata={"description": "One line's code (default: every active line)"})
    shift = fields.String(load_default=None, validate=validate.Length(min=1, max=32),
                          metadata={"description": "Only stops that began in an instance of this shift "
                                                   "(and, for MTBF, only its run time)"})
    planned = fields.Boolean(load_default=None,
                             metadata={"description": "Only planned (true) or unplanned (false) stops"})
    group_by = fields.String(load_default="reason", validate=validate.OneOf(DOWNTIME_GROUPS))


class OeeLossesQuery(DateRangeMixin):
    """`from`/`to` (the instances starting on those dates) and `line`."""

    class Meta:
        unknown = RAISE

    line = fields.String(load_default=None, validate=_CODE,
                         metadata={"description": "One line's code (default: every active line, summed)"})
