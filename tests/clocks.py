"""A monotonic clock for the cache and the rate limiter that moves only when a test says so."""
from __future__ import annotations


class FakeClock:
    """Stands in for time.monotonic: tests move time with advance() instead of sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
