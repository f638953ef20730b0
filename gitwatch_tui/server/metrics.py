"""`GET /metrics`: the engine in Prometheus' text format, on a registry of this server's own.

Per-repo values are read from the engine's latest snapshots when scraped (a custom collector),
so nothing is kept up to date between scrapes, however many repos there are. Counters and the
fetch histogram follow the engine's events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, SyncFinished, SyncState

# One state per repo, the most pressing first (as the dashboard's State column decides).
REPO_STATES = (
    "error", "conflict", "diverged", "behind", "ahead", "dirty", "detached", "no-upstream",
    "in-sync", "unknown",
)  # fmt: skip
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def repo_state(status: RepoStatus | None, sync: SyncState | None) -> str:
    """The one word for a repo: `error` when it cannot be read, its upstream is gone or its
    fetches are failing; then conflicts, then how it stands against its upstream."""
    if status is None:
        return "unknown"
    failing = sync is not None and (sync.phase in ("backoff", "circuit-open") or sync.circuit_open)
    if status.error or status.upstream_gone or failing:
        return "error"
    if status.operation or status.conflicted:
        return "conflict"
    if status.ahead and status.behind:
        return "diverged"
    if status.behind:
        return "behind"
    if status.ahead:
        return "ahead"
    if status.dirty:
        return "dirty"
    if status.detached:
        return "detached"
    if status.upstream is None:
        return "no-upstream"
    return "in-sync"


class _EngineCollector(Collector):
    """Gauges read from the engine's snapshots at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        # Copies taken at once (the scrape renders in a thread while the loop goes on);
        # the snapshots themselves are immutable.
        statuses = dict(self._engine.statuses)
        states = dict(self._engine.states)
        names = list(self._engine.specs)
        by_state = dict.fromkeys(REPO_STATES, 0)
        ahead = GaugeMetricFamily(
            "gitwatch_repo_ahead", "Commits on the branch not on its upstream.", labels=["repo"]
        )
        behind = GaugeMetricFamily(
            "gitwatch_repo_behind", "Commits on the upstream not on the branch.", labels=["repo"]
        )
        dirty = GaugeMetricFamily(
            "gitwatch_repo_dirty", "1 when the work tree has changes.", labels=["repo"]
        )
        circuit = GaugeMetricFamily(
            "gitwatch_repo_circuit_open",
            "1 while the circuit breaker of the repo's server is open (no fetch is tried).",
            labels=["repo"],
        )
        failures = GaugeMetricFamily(
            "gitwatch_repo_fetch_failures", "Fetch failures in a row.", labels=["repo"]
        )
        last_success = GaugeMetricFamily(
            "gitwatch_repo_last_fetch_success_timestamp_seconds",
            "When the repo was last fetched successfully (Unix time).",
            labels=["repo"],
        )
        next_attempt = GaugeMetricFamily(
            "gitwatch_repo_next_attempt_timestamp_seconds",
            "When the repo's next poll is due (Unix time); absent while one is under way.",
            labels=["repo"],
        )
        for name in names:
            if (when := self._engine.next_attempt(name)) is not None:
                next_attempt.add_metric([name], when)
            status, sync = statuses.get(name), states.get(name)
            by_state[repo_state(status, sync)] += 1
            if status is not None:
                if status.ahead is not None:
                    ahead.add_metric([name], status.ahead)
                if status.behind is not None:
                    behind.add_metric([name], status.behind)
                dirty.add_metric([name], 1 if status.dirty else 0)
            if sync is not None:
                circuit.add_metric([name], 1 if sync.circuit_open else 0)
                failures.add_metric([name], sync.failures)
                if sync.last_success is not None:
                    last_success.add_metric([name], sync.last_success)
        repos = GaugeMetricFamily(
            "gitwatch_repos", "Watched repos by state (each in exactly one).", labels=["state"]
        )
        for state, count in by_state.items():
            repos.add_metric([state], count)
        yield repos
        yield from (ahead, behind, dirty, circuit, failures, last_success, next_attempt)
        yield GaugeMetricFamily(
            "gitwatch_scheduler_overdue_repos",
            "Repos neither being polled nor due in time (the liveness watchdog's finding).",
            value=len(self._engine.find_overdue()),
        )


class Metrics:
    """The server's metrics: its own registry, fed by the engine's events and snapshots."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.fetch_duration = Histogram(
            "gitwatch_fetch_duration_seconds",
            "Time taken by fetches and clones that reached the remote.",
            ["action"],
            buckets=FETCH_BUCKETS,
            registry=self.registry,
        )
        self.fetch_failures = Counter(
            "gitwatch_fetch_failures",
            "Fetches and clones that failed.",
            ["action"],
            registry=self.registry,
        )
        self.sync_actions = Counter(
            "gitwatch_sync_actions",
            "Fetches, clones, pulls and automatic syncs, by outcome.",
            ["action", "result"],
            registry=self.registry,
        )
        self.webhook_requests = Counter(
            "gitwatch_webhook_requests",
            "Webhook requests by provider and result.",
            ["provider", "result"],
            registry=self.registry,
        )
        self.connections_closed = Counter(
            "gitwatch_http_connections_closed",
            "HTTP connections the server closed itself, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.connections_open = Gauge(
            "gitwatch_http_connections", "HTTP connections open now.", registry=self.registry
        )
        self.registry.register(_EngineCollector(engine))
        self._unsubscribe: Callable[[], None] | None = engine.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, SyncFinished):
            return
        self.sync_actions.labels(event.action, "ok" if event.ok else "failed").inc()
        if event.action in ("fetch", "clone"):
            self.fetch_duration.labels(event.action).observe(event.duration)
            if not event.ok:
                self.fetch_failures.labels(event.action).inc()

    def count_webhook(self, provider: str, result: str) -> None:
        self.webhook_requests.labels(provider, result).inc()

    def count_connection_closed(self, reason: str) -> None:
        self.connections_closed.labels(reason).inc()

    def follow_connections(self, count: Callable[[], int]) -> None:
        """Read the open connection count from `count` at each scrape."""
        self.connections_open.set_function(count)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def handle(self, request: web.Request) -> web.Response:
        """`GET /metrics`, in the format the scraper asks for (Prometheus text or OpenMetrics)."""
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        # Rendering 1,000 repos takes milliseconds: off the loop, so webhooks are not held up.
        body = await asyncio.to_thread(encoder, self.registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
