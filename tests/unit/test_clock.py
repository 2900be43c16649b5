"""Clock: "now" in UTC and on the plant's wall clock, injectable so tests fix the time."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.clock import Clock


def fixed(moment: datetime) -> Clock:
    return Clock("Pacific/Auckland", now=lambda: moment)


def test_today_is_the_plant_date_not_the_utc_date():
    clock = fixed(datetime(2026, 11, 27, 12, 30, tzinfo=UTC))  # 01:30 on the 28th in Auckland (NZDT)
    assert clock.today() == date(2026, 11, 28)
    assert clock.now() == datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
    assert clock.utcnow() == datetime(2026, 11, 27, 12, 30)
    assert clock.local_now().hour == 1


def test_a_stored_naive_utc_timestamp_is_shown_on_the_plant_clock():
    clock = Clock("Europe/Berlin")
    assert clock.local(datetime(2026, 7, 1, 10, 0)).hour == 12  # CEST
    assert clock.local(datetime(2026, 1, 1, 10, 0, tzinfo=UTC)).hour == 11  # CET


def test_an_unknown_zone_is_refused():
    with pytest.raises(ValueError, match="unknown time zone"):
        Clock("Nowhere/Special")
