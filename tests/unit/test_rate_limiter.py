"""Unit tests for token-bucket rate limits and their headers (fake clock, no sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from core.ratelimit import (
    DEFAULT_RATE_LIMITS,
    Budget,
    Decision,
    MemoryRateLimiter,
    RefusalLog,
    parse_budgets,
    policy_header,
    ratelimit_header,
)
from tests.clocks import FakeClock


def make_limiter(spec: str = "", max_identities: int = 100_000) -> tuple[MemoryRateLimiter, FakeClock]:
    clock = FakeClock(start=5000.0)
    return MemoryRateLimiter(parse_budgets(spec), clock=clock, max_identities=max_identities), clock


def take_many(limiter: MemoryRateLimiter, budget: str, identity: str, times: int) -> list[Decision]:
    async def run() -> list[Decision]:
        return [await limiter.take(budget, identity) for _ in range(times)]

    return asyncio.run(run())


def take(limiter: MemoryRateLimiter, budget: str, identity: str, cost: int = 1) -> Decision:
    return asyncio.run(limiter.take(budget, identity, cost))


# -- budgets ------------------------------------------------------------------------------


def test_defaults_match_the_contract() -> None:
    budgets = parse_budgets(DEFAULT_RATE_LIMITS)
    assert budgets == parse_budgets("")
    assert budgets == {
        "login": Budget("login", 10, 60.0),
        "read": Budget("read", 600, 60.0),
        "write": Budget("write", 120, 60.0),
        "analytics": Budget("analytics", 60, 60.0),
    }


def test_names_left_out_keep_their_defaults() -> None:
    budgets = parse_budgets(" login = 5/30 , analytics=1/1 ")
    assert budgets["login"] == Budget("login", 5, 30.0)
    assert budgets["analytics"] == Budget("analytics", 1, 1.0)
    assert budgets["read"] == Budget("read", 600, 60.0)
    assert budgets["write"] == Budget("write", 120, 60.0)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("login", "'login'"),
        ("login=10", "'login=10'"),
        ("login=ten/60", "'login=ten/60'"),
        ("login=10/1.5", "'login=10/1.5'"),
        ("login=-1/60", "'login=-1/60'"),
        ("login=0/60", "'login=0/60'"),
        ("login=10/0", "'login=10/0'"),
        ("uploads=10/60", "'uploads'"),
        ("read=600/60,,write=1/1", "''"),
        ("read=600/60,", "''"),
        ("read=1/1,read=2/2", "'read'"),
    ],
)
def test_a_malformed_spec_names_the_bad_part(spec: str, named: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_budgets(spec)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_a_budget_needs_a_positive_count_and_window() -> None:
    with pytest.raises(ValueError):
        Budget("read", 0, 60.0)
    with pytest.raises(ValueError):
        Budget("read", 10, 0.0)


# -- buckets ------------------------------------------------------------------------------


def test_the_eleventh_login_in_a_minute_is_refused() -> None:
    limiter, _ = make_limiter()
    decisions = take_many(limiter, "login", "ip:203.0.113.7", 11)
    assert all(decision.allowed for decision in decisions[:10])
    assert [decision.remaining for decision in decisions[:10]] == list(range(9, -1, -1))
    refused = decisions[10]
    assert not refused.allowed
    assert (refused.remaining, refused.retry_after, refused.reset) == (0, 6, 60)
    assert limiter.refusals == {"login": 1, "read": 0, "write": 0, "analytics": 0}


def test_a_bucket_refills_continuously() -> None:
    limiter, clock = make_limiter()
    take_many(limiter, "login", "ip:a", 10)
    clock.advance(5.9)
    early = take(limiter, "login", "ip:a")
    assert (early.allowed, early.retry_after) == (False, 1)
    clock.advance(0.1)
    assert take(limiter, "login", "ip:a").allowed
    assert not take(limiter, "login", "ip:a").allowed
    clock.advance(18)  # three more tokens
    assert [d.allowed for d in take_many(limiter, "login", "ip:a", 4)] == [True] * 3 + [False]


def test_a_bucket_never_holds_more_than_its_capacity() -> None:
    limiter, clock = make_limiter()
    take(limiter, "login", "ip:a")
    clock.advance(59)  # 9.8 tokens' worth of refill for one spent
    decisions = take_many(limiter, "login", "ip:a", 11)
    assert [d.allowed for d in decisions] == [True] * 10 + [False]


def test_a_token_refilled_up_to_float_rounding_still_counts() -> None:
    limiter, clock = make_limiter("login=3/7")
    take_many(limiter, "login", "ip:a", 3)
    clock.advance(7 / 3)  # (7/3) * (3/7) is 0.99999999999987 in floats
    decision = take(limiter, "login", "ip:a")
    assert decision.allowed
    assert decision.reset == 7


def test_remaining_and_reset_are_whole_seconds() -> None:
    limiter, clock = make_limiter()
    first = take(limiter, "read", "user:1")
    assert first == Decision(True, Budget("read", 600, 60.0), 599, 1, 0)
    take_many(limiter, "read", "user:1", 99)
    spent_101 = take(limiter, "read", "user:1")
    assert (spent_101.remaining, spent_101.reset) == (499, 11)  # 101 tokens back at 10/s
    clock.advance(0.05)  # half a token back: 499.5, and 498.5 after this take
    assert take(limiter, "read", "user:1").remaining == 498


def test_budgets_and_identities_have_separate_buckets() -> None:
    limiter, _ = make_limiter()
    take_many(limiter, "login", "ip:a", 10)
    assert not take(limiter, "login", "ip:a").allowed
    assert take(limiter, "login", "ip:b").allowed
    assert take(limiter, "read", "ip:a").remaining == 599
    assert take(limiter, "write", "ip:a").remaining == 119


def test_cost_takes_several_tokens_and_must_fit_the_bucket() -> None:
    limiter, _ = make_limiter("analytics=60/60")
    assert take(limiter, "analytics", "user:1", cost=5).remaining == 55
    with pytest.raises(ValueError):
        take(limiter, "analytics", "user:1", cost=0)
    with pytest.raises(ValueError):
        take(limiter, "analytics", "user:1", cost=61)


def test_concurrent_takes_never_overspend() -> None:
    limiter, _ = make_limiter()

    async def run() -> list[Decision]:
        return await asyncio.gather(*(limiter.take("login", "ip:a") for _ in range(50)))

    decisions = asyncio.run(run())
    assert sum(decision.allowed for decision in decisions) == 10


# -- bounded memory -----------------------------------------------------------------------


def test_idle_buckets_expire_once_they_would_be_full() -> None:
    limiter, clock = make_limiter()
    for number in range(1000):
        take(limiter, "read", f"ip:{number}")
    take(limiter, "login", "ip:0")
    assert limiter.bucket_count == 1001
    clock.advance(59.9)
    assert limiter.bucket_count == 1001
    clock.advance(0.1)
    assert limiter.bucket_count == 0
    # Forgetting a full bucket changes nothing: the client gets a full one back.
    assert take(limiter, "read", "ip:0").remaining == 599


def test_a_busy_bucket_is_not_expired_while_it_is_used() -> None:
    limiter, clock = make_limiter()
    take_many(limiter, "login", "ip:a", 10)
    for _ in range(5):
        clock.advance(30)
        take_many(limiter, "login", "ip:a", 5)
    assert not take(limiter, "login", "ip:a").allowed


def test_max_identities_bounds_memory_under_a_flood() -> None:
    limiter, _ = make_limiter(max_identities=50)
    for number in range(500):
        take(limiter, "read", f"ip:{number}")
        take(limiter, "login", f"ip:{number}")
    assert limiter.bucket_count == 100  # 50 per budget


# -- refusal log --------------------------------------------------------------------------


def test_a_refusal_is_logged_once_per_identity_per_window() -> None:
    clock = FakeClock(start=5000.0)
    log = RefusalLog(parse_budgets(""), clock)
    assert log.should_log("ip:a", "login")
    assert not log.should_log("ip:a", "login")
    assert log.should_log("ip:b", "login")
    assert log.should_log("ip:a", "read")
    clock.advance(59)
    assert not log.should_log("ip:a", "login")
    clock.advance(1)
    assert log.should_log("ip:a", "login")


def test_the_refusal_log_is_bounded() -> None:
    log = RefusalLog(parse_budgets(""), FakeClock(start=5000.0), maxsize=10)
    for number in range(100):
        assert log.should_log(f"ip:{number}", "read")
    assert sum(len(logged) for logged in log._logged.values()) == 10


def test_the_limiter_owns_a_refusal_log_on_its_clock() -> None:
    limiter, clock = make_limiter()
    assert limiter.refusal_log.should_log("ip:a", "login")
    assert not limiter.refusal_log.should_log("ip:a", "login")
    clock.advance(60)
    assert limiter.refusal_log.should_log("ip:a", "login")


# -- headers ------------------------------------------------------------------------------


def test_policy_header_is_a_structured_field_item() -> None:
    budgets = parse_budgets("")
    assert policy_header(budgets["read"]) == '"read";q=600;w=60'
    assert policy_header(budgets["login"]) == '"login";q=10;w=60'


def test_ratelimit_header_gives_remaining_and_seconds_to_reset() -> None:
    limiter, _ = make_limiter()
    assert ratelimit_header(take(limiter, "read", "user:1")) == '"read";r=599;t=1'


def test_ratelimit_header_on_a_refusal_points_at_retry_after() -> None:
    limiter, _ = make_limiter()
    refused = take_many(limiter, "login", "ip:a", 11)[-1]
    assert ratelimit_header(refused) == '"login";r=0;t=6'
    assert refused.retry_after == 6


def test_the_limiter_exposes_the_header_helpers() -> None:
    limiter, _ = make_limiter()
    decision = take(limiter, "write", "user:1")
    assert limiter.policy_header(decision.budget) == '"write";q=120;w=60'
    assert limiter.ratelimit_header(decision) == '"write";r=119;t=1'
