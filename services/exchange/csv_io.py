"""CSV as exports write it and imports read it: columns from the schemas, safe cells, flat order lines.

Cells: None is empty; booleans `true`/`false`; numbers as the JSON has them (0 is `0`); a list or
object as its JSON (`["Mon","Tue"]`), so a reader parses it the way the API sends it. A text cell that a
spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, tab or CR) gets a leading
`'`, and so does a text cell that already starts with `'`: reading strips exactly one leading `'`,
so every value survives export → import unchanged.

Nested order items are flattened to one CSV row per order line: the order's columns repeat on each
of its lines, followed by the line's `item_id`, `product_id`, `quantity`, `unit_price` and
`line_total`.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from marshmallow import Schema, fields

CSV_TYPE = "text/csv; charset=utf-8"
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
ITEM_PREFIX = "item_"  # a nested line's own id becomes `item_id`


def cell(value: Any) -> str:
    """One value as a CSV cell, formula-safe for text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if isinstance(value, str) and text.startswith((*FORMULA_START, ESCAPE)):
        return ESCAPE + text
    return text


def uncell(text: str) -> str:
    """The value a cell written by `cell` (or a spreadsheet's text marker) stands for."""
    return text[1:] if text.startswith(ESCAPE) else text


# An order's lines are rows of their own (one CSV row per line); any other list, a shift's breaks
# included, is one JSON cell.
LINES_FIELD = "items"


def nested_list(schema: Schema) -> tuple[str, Schema] | None:
    """The order-lines field of a schema (orders' items), if it has one."""
    field = schema.dump_fields.get(LINES_FIELD)
    if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
        return LINES_FIELD, field.inner.schema
    return None


def columns(schema: Schema) -> list[str]:
    """The CSV header: the JSON's fields, with a nested list's fields flattened in after them."""
    nested = nested_list(schema)
    names = [name for name in schema.dump_fields if nested is None or name != nested[0]]
    if nested is not None:
        names += [ITEM_PREFIX + "id" if name == "id" else name for name in nested[1].dump_fields]
    return names


def flat_rows(schema: Schema, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One CSV row per item, or per order line for an item with nested lines."""
    nested = nested_list(schema)
    if nested is None:
        yield item
        return
    outer = {key: value for key, value in item.items() if key != nested[0]}
    for line in item.get(nested[0]) or ():
        yield {**outer, **{ITEM_PREFIX + "id" if key == "id" else key: value for key, value in line.items()}}


def render(header: list[str], rows: Iterable[dict[str, Any]], *, with_header: bool = False) -> str:
    """Rows as CSV text (CRLF line ends, RFC 4180 quoting)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if with_header:
        writer.writerow(header)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in header])
    return out.getvalue()
