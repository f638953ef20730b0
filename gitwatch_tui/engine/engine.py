"""The sync engine: one schedule per repo, hardened fetches, live local changes, events out.

Both faces run on it: the dashboard subscribes to its events and sends commands; the daemon
runs it headless. It owns every background git call, so it can keep the rules in one place:
polls of one repo never overlap, network and local work have their own limits, a key press
jumps the queue, failures back off, a failing server opens a circuit breaker, and nothing is
written to a repo without the user's action or an explicit auto-sync policy.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from gitwatch_tui.core.autosync import (
    SyncRefusal,
    SyncResult,
    auto_sync,
)
from gitwatch_tui.core.config import Config, refuse_no_repos
from gitwatch_tui.core.details import read_details
from gitwatch_tui.core.discovery import resolve_repos
from gitwatch_tui.core.errors import ConfigError as ConfigFileError
from gitwatch_tui.core.git import RepoPaths, lower_thread_priority, terminate_all
from gitwatch_tui.core.models import RepoSpec, RepoStatus, ScanRoot
from gitwatch_tui.core.remotes import FetchOutcome, clone, fetch, reachable_commits
from gitwatch_tui.core.results import (
    PULL_MODES,
    BranchDeletePreview,
    BranchList,
    BranchRefusal,
    BranchResult,
    ChangeResult,
    CommitLog,
    ConflictFile,
    ConflictState,
    FileChange,
    OperationOutcome,
    Patch,
    PullMode,
    PullPreview,
    PullRefusal,
    PullResult,
    PushPreview,
    PushRefusal,
    PushResult,
    Refusal,
    RepoDetails,
    ResolveOutcome,
    Side,
    StashDropped,
    StashError,
    StashList,
    StashOutcome,
    SwitchRefusal,
    SwitchResult,
    UndoPreview,
    UndoRefusal,
    UndoResult,
)
from gitwatch_tui.core.status import collect_statuses
from gitwatch_tui.core.tags import deploy_tag
from gitwatch_tui.engine.backoff import (
    BreakerRegistry,
    CircuitBreaker,
    RetryPolicy,
    breaker_key,
    retry_delay,
)
from gitwatch_tui.engine.config_watch import DEFAULT_SETTLE, ConfigRead, ConfigWatch
from gitwatch_tui.engine.events import (
    NO_REMOTE,
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
from gitwatch_tui.engine.history import (
    FetchTimes,
    History,
    HistoryEntry,
    HistoryUnavailable,
    StoredUndo,
)
from gitwatch_tui.engine.limiter import MANUAL, SCHEDULED, PriorityLimiter, each_in_turn
from gitwatch_tui.engine.locks import HOLD_WAIT, RepoBusy, RepoLock
from gitwatch_tui.engine.pipeline import PipelineRunner
from gitwatch_tui.engine.run_anywhere import CommandRun, RepoRun
from gitwatch_tui.engine.snapshot import (
    Known,
    StatusSnapshot,
    likely_changed_first,
    matching,
    snapshot_key,
    snapshot_row,
)
from gitwatch_tui.engine.state_dir import SNAPSHOT_FILENAME, default_state_dir
from gitwatch_tui.engine.watcher import RepoWatcher

T = TypeVar("T")
C = TypeVar("C", bound=ChangeResult | Refusal)  # what a change the user asks for returns
# After one of our own writes (fetch, pull) the repo's watcher events are ours: ignore them
# for this long beyond the git call's own timeout; the engine refreshes the repo itself.
_SUPPRESS_GRACE = 2.0
_BUSY_RETRY = 30.0  # another process holds the repo's lock: try again this much later (at most)
# A change the user asked for waits this long for a poll of the same repo (this process's or
# another's) to let go of the repo's lock, rather than be refused at once.
_USER_LOCK_WAIT = 10.0
# How often the watchdog checks that every repo has a next attempt (the daemon's default).
WATCHDOG_EVERY = 5.0
# A cycle that holds its fetch slot longer than its git timeouts add up to, plus this, is stuck.
_STUCK_SLACK = 10.0
# Statuses read are written to the snapshot at most this often (and once more at stop).
SNAPSHOT_EVERY = 5.0
# The audit re-reads a few repos at a time, at most this often, ...
_AUDIT_STEP = 1.0
# ... this many together when its pace allows (one refresh, one trip to a thread, for them
# all: a fifth less of this process's CPU per read than one at a time).
AUDIT_BATCH = 8
# Its period unless configured: every repo once in 30 min, or, with many repos, one read
# every 2 s on average (about 0.3 % of a core: a status read costs some 5 ms of CPU), so a
# change the watcher missed shows within 5 h 33 min at 10,000 repos.
AUDIT_PERIOD = 1800.0
AUDIT_PER_REPO = 2.0
# Status requests made between two turns of the loop by `refresh_all` (a few ms of work).
_REQUESTS_PER_TURN = 500
# A repo asked for again while its read was under way is read again with the others that came
# back meanwhile, at most this long after its read (or when its batch ends): one batch per
# arrival was a batch per repo when `r` came during a full refresh, and each wake a pass over
# every pending request (O(repos) per status at 10,000 repos).
_REREAD_GATHER = 0.25


def audit_pace(repos: int, configured: float | None = None) -> tuple[float, int]:
    """(seconds between the audit's steps, repos read at each) for reading `repos` once per
    period: `configured`, or AUDIT_PERIOD lengthened to AUDIT_PER_REPO seconds a repo."""
    period = configured or max(AUDIT_PERIOD, repos * AUDIT_PER_REPO)
    if not repos:
        return period, 0
    batch = min(AUDIT_BATCH, repos)
    if period * batch / repos >= _AUDIT_STEP:
        return period * batch / repos, batch
    return _AUDIT_STEP, math.ceil(repos * _AUDIT_STEP / period)  # a short period: bigger steps


class UnknownRepo(LookupError):  # noqa: N818 (reads as the state it reports, like RepoBusy)
    """A command named a repo that is not watched (never was, or left the config)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no such repo: {name}")
        self.name = name


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
        watchdog_every: float = WATCHDOG_EVERY,
        config_settle: float = DEFAULT_SETTLE,
        environ: Mapping[str, str] | None = None,
        watch_budget: int | None = None,
        snapshot: str | None = None,
    ) -> None:
        """`environ`: where the pipeline steps' secrets are read (default: os.environ).
        `watch_budget`: inotify watches the file watcher may take (default: what is free).
        `snapshot`: the kind of process (`dashboard`) whose status snapshot is kept in the
        state dir and shown, marked as of when it was read, until each repo is read again."""
        self._watch_budget = watch_budget
        self.config = config
        self._head_start = head_start
        self.events = EventBus()
        self.specs: dict[str, RepoSpec] = {}
        self.statuses: dict[str, RepoStatus] = {}
        self.states: dict[str, SyncState] = {}
        config_path = config_path or config.source
        self._config_watch = (
            ConfigWatch(
                config_path,
                self._apply_config,
                settle=config_settle,
                on_notice=lambda message: self._log("warning", message),
            )
            if config_path is not None
            else None
        )
        self._state_dir = state_dir or default_state_dir()
        self._watch_files = watch_files
        self._keep_history = keep_history
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        # One breaker per server (counts only server failures, from several repos) and one
        # per repo (an authentication failure holds that repo alone).
        self._server_breakers = BreakerRegistry(self._retry)
        self._repo_breakers = BreakerRegistry(self._retry)
        self._breaker_keys: dict[str, str] = {}
        self._network = PriorityLimiter(config.defaults.fetch_concurrency)
        # Two pools so that fetches (up to the network limit, which a reload may raise) can
        # never hold up status reads, syncs and history writes. Threads start only when used.
        # The threads of background work (fetches and clones, status sweeps, history writes)
        # run at background git's priority: at 10,000 repos their Python took a sixth of a
        # core at the UI thread's priority, and a key pressed waited for a core. What the
        # user asks for runs in the local pool's threads, at the process's priority.
        self._network_pool = ThreadPoolExecutor(
            max_workers=64, thread_name_prefix="gw-net", initializer=lower_thread_priority
        )
        self._local_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gw-local")
        self._status_pool = ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="gw-status", initializer=lower_thread_priority
        )
        self._status_batches: set[asyncio.Task[None]] = set()  # `_refresher`'s, under way
        # History's writes, in order, and every one made before stop closes the database (the
        # local pool's queue is cancelled at stop: a fetch's record waiting there was lost).
        self._history_pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="gw-history", initializer=lower_thread_priority
        )
        # Liveness: each watched repo is in exactly one of `_cycles` (running) or `_due_at`
        # (its one next attempt); a cycle's end, however it ended, schedules the next.
        self._due: list[tuple[float, int, str]] = []  # (monotonic time, seq, repo); lazy deletes
        self._due_at: dict[str, float] = {}
        self._seq = itertools.count()
        self._wake_scheduler = asyncio.Event()
        self._cycles: dict[str, asyncio.Task[SyncFinished]] = {}
        self._planned: dict[str, float] = {}  # the delay a running cycle chose for its next one
        self._stuck_after: dict[str, float] = {}  # monotonic; set once a cycle has its slot
        self._watchdog_every = watchdog_every
        self.overdue: tuple[str, ...] = ()  # as the watchdog last found them
        # Status reads: requests wait in `_pending_refresh`; a repo whose read is under way
        # (`_reading`) waits for it to end, so a hung status holds only its own repo.
        self._pending_refresh: dict[str, list[asyncio.Future[RepoStatus]]] = {}
        self._reading: dict[str, list[asyncio.Future[RepoStatus]]] = {}
        self._wake_refresher = asyncio.Event()
        self._reread_wake: asyncio.TimerHandle | None = None  # see _REREAD_GATHER
        self._last_refusal: dict[str, str] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._watcher: RepoWatcher | None = None
        self._history: History | None = None
        self._fetch_record: dict[str, FetchTimes] = {}  # by repo path, as history kept it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False  # set by begin_stop: no new work starts after it
        self._snapshot_kind = snapshot
        self._snapshot: StatusSnapshot | None = None
        # What the snapshot keeps of each repo: its status as this run last read it, made into
        # the snapshot's row as it comes (a write then joins them, holding the GIL for
        # a millisecond rather than re-encoding 10,000), else as the last run's snapshot knew it.
        self._read_rows: dict[str, str] = {}
        self._known: dict[str, Known] = {}
        self._unsaved: set[str] = set()  # repos read since the last snapshot write
        self._stale: set[str] = set()  # shown from the snapshot, not read again yet
        self._snapshot_due = asyncio.Event()
        # Repos whose latest status was read while the watcher watched them: a change since
        # would have been reported, so a fetch that brings nothing need not read them again.
        self._watched_reads: set[str] = set()
        # When each repo's status was last read by this run (monotonic): a polled repo read
        # moments ago needs no read after a fetch that brings nothing.
        self._read_at: dict[str, float] = {}
        # Statuses read in other threads, waiting for the loop: one wake-up takes all that
        # came meanwhile (one per status cost a loop turn each, 10,000 in a first sweep).
        self._arrivals: list[tuple[RepoStatus, str | None]] = []  # and its snapshot row
        self._arrivals_lock = threading.Lock()
        # Runs each repo's pipeline after its HEAD moves (it listens to SyncFinished).
        self.pipelines = PipelineRunner(self, self._state_dir, environ=environ)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the watch list, start the workers, and begin the first full status sweep."""
        self._loop = asyncio.get_running_loop()
        if self._keep_history:
            try:
                self._history = History(self._state_dir / "history.sqlite3")
                self._fetch_record = self._history.fetch_times()
            except HistoryUnavailable as exc:
                self._history = None
                self._log("warning", f"sync history is off: {exc}")
        await self._show_snapshot()  # the last run's rows, before the watch list is resolved
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
                watch_budget=self._watch_budget,
            )
        self._apply_specs(specs, watch=False)
        known = self._match_snapshot(specs)
        if self._watcher is not None:  # a stat per repo: 0.2 s at 10,000, kept off the loop
            self._watcher.set_repos(await self._in_thread(_watch_map, list(self.specs.values())))
        self.pipelines.start()
        self._tasks = [asyncio.create_task(self._refresher(), name="gitwatch-refresher")]
        first_sweep: list[asyncio.Future[Any]]
        if head_start is not None:  # its child reads them in the same order
            head_start.follow(self._accept_status_threadsafe)
            swept = asyncio.wrap_future(head_start.swept)
            swept.add_done_callback(self._after_head_start)
            first_sweep = [swept]
        else:
            order = await self._in_thread(likely_changed_first, specs, known)
            first_sweep = [self._request_refresh(specs[index].name) for index in order]
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
        if self._config_watch is not None:
            follow = self._config_watch.follow()
            self._tasks.append(asyncio.create_task(follow, name="gitwatch-config"))
        self._tasks.append(asyncio.create_task(self._watchdog(), name="gitwatch-watchdog"))
        self._tasks.append(
            asyncio.create_task(self._after(first_sweep, self._auditor), name="gitwatch-audit")
        )
        if self._snapshot is not None:
            writer = self._snapshot_writer()
            self._tasks.append(asyncio.create_task(writer, name="gitwatch-snapshot"))

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
        # `then` is called only here: a task cancelled before its first step (a daemon that
        # stops right after start) leaves no coroutine that was never awaited.
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

    def unwatched_trees(self) -> frozenset[str]:
        """Repos whose work trees are polled rather than watched (over the inotify budget)."""
        return self._watcher.unwatched_trees() if self._watcher is not None else frozenset()

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
        tasks = [*self._tasks, *self._cycles.values(), *self._status_batches]
        for task in tasks:
            task.cancel()
        if self._reread_wake is not None:
            self._reread_wake.cancel()
        terminate_all()  # git calls in worker threads would otherwise run out their timeouts
        # What waits for a local thread is dropped: a status read begun after terminate_all
        # would read its whole batch (a quit at 10,000 repos waited 0.6-2 s for such reads).
        self._local_pool.shutdown(wait=False, cancel_futures=True)
        self._status_pool.shutdown(wait=False, cancel_futures=True)
        if self._head_start is not None:
            self._head_start.stop()  # a first sweep still under way, in its child process
        await asyncio.gather(*tasks, return_exceptions=True)
        for futures in [*self._pending_refresh.values(), *self._reading.values()]:
            for future in futures:
                future.cancel()  # no read will answer it (a batch cancelled before it began)
        self._network_pool.shutdown(wait=False, cancel_futures=True)
        await self._close_snapshot()
        await asyncio.to_thread(self._local_pool.shutdown, wait=True)  # those under way end
        await asyncio.to_thread(self._status_pool.shutdown, wait=True)
        # Every history write asked for is made before the database is closed.
        await asyncio.to_thread(self._history_pool.shutdown, wait=True)
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
        while self._cycles and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(list(self._cycles.values()), timeout=left)
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
        """Read every repo's status now, as one sweep. The requests are made a few hundred at
        a time, letting the loop turn in between (10,000 at once, and a gather of as many,
        held it, and a key pressed with `r`, for a tenth of a second), and handed to the
        refresher all at once: a wake meanwhile (a batch ending, a single refresh) would
        otherwise send those made so far off in a sweep of their own."""
        loop = asyncio.get_running_loop()
        names: list[str] = list(self.specs)
        reads: list[asyncio.Future[RepoStatus]] = []
        for first in range(0, len(names), _REQUESTS_PER_TURN):
            if first:
                await asyncio.sleep(0)
            reads += [loop.create_future() for _ in names[first : first + _REQUESTS_PER_TURN]]
        pending = self._pending_refresh
        for name, read in zip(names, reads, strict=True):
            pending.setdefault(name, []).append(read)
        self._wake_refresher.set()
        return [await read for read in reads]  # each wakes this once: no O(repos) step

    async def fetch(self, name: str) -> SyncFinished:
        """Fetch now, ahead of scheduled polls; joins a fetch of this repo already running."""
        self._spec(name)
        running = self._cycles.get(name)
        if running is not None:
            return await asyncio.shield(running)
        if not self._may_start():
            return _not_started(name, "fetch")
        return await self._start_cycle(name, manual=True)

    async def fetch_all(self, names: Sequence[str] | None = None) -> list[SyncFinished]:
        """Fetch every repo (or `names`), in order. Only a few more cycles are started than
        the network limit lets run: 10,000 cycles started at once took seconds to start and,
        at a quit, to cancel."""
        names = list(self.specs) if names is None else list(names)
        results: dict[str, SyncFinished] = {}
        await each_in_turn(names, self._fetch_into(results), self.fetch_lanes)
        return [results[name] for name in names]

    def _fetch_into(
        self, results: dict[str, SyncFinished]
    ) -> Callable[[str], Coroutine[Any, Any, None]]:
        async def fetch_one(name: str) -> None:
            results[name] = await self.fetch(name)

        return fetch_one

    @property
    def fetch_lanes(self) -> int:
        """How many fetches a bulk fetch keeps started: the network limit's, twice over, so
        that a slot that frees always has a fetch waiting for it."""
        return 2 * self.config.defaults.fetch_concurrency

    async def pull(
        self, name: str, mode: PullMode = "ff-only", *, expected_upstream: str | None = None
    ) -> PullResult | PullRefusal | SyncFinished:
        """Bring the branch up to its upstream: `ff-only` (default), `rebase` or `merge`.

        With `expected_upstream` (the sha a preview showed) the pull goes to exactly that commit
        and does not fetch; without it (bulk pulls, scripts) it fetches first, and a fetch that
        does not succeed is the answer (a SyncFinished). Whatever could lose work is refused
        with the reason; a merge or rebase that stops on conflicts stays in progress for the
        conflict panel.
        """
        from gitwatch_tui.core.pull import pull  # with its kin, only when used

        if mode not in PULL_MODES:
            raise ValueError(f"unknown pull mode {mode!r}: one of {', '.join(PULL_MODES)}")
        if expected_upstream is None:
            fetched = await self.fetch(name)
            if not fetched.ok:
                return replace(fetched, action="pull")
        return await self._change(
            name, "pull", partial(pull, mode=mode, expected_upstream=expected_upstream)
        )

    # -- reads for the panels: off the loop, no lock (errors are fields of the result) ------

    async def preview_pull(self, name: str, mode: PullMode) -> PullPreview:
        """What a pull in `mode` would bring in and do now, or why it would be refused."""
        from gitwatch_tui.core.pull import preview_pull

        return await self._read(name, partial(preview_pull, mode=mode))

    async def list_branches(self, name: str) -> BranchList:
        """The local and remote-only branches, for the switch panel."""
        from gitwatch_tui.core.switch import list_branches

        return await self._read(name, list_branches)

    async def read_stashes(self, name: str) -> StashList:
        """The stash list with each stash's files, newest first."""
        from gitwatch_tui.core.stash import read_stashes

        return await self._read(name, read_stashes)

    async def stash_diff(self, name: str, ref: str) -> str | StashError:
        """The patch of stash `ref` (a sha or stash@{N})."""
        from gitwatch_tui.core.stash import stash_diff

        return await self._read(name, partial(stash_diff, ref=ref))

    async def read_conflicts(self, name: str) -> ConflictState:
        """The operation in progress and the unmerged files, with a resolved/total count."""
        from gitwatch_tui.core.conflicts import read_conflicts

        return await self._read(name, read_conflicts)

    async def conflict_hunks(self, name: str, path: str) -> ConflictFile:
        """A conflicted file as plain segments and hunks with ours / base / theirs lines."""
        from gitwatch_tui.core.conflicts import conflict_hunks

        return await self._read(name, partial(conflict_hunks, path=path))

    async def reachable_commits(self, name: str, heads: Sequence[str]) -> set[str]:
        """Which of the commits `heads` the repo's remote-tracking refs now reach."""
        return await self._read(name, partial(reachable_commits, shas=heads))

    async def _read(self, name: str, read: Callable[..., T]) -> T:
        """Run `read(spec, timeout=..)` on the repo in the local pool."""
        spec = self._spec(name)
        timeout = self.config.defaults.status_timeout
        return await self._in_thread(read, spec, timeout=timeout)

    # -- changes the user asks for: under the repo's lock, logged with how to undo them --------
    # Each raises UnknownRepo for a repo not watched, and RepoBusy when another gitwatch
    # process still holds the repo after a wait.

    async def switch(self, name: str, branch: str) -> SwitchResult | SwitchRefusal:
        """Switch to `branch` (local, or remote through a new tracking branch); local changes
        that do not meet the switch come along."""
        from gitwatch_tui.core.switch import switch_branch

        return await self._change(name, "switch", partial(switch_branch, name=branch))

    async def stash_and_switch(self, name: str, branch: str) -> SwitchResult | SwitchRefusal:
        """Stash every local change (untracked files too), then switch to `branch`."""
        from gitwatch_tui.core.switch import stash_and_switch

        return await self._change(name, "stash-switch", partial(stash_and_switch, target=branch))

    async def apply_stash(self, name: str, ref: str, *, pop: bool = False) -> StashOutcome:
        """Apply stash `ref` (better its sha: stash@{N} shifts); `pop` drops it once applied
        cleanly. Refused, with nothing changed, where it would meet local changes."""
        from gitwatch_tui.core.stash import apply_stash

        action: Action = "stash-pop" if pop else "stash-apply"
        return await self._change(name, action, partial(apply_stash, ref=ref, pop=pop))

    async def drop_stash(
        self, name: str, ref: str, *, expected_sha: str
    ) -> StashDropped | StashError:
        """Drop stash@{N} if it still is the stash `expected_sha`."""
        from gitwatch_tui.core.stash import drop_stash

        drop = partial(drop_stash, ref=ref, expected_sha=expected_sha)
        return await self._change(name, "stash-drop", drop)

    async def resolve(self, name: str, path: str, side: Side) -> ResolveOutcome:
        """Resolve the whole conflicted file `path` by taking `side`, and stage it."""
        from gitwatch_tui.core.conflicts import resolve_file

        return await self._change(name, "resolve", partial(resolve_file, path=path, side=side))

    async def resolve_hunks(
        self, name: str, path: str, sides: Mapping[int, Side], *, expected_fingerprint: str
    ) -> ResolveOutcome:
        """Resolve the hunks of `path` numbered in `sides`, if the file is still the one read
        (`expected_fingerprint`); every other byte is kept."""
        from gitwatch_tui.core.conflicts import resolve_hunks

        resolve = partial(
            resolve_hunks, path=path, choices=sides, expected_fingerprint=expected_fingerprint
        )
        return await self._change(name, "resolve", resolve)

    async def mark_resolved(self, name: str, paths: Sequence[str]) -> ResolveOutcome:
        """Stage `paths` as resolved (refused for a file that still has conflict markers)."""
        from gitwatch_tui.core.conflicts import mark_resolved

        return await self._change(name, "resolve", partial(mark_resolved, paths=paths))

    async def continue_operation(self, name: str) -> OperationOutcome:
        """Go on with the merge, rebase, cherry-pick, revert or am once nothing is unmerged."""
        from gitwatch_tui.core.conflicts import continue_operation

        return await self._change(name, "continue", continue_operation)

    async def abort_operation(self, name: str) -> OperationOutcome:
        """Abort the operation in progress, or the stash apply that conflicted."""
        from gitwatch_tui.core.conflicts import abort_operation

        return await self._change(name, "abort", abort_operation)

    # -- diffs and the commit log: reads, off the loop like the panels' ----------------------

    async def file_diff(self, name: str, change: FileChange) -> Patch:
        """One changed file's patch (staged, working tree, or untracked), capped."""
        from gitwatch_tui.core.diffs import file_diff

        return await self._read(name, partial(file_diff, change=change))

    async def commit_log(self, name: str, limit: int = 500) -> CommitLog:
        """The graph of HEAD and its upstream, unpushed and unpulled commits marked."""
        from gitwatch_tui.core.commit_log import read_commit_log

        return await self._read(name, partial(read_commit_log, limit=limit))

    async def show_commit(self, name: str, sha: str) -> Patch:
        """One commit's stat and patch, capped."""
        from gitwatch_tui.core.diffs import show_commit

        return await self._read(name, partial(show_commit, sha=sha))

    # -- push -----------------------------------------------------------------------------

    async def preview_push(self, name: str) -> PushPreview:
        """What pushing the current branch would send, or why it would be refused."""
        from gitwatch_tui.core.push import preview_push

        return await self._read(name, preview_push)

    async def push(
        self, name: str, *, set_upstream: str | None = None, force_lease: str | None = None
    ) -> PushResult | PushRefusal:
        """Push the current branch to its upstream; never forced unless `force_lease` is the
        remote sha the user saw (then `--force-with-lease` on it). `set_upstream` names the
        remote for a branch without an upstream (`push -u`). The user's pre-push hook runs."""
        from gitwatch_tui.core.push import push

        run = partial(push, set_upstream=set_upstream, force_lease=force_lease)
        return await self._change(name, "push", run)

    # -- run anywhere -------------------------------------------------------------------------

    def run_command(
        self,
        names: Sequence[str],
        command: str,
        on_progress: Callable[[RepoRun], None] = lambda run: None,
    ) -> CommandRun:
        """`command` (a shell line) in each repo of `names`, at most `run_concurrency` at a
        time; `await run.run()` runs it, and cancelling that ends every command it started.
        Not under the repos' locks: it is the user's own command, as in their shell."""
        targets = [(name, self._spec(name).path) for name in names]
        concurrency = self.config.run_concurrency
        return CommandRun(command, targets, concurrency=concurrency, on_progress=on_progress)

    # -- branches and undo ---------------------------------------------------------------------

    async def preview_delete_branch(self, name: str, branch: str) -> BranchDeletePreview:
        """What deleting `branch` would drop (the commits only it has), or why it may not."""
        from gitwatch_tui.core.branches import preview_delete

        return await self._read(name, partial(preview_delete, name=branch))

    async def create_branch(
        self, name: str, branch: str, *, start: str | None = None, switch: bool = False
    ) -> BranchResult | BranchRefusal:
        """Make `branch` at `start` (HEAD when None; a remote branch is tracked); `switch`
        (from HEAD only) switches to it too."""
        from gitwatch_tui.core.branches import create_branch

        create = partial(create_branch, name=branch, start=start, switch=switch)
        return await self._change(name, "branch-create", create)

    async def delete_branch(
        self, name: str, branch: str, *, expected_sha: str, drop_unmerged: bool = False
    ) -> BranchResult | BranchRefusal:
        """Delete `branch` if still at `expected_sha`; one with commits no other branch has
        only with `drop_unmerged`. Never the current branch."""
        from gitwatch_tui.core.branches import delete_branch

        delete = partial(
            delete_branch, name=branch, expected_sha=expected_sha, drop_unmerged=drop_unmerged
        )
        return await self._change(name, "branch-delete", delete)

    async def rename_branch(self, name: str, old: str, new: str) -> BranchResult | BranchRefusal:
        """Rename branch `old` to `new`; refused when `new` exists or is not a valid name."""
        from gitwatch_tui.core.branches import rename_branch

        return await self._change(name, "branch-rename", partial(rename_branch, old=old, new=new))

    async def preview_undo(self, name: str) -> UndoPreview:
        """What `undo_last` would do now for the repo, or why it would refuse."""
        self._spec(name)
        return await self._in_thread(self._preview_undo, name)

    async def undo_last(self, name: str) -> UndoResult | UndoRefusal:
        """Go back from the last change gitwatch made to the repo, if it has not moved on
        since; recorded in history as "undo", which `u` does not undo in turn."""
        return await self._change(name, "undo", partial(self._undo_stored, name))

    def _preview_undo(self, name: str) -> UndoPreview:
        from gitwatch_tui.core.undo import preview_undo

        stored = self._stored_undo(name)
        if not isinstance(stored, StoredUndo):
            return UndoPreview(None, refusal=stored)
        timeout = self.config.defaults.status_timeout
        return preview_undo(self._spec(name), stored.record, timeout=timeout)

    def _undo_stored(
        self, name: str, spec: RepoSpec, *, timeout: float
    ) -> UndoResult | UndoRefusal:
        """In the worker thread, under the repo's lock: the record read and used at once."""
        from gitwatch_tui.core.undo import undo_change

        stored = self._stored_undo(name)
        if not isinstance(stored, StoredUndo):
            return stored
        result = undo_change(spec, stored.record, timeout=timeout)
        history = self._history
        if isinstance(result, UndoResult) and history is not None:
            self._guarded(partial(history.mark_undone, stored.id), None)
        return result

    def _stored_undo(self, name: str) -> StoredUndo | UndoRefusal:
        """The repo's last undo record not used yet, or the refusal saying there is none."""
        try:
            stored = self._history.last_undo(name) if self._history is not None else None
        except HistoryUnavailable as exc:
            return UndoRefusal.of("error", error=str(exc))
        if stored is None:
            return UndoRefusal.of("nothing")
        if stored.undone:
            return UndoRefusal.of("undone", action=stored.record.action)
        return stored

    def _with_undo(self, spec: RepoSpec, action: Action, run: Callable[[], T]) -> T:
        """Run a change (in a worker thread, under the repo's lock) and keep its way back.
        Keeping it never costs the change: a failure there is logged, the result returned."""
        from gitwatch_tui.core import undo

        timeout = self.config.defaults.status_timeout
        before: dict[str, str] = {}
        if self._history is not None:
            before = self._guarded(partial(undo.before_change, spec, action, timeout=timeout), {})
        result = run()
        history = self._history
        if history is not None:
            record = self._guarded(
                partial(undo.undo_record, spec, action, result, before=before, timeout=timeout),
                None,
            )
            if record is not None:
                self._guarded(partial(history.record_undo, spec.name, record, time.time()), None)
            elif action != "undo" and undo.changed_anything(result):
                # `u` undoes the last change or none: never one from before a push, a continue...
                self._guarded(partial(history.forget_undo, spec.name), None)
        return result

    def _guarded(self, step: Callable[[], T], fallback: T) -> T:
        """`step()`, or `fallback` when it fails: said in the log (from a worker thread)."""
        try:
            return step()
        except HistoryUnavailable as exc:
            self._threadsafe(self._history_failed, exc)
        except Exception as exc:  # a bug in keeping the way back must not lose the change
            self._threadsafe(self._log, "error", f"the way back was not kept: {exc!r}")
        return fallback

    def _threadsafe(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback, *args)

    async def _change(self, name: str, action: Action, operation: Callable[..., C]) -> C:
        """Run `operation(spec, timeout=..)` under the repo's lock, log it to history with its
        undo hint, then read the status again."""
        spec = self._spec(name)
        timeout = self.config.defaults.fetch_timeout
        started = time.monotonic()
        self._set_state(name, phase="syncing")
        if self._watcher is not None:
            self._watcher.suppress(name, timeout + _SUPPRESS_GRACE)
        try:
            run = partial(operation, spec, timeout=timeout)
            change = partial(self._with_undo, spec, action, run)
            result: C = await self._in_thread(self._locked, spec, change, _USER_LOCK_WAIT)
        finally:
            self._set_state(name, phase="idle")
        self._remember(change_finished(name, action, result, time.monotonic() - started))
        await self.refresh(name)
        return result

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

    def _apply_specs(
        self, specs: Sequence[RepoSpec], *, watch: bool = True
    ) -> tuple[list[str], list[str], list[str]]:
        """Make `specs` the watch list; returns the names added, removed and changed. With
        `watch` the watcher is told at once (else the caller tells it, off the loop)."""
        new = {spec.name: spec for spec in specs}
        added = [n for n in new if n not in self.specs]
        removed = [n for n in self.specs if n not in new]
        changed = [n for n in new if n in self.specs and new[n] != self.specs[n]]
        self.specs = new
        for name in removed:
            self._due_at.pop(name, None)
            self.states.pop(name, None)
            self.statuses.pop(name, None)
            self._stale.discard(name)
            # Nor kept for the snapshot, nor trusted as a recent read if it comes back.
            self._read_rows.pop(name, None)
            self._known.pop(name, None)
            self._read_at.pop(name, None)
            self._watched_reads.discard(name)
            task = self._cycles.pop(name, None)
            if task is not None:
                task.cancel()
            self.events.publish(StatusRemoved(name))
        now = time.time()
        for name in added:
            # Spread the first polls over one interval so 1,000 repos do not fetch at once;
            # a repo still to be cloned goes first. No event per repo while a list loads.
            first = 0.0 if _needs_clone(new[name]) else self._next_poll(name, True)
            self.states[name] = self._first_state(new[name], next_attempt=now + first)
            self._enqueue(name, first)
        for name in changed:
            if name not in self._cycles:  # a running cycle schedules the next itself
                self._schedule(name, self._next_poll(name, True))
        if watch:
            self._update_watcher()
        return added, removed, changed

    def _update_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.set_repos(_watch_map(self.specs.values()))

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
        """Make `delay` from now the repo's one next attempt (none while a cycle runs: its end
        schedules the next), and say so in its state."""
        if not self._enqueue(name, delay):
            return
        state = self.states.get(name)
        if state is not None:
            self._publish_state(replace(state, next_attempt=time.time() + max(0.0, delay)))

    def _enqueue(self, name: str, delay: float) -> bool:
        """Put the repo's next attempt `delay` from now in the scheduler's queue; False when
        it takes none now (not watched, a cycle runs, or stopping)."""
        if name not in self.specs or name in self._cycles or self._stopping:
            return False
        when = time.monotonic() + max(0.0, delay)
        self._due_at[name] = when
        heapq.heappush(self._due, (when, next(self._seq), name))
        self._wake_scheduler.set()
        return True

    async def _scheduler(self) -> None:
        while True:
            now = time.monotonic()
            while self._due and self._due[0][0] <= now:
                when, _, name = heapq.heappop(self._due)
                if self._due_at.get(name) != when or name in self._cycles:
                    continue  # superseded or removed
                try:
                    self._start_cycle(name, manual=False)
                except Exception as exc:  # never let one repo end the scheduler
                    self._log("error", f"could not start a poll: {exc!r}", name)
            self._wake_scheduler.clear()
            # A timer rather than wait_for: Python 3.11's wait_for can lose a cancellation
            # that arrives as its timeout fires, and stop() would then wait forever.
            loop = asyncio.get_running_loop()
            wake = self._due[0][0] - now if self._due else None
            timer = loop.call_later(wake, self._wake_scheduler.set) if wake is not None else None
            try:
                await self._wake_scheduler.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    def _start_cycle(self, name: str, *, manual: bool) -> asyncio.Task[SyncFinished]:
        """Run one poll cycle of the repo now: fetch, status, auto-sync, tag deploy."""
        self._due_at.pop(name, None)  # its heap entry is now stale: the cycle's end reschedules
        self._planned.pop(name, None)
        task = asyncio.create_task(self._cycle(name, manual), name=f"poll {name}")
        self._cycles[name] = task
        task.add_done_callback(partial(self._cycle_ended, name))
        return task

    async def _cycle(self, name: str, manual: bool) -> SyncFinished:
        try:
            return await self._fetch(name, manual)
        except Exception as exc:  # a bug or a broken environment: this repo's error, retried
            return self._cycle_failed(name, exc)
        finally:
            self._stuck_after.pop(name, None)

    def _cycle_failed(self, name: str, exc: Exception) -> SyncFinished:
        error = f"internal error: {exc!r}"
        self._log("error", f"poll failed: {error}", name)
        state = self.states.get(name, SyncState(repo=name))
        failures = state.failures + 1
        self._planned[name] = delay = retry_delay(failures, self._retry, self._rng)
        self._publish_state(
            replace(
                state, phase="backoff", failures=failures, last_error=error,
                next_attempt=time.time() + delay,
            )
        )  # fmt: skip
        finished = SyncFinished(name, "fetch", ok=False, error=error)
        self._remember(finished)
        return finished

    def _cycle_ended(self, name: str, task: asyncio.Task[SyncFinished]) -> None:
        """Whatever ended the cycle (success, refusal, error, cancellation), the repo gets its
        next attempt, unless it is no longer watched or the engine is stopping."""
        if not task.cancelled():
            task.exception()  # retrieved: `_cycle` turns every Exception into a result
        if self._cycles.get(name) is not task:
            return  # the repo was removed (and maybe added again: its new cycle is not ours)
        del self._cycles[name]
        delay = self._planned.pop(name, None)
        if delay is None:  # cancelled before it chose: the normal interval
            delay = self._next_poll(name)
        state = self.states.get(name)
        if state is not None and state.phase in ("fetching", "cloning"):
            self._set_state(name, phase="idle")  # a cancelled fetch is not still fetching
        self._schedule(name, delay)

    # -- liveness watchdog --------------------------------------------------------------------

    def next_attempt(self, name: str) -> float | None:
        """When the repo's next attempt is due (Unix time); None while a cycle runs."""
        when = self._due_at.get(name)
        return None if when is None else time.time() + (when - time.monotonic())

    def find_overdue(self) -> list[str]:
        """Repos breaking the liveness invariant now: not running and not scheduled, scheduled
        but overdue by more than their timeouts, or holding a fetch slot past their git
        timeouts. A cycle still waiting for a fetch slot counts as running."""
        defaults = self.config.defaults
        slack = defaults.fetch_timeout + defaults.status_timeout
        now = time.monotonic()
        overdue = []
        for name in list(self.specs):
            if name in self._cycles:
                stuck_after = self._stuck_after.get(name)
                if stuck_after is not None and now > stuck_after:
                    overdue.append(name)
            elif (when := self._due_at.get(name)) is None or now > when + slack:
                overdue.append(name)
        return overdue

    async def _watchdog(self) -> None:
        """Check the liveness invariant now and then; report a violation as an error (and in
        /healthz and /metrics), and give a repo with no next attempt one."""
        while True:
            await asyncio.sleep(self._watchdog_every)
            found = tuple(self.find_overdue())
            for name in found:
                if name not in self.overdue:
                    self._log("error", "watchdog: no poll under way or due in time", name)
                if name not in self._cycles and name not in self._due_at:
                    self._schedule(name, 0.0)
            if self.overdue and not found:
                self._log("info", "watchdog: every repo is being polled again")
            self.overdue = found

    def _cycle_budget(self, cloning: bool) -> float:
        """How long a cycle may hold its slot: its fetch, status reads and two syncs."""
        defaults = self.config.defaults
        fetch = defaults.clone_timeout if cloning else defaults.fetch_timeout
        return fetch + 2 * defaults.fetch_timeout + 3 * defaults.status_timeout + _STUCK_SLACK

    # -- fetch --------------------------------------------------------------------------------

    async def _fetch(self, name: str, manual: bool) -> SyncFinished:
        spec = self._spec(name)
        if spec.url is None and not spec.path.exists():
            # Nothing to fetch and nothing to clone from: its status row says what is wrong.
            self._planned[name] = self._interval(name)
            return SyncFinished(name, "fetch", ok=False, error="path does not exist")
        held = self._holding_breaker(name)
        # A key press is a deliberate probe; scheduled polls respect an open circuit.
        if not manual and held is not None and not held.allow():
            retry_at = held.retry_at() or time.monotonic() + self._retry.breaker_cooldown
            self._planned[name] = retry_at - time.monotonic()
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
            self._stuck_after[name] = time.monotonic() + self._cycle_budget(cloning)
            self._set_state(name, phase="cloning" if cloning else "fetching")
            defaults = self.config.defaults
            timeout = defaults.clone_timeout if cloning else defaults.fetch_timeout
            if self._watcher is not None and cloning:
                self._watcher.suppress(name, timeout + _SUPPRESS_GRACE)
            operation = partial(clone if cloning else fetch, spec, timeout=timeout)
            try:
                outcome = await self._in_thread(self._locked, spec, operation, pool="network")
            except RepoBusy as busy:
                self._set_state(name, phase="busy")
                self._planned[name] = min(_BUSY_RETRY, self._interval(name))
                return SyncFinished(name, "fetch", ok=False, error=str(busy))
        if self._watcher is not None and not cloning and outcome.refs_changed:
            # The refs it wrote, still on their way from the watcher, are not news: the status
            # is read below. Not suppressed from the start, so what the user did while it ran
            # is seen (a fetch that brings nothing writes only FETCH_HEAD, which is not watched).
            self._watcher.suppress(name, _SUPPRESS_GRACE)
        finished = self._after_fetch(name, outcome, "clone" if cloning else "fetch")
        if cloning and outcome.error is None:
            self._update_watcher()  # the work tree exists now
        if name in self.specs:
            status = await self._status_after_fetch(name, outcome)
            # Nothing to bring in unless behind: no lock, no events, no git call.
            if outcome.error is None and spec.auto_sync != "off" and status.behind:
                await self._sync(spec, partial(auto_sync, spec, status), automatic=True)
            if outcome.error is None and spec.follow_tag:
                deploy = partial(deploy_tag, spec, status)
                await self._sync(spec, deploy, automatic=True, action="deploy-tag")
        return finished

    def _holding_breaker(self, name: str) -> CircuitBreaker | None:
        """The open breaker that holds this repo back (its own first), if any."""
        own = self._repo_breakers.get(name)
        if own.state != "closed":
            return own
        key = self._breaker_keys.get(name)
        server = self._server_breakers.get(key) if key is not None else None
        return server if server is not None and server.state != "closed" else None

    def _only_repo_on(self, key: str) -> bool:
        """Is this the server's only watched repo? Known once every repo has reached its
        remote (until then a repo not polled yet may share it)."""
        keys = self._breaker_keys
        if any(name not in keys for name in self.specs):
            return False
        return sum(1 for name in self.specs if keys[name] == key) == 1

    def _record_breakers(self, name: str, outcome: FetchOutcome) -> bool:
        """Feed the outcome to the repo's and its server's breakers; True when either is open.

        The server's breaker hears only failures that say the server is unwell, and successes.
        An authentication failure holds the repo at once and never touches its neighbours; a
        repo's other failures (404, corruption, locks) only back that repo off."""
        if outcome.url is not None:
            # One breaker per server; local remotes have no server, so one each.
            url_key = breaker_key(outcome.url)
            self._breaker_keys[name] = outcome.url if url_key == "local" else url_key
        own = self._repo_breakers.get(name)
        key = self._breaker_keys.get(name)
        server = self._server_breakers.get(key) if key is not None else None
        if outcome.error is None:
            own.record_success()
        elif outcome.auth_failed:
            own.record_failure(outcome.error, auth=True)
        if server is not None:
            if outcome.error is None and not outcome.no_remote:
                server.record_success()
            elif outcome.error is not None and outcome.server_down:
                sole = key is not None and self._only_repo_on(key)
                server.record_failure(outcome.error, repo=name, sole=sole)
        return own.state == "open" or (server is not None and server.state == "open")

    def _after_fetch(self, name: str, outcome: FetchOutcome, action: Action) -> SyncFinished:
        """Record a fetch's outcome: breakers, back-off, the next poll's delay, history, events."""
        circuit_open = self._record_breakers(name, outcome)
        state = self.states.get(name, SyncState(repo=name))
        if outcome.no_remote:
            # A local-only repo: nothing to fetch, no failure (nothing read unless unwatched).
            delay = self._next_poll(name)
            new_state = replace(state, phase="idle", last_error=None, next_attempt=None)
        elif outcome.error is None:
            delay = self._next_poll(name)
            new_state = SyncState(
                repo=name, last_success=time.time(), next_attempt=time.time() + delay
            )
        else:
            failures = state.failures + 1
            delay = retry_delay(failures, self._retry, self._rng)
            held = self._holding_breaker(name) if circuit_open else None
            if held is not None:
                delay = max(delay, (held.retry_at() or 0) - time.monotonic())
            new_state = replace(
                state,
                phase="circuit-open" if circuit_open else "backoff",
                failures=failures,
                next_attempt=time.time() + delay,
                last_error=outcome.error,
                auth_failed=outcome.auth_failed,
                circuit_open=circuit_open,
                last_failure=time.time(),
            )
        if name in self.specs:
            self._planned[name] = delay
            self._publish_state(new_state)
            self._record_fetch(name, new_state, outcome)
        finished = SyncFinished(
            name, action, ok=outcome.error is None, duration=outcome.duration, error=outcome.error,
            detail=NO_REMOTE if outcome.no_remote else None,
        )  # fmt: skip
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
            change = partial(self._with_undo, spec, action, partial(operation, timeout=timeout))
            result = await self._in_thread(self._locked, spec, change)
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
                error=result.trouble,  # what failed after HEAD had moved
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
        """Read pending repos in batches: one shell-loop sweep serves many requests.

        Batches run side by side, and each request is answered as its repo's status arrives,
        so a repo whose status hangs (until `status_timeout`) holds back no other repo. A
        repo is read by one batch at a time; a request made while it is being read waits
        for the next batch (the files may have changed since that read began)."""
        batches = self._status_batches
        while True:
            await self._wake_refresher.wait()
            self._wake_refresher.clear()
            ready = [name for name in self._pending_refresh if name not in self._reading]
            if not ready:
                continue
            owned = {name: self._pending_refresh.pop(name) for name in ready}
            self._reading.update(owned)
            batch = asyncio.create_task(self._read_batch(owned), name="gitwatch-status")
            batches.add(batch)
            batch.add_done_callback(batches.discard)

    async def _read_batch(self, owned: dict[str, list[asyncio.Future[RepoStatus]]]) -> None:
        specs = [self.specs[name] for name in owned if name in self.specs]
        self._note_watched_reads(owned)
        defaults = self.config.defaults
        try:
            await self._in_thread(
                partial(
                    collect_statuses,
                    specs,
                    jobs=defaults.status_loops(),
                    timeout=defaults.status_timeout,
                    # Each status is shown as it arrives: the first sweep shows progress.
                    on_status=self._accept_status_threadsafe,
                ),
                pool="status",
            )
        except Exception as exc:  # a bug must not stop every future refresh
            self._log("error", f"status refresh failed: {exc!r}")
        finally:
            await asyncio.sleep(0)  # let the call_soon_threadsafe callbacks run first
            for name, futures in owned.items():
                if self._reading.get(name) is futures:
                    del self._reading[name]
                self._answer(name, futures)
            if any(name in self._pending_refresh for name in owned):
                self._wake_refresher.set()  # requests that waited for this read

    def _answer(self, name: str, futures: list[asyncio.Future[RepoStatus]]) -> None:
        for future in futures:
            if future.done():
                continue
            if name in self.statuses:
                future.set_result(self.statuses[name])
            else:  # removed from the watch list meanwhile
                future.cancel()

    def _accept_status_threadsafe(self, status: RepoStatus) -> None:
        """Called in the thread that read the status. What can be made of it is made there:
        the engine's fetch times copied in, and its snapshot row. At 10,000 repos that was a
        fifth of the loop's work during a refresh, and a key pressed waited for it; the loop
        only checks that the fetch times still hold."""
        assert self._loop is not None
        status = self._with_fetch_times(status)
        arrival = (status, self._snapshot_row(status))
        with self._arrivals_lock:
            self._arrivals.append(arrival)
            if len(self._arrivals) > 1:  # a wake-up is on its way and will take this one
                return
        self._loop.call_soon_threadsafe(self._accept_arrivals)

    def _accept_arrivals(self) -> None:
        with self._arrivals_lock:
            arrived, self._arrivals = self._arrivals, []
        for status, row in arrived:
            self._accept_status(status, row)

    def _accept_status(self, status: RepoStatus, row: str | None = None) -> None:
        if status.name not in self.specs:
            return
        self._read_at[status.name] = time.monotonic()
        with_times = self._with_fetch_times(status)
        if with_times is not status:  # a fetch ended after the status was read
            status, row = with_times, None
        changed = self.statuses.get(status.name) != status
        if changed:
            self.statuses[status.name] = status
            self.events.publish(StatusChanged(status))
        self._keep_in_snapshot(status, changed, row)
        # Answered now, not when the batch's slowest repo is done; a request that waited for
        # this read can start its own.
        self._answer(status.name, self._reading.pop(status.name, []))
        if status.name in self._pending_refresh and self._reread_wake is None:
            assert self._loop is not None
            self._reread_wake = self._loop.call_later(_REREAD_GATHER, self._wake_for_rereads)

    def _wake_for_rereads(self) -> None:
        self._reread_wake = None
        self._wake_refresher.set()

    def _on_files_changed(self, names: set[str]) -> None:
        for name in names:
            if name in self.specs:
                self._request_refresh(name)

    # -- config hot reload --------------------------------------------------------------------

    async def reload_config(self) -> bool:
        """Re-read the config file once it has settled (SIGHUP), and search the `scan:` folders
        again even if it is unchanged; a bad one is reported and the last good one kept. Not
        once stopping (False)."""
        if self._config_watch is None or not self._may_start():
            return False
        return await self._config_watch.reload()

    async def scan_folders(self, folders: Sequence[Path]) -> tuple[str, ...]:
        """Watch the repos under these folders instead (the dashboard's folder picker, when
        nothing named any repos), grouped by their first folder; the warnings of the search."""
        roots = tuple(ScanRoot(path=folder, group_by_folder=True) for folder in folders)
        config = replace(self.config, repos=(), scan=roots)
        specs, warnings = await self._in_thread(resolve_repos, config.repos, config.scan)
        self.config = config
        added, removed, changed = self._apply_specs(specs)
        for name in (*added, *changed):
            self._request_refresh(name)
        self.events.publish(ConfigReloaded(config, tuple(added), tuple(removed), tuple(changed)))
        return tuple(warnings)

    @property
    def following_config(self) -> bool:
        """True once changes to the config file are being watched."""
        return self._config_watch is not None and self._config_watch.watching

    async def _apply_config(self, read: ConfigRead) -> bool:
        """Apply a settled read of the config file, unless it is bad or lists no repos."""
        try:
            config = await self._in_thread(read.load)
            specs, warnings = await self._in_thread(resolve_repos, config.repos, config.scan)
            for warning in warnings:
                self._log("warning", warning)
            refuse_no_repos(config, specs)
        except ConfigFileError as exc:
            self.events.publish(ConfigError(str(exc)))
            self._log("error", f"config not reloaded, keeping the last good one:\n{exc}")
            return False
        self.config = config
        self._network.set_limit(config.defaults.fetch_concurrency)
        added, removed, changed = self._apply_specs(specs)
        for name in (*added, *changed):
            self._request_refresh(name)
        self.events.publish(ConfigReloaded(config, tuple(added), tuple(removed), tuple(changed)))
        return True

    # -- the status snapshot, the read after a fetch, and the audit ---------------------------

    async def _show_snapshot(self) -> None:
        """Open this watch list's snapshot and show every status it knows, each marked as of
        when it was read, until the repo is read again (or the watch list, once resolved, turns
        out not to hold it any more: `_match_snapshot`)."""
        if self._snapshot_kind is None:
            return
        path = self._state_dir / SNAPSHOT_FILENAME
        key = snapshot_key(self._snapshot_kind, self.config)
        try:
            snapshot = await self._in_thread(StatusSnapshot, path, key)
        except (OSError, sqlite3.Error) as exc:
            self._log("warning", f"status snapshot is off: {exc}")
            return
        self._snapshot = snapshot
        for warning in snapshot.warnings:
            self._log("warning", warning)
        try:
            known = await self._in_thread(snapshot.load)
        except sqlite3.Error as exc:
            self._log("warning", f"status snapshot {path} could not be read: {exc}")
            return
        for name, seen in known.items():
            if name not in self.statuses:
                status = self._with_recorded_fetch_times(seen.status)
                self.statuses[name] = status
                self._stale.add(name)
                self._known[name] = seen  # kept as it is known until the repo is read again
                self.events.publish(StatusChanged(status))

    def _match_snapshot(self, specs: Sequence[RepoSpec]) -> dict[str, Known]:
        """What the snapshot knows of the watch list now resolved: its rows of repos no longer
        watched (or now at another path) go, those regrouped are shown in their new group."""
        matched = matching({name: self._known[name] for name in self._stale}, specs)
        for name in list(self._stale):
            seen = matched.get(name)
            if seen is None:
                self._stale.discard(name)
                self._known.pop(name, None)
                self.statuses.pop(name, None)
                self.events.publish(StatusRemoved(name))
            elif seen.status.group != self.statuses[name].group:
                self._known[name] = seen
                self.statuses[name] = status = replace(self.statuses[name], group=seen.status.group)
                self.events.publish(StatusChanged(status))
        return matched

    def _with_recorded_fetch_times(self, status: RepoStatus) -> RepoStatus:
        """The status with the fetch times history has for its path (before the watch list,
        and with it the repos' sync states, is known)."""
        known = self._fetch_record.get(status.path) or _NEVER_FETCHED
        if (status.last_fetch, status.last_fetch_failed) == (
            known.last_success,
            known.last_failure,
        ):
            return status
        return replace(status, last_fetch=known.last_success, last_fetch_failed=known.last_failure)

    @property
    def unread(self) -> int:
        """How many repos have no status read by this run yet (none, or the snapshot's)."""
        return len(self.specs) - len(self.statuses) + len(self._stale)

    def _snapshot_row(self, status: RepoStatus) -> str | None:
        """The status as the snapshot keeps it, if it keeps it (one read this run)."""
        if self._snapshot is None or status.as_of is not None:
            return None
        return snapshot_row(Known(status, time.time()))

    def _keep_in_snapshot(self, status: RepoStatus, changed: bool, row: str | None) -> None:
        self._stale.discard(status.name)
        if self._snapshot is not None and status.as_of is None:
            self._read_rows[status.name] = row or snapshot_row(Known(status, time.time()))
            self._known.pop(status.name, None)
            self._unsaved.add(status.name)
            # A status read again unchanged (the audit's, mostly) goes with the next write or
            # the one at stop: each write is the whole list's, 10,000 rows at 10,000 repos.
            if changed:
                self._snapshot_due.set()

    async def _snapshot_writer(self) -> None:
        """Write the statuses read to the snapshot in batches: at most every SNAPSHOT_EVERY
        seconds, and not at all while nothing is read."""
        while True:
            await self._snapshot_due.wait()
            await asyncio.sleep(SNAPSHOT_EVERY)
            self._snapshot_due.clear()
            await self._save_snapshot()

    async def _save_snapshot(self) -> None:
        snapshot, unsaved = self._snapshot, self._unsaved
        self._unsaved = set()
        if snapshot is None or self._snapshot_kind is None or not unsaved:
            return
        # The watch list may have changed (a reload, the folder picker): the next start's key.
        snapshot.key = snapshot_key(self._snapshot_kind, self.config)
        read, known = self._read_rows, self._known
        rows = [
            read[name] if name in read else snapshot_row(known[name])
            for name in self.specs
            if name in read or name in known
        ]
        try:
            # Off the loop (it may wait for a lock), and not behind the local threads' queue,
            # which stop drops before the last write.
            await asyncio.to_thread(snapshot.save_rows, rows)
        except sqlite3.Error as exc:
            if self._snapshot is snapshot:  # say it once, then run without a snapshot
                self._snapshot = None
                self._log("warning", f"status snapshot is off: {exc}")

    async def _close_snapshot(self) -> None:
        """Write what was read since the last write, then close the file."""
        snapshot = self._snapshot
        await self._save_snapshot()
        self._snapshot = None
        if snapshot is not None:
            await asyncio.to_thread(snapshot.close)

    def _watches(self, name: str) -> bool:
        """Whether a change to the repo's files would be reported now: the watcher is up and
        watches its work tree (not only its git dir)."""
        watcher = self._watcher
        if watcher is None or not watcher.watching or watcher.polling_fallback:
            return False
        return name not in watcher.unwatched_trees()  # over the watch budget

    def _note_watched_reads(self, names: Iterable[str]) -> None:
        for name in names:
            if self._watches(name):
                self._watched_reads.add(name)
            else:
                self._watched_reads.discard(name)

    async def _status_after_fetch(self, name: str, outcome: FetchOutcome) -> RepoStatus:
        """The status after a fetch: read again, unless the fetch updated no ref and the last
        read still holds (`_read_still_holds`); then the same status, with the fetch's time."""
        current = self.statuses.get(name)
        if (
            outcome.refs_changed
            or current is None
            or current.as_of is not None
            or not self._read_still_holds(name)
        ):
            return await self.refresh(name)
        status = self._with_fetch_times(current)
        if status != current:
            self.statuses[name] = status
            self.events.publish(StatusChanged(status))
        return status

    def _read_still_holds(self, name: str) -> bool:
        """Whether the repo's last status read tells its local state after a fetch that
        brought nothing: the watcher has watched it since (it would have reported a change),
        or its tree is polled and the read is less than half a poll interval old (a poll's
        fetch reads it again; a key's, a webhook's or a fetch-all's right after a read does
        not: 10,000 reads would double a fetch-all's work)."""
        if name in self._watched_reads and self._watches(name):
            return True
        read_at = self._read_at.get(name)
        return read_at is not None and time.monotonic() - read_at < self._interval(name) / 2

    async def _auditor(self) -> None:
        """Re-read every repo once per `audit_period`, a few at a time spread evenly over
        it (what the watcher missed, or could not see, shows within one period). Each step
        waits until the reads asked for are done: the audit never holds one up."""
        while True:
            names = list(self.specs)
            step, per_step = audit_pace(len(names), self.config.defaults.audit_period)
            if not names:
                await asyncio.sleep(step)
                continue
            for first in range(0, len(names), per_step):
                await asyncio.sleep(step)
                await self._reads_done()
                chunk = [name for name in names[first : first + per_step] if name in self.specs]
                reads = [self._request_refresh(name) for name in chunk]
                await asyncio.gather(*reads, return_exceptions=True)

    async def _reads_done(self) -> None:
        """Return once no status read is asked for or under way (checked now and then: only
        the audit waits for it)."""
        while True:
            if not (self._pending_refresh or self._reading):
                return
            await asyncio.sleep(_AUDIT_STEP)

    # -- helpers ------------------------------------------------------------------------------

    def _spec(self, name: str) -> RepoSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownRepo(name)
        return spec

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
        written = self._history_pool.submit(self._history.record, entry)
        written.add_done_callback(self._history_written)

    # -- the fetch record: what "Fetched" shows, kept in history so it survives a restart ------

    def _first_state(self, spec: RepoSpec, next_attempt: float) -> SyncState:
        if not self._fetch_record:  # nothing fetched yet (nor a path made a string for it)
            return SyncState(spec.name, next_attempt=next_attempt)
        known = self._fetch_record.get(str(spec.path)) or _NEVER_FETCHED
        return SyncState(
            spec.name,
            next_attempt=next_attempt,
            last_success=known.last_success,
            last_failure=known.last_failure,
        )

    def _record_fetch(self, name: str, state: SyncState, outcome: FetchOutcome) -> None:
        """Keep a fetch's outcome in history's fetch record (a repo without remotes has none)."""
        if self._history is None or outcome.no_remote:
            return
        ok = outcome.error is None
        when = (state.last_success if ok else state.last_failure) or time.time()
        path = str(self.specs[name].path)
        record = partial(self._history.record_fetch, path, ok=ok, when=when, error=outcome.error)
        self._history_pool.submit(record).add_done_callback(self._history_written)

    def _with_fetch_times(self, status: RepoStatus) -> RepoStatus:
        """The status with the engine's fetch times: reading a repo cannot tell them."""
        state = self.states.get(status.name)
        if state is None or (
            status.last_fetch == state.last_success
            and status.last_fetch_failed == state.last_failure
        ):  # (a copy costs 13 µs: a first sweep reads 10,000 repos never fetched yet)
            return status
        return replace(status, last_fetch=state.last_success, last_fetch_failed=state.last_failure)

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

    def _locked(self, spec: RepoSpec, operation: Callable[[], T], wait: float = HOLD_WAIT) -> T:
        """Run `operation` holding the repo's cross-process lock (raises RepoBusy when it is
        still taken after `wait` seconds); called in a worker thread, so the lock's file work
        stays off the event loop."""
        with RepoLock(self._state_dir, spec.path).hold(wait):
            return operation()

    async def _in_thread(
        self,
        func: Callable[..., T],
        *args: Any,
        pool: Literal["local", "network", "status"] = "local",
        **kwargs: Any,
    ) -> T:
        executor = {
            "local": self._local_pool,
            "network": self._network_pool,
            "status": self._status_pool,
        }[pool]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, partial(func, *args, **kwargs))

    @property
    def history(self) -> History | None:
        return self._history


def change_finished(
    name: str, action: Action, result: ChangeResult | Refusal, duration: float
) -> SyncFinished:
    """The history entry of a user's change: a refusal with its reason, or a change that ran
    with its heads, its message and how to undo it (one that stopped on conflicts is not
    done yet)."""
    message = result.message or None
    if isinstance(result, Refusal):
        return SyncFinished(
            name, action, ok=False, duration=duration, error=message, detail=result.reason
        )
    undo = result.undo or None
    parts = (message if result.ok else None, f"undo: {undo}" if undo else None)
    return SyncFinished(
        name, action, ok=result.ok, duration=duration, error=None if result.ok else message,
        old_head=result.old_head, new_head=result.new_head,
        detail=" · ".join(part for part in parts if part) or None,
    )  # fmt: skip


def _not_started(name: str, action: Action) -> SyncFinished:
    """The answer for work asked for once the engine is stopping (not an event, not history)."""
    return SyncFinished(name, action, ok=False, error="not started: gitwatch is stopping")


_NEVER_FETCHED = FetchTimes()  # what history knows of a repo it has no fetch of


def _watch_map(specs: Iterable[RepoSpec]) -> dict[str, tuple[Path | None, Path]]:
    """What the watcher watches of each repo: its folder and its git dir."""
    return {
        spec.name: (spec.path, RepoPaths.of(spec.path, bare=spec.bare).git_dir) for spec in specs
    }


def _needs_clone(spec: RepoSpec) -> bool:
    """A configured repo with a URL and nothing on disk yet is cloned, not fetched."""
    return spec.url is not None and not spec.path.exists()
