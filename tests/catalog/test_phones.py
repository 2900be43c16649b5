"""Phone numbers: international (E.164 with + or 00) and national (leading 0) formats, stored normalised,
unique in that form."""
from __future__ import annotations

from typing import Any

import pytest

ACCEPTED = [
    ("098-765-4321", "0987654321"),
    ("030 / 123 4567", "0301234567"),
    ("123-456-7890", "1234567890"),
    ("+49 (30) 123-4567", "+49301234567"),
    ("0049 30 1234567", "+49301234567"),
    ("+1 415 555 2671", "+14155552671"),
]
REFUSED = ["0", "00", "+0123456789", "0012", "00 0123 4567", "0 0123", "phone", "+49 30 12a4567", "1" * 16]


@pytest.mark.parametrize("given, stored", ACCEPTED)
async def test_international_and_national_numbers_are_accepted_and_normalised(make: Any, given: str,
                                                                               stored: str) -> None:
    assert (await make.employee(phone=given))["phone"] == stored
    assert (await make.customer(phone=given))["phone"] == stored


@pytest.mark.parametrize("given", REFUSED)
async def test_malformed_numbers_are_422(api: Any, given: str) -> None:
    response = await api.post("/employees", {"name": "N", "position": "P", "email": "n@example.com",
                                             "phone": given}, role="admin")
    assert response.status == 422 and "phone" in response.json["errors"], (given, response)


async def test_one_number_written_two_ways_is_a_duplicate(api: Any, make: Any) -> None:
    await make.employee(phone="+49 30 1234567")
    response = await api.post("/employees", {"name": "N", "position": "P", "email": "dup@example.com",
                                             "phone": "0049-30-1234567"}, role="admin")
    assert response.status == 409 and response.json["errors"] == {"phone": ["Already in use."]}
