"""The one JSON parser for client input (HTTP bodies and live-feed messages), with bounds.

Python's parser alone lets a client reach a RecursionError (deep nesting), a ValueError past 4,300
digits and strings holding lone UTF-16 surrogates that no database can store. Here each is a
`JsonInputError` with a message fit for the client.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonInputError(ValueError):
    """The input is not JSON this server accepts; the message says why ("the body is …")."""

    def __init__(self, reason: str, *, bound: bool = True) -> None:
        super().__init__(f"not acceptable JSON: {reason}" if bound else reason)


def _number(text: str, convert: type) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonInputError(f"a number is over {MAX_NUMBER_CHARS} characters")
    value = convert(text)
    if convert is float and not math.isfinite(value):
        raise JsonInputError("a number is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


def parse_json(raw: bytes | str) -> Any:
    """Parse client JSON: UTF-8, bounded nesting and number length, no lone surrogates."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise JsonInputError("not valid UTF-8", bound=False) from None
    try:
        value = json.loads(text, parse_int=lambda s: _number(s, int),
                           parse_float=lambda s: _number(s, float), parse_constant=_constant)
    except JsonInputError:
        raise
    except RecursionError:
        raise JsonInputError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError included
        raise JsonInputError("not valid JSON", bound=False) from None
    _check(value)
    return value


def _check(value: Any) -> None:
    """Walk the parsed value without recursion: depth and surrogates in keys and strings."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise JsonInputError("a string holds a lone UTF-16 surrogate")
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise JsonInputError(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
