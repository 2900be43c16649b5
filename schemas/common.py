"""Field types and base schemas every resource shares: clean text, money, UTC times, list queries."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# International (E.164, "+" or "00" then a country code), national with its trunk 0 ("030 1234567"),
# or bare digits without a leading 0 as accepted before.
_PHONE = re.compile(r"^(\+?[1-9][0-9]{6,14}|0[1-9][0-9]{5,14})$")
MAX_INT = 2**31 - 1
# Days a filter may name. The queries turn a day into plant-local midnights, the next day and the
# shifts around it, which overflow Python's dates at either end (year 1 in a zone east of UTC,
# 9999-12-31 plus a day): a day outside these bounds is a 400, not arithmetic that fails.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)


class Day(fields.Date):
    """A YYYY-MM-DD query parameter from FIRST_DAY to LAST_DAY (a 400 outside them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(min=FIRST_DAY, max=LAST_DAY), **kwargs)


class Text(fields.String):
    """A trimmed string with no control characters (NUL included)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if _CONTROL.search(text):
            raise ValidationError("Must not contain control characters.")
        return text


class Phone(Text):
    """A phone number, stored normalised: separators dropped, a "00" international prefix as "+".

    Uniqueness holds on that form: "+49 30 123456", "0049-30-123456" and "+4930123456" are one number.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = re.sub(r"[\s.\-()/]", "", super()._deserialize(value, attr, data, **kwargs))
        if text.startswith("00"):
            text = "+" + text[2:]
        if not _PHONE.match(text):
            raise ValidationError("Not a valid phone number: use international format like +4915112345678 "
                                  "or a national number with its leading 0 like 030 1234567.")
        return text


class Email(fields.Email):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class UtcDateTime(fields.DateTime):
    """Naive-UTC database timestamps out as `2026-11-26T16:00:00Z`; aware or Z input in."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        """In: stored as naive UTC; a time without an offset is taken as UTC."""
        moment = super()._deserialize(value, attr, data, **kwargs)
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


_UTC_FIELD = UtcDateTime()  # stateless when serializing: made once, not per value (hot in /lines/status)


def iso_utc(value: datetime) -> str:
    return _UTC_FIELD._serialize(value, None, None)


class Money(fields.Decimal):
    """Money: exact Decimal in, two-decimal string out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(places=2, as_string=True, allow_nan=False, **kwargs)

    def _validated(self, value: Any) -> Decimal:
        # Quantizing "12.345" would silently charge 12.34: refuse sub-cent input instead.
        if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
            try:
                exact = Decimal(str(value))
            except ArithmeticError:
                exact = None
            try:
                sub_cent = (exact is not None and exact.is_finite()
                            and exact != exact.quantize(Decimal("0.01")))
            except ArithmeticError:  # too many digits to quantize (a 500 before): refused as invalid below
                sub_cent = False
            if sub_cent:
                raise ValidationError("At most two decimal places.")
        return super()._validated(value)


class StrictInteger(fields.Integer):
    """Integers only (no 1.5, no "7", no true), within a 32-bit column's range."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=-MAX_INT, max=MAX_INT))
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: 1, 0 and "yes" are refused (1 == True would slip through a truthy set)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class ApiSchema(Schema):
    """Unknown fields are refused; every row carries id and timestamps."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


def archive_flag() -> StrictBoolean:
    """`active`: false archives the row (out of lists and new orders/production, kept in history)."""
    # No load_default: a PUT that leaves it out must not read as "restore the row".
    return StrictBoolean(metadata={"default": True, "description": (
        "false archives the row: it leaves the lists (unless include_archived=true) and can't be "
        "used in new orders or production, but stays in history and analytics.")})


class ArchivedListQuery(Schema):
    include_archived = fields.Boolean(load_default=False, metadata={
        "description": "Include archived rows (active=false)."})


class ListQuerySchema(Schema):
    """Query parameters every list accepts; resources add their filters."""

    class Meta:
        unknown = RAISE

    # No default in the document: a generated client sends `page` only when asked, so `cursor`
    # alone pages. Left out, it is 1 (set after loading).
    page = fields.Integer(validate=validate.Range(min=1, max=MAX_INT), metadata={
        "description": "The page number (from 1); left out, the first page. Not with `cursor`."})
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    sort_by = fields.String(load_default=None)
    sort_order = fields.String(load_default="asc", validate=validate.OneOf(["asc", "desc"]))
    cursor = fields.String(validate=validate.Length(min=1, max=1024), metadata={
        "description": "Continue from `meta.next_cursor` or `meta.prev_cursor` of a page of this list "
                       "(same sort and filters): the same cost at any depth. Not with `page`."})
    include_meta = fields.Boolean(metadata={
        "description": "false answers the page's rows as a bare JSON array, without `meta` (paging "
                       "stays in the `Link` header), as the system this one replaces did."})

    @post_load
    def _first_page(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data.setdefault("page", 1)
        return data


class DateRangeMixin(Schema):
    """`from`/`to` as dates (inclusive); `from` after `to` is refused."""

    from_ = Day(data_key="from", load_default=None)
    to = Day(load_default=None)

    @validates_schema
    def _range_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            raise ValidationError("'from' must not be after 'to'.", field_name="from")


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))
