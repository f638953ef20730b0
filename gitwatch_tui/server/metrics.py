"""`GET /metrics`: the engine in Prometheus' text format, on a registry of this server's own.

Per-repo values are read from the engine's latest snapshots when scraped (a custom collector),
so nothing is kept up to date between scrapes, however many repos there are. Counters and the
fetch histogram follow the engine's events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, SyncFinished
from gitwatch_tui.engine.repo_state import STATE_WORDS, repo_state

# One state per repo, as every face says it (`repo_state`), the most pressing first.
REPO_STATES: tuple[str, ...] = STATE_WORDS
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _EngineCollector(Collector):
    """Gauges read from the engine's snapshots at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        # Copies taken at once (the scrape renders in a thread while the loop goes on);
        # the snapshots themselves are immutable.
        statuses = dict(self._engine.statuses)
        states = dict(self._engine.states)
        pipelines = dict(self._engine.pipelines.last)
        names = list(self._engine.specs)
        now = time.time()
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
        last_failure = GaugeMetricFamily(
            "gitwatch_repo_last_fetch_failure_timestamp_seconds",
            "When a fetch of the repo last failed, if none has worked since (Unix time).",
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
            by_state[repo_state(status, sync, now, pipeline=pipelines.get(name)).word] += 1
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
                if sync.last_failure is not None:
                    last_failure.add_metric([name], sync.last_failure)
        repos = GaugeMetricFamily(
            "gitwatch_repos", "Watched repos by state (each in exactly one).", labels=["state"]
        )
        for state, count in by_state.items():
            repos.add_metric([state], count)
        yield repos
        yield from (ahead, behind, dirty, circuit, failures, last_success, last_failure)
        yield next_attempt
        yield GaugeMetricFamily(
            "gitwatch_scheduler_overdue_repos",
            "Repos neither being polled nor due in time (the liveness watchdog's finding).",
            value=len(self._engine.find_overdue()),
        )
        yield GaugeMetricFamily(
            "gitwatch_trees_polled",
            "Repos whose work trees are polled, not watched (over the inotify watch budget).",
            value=len(self._engine.unwatched_trees()),
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
