"""The sync engine: one schedule per repo, hardened fetches, live local changes, events out.

Both faces run on it: the dashboard subscribes to its events and sends commands; the daemon
runs it headless. It owns every background git call, so it can keep the rules in one place:
polls of one repo never overlap, network and local work have their own limits, a key press
jumps the queue, failures back off, a failing server opens a circuit breaker, and nothing is
written to a repo without the user's action or an explicit auto-sync policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gitwatch_tui.core.autosync import (
    SyncRefusal,
    SyncResult,
    auto_sync,
)
from gitwatch_tui.core.config import Config, load_config
from gitwatch_tui.core.details import RepoDetails, read_details
from gitwatch_tui.core.discovery import resolve_repos
from gitwatch_tui.core.errors import ConfigError as ConfigFileError
from gitwatch_tui.core.git import RepoPaths, terminate_all
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.ops import FetchOutcome, clone, fetch
from gitwatch_tui.core.status import collect_statuses
from gitwatch_tui.core.tags import deploy_tag
from gitwatch_tui.engine.backoff import BreakerRegistry, RetryPolicy, breaker_key, retry_delay
from gitwatch_tui.engine.events import (
    Action,
    ConfigError,
    ConfigReloaded,
    Event,
    EventBus,
    LogLevel,
    LogLine,
    StatusChanged,
    StatusRemoved,
    SyncFinished,
    SyncState,
    SyncStateChanged,
)
from gitwatch_tui.engine.head_start import HeadStart
from gitwatch_tui.engine.history import History, HistoryEntry, HistoryUnavailable, default_state_dir
from gitwatch_tui.engine.limiter import MANUAL, SCHEDULED, PriorityLimiter
from gitwatch_tui.engine.locks import RepoBusy, RepoLock
from gitwatch_tui.engine.pipeline import PipelineRunner
from gitwatch_tui.engine.watcher import RepoWatcher

if TYPE_CHECKING:
    from gitwatch_tui.core.pull import PullMode

T = TypeVar("T")
# After one of our own writes (fetch, pull) the repo's watcher events are ours: ignore them
# for this long beyond the git call's own timeout; the engine refreshes the repo itself.
_SUPPRESS_GRACE = 2.0
_BUSY_RETRY = 30.0  # another process holds the repo's lock: try again this much later


class Engine:
    """Watches and syncs a set of repositories inside a running asyncio loop."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        state_dir: Path | None = None,
        watch_files: bool = True,
        keep_history: bool = True,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        head_start: HeadStart | None = None,
    ) -> None:
        self.config = config
        self._head_start = head_start
        self.events = EventBus()
        self.specs: dict[str, RepoSpec] = {}
        self.statuses: dict[str, RepoStatus] = {}
        self.states: dict[str, SyncState] = {}
        self._config_path = config_path or config.source
        self._state_dir = state_dir or default_state_dir()
        self._watch_files = watch_files
        self._keep_history = keep_history
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._breakers = BreakerRegistry(self._retry)
        self._breaker_keys: dict[str, str] = {}
        self._network = PriorityLimiter(config.defaults.fetch_concurrency)
        # Two pools so that fetches (up to the network limit, which a reload may raise) can
        # never hold up status reads, syncs and history writes. Threads start only when used.
        self._network_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="gw-net")
        self._local_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gw-local")
        self._due: list[tuple[float, int, str]] = []  # (monotonic time, seq, repo); lazy deletes
        self._due_at: dict[str, float] = {}
        self._seq = itertools.count()
        self._wake_scheduler = asyncio.Event()
        self._fetches: dict[str, asyncio.Task[SyncFinished]] = {}
        self._pending_refresh: dict[str, list[asyncio.Future[RepoStatus]]] = {}
        self._wake_refresher = asyncio.Event()
        self._last_refusal: dict[str, str] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._watcher: RepoWatcher | None = None
        self._history: History | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False  # set by begin_stop: no new work starts after it
        # Runs each repo's pipeline after its HEAD moves (it listens to SyncFinished).
        self.pipelines = PipelineRunner(self, self._state_dir)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the watch list, start the workers, and begin the first full status sweep."""
        self._loop = asyncio.get_running_loop()
        if self._keep_history:
            try:
                self._history = History(self._state_dir / "history.sqlite3")
            except HistoryUnavailable as exc:
                self._log("warning", f"sync history is off: {exc}")
        head_start = await self._take_head_start()
        if self._stopping:  # stopped meanwhile (a signal to the dashboard): start nothing
            return
        if head_start is not None:
            specs, warnings = head_start.watch_list.result()
        else:
            specs, warnings = await self._in_thread(
                resolve_repos, self.config.repos, self.config.scan
            )
        if self._stopping:
            return
        for warning in warnings:
            self._log("warning", warning)
        if self._watch_files:
            # When the watcher degrades (inotify limits) it says so once; local changes are
            # then still picked up by the status refresh that follows every poll.
            self._watcher = RepoWatcher(
                on_change=self._on_files_changed,
                debounce=0.3,
                on_notice=lambda message: self._log("warning", message),
            )
        self._apply_specs(specs)
        self.pipelines.start()
        self._tasks = [asyncio.create_task(self._refresher(), name="gitwatch-refresher")]
        first_sweep: list[asyncio.Future[Any]]
        if head_start is not None:
            head_start.follow(self._accept_status_threadsafe)
            swept = asyncio.wrap_future(head_start.swept)
            swept.add_done_callback(self._after_head_start)
            first_sweep = [swept]
        else:
            first_sweep = [self._request_refresh(name) for name in self.specs]
        # Polls and the file watcher start once the first sweep is in: the sweep is what the
        # user waits for, and it should have the cores (the watcher's child walks every
        # folder to add its watches; a poll's fetch re-reads the status anyway).
        self._tasks.append(
            asyncio.create_task(self._after(first_sweep, self._scheduler), name="gitwatch-polls")
        )
        if self._watcher is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._after(first_sweep, self._watcher.run), name="gitwatch-watcher"
                )
            )
        if self._config_path is not None:
            self._tasks.append(asyncio.create_task(self._watch_config(), name="gitwatch-config"))

    async def _take_head_start(self) -> HeadStart | None:
        """The head start's watch list once resolved, or None to do without one (also when it
        failed: the engine's own sweep then reports the problem)."""
        head_start = self._head_start
        if head_start is None:
            return None
        if head_start.config is not self.config:
            head_start.stop()
            return None
        try:
            await asyncio.wrap_future(head_start.watch_list)
        except Exception:
            return None
        return head_start

    def _after_head_start(self, swept: asyncio.Future[None]) -> None:
        if not swept.cancelled() and swept.exception() is not None:
            self._log("error", f"first status sweep failed: {swept.exception()!r}")
            for name in self.specs:  # read again what the sweep may have missed
                self._request_refresh(name)

    @staticmethod
    async def _after(
        first_sweep: list[asyncio.Future[Any]], then: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        # `then` is made only here: a stop right after the start cancels this task before
        # its first step, and a coroutine made for it would never be awaited.
        await asyncio.gather(*first_sweep, return_exceptions=True)
        await then()

    @property
    def watching(self) -> bool:
        """True once local changes are being watched (so they show within about a second)."""
        return self._watcher is not None and self._watcher.watching

    @property
    def polling_fallback(self) -> bool:
        """True when file watching could not be set up and local changes wait for the next poll."""
        return self._watcher is not None and self._watcher.polling_fallback

    def begin_stop(self) -> None:
        """Start no new work from now on: no poll, fetch (a webhook's or a key's), auto-sync,
        pipeline run or reload. What is under way carries on; `stop` ends it."""
        self._stopping = True
        self.pipelines.begin_stop()

    def _may_start(self) -> bool:
        """Whether new work may start: not once stopping (checked where work starts)."""
        return not self._stopping

    async def stop(self, grace: float = 0.0) -> None:
        """Cancel every worker and running git call (their process groups are killed).

        Nothing new starts from the first moment (`begin_stop`). With a `grace` period (the
        daemon's shutdown), the fetches, syncs and pipeline runs under way get up to `grace`
        seconds to finish; a fetch that ends in it is not followed by an auto-sync.
        """
        self.begin_stop()
        if grace > 0:
            await self._drain(grace)
        await self.pipelines.stop()
        tasks = [*self._tasks, *self._fetches.values()]
        for task in tasks:
            task.cancel()
        terminate_all()  # git calls in worker threads would otherwise run out their timeouts
        if self._head_start is not None:
            self._head_start.stop()  # a first sweep still under way, in its child process
        await asyncio.gather(*tasks, return_exceptions=True)
        self._network_pool.shutdown(wait=False, cancel_futures=True)
        # Let a history write in flight finish before the database is closed.
        await asyncio.to_thread(self._local_pool.shutdown, wait=True, cancel_futures=True)
        if self._history is not None:
            self._history.close()
        self.events.close()

    async def _drain(self, grace: float) -> None:
        # No more polls, reloads or file events. The refresher stays: a fetch ends with a
        # status refresh, and would otherwise wait for it until the grace runs out.
        stopping = [task for task in self._tasks if task.get_name() != "gitwatch-refresher"]
        for task in stopping:
            task.cancel()
        # Let them end here: the watcher's clean-up (its child process) must not be cancelled
        # a second time by stop().
        await asyncio.gather(*stopping, return_exceptions=True)
        deadline = time.monotonic() + grace
        while self._fetches and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(list(self._fetches.values()), timeout=left)
        idle = asyncio.ensure_future(self.pipelines.wait_idle())
        await asyncio.wait([idle], timeout=max(0.0, deadline - time.monotonic()))
        idle.cancel()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback` with every event; returns the function that unsubscribes."""
        return self.events.subscribe(callback)

    # -- commands -----------------------------------------------------------------------------

    async def refresh(self, name: str) -> RepoStatus:
        """Read the repo's status now (batched with any other pending refreshes)."""
        return await self._request_refresh(name)

    async def refresh_all(self) -> list[RepoStatus]:
        return list(await asyncio.gather(*(self._request_refresh(n) for n in list(self.specs))))

    async def fetch(self, name: str) -> SyncFinished:
        """Fetch now, ahead of scheduled polls; joins a fetch of this repo already running."""
        self._spec(name)
        running = self._fetches.get(name)
        if running is not None:
            return await asyncio.shield(running)
        if not self._may_start():
            return _not_started(name, "fetch")
        return await self._start_fetch(name, manual=True)

    async def fetch_all(self) -> list[SyncFinished]:
        return list(await asyncio.gather(*(self.fetch(name) for name in list(self.specs))))

    async def pull(
        self, name: str, mode: PullMode = "ff-only", *, expected_upstream: str | None = None
    ) -> SyncFinished:
        """Bring the branch up to its upstream: `ff-only` (default), `rebase` or `merge`.

        With `expected_upstream` (the sha a preview showed) the pull goes to exactly that commit
        and does not fetch; without it (bulk pulls, scripts) it fetches first. Whatever could
        lose work is refused with the reason; a merge or rebase that stops on conflicts stays
        in progress for the conflict panel.
        """
        from gitwatch_tui.core.pull import PULL_MODES, pull  # with its kin, only when used

        if mode not in PULL_MODES:
            raise ValueError(f"unknown pull mode {mode!r}: one of {', '.join(PULL_MODES)}")
        if expected_upstream is None:
            fetched = await self.fetch(name)
            if not fetched.ok:
                return replace(fetched, action="pull")
        _, finished = await self._change(
            name, "pull", partial(pull, mode=mode, expected_upstream=expected_upstream)
        )
        return finished

    async def inspect(self, name: str, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a read-only core call on the repo off the loop: `read(spec, *args, timeout=..)`
        (a pull preview, the branch or stash list, a conflict's hunks)."""
        spec = self._spec(name)
        timeout = self.config.defaults.status_timeout
        return await self._in_thread(read, spec, *args, timeout=timeout, **kwargs)

    async def change(
        self, name: str, action: Action, operation: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """Run a core call that changes the repo for the user: `operation(spec, *args,
        timeout=..)` under the repo's lock, logged to history with its undo hint, then the
        status is read again. Raises RepoBusy when another gitwatch process holds the repo."""

        def call(spec: RepoSpec, *, timeout: float) -> T:
            return operation(spec, *args, timeout=timeout, **kwargs)

        result, _ = await self._change(name, action, call)
        return result

    async def _change(
        self, name: str, action: Action, operation: Callable[..., T]
    ) -> tuple[T, SyncFinished]:
        spec = self._spec(name)
        timeout = self.config.defaults.fetch_timeout
        started = time.monotonic()
        self._set_state(name, phase="syncing")
        if self._watcher is not None:
            self._watcher.suppress(name, timeout + _SUPPRESS_GRACE)
        try:
            result = await self._in_thread(
                self._locked, spec, partial(operation, spec, timeout=timeout)
            )
        finally:
            self._set_state(name, phase="idle")
        finished = change_finished(name, action, result, time.monotonic() - started)
        self._remember(finished)
        await self.refresh(name)
        return result, finished

    async def details(self, name: str, limit: int = 50) -> RepoDetails:
        """Incoming and outgoing commits and changed files, read off the loop in the local pool."""
        spec = self._spec(name)
        timeout = self.config.defaults.status_timeout
        return await self._in_thread(read_details, spec, timeout=timeout, limit=limit)

    async def recent_history(self, name: str, limit: int = 20) -> list[HistoryEntry]:
        """The repo's latest sync actions, newest first; empty when history is off."""
        history = self._history
        if history is None:
            return []
        try:
            return await self._in_thread(history.recent, name, limit)
        except HistoryUnavailable:
            return []

    # -- scheduling ---------------------------------------------------------------------------

    def _apply_specs(self, specs: Sequence[RepoSpec]) -> tuple[list[str], list[str], list[str]]:
        """Make `specs` the watch list; returns the names added, removed and changed."""
        new = {spec.name: spec for spec in specs}
        added = [n for n in new if n not in self.specs]
        removed = [n for n in self.specs if n not in new]
        changed = [n for n in new if n in self.specs and new[n] != self.specs[n]]
        self.specs = new
        for name in removed:
            self._due_at.pop(name, None)
            self.states.pop(name, None)
            self.statuses.pop(name, None)
            task = self._fetches.pop(name, None)
            if task is not None:
                task.cancel()
            self.events.publish(StatusRemoved(name))
        for name in added:
            self.states[name] = SyncState(repo=name)
            # Spread the first polls over one interval so 1,000 repos do not fetch at once;
            # a repo still to be cloned goes first.
            self._schedule(name, 0.0 if _needs_clone(new[name]) else self._next_poll(name, True))
        for name in changed:
            self._schedule(name, self._next_poll(name, True))
        self._update_watcher()
        return added, removed, changed

    def _update_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.set_repos(
                {
                    name: (spec.path, RepoPaths.of(spec.path, bare=spec.bare).git_dir)
                    for name, spec in self.specs.items()
                }
            )

    def _interval(self, name: str) -> float:
        return self.specs[name].poll_interval or self.config.defaults.poll_interval

    def _next_poll(self, name: str, first: bool = False) -> float:
        """Seconds to the repo's next poll, jittered so that many repos do not poll at once:
        a first poll anywhere in one interval, later ones ±10 %, cron times + up to 30 s."""
        schedule = self.specs[name].schedule
        if schedule is not None:
            now = datetime.now()
            return (schedule.next_after(now) - now).total_seconds() + self._rng.uniform(0, 30)
        if first:
            return self._interval(name) * self._rng.random()
        return self._interval(name) * self._rng.uniform(0.9, 1.1)

    def _schedule(self, name: str, delay: float) -> None:
        when = time.monotonic() + max(0.0, delay)
        self._due_at[name] = when
        heapq.heappush(self._due, (when, next(self._seq), name))
        self._wake_scheduler.set()

    async def _scheduler(self) -> None:
        while True:
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                when, _, name = heapq.heappop(self._due)
                if self._due_at.get(name) != when or name in self._fetches:
                    continue  # superseded, removed, or already running (it reschedules)
                del self._due_at[name]
                self._start_fetch(name, manual=False)
            timeout = self._due[0][0] - now if self._due else None
            self._wake_scheduler.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_scheduler.wait(), timeout)

    def _start_fetch(self, name: str, *, manual: bool) -> asyncio.Task[SyncFinished]:
        task = asyncio.create_task(self._fetch(name, manual), name=f"fetch {name}")
        self._fetches[name] = task
        task.add_done_callback(lambda _: self._fetches.pop(name, None))
        return task

    # -- fetch --------------------------------------------------------------------------------

    async def _fetch(self, name: str, manual: bool) -> SyncFinished:
        spec = self._spec(name)
        if spec.url is None and not spec.path.exists():
            # Nothing to fetch and nothing to clone from: its status row says what is wrong.
            self._schedule(name, self._interval(name))
            return SyncFinished(name, "fetch", ok=False, error="path does not exist")
        breaker = self._breakers.get(self._breaker_keys.get(name, ""))
        # A key press is a deliberate probe; scheduled polls respect an open circuit.
        if not manual and breaker is not None and not breaker.allow():
            retry_at = breaker.retry_at() or time.monotonic() + self._retry.breaker_cooldown
            self._schedule(name, retry_at - time.monotonic())
            self._set_state(
                name,
                phase="circuit-open",
                circuit_open=True,
                next_attempt=time.time() + retry_at - time.monotonic(),
            )
            return SyncFinished(name, "fetch", ok=False, error="circuit open: not attempted")
        cloning = _needs_clone(spec)
        async with self._network.slot(MANUAL if manual else SCHEDULED):
            if not self._may_start():  # queued for a slot when the stop began
                return _not_started(name, "clone" if cloning else "fetch")
            self._set_state(name, phase="cloning" if cloning else "fetching")
            defaults = self.config.defaults
            timeout = defaults.clone_timeout if cloning else defaults.fetch_timeout
            if self._watcher is not None:
                self._watcher.suppress(name, timeout + _SUPPRESS_GRACE)
            operation = partial(clone if cloning else fetch, spec, timeout=timeout)
            try:
                outcome = await self._in_thread(self._locked, spec, operation, pool="network")
            except RepoBusy as busy:
                self._set_state(name, phase="busy")
                self._schedule(name, _BUSY_RETRY)
                return SyncFinished(name, "fetch", ok=False, error=str(busy))
        finished = self._after_fetch(name, outcome, "clone" if cloning else "fetch")
        if cloning and outcome.error is None:
            self._update_watcher()  # the work tree exists now
        if name in self.specs:
            status = await self.refresh(name)
            # Nothing to bring in unless behind: no lock, no events, no git call.
            if outcome.error is None and spec.auto_sync != "off" and status.behind:
                await self._sync(spec, partial(auto_sync, spec, status), automatic=True)
            if outcome.error is None and spec.follow_tag:
                deploy = partial(deploy_tag, spec, status)
                await self._sync(spec, deploy, automatic=True, action="deploy-tag")
        return finished

    def _after_fetch(self, name: str, outcome: FetchOutcome, action: Action) -> SyncFinished:
        """Record a fetch's outcome: breaker, back-off, next poll, history, events."""
        if outcome.url is not None:
            # One breaker per server; local remotes have no server, so one each.
            key = breaker_key(outcome.url)
            self._breaker_keys[name] = outcome.url if key == "local" else key
        breaker = self._breakers.get(self._breaker_keys.get(name, ""))
        state = self.states.get(name, SyncState(repo=name))
        if outcome.no_remote:
            # A local-only repo: nothing to fetch, no failure; still refreshed at each poll.
            new_state = replace(state, phase="idle", last_error=None, next_attempt=None)
            delay = self._next_poll(name)
        elif outcome.error is None:
            if breaker is not None:
                breaker.record_success()
            delay = self._next_poll(name)
            new_state = SyncState(
                repo=name, last_success=time.time(), next_attempt=time.time() + delay
            )
        else:
            failures = state.failures + 1
            delay = retry_delay(failures, self._retry, self._rng)
            circuit_open = False
            if breaker is not None:
                breaker.record_failure(outcome.error, auth=outcome.auth_failed)
                if breaker.state == "open":
                    circuit_open = True
                    delay = max(delay, (breaker.retry_at() or 0) - time.monotonic())
            new_state = replace(
                state,
                phase="circuit-open" if circuit_open else "backoff",
                failures=failures,
                next_attempt=time.time() + delay,
                last_error=outcome.error,
                auth_failed=outcome.auth_failed,
                circuit_open=circuit_open,
            )
        if name in self.specs:
            self._schedule(name, delay)
            self._publish_state(new_state)
        finished = SyncFinished(
            name, action, ok=outcome.error is None, duration=outcome.duration, error=outcome.error
        )
        self._remember(finished)
        return finished

    # -- automatic and manual sync ------------------------------------------------------------

    async def _sync(
        self,
        spec: RepoSpec,
        operation: Callable[..., SyncResult | SyncRefusal | None],
        *,
        automatic: bool,
        action: Action | None = None,
    ) -> SyncFinished:
        """Run a fast-forward or rebase under the repo's lock; every outcome is an event."""
        action = action or ("auto-sync" if automatic else "pull")
        if not self._may_start():  # after a fetch that ended in the grace period
            return _not_started(spec.name, action)
        started = time.monotonic()
        timeout = self.config.defaults.fetch_timeout
        self._set_state(spec.name, phase="syncing")
        if self._watcher is not None:
            self._watcher.suppress(spec.name, timeout + _SUPPRESS_GRACE)
        try:
            result = await self._in_thread(self._locked, spec, partial(operation, timeout=timeout))
        except RepoBusy as busy:
            return SyncFinished(spec.name, action, ok=False, automatic=automatic, error=str(busy))
        finally:
            self._set_state(spec.name, phase="idle")
        duration = time.monotonic() - started
        if result is None:  # policy "off"
            return SyncFinished(spec.name, action, ok=True, automatic=automatic)
        if isinstance(result, SyncRefusal):
            finished = SyncFinished(
                spec.name,
                action,
                ok=False,
                duration=duration,
                error=result.message,
                automatic=automatic,
                detail=result.reason,
            )
            # "Not behind" is the normal case, and the same refusal every poll is noise.
            quiet = result.reason == "not-behind" or (
                automatic and self._last_refusal.get(spec.name) == result.reason
            )
            self._last_refusal[spec.name] = result.reason
            if quiet:
                return finished
        else:
            self._last_refusal.pop(spec.name, None)
            finished = SyncFinished(
                spec.name,
                action,
                ok=True,
                duration=duration,
                old_head=result.old_head,
                new_head=result.new_head,
                automatic=automatic,
                detail=f"stash kept: {result.stash_kept}" if result.stash_kept else result.mode,
            )
        self._remember(finished)
        await self.refresh(spec.name)
        return finished

    # -- local status -------------------------------------------------------------------------

    def _request_refresh(self, name: str) -> asyncio.Future[RepoStatus]:
        future: asyncio.Future[RepoStatus] = asyncio.get_running_loop().create_future()
        self._pending_refresh.setdefault(name, []).append(future)
        self._wake_refresher.set()
        return future

    async def _refresher(self) -> None:
        """Read pending repos in batches: one shell-loop sweep serves many requests."""
        while True:
            await self._wake_refresher.wait()
            self._wake_refresher.clear()
            batch, self._pending_refresh = self._pending_refresh, {}
            specs = [self.specs[name] for name in batch if name in self.specs]
            defaults = self.config.defaults
            try:
                await self._in_thread(
                    partial(
                        collect_statuses,
                        specs,
                        jobs=defaults.status_concurrency,
                        timeout=defaults.status_timeout,
                        # Each status is shown as it arrives: the first sweep shows progress.
                        on_status=self._accept_status_threadsafe,
                    )
                )
            except Exception as exc:  # a bug must not stop every future refresh
                self._log("error", f"status refresh failed: {exc!r}")
            await asyncio.sleep(0)  # let the call_soon_threadsafe callbacks run first
            for name, futures in batch.items():
                for future in futures:
                    if future.done():
                        continue
                    if name in self.statuses:
                        future.set_result(self.statuses[name])
                    else:  # removed from the watch list meanwhile
                        future.cancel()

    def _accept_status_threadsafe(self, status: RepoStatus) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._accept_status, status)

    def _accept_status(self, status: RepoStatus) -> None:
        if status.name not in self.specs:
            return
        if self.statuses.get(status.name) != status:
            self.statuses[status.name] = status
            self.events.publish(StatusChanged(status))

    def _on_files_changed(self, names: set[str]) -> None:
        for name in names:
            if name in self.specs:
                self._request_refresh(name)

    # -- config hot reload --------------------------------------------------------------------

    async def reload_config(self) -> bool:
        """Re-read the config file; a bad one is reported and the last good one kept. Not
        once stopping (False)."""
        if self._config_path is None or not self._may_start():
            return False
        try:
            config = await self._in_thread(load_config, self._config_path)
        except ConfigFileError as exc:
            self.events.publish(ConfigError(str(exc)))
            self._log("error", f"config not reloaded, keeping the last good one:\n{exc}")
            return False
        specs, warnings = await self._in_thread(resolve_repos, config.repos, config.scan)
        for warning in warnings:
            self._log("warning", warning)
        self.config = config
        self._network.set_limit(config.defaults.fetch_concurrency)
        added, removed, changed = self._apply_specs(specs)
        for name in (*added, *changed):
            self._request_refresh(name)
        self.events.publish(ConfigReloaded(config, tuple(added), tuple(removed), tuple(changed)))
        return True

    async def _watch_config(self) -> None:
        import watchfiles

        assert self._config_path is not None
        target = self._config_path.absolute()
        # Watch the folder: editors replace the file (write a temp file, rename over it).
        async for changes in watchfiles.awatch(
            target.parent, watch_filter=lambda _, path: Path(path) == target, debounce=200
        ):
            if changes:
                await self.reload_config()

    # -- helpers ------------------------------------------------------------------------------

    def _spec(self, name: str) -> RepoSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise KeyError(f"no such repo: {name}") from None

    def _set_state(self, name: str, **changes: Any) -> None:
        if name in self.states:
            self._publish_state(replace(self.states[name], **changes))

    def _publish_state(self, state: SyncState) -> None:
        if self.states.get(state.repo) != state:
            self.states[state.repo] = state
            self.events.publish(SyncStateChanged(state))

    def _remember(self, finished: SyncFinished) -> None:
        self.events.publish(finished)
        if self._history is None:
            return
        entry = HistoryEntry(
            time=time.time(), repo=finished.repo, action=finished.action, ok=finished.ok,
            duration=finished.duration, error=finished.error, old_head=finished.old_head,
            new_head=finished.new_head, detail=finished.detail,
        )  # fmt: skip
        # Off the loop: SQLite may wait on another process's write lock.
        written = self._local_pool.submit(self._history.record, entry)
        written.add_done_callback(self._history_written)

    def _history_written(self, written: Future[None]) -> None:
        error = written.exception() if not written.cancelled() else None
        if error is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._history_failed, error)

    def _history_failed(self, error: BaseException) -> None:
        if self._history is not None:  # say it once, then run without history
            self._history = None
            self._log("warning", f"sync history is off: {error}")

    def _log(self, level: LogLevel, message: str, repo: str | None = None) -> None:
        self.events.publish(LogLine(level, message, repo))

    def _locked(self, spec: RepoSpec, operation: Callable[[], T]) -> T:
        """Run `operation` holding the repo's cross-process lock (raises RepoBusy); called in a
        worker thread, so the lock's file work stays off the event loop."""
        with RepoLock(self._state_dir, spec.path).hold():
            return operation()

    async def _in_thread(
        self, func: Callable[..., T], *args: Any, pool: str = "local", **kwargs: Any
    ) -> T:
        executor = self._network_pool if pool == "network" else self._local_pool
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, partial(func, *args, **kwargs))

    @property
    def history(self) -> History | None:
        return self._history


def change_finished(name: str, action: Action, result: object, duration: float) -> SyncFinished:
    """The history entry of a user's change. Core results share field names: a refusal has
    `reason` and `message`; a done change has `old_head`, `new_head`, `message`, `undo` (the
    git command or ref that goes back), and either `ok` or `conflicts` (a change that stopped
    on conflicts is not done yet)."""
    undo = getattr(result, "undo", "") or None
    message = getattr(result, "message", "") or None
    if hasattr(result, "reason"):
        return SyncFinished(
            name, action, ok=False, duration=duration, error=message,
            detail=str(getattr(result, "reason", "refused")),
        )  # fmt: skip
    ok = bool(getattr(result, "ok", not getattr(result, "conflicts", ())))
    parts = (message if ok else None, f"undo: {undo}" if undo else None)
    return SyncFinished(
        name, action, ok=ok, duration=duration, error=None if ok else message,
        old_head=getattr(result, "old_head", None), new_head=getattr(result, "new_head", None),
        detail=" · ".join(part for part in parts if part) or None,
    )  # fmt: skip


def _not_started(name: str, action: Action) -> SyncFinished:
    """The answer for work asked for once the engine is stopping (not an event, not history)."""
    return SyncFinished(name, action, ok=False, error="not started: gitwatch is stopping")


def _needs_clone(spec: RepoSpec) -> bool:
    """A configured repo with a URL and nothing on disk yet is cloned, not fetched."""
    return spec.url is not None and not spec.path.exists()
