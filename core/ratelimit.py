"""Token-bucket rate limits per (budget, identity), reported in IETF RateLimit headers."""

from __future__ import annotations

import abc
import functools
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cachetools import TTLCache

BUDGET_NAMES = ("login", "read", "write", "analytics")
DEFAULT_RATE_LIMITS = "login=10/60,read=600/60,write=120/60,analytics=60/60"

_BUDGET_SPEC = re.compile(r"\s*([A-Za-z_]+)\s*=\s*([0-9]+)\s*/\s*([0-9]+)\s*")
# Float slack so that 0.9999999999 refilled tokens count as the 1 it stands for.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `capacity` requests in a burst, refilled evenly over `window` seconds."""

    name: str
    capacity: int
    window: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.window <= 0:
            raise ValueError(f"budget {self.name!r} needs a positive count and window")

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.capacity / self.window


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one `take`: whether it passed and what the client has left."""

    allowed: bool
    budget: Budget
    remaining: int  # whole tokens left after this take
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until `cost` tokens are back; 0 when allowed


def _parse_budget(part: str) -> Budget:
    match = _BUDGET_SPEC.fullmatch(part)
    if match is None:
        raise ValueError(f"bad rate limit {part.strip()!r}: expected name=count/seconds, e.g. read=600/60")
    name, count, seconds = match.group(1), int(match.group(2)), int(match.group(3))
    if name not in BUDGET_NAMES:
        raise ValueError(
            f"unknown rate limit budget {name!r} in {part.strip()!r}:"
            f" expected one of {', '.join(BUDGET_NAMES)}"
        )
    if count < 1 or seconds < 1:
        raise ValueError(f"bad rate limit {part.strip()!r}: count and seconds must be at least 1")
    return Budget(name, count, float(seconds))


_DEFAULT_BUDGETS = {budget.name: budget for budget in map(_parse_budget, DEFAULT_RATE_LIMITS.split(","))}


def parse_budgets(spec: str) -> dict[str, Budget]:
    """Parse `name=count/seconds,…`; names left out keep their defaults."""
    budgets = dict(_DEFAULT_BUDGETS)
    if not spec.strip():
        return budgets
    given: set[str] = set()
    for part in spec.split(","):
        budget = _parse_budget(part)
        if budget.name in given:
            raise ValueError(f"rate limit budget {budget.name!r} is given twice")
        given.add(budget.name)
        budgets[budget.name] = budget
    return budgets


@functools.lru_cache(maxsize=64)
def policy_header(budget: Budget) -> str:
    """RateLimit-Policy item `"name";q=<capacity>;w=<window seconds>` (draft-08+)."""
    return f'"{budget.name}";q={budget.capacity};w={math.ceil(budget.window)}'


def ratelimit_header(decision: Decision) -> str:
    """RateLimit item `"name";r=<remaining>;t=<seconds>`, t = Retry-After if refused."""
    # The draft wants t and Retry-After to name the same moment on a refusal;
    # otherwise t is when the bucket is full again.
    seconds = decision.reset if decision.allowed else decision.retry_after
    return f'"{decision.budget.name}";r={decision.remaining};t={seconds}'


def make_decision(budget: Budget, allowed: bool, tokens: float, cost: int) -> Decision:
    """Turn a bucket's state after a take (`tokens` left) into whole-second figures."""
    remaining = max(0, math.floor(tokens + _EPSILON))
    reset = max(0, math.ceil((budget.capacity - tokens) / budget.rate - _EPSILON))
    retry_after = 0
    if not allowed:
        retry_after = max(1, math.ceil((cost - tokens) / budget.rate - _EPSILON))
    return Decision(allowed, budget, remaining, reset, retry_after)


@dataclass(slots=True)
class TokenBucket:
    """Tokens left at the moment `updated`; refills continuously up to capacity."""

    tokens: float
    updated: float

    def take(self, budget: Budget, now: float, cost: int) -> bool:
        """Refill for the time elapsed, then take `cost` tokens if there are enough."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(budget.capacity), self.tokens + elapsed * budget.rate)
        self.updated = now
        if self.tokens + _EPSILON < cost:
            return False
        self.tokens = max(0.0, self.tokens - cost)
        return True


class RefusalLog:
    """Says whether a refusal deserves a log line: once per identity per budget window."""

    def __init__(
        self,
        budgets: Mapping[str, Budget],
        clock: Callable[[], float] = time.monotonic,
        maxsize: int = 10_000,
    ) -> None:
        # maxsize bounds memory: under a flood of identities some log again early.
        self._logged = {
            name: TTLCache(maxsize, budget.window, timer=clock) for name, budget in budgets.items()
        }

    def should_log(self, identity: str, budget_name: str) -> bool:
        """True the first time `identity` is refused by the budget within its window."""
        logged = self._logged[budget_name]
        if identity in logged:
            return False
        logged[identity] = True
        return True


class RateLimiter(abc.ABC):
    """Token buckets per (budget, identity); subclasses say where buckets live.

    A subclass implements `_consume` atomically for its store (a dict here, a
    Lua script on Redis); budgets, decisions, counters and headers are shared.
    """

    def __init__(
        self,
        budgets: Mapping[str, Budget] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budgets: dict[str, Budget] = dict(budgets if budgets is not None else _DEFAULT_BUDGETS)
        self.refusals: dict[str, int] = {name: 0 for name in self.budgets}
        self.refusal_log = RefusalLog(self.budgets, clock)

    # Handlers reach the header helpers through the limiter they already hold.
    policy_header = staticmethod(policy_header)
    ratelimit_header = staticmethod(ratelimit_header)

    async def take(self, budget_name: str, identity: str, cost: int = 1) -> Decision:
        """Spend `cost` tokens of `identity`'s bucket in `budget_name`, if it has them."""
        budget = self.budgets[budget_name]
        if not 1 <= cost <= budget.capacity:
            raise ValueError(f"cost must be 1…{budget.capacity} for {budget_name!r}")
        allowed, tokens = await self._consume(budget, identity, cost)
        if not allowed:
            self.refusals[budget.name] += 1
        return make_decision(budget, allowed, tokens, cost)

    @abc.abstractmethod
    async def _consume(self, budget: Budget, identity: str, cost: int) -> tuple[bool, float]:
        """Atomically refill, then take `cost` tokens; return (allowed, tokens left)."""


class MemoryRateLimiter(RateLimiter):
    """Buckets in this process; an idle bucket is dropped once it would be full again.

    Each budget's buckets sit in a dict in least-recently-used order (a take moves its bucket to
    the end), so the idle ones are always at the front: a take drops those in O(1) amortised,
    and a flood past `max_identities` evicts the least recently used.  This is the per-request
    path, so it avoids TTLCache's timer and linked-list bookkeeping.
    """

    def __init__(
        self,
        budgets: Mapping[str, Budget] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_identities: int = 100_000,
    ) -> None:
        super().__init__(budgets, clock=clock)
        self._clock = clock
        self._max_identities = max_identities
        self._buckets: dict[str, dict[str, TokenBucket]] = {name: {} for name in self.budgets}

    @property
    def bucket_count(self) -> int:
        """Buckets currently held, over all budgets."""
        now = self._clock()
        for name, buckets in self._buckets.items():
            self._drop_idle(buckets, self.budgets[name], now)
        return sum(len(buckets) for buckets in self._buckets.values())

    async def _consume(self, budget: Budget, identity: str, cost: int) -> tuple[bool, float]:
        buckets = self._buckets[budget.name]
        now = self._clock()
        bucket = buckets.pop(identity, None)
        self._drop_idle(buckets, budget, now)
        if bucket is None:
            if len(buckets) >= self._max_identities:
                del buckets[next(iter(buckets))]  # a flood of identities: forget the least recent
            bucket = TokenBucket(float(budget.capacity), now)
        allowed = bucket.take(budget, now, cost)
        buckets[identity] = bucket  # to the end: most recently used
        return allowed, bucket.tokens

    @staticmethod
    def _drop_idle(buckets: dict[str, TokenBucket], budget: Budget, now: float) -> None:
        # Untouched for a whole window, a bucket has refilled completely: forgetting it changes nothing.
        while buckets:
            identity, oldest = next(iter(buckets.items()))
            if now - oldest.updated < budget.window:
                return
            del buckets[identity]
