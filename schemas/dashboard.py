"""The wall display's query: which lines a screen shows."""
from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

LINE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_LINES = 50


class LineCodes(fields.String):
    """A comma-separated list of line codes (`L1,L2`), at most 50, each as a line's `code`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        codes = [code.strip() for code in super()._deserialize(value, attr, data, **kwargs).split(",")]
        if not codes or len(codes) > MAX_LINES:
            raise ValidationError(f"Give 1 to {MAX_LINES} line codes, separated by commas.")
        for code in codes:
            if not LINE_CODE.match(code):
                raise ValidationError("A line code is 1-32 letters, digits, '_' or '-'.")
        return list(dict.fromkeys(codes))


class DashboardQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    line = LineCodes(load_default=None, metadata={
        "description": "Only these lines' production, e.g. `L1,L2` (the kiosk link's `line`)."})
