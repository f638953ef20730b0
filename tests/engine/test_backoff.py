"""Retry delays, the circuit breaker's states over a fake clock, and remote keys."""

from __future__ import annotations

import random

import pytest

from gitwatch_tui.engine.backoff import (
    BreakerRegistry,
    CircuitBreaker,
    RetryPolicy,
    breaker_key,
    retry_delay,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> str:
    """The state, typed as plain str: mypy would narrow `breaker.state` across asserts."""
    return breaker.state


POLICY = RetryPolicy(base=5.0, cap=600.0, breaker_threshold=3, breaker_cooldown=300.0)


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [
        (0, 0.0, 0.0),
        (-1, 0.0, 0.0),
        (1, 2.5, 5.0),
        (2, 5.0, 10.0),
        (3, 10.0, 20.0),
        (5, 40.0, 80.0),
        (7, 160.0, 320.0),
        (8, 300.0, 600.0),  # step 640 capped to 600
        (9, 300.0, 600.0),
        (10_000, 300.0, 600.0),  # no overflow
    ],
)
def test_retry_delay_bounds(failures: int, low: float, high: float) -> None:
    rng = random.Random(failures)
    delays = [retry_delay(failures, POLICY, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    if high > 0:  # jitter really spreads them over the random half
        assert max(delays) - min(delays) > (high - low) / 2


def test_retry_delay_is_deterministic_with_a_seed() -> None:
    a = [retry_delay(n, POLICY, random.Random(7)) for n in range(1, 12)]
    b = [retry_delay(n, POLICY, random.Random(7)) for n in range(1, 12)]
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [{"base": 0}, {"base": 10, "cap": 5}, {"breaker_threshold": 0}, {"breaker_cooldown": 0}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_cooldown_doubles_up_to_four_caps() -> None:
    assert [POLICY.cooldown(n) for n in range(5)] == [300, 600, 1200, 2400, 2400]
    assert RetryPolicy(cap=10, breaker_cooldown=300).cooldown(3) == 300  # never below the first


def test_breaker_opens_at_threshold_then_probes_once() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock=clock)
    assert (state(breaker), breaker.allow(), breaker.retry_at()) == ("closed", True, None)

    breaker.record_failure("timeout")
    breaker.record_failure("timeout")
    assert (state(breaker), breaker.allow()) == ("closed", True)
    breaker.record_failure("connection refused")
    assert state(breaker) == "open"
    assert breaker.failures == 3 and breaker.last_error == "connection refused"
    assert breaker.opened_until == breaker.retry_at() == 1300.0
    assert not breaker.allow()

    clock.now = 1299.9
    assert not breaker.allow()
    clock.now = 1300.0
    assert state(breaker) == "half-open"
    assert breaker.allow()  # the one probe
    assert not breaker.allow() and not breaker.allow()
    assert state(breaker) == "half-open"

    breaker.record_success()
    assert (state(breaker), breaker.failures) == ("closed", 0)
    assert breaker.last_error is None
    assert breaker.allow() and breaker.allow()


def test_failed_probe_reopens_with_longer_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock=clock)
    for _ in range(3):
        breaker.record_failure("down")
    clock.now = breaker.retry_at() or 0
    assert breaker.allow()
    breaker.record_failure("still down")
    assert state(breaker) == "open"
    assert breaker.opened_until == clock.now + 600  # doubled
    clock.now += 600
    assert breaker.allow()
    breaker.record_failure("still down")
    assert breaker.opened_until == clock.now + 1200
    # Success resets the cooldown to its first length.
    clock.now += 1200
    assert breaker.allow()
    breaker.record_success()
    for _ in range(3):
        breaker.record_failure("down again")
    assert breaker.opened_until == clock.now + 300


def test_late_failures_while_open_do_not_extend_the_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock=clock)
    for _ in range(3):
        breaker.record_failure("down")
    until = breaker.opened_until
    clock.now += 10
    breaker.record_failure("an attempt that began before the breaker opened")
    assert breaker.opened_until == until and breaker.failures == 4


def test_lost_probe_is_replaced_after_a_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock=clock)
    for _ in range(3):
        breaker.record_failure("down")
    clock.now = 1300.0
    assert breaker.allow()
    assert breaker.retry_at() == 1600.0  # when the probe's lease runs out
    clock.now = 1599.0
    assert not breaker.allow()
    clock.now = 1600.0
    assert breaker.allow()  # the first probe never reported (cancelled task)


def test_auth_failure_opens_at_once() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock=clock)
    breaker.record_failure("Authentication failed", auth=True)
    assert (state(breaker), breaker.auth_failed, breaker.failures) == ("open", True, 1)
    assert not breaker.allow()
    breaker.reset()
    assert state(breaker) == "closed" and not breaker.auth_failed and breaker.allow()


def test_registry_gets_or_creates_by_key() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(POLICY, clock=clock)
    one = registry.for_url("https://user@GitHub.com/a/b.git")
    assert registry.get("https://github.com") is one
    assert registry.for_url("git@github.com:a/c.git") is not one
    assert registry.for_url("ssh://git@github.com/a/c.git") is registry.get("ssh://github.com")
    assert len(registry) == 2 and list(registry) == ["https://github.com", "ssh://github.com"]
    one.record_failure("x", auth=True)
    assert [k for k, b in registry.items() if b.state == "open"] == ["https://github.com"]


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://github.com/owner/repo.git", "https://github.com"),
        ("https://GitHub.com:443/owner/repo", "https://github.com"),
        ("https://user:secret@git.example.com:8443/r.git", "https://git.example.com:8443"),
        ("http://127.0.0.1:8080/r.git", "http://127.0.0.1:8080"),
        ("HTTP://example.com/r", "http://example.com"),
        ("git://127.0.0.1/r.git", "git://127.0.0.1"),
        ("git://127.0.0.1:9418/r.git", "git://127.0.0.1"),
        ("git://127.0.0.1:9419/r.git", "git://127.0.0.1:9419"),
        ("ssh://git@github.com/owner/repo.git", "ssh://github.com"),
        ("ssh://git@github.com:22/owner/repo.git", "ssh://github.com"),
        ("ssh://git@gitlab.example.org:2222/g/r.git", "ssh://gitlab.example.org:2222"),
        ("git+ssh://me@host/r", "ssh://host"),
        ("git@github.com:owner/repo.git", "ssh://github.com"),
        ("github.com:owner/repo.git", "ssh://github.com"),
        ("me@myalias:repo", "ssh://myalias"),
        ("https://[::1]:8443/r.git", "https://[::1]:8443"),
        ("ssh://git@[::1]/r.git", "ssh://[::1]"),
        ("git@[::1]:r.git", "ssh://[::1]"),
        ("[fe80::1]:r.git", "ssh://[fe80::1]"),
        ("file:///srv/git/r.git", "local"),
        ("FILE://localhost/srv/r.git", "local"),
        ("/srv/git/r.git", "local"),
        ("../sibling/r.git", "local"),
        ("./odd:name", "local"),
        ("r.git", "local"),
        ("C:/repos/r.git", "local"),
        ("  https://github.com/a/b\n", "https://github.com"),
        ("persistent-https::https://host/r", "https://host"),
        ("ext::ssh -p 22 host %S r", "ext::"),
    ],
)
def test_breaker_key(url: str, key: str) -> None:
    assert breaker_key(url) == key


def test_a_shared_breaker_opens_only_when_several_repos_fail() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(POLICY, clock=clock)  # breaker_repos: 3 by default
    for _ in range(10):  # one repo failing over and over is that repo's problem
        breaker.record_failure("connection refused", repo="a", sole=False)
    assert state(breaker) == "closed"
    breaker.record_failure("connection refused", repo="b", sole=False)
    assert state(breaker) == "closed"
    breaker.record_failure("connection refused", repo="c", sole=False)
    assert state(breaker) == "open"


def test_a_success_starts_the_count_of_failing_repos_again() -> None:
    breaker = CircuitBreaker(POLICY, clock=FakeClock())
    breaker.record_failure("reset", repo="a", sole=False)
    breaker.record_failure("reset", repo="b", sole=False)
    breaker.record_success()
    breaker.record_failure("reset", repo="c", sole=False)
    assert state(breaker) == "closed"


def test_a_servers_only_repo_opens_it_at_the_threshold() -> None:
    breaker = CircuitBreaker(POLICY, clock=FakeClock())
    for _ in range(POLICY.breaker_threshold - 1):
        breaker.record_failure("timeout", repo="only", sole=True)
    assert state(breaker) == "closed"
    breaker.record_failure("timeout", repo="only", sole=True)
    assert state(breaker) == "open"
