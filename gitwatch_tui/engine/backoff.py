"""Retry delays and circuit breakers: pure logic over an injected clock.

A repo whose fetch fails waits `retry_delay(failures)` before its next try. A server (one
breaker per `breaker_key`) opens its breaker only when several of its repos fail in ways that
say the server itself is unwell (refused, reset, timed out, 5xx): nothing is sent to it until a
cooldown passes, then a single probe decides whether it closes again or stays open longer. A
repo's own failures (authentication, 403/404, corruption, locks) never touch its server's
breaker: they back the repo off, and an authentication failure holds that repo alone at once.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Clock = Callable[[], float]
BreakerState = Literal["closed", "open", "half-open"]

# Ports that say nothing beyond the scheme; dropped so `https://h` and `https://h:443` share a key.
_DEFAULT_PORTS = {"http": 80, "https": 443, "git": 9418, "ssh": 22, "ftp": 21, "ftps": 990}
_SSH_SCHEMES = {"ssh", "git+ssh", "ssh+git"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after failures, and when a remote's breaker opens.

    A server's breaker opens when `breaker_repos` different repos on it failed with server
    errors in a row, or when its only repo failed `breaker_threshold` times in a row. The
    cooldown starts at `breaker_cooldown` and doubles on each failed probe, up to
    `max(breaker_cooldown, 4 * cap)` (40 minutes with the defaults).
    """

    base: float = 5.0
    cap: float = 600.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 300.0
    breaker_repos: int = 3

    def __post_init__(self) -> None:
        if not (0 < self.base <= self.cap) or self.breaker_cooldown <= 0:
            raise ValueError("RetryPolicy needs 0 < base <= cap and breaker_cooldown > 0")
        if self.breaker_threshold < 1 or self.breaker_repos < 1:
            raise ValueError("RetryPolicy.breaker_threshold and breaker_repos must be at least 1")

    def cooldown(self, reopens: int) -> float:
        """The open period after `reopens` failed probes in a row (0 for the first opening)."""
        ceiling = max(self.breaker_cooldown, 4 * self.cap)
        return min(ceiling, self.breaker_cooldown * 2.0 ** min(reopens, 32))


def retry_delay(failures: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Seconds to wait after `failures` consecutive failures (0 for none).

    "Equal jitter": the exponential step `min(cap, base * 2**(failures-1))` is split into a
    fixed half and a random half, so a delay is never shorter than half its step while repos
    that failed together spread out instead of retrying in lockstep.
    """
    if failures <= 0:
        return 0.0
    step = min(policy.cap, policy.base * 2.0 ** min(failures - 1, 64))  # min: no float overflow
    return step / 2 + rng.uniform(0.0, step / 2)


class CircuitBreaker:
    """Stops traffic to a server that keeps failing (or, for an authentication failure, to one
    repo).

    closed -> open when `breaker_repos` distinct repos failed in a row (a failure reported with
    `repo=`), or after `breaker_threshold` consecutive failures when the caller says the
    breaker guards one repo only (`sole`), or at once on an auth failure (the server wants
    credentials we cannot supply; retrying only hammers it and may lock the account).
    open -> half-open when the cooldown passes; half-open lets exactly one
    probe through: its success closes the breaker, its failure re-opens it with a doubled
    cooldown. A probe that never reports (its task was cancelled) is presumed lost after one
    cooldown, and another probe is allowed.
    """

    def __init__(self, policy: RetryPolicy | None = None, *, clock: Clock = time.monotonic) -> None:
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self.failures = 0
        self.opened_until: float | None = None
        self.last_error: str | None = None
        self.auth_failed = False
        self._reopens = 0
        self._probe_started: float | None = None
        self._failing_repos: set[str] = set()

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state} failures={self.failures} error={self.last_error!r}>"

    @property
    def state(self) -> BreakerState:
        if self.opened_until is None:
            return "closed"
        return "open" if self._clock() < self.opened_until else "half-open"

    def allow(self) -> bool:
        """May an attempt start now? In half-open, True for exactly one caller: the probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self._clock()
        lease = self.policy.cooldown(self._reopens)
        if self._probe_started is not None and now - self._probe_started < lease:
            return False
        self._probe_started = now
        return True

    def record_success(self) -> None:
        """Close the breaker and forget past failures."""
        self.failures = self._reopens = 0
        self.opened_until = self._probe_started = None
        self.last_error = None
        self.auth_failed = False
        self._failing_repos.clear()

    def record_failure(
        self, error: str, *, auth: bool = False, repo: str | None = None, sole: bool = True
    ) -> None:
        """Count a failure; open at a threshold (see the class), at once for `auth`, longer
        after a failed probe. `repo` names who failed; `sole` says no other repo shares this
        breaker (only then do one repo's failures alone open it)."""
        self.failures += 1
        self.last_error = error
        self.auth_failed = auth
        if repo is not None:
            self._failing_repos.add(repo)
        if self._probe_started is not None:  # the half-open probe failed
            self._probe_started = None
            self._reopens += 1
            self._open()
        elif self.opened_until is None and (auth or self._threshold_reached(sole)):
            self._open()
        # Otherwise the breaker is already open and this is a late report from an attempt that
        # began before it opened: counted, but it must not stretch the cooldown.

    def _threshold_reached(self, sole: bool) -> bool:
        if len(self._failing_repos) >= self.policy.breaker_repos:
            return True
        return sole and self.failures >= self.policy.breaker_threshold

    def retry_at(self) -> float | None:
        """When the breaker next lets an attempt through; None when closed (no hold-back)."""
        if self.opened_until is None:
            return None
        if self._probe_started is not None:  # a probe is out: the next one waits for its lease
            return self._probe_started + self.policy.cooldown(self._reopens)
        return self.opened_until

    def reset(self) -> None:
        """Close at once, for a user's explicit "retry now"."""
        self.record_success()

    def _open(self) -> None:
        self.opened_until = self._clock() + self.policy.cooldown(self._reopens)


class BreakerRegistry:
    """Breakers created on first use, keyed by remote (see `breaker_key`)."""

    def __init__(self, policy: RetryPolicy | None = None, *, clock: Clock = time.monotonic) -> None:
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, key: str) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(self.policy, clock=self._clock)
        return breaker

    def for_url(self, url: str) -> CircuitBreaker:
        """The breaker for a git remote URL."""
        return self.get(breaker_key(url))

    def items(self) -> list[tuple[str, CircuitBreaker]]:
        return list(self._breakers.items())

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._breakers))

    def __len__(self) -> int:
        return len(self._breakers)


def breaker_key(url: str) -> str:
    """The remote a git URL talks to, as `scheme://host[:port]`; "local" for local paths.

    User names and passwords are dropped (keys are shown in the UI), hosts are lower-cased,
    default ports are dropped, and scp-like `user@host:path` counts as `ssh://host` so both
    spellings of one ssh remote share a breaker. `transport::address` uses its address.
    """
    url = url.strip()
    helper = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)::(.+)", url, re.DOTALL)
    if helper:
        inner = breaker_key(helper.group(2))
        return inner if inner != "local" else f"{helper.group(1).lower()}::"
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return "local"
        scheme = "ssh" if scheme in _SSH_SCHEMES else scheme
        try:
            port = parts.port
        except ValueError:  # a malformed port: still one key per host
            port = None
        return _key(scheme, parts.hostname or "", port)
    return _scp_key(url) or "local"


def _scp_key(url: str) -> str | None:
    """`[user@]host:path` or `[user@][v6addr]:path` as a key; None for a local path."""
    # git's rule (connect.c): a path is local when no colon comes before the first slash.
    if len(url) >= 2 and url[1] == ":" and url[0].isalpha():  # a Windows drive, `C:\repo`
        return None
    match = re.match(r"(?:[^@/\[]*@)?\[([^\]/]+)\]:", url) or re.match(
        r"(?:[^@/]*@)?([^:/]+):", url
    )
    return _key("ssh", match.group(1), None) if match else None


def _key(scheme: str, host: str, port: int | None) -> str:
    host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"
