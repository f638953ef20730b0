"""Tell the engine, within about a second, which watched repositories changed on disk.

One session covers the work trees and git dirs of every repo. The OS watches live in a child
process (`watch_worker`), which sends back batches of changed paths; here they are mapped to
repo names and coalesced, so a burst of changes to a repo is reported `debounce` seconds after
it starts and once more when it ends. A new repo set starts a new session before the old one
stops, so no event falls into the gap. When the OS refuses the watches (inotify limits) the
watcher says so once and sets `polling_fallback`; the engine then polls.

Watches at scale: git dirs are always watched, work trees as the inotify budget allows (what
`max_user_watches` leaves free, less a reserve), the most recently active first (by the mtime of
the git dir's index, HEAD and HEAD reflog). `unwatched_trees()` names the repos whose trees did
not fit: the engine re-reads those after every poll.

Why a process: adding ~20,000 inotify watches for 1,000 repos takes the better part of a
second of CPU, and `watchfiles` does it holding the GIL, which froze the event loop (and the
dashboard on it) for 1.5-2.5 s. In a thread, a Python walk would still take the GIL back from
the loop every 5 ms, and so would parsing the events of a big checkout. The child also watches
less: not a git dir's `objects/` and reflogs, nor folders the work-tree filter ignores.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchfiles import Change, DefaultFilter

Repos = Mapping[str, tuple[Path | None, Path]]  # name -> (work tree or None if bare, git dir)
WatchFn = Callable[..., AsyncIterator[set[tuple[Change, str]]]]

# In a git dir only these change what status shows; objects/, logs/ and *.lock churn on every
# command. Per-worktree names live in a worktree's own git dir, shared ones in the common dir.
# watch_worker.GIT_DEEP and GIT_SHALLOW must cover the folders of all of them (a test checks).
# FETCH_HEAD is not one: a fetch that brings nothing writes it and changes nothing shown.
_OWN = frozenset({"HEAD", "index", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG"})
_OWN_DIRS = frozenset({"rebase-merge", "rebase-apply"})
_SHARED = frozenset({"refs", "packed-refs", "config"})  # config: `branch -u` moves the upstream
_STASH_LOG = ["logs", "refs", "stash"]  # `git stash drop stash@{1}` rewrites only the reflog
_BATCH_MS, _STEP_MS, _TICK_MS = 100, 50, 100
_RECHECK = 2.0  # seconds between looks for repo folders that are missing
_MAX_WAIT = 2.0  # a repo that never stops changing is still reported this often
_LIMITS = {"max_user_watches": "watch", "max_user_instances": "instance"}
_POLLING = "local changes are picked up every poll instead"
_WORKER = "gitwatch_tui.engine.watch_worker"
_BACKEND = "inotify" if sys.platform.startswith("linux") else "watchfiles"
_IDLE_TICK = 1.0  # seconds: how often a quiet worker's session looks for missing folders
_LINE_LIMIT = 1 << 24  # bytes; the worker sends at most 1,000 paths a line
_RESERVE = 0.1  # of max_user_watches, left for editors and other tools however many repos
_ACTIVITY = ("index", "HEAD", os.path.join("logs", "HEAD"))  # what a commit, add or switch touches


def _git_kind(rel: str) -> str | None:
    """'own', 'shared' or None (ignored) for a path relative to a git dir."""
    parts = rel.split(os.sep)
    if parts[-1].endswith(".lock"):
        return None
    if (parts[0] in _OWN and len(parts) == 1) or parts[0] in _OWN_DIRS:
        return "own"
    if parts[0] in _SHARED or parts[:3] == _STASH_LOG:
        return "shared"
    return None


def _common_dir(git_dir: str) -> str:
    """Where refs live: a linked worktree's git dir names it in its `commondir` file."""
    try:
        rel = Path(git_dir, "commondir").read_text().strip()
    except OSError:
        return git_dir
    return os.path.realpath(os.path.join(git_dir, rel))


def _limit(exc: BaseException) -> str | None:
    """The inotify sysctl `exc` ran into: ENOSPC from inotify_add_watch, EMFILE from
    inotify_init1. watchfiles words them "OS file watch limit reached" (an OSError) and
    "Too many open files (os error 24)" (a RuntimeError)."""
    code, text = getattr(exc, "errno", None), str(exc)
    if code == errno.ENOSPC or "watch limit" in text or "os error 28" in text:
        return "max_user_watches"
    if code == errno.EMFILE or "os error 24" in text or "Too many open files" in text:
        return "max_user_instances"
    return None


def _sysctl(name: str) -> str:
    try:
        return Path("/proc/sys/fs/inotify", name).read_text().strip()
    except OSError:
        return "?"


def _watches_in_use() -> int:
    """The inotify watches this user's processes hold (those /proc lets us read)."""
    held = 0
    for pid in filter(str.isdigit, _listdir("/proc")):
        for fd in _listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                    held += info.count("inotify wd:")
    return held


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def inotify_budget(own: int = 0) -> int | None:
    """How many watches a new session may add: `max_user_watches` less those held by other
    processes (`own`: held by our current session, which the new one replaces) and a reserve;
    None when there is no such limit to read (not Linux)."""
    try:
        limit = int(_sysctl("max_user_watches"))
    except ValueError:
        return None
    others = max(0, _watches_in_use() - own)
    return max(0, limit - others - int(limit * _RESERVE))


def _activity(git_dir: Path) -> float:
    """When a repo was last used, as its git dir's index, HEAD and HEAD reflog tell."""
    times = [0.0]
    for name in _ACTIVITY:
        with contextlib.suppress(OSError):
            times.append(os.stat(os.path.join(git_dir, name)).st_mtime)
    return max(times)


@dataclass(slots=True)
class _Root:
    """The repos a folder is the work tree, git dir or common (refs) dir of."""

    tree: set[str] = field(default_factory=set)
    own: set[str] = field(default_factory=set)
    shared: set[str] = field(default_factory=set)


class RepoFilter(DefaultFilter):
    """Maps changed paths to repos: work trees keep DefaultFilter's ignores, git dirs keep only
    HEAD, index, refs and the files of an operation in progress."""

    def __init__(self, repos: Repos) -> None:
        super().__init__()
        self.roots: dict[str, _Root] = {}
        self._git_dirs = {name: git_dir for name, (_, git_dir) in repos.items()}
        for name, (tree, git_dir) in repos.items():
            real = os.path.realpath(git_dir)
            self.roots.setdefault(real, _Root()).own.add(name)
            self.roots.setdefault(_common_dir(real), _Root()).shared.add(name)
            if tree is not None:
                self.roots.setdefault(os.path.realpath(tree), _Root()).tree.add(name)

    def repos_for(self, path: str) -> set[str]:
        """The repos `path` concerns; the nearest enclosing root wins (nested repos map inward)."""
        here = path
        while (root := self.roots.get(here)) is None:
            parent = os.path.dirname(here)
            if parent == here:
                return set()
            here = parent
        rel = path[len(here) :].lstrip(os.sep)
        if not rel:  # the folder itself came or went
            return root.tree | root.own | root.shared
        if root.own or root.shared:
            kind = _git_kind(rel)
            return set(root.own) if kind == "own" else root.own | root.shared if kind else set()
        # Relative parts only, so a repo kept under e.g. ~/.venv/ is not ignored wholesale.
        return set(root.tree) if super().__call__(Change.modified, rel) else set()

    def __call__(self, change: Change, path: str) -> bool:
        return bool(self.repos_for(path))

    def plan(self) -> tuple[dict[str, str], list[str]]:
        """(folders to watch, each "tree" or "git"; folders missing for now). Every root is
        listed, nested ones too: the worker walks each by its own rules."""
        kinds = {r: "git" if x.own or x.shared else "tree" for r, x in sorted(self.roots.items())}
        there = {r: kind for r, kind in kinds.items() if os.path.isdir(r)}
        return self._by_activity(there), [r for r in kinds if r not in there]

    def _by_activity(self, roots: dict[str, str]) -> dict[str, str]:
        """The roots with the most recently active work trees first (a budget takes the first)."""
        active = {name: _activity(git_dir) for name, git_dir in self._git_dirs.items()}

        def latest(root: str) -> float:
            return max((active[name] for name in self.roots[root].tree), default=0.0)

        return dict(sorted(roots.items(), key=lambda item: -latest(item[0])))

    def trees_of(self, roots: list[str]) -> frozenset[str]:
        """The repos whose work trees these roots are."""
        return frozenset(name for root in roots for name in self.roots[root].tree)


def _outermost(roots: Mapping[str, str]) -> list[str]:
    """For a recursive watch (awatch): a root inside another is covered by it."""
    return sorted(r for r in roots if not any(str(p) in roots for p in Path(r).parents))


async def _watch_process(
    roots: Mapping[str, str],
    *,
    lenient: bool,
    stop: asyncio.Event,
    tick: float | None,
    budget: int | None = None,
    ready_info: dict[str, Any] | None = None,
) -> AsyncIterator[set[tuple[Change, str]]]:
    """awatch's batches, from a watch_worker process: an empty batch once every watch is in
    place and after each `tick` seconds of quiet (None: never); a set-up error is raised as
    what it was. The worker's ready message (watches held, trees left unwatched for the
    `budget`) goes into `ready_info`."""
    request = {
        "roots": list(roots.items()),  # in order: a budget takes the first work trees
        "budget": budget,
        "lenient": lenient,
        "ignore_dirs": sorted(DefaultFilter.ignore_dirs),
        "step_ms": _STEP_MS,
        "debounce_ms": _BATCH_MS,
        "backend": _BACKEND,
        "parent": os.getpid(),
    }
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", _WORKER, stdin=pipe, stdout=pipe, stderr=pipe, limit=_LINE_LIMIT
    )
    assert proc.stdin is not None and proc.stdout is not None
    stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    line: asyncio.Future[Any] | None = None
    ready = False
    try:
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        with contextlib.suppress(ConnectionError):  # it died at once: its exit status says why
            await proc.stdin.drain()
        while True:
            if line is None:
                line = asyncio.ensure_future(proc.stdout.readline())
            done, _ = await asyncio.wait(
                {line, stopped},
                timeout=tick if ready else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if stopped in done:
                # Stopped for a newer session, whose watches are in place: what this worker has
                # seen up to now covers the gap, so let it flush and exit rather than kill it.
                for batch in await _last_batches(proc, line):
                    yield batch
                return
            if line not in done:
                yield set()
                continue
            data, line = line.result(), None
            if not data:
                raise RuntimeError(await _exit_reason(proc))
            message = json.loads(data)
            if "changes" in message:
                yield {(Change(c), p) for c, p in message["changes"]}
            elif "ready" in message:
                ready = True
                if ready_info is not None:
                    ready_info.update(message)
                yield set()
            elif "error" in message:
                raise _error(message["error"])
    finally:
        await _end(proc, stopped, line)


async def _last_batches(
    proc: asyncio.subprocess.Process, line: asyncio.Future[Any] | None
) -> list[set[tuple[Change, str]]]:
    """Close the worker's stdin and read its last batches until it exits (at most 2 s)."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    batches = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2.0):
            while data := await (line if line is not None else proc.stdout.readline()):
                line, message = None, json.loads(data)
                if "changes" in message:
                    batches.append({(Change(c), p) for c, p in message["changes"]})
    return batches


def _error(info: dict[str, Any]) -> Exception:
    """The worker's error as the exception it was; OSError(errno, ...) picks the subclass."""
    if info.get("errno") is not None:
        args = [info["errno"], info["strerror"]]
        return OSError(*args, info["filename"]) if info.get("filename") else OSError(*args)
    kinds: dict[str, type[Exception]] = {
        "PermissionError": PermissionError,
        "FileNotFoundError": FileNotFoundError,
        "OSError": OSError,
    }
    return kinds.get(info["type"], RuntimeError)(info["message"])


async def _exit_reason(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode(errors="replace").strip().splitlines()
    status = await proc.wait()
    return f"the watcher process exited with status {status}" + (f": {err[-1]}" if err else "")


async def _end(proc: asyncio.subprocess.Process, *waiting: asyncio.Future[Any] | None) -> None:
    """Stop the worker and wait until it and its pipes are closed (no transport outlives it).

    EOF on stdin makes it exit within a moment; it is killed only if it does not. Killing one
    that already exited would reap it behind asyncio's back (`Popen.send_signal` polls first),
    and asyncio would then log "Unknown child process".
    """
    pending = [f for f in waiting if f is not None]
    for future in pending:
        future.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.close()
    try:
        async with asyncio.timeout(2.0):
            await proc.stdout.read()  # its last batch, unread: it must not block on the pipe
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
    await proc.stdout.read()
    await proc.stderr.read()


@dataclass(eq=False, slots=True)
class _Session:
    """One watch (a worker process, or an injected awatch) over one repo set."""

    gen: int
    ready: asyncio.Future[None]  # resolved by the first batch: the OS watches are in place
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    watches: int = 0  # inotify watches its worker holds
    unwatched: frozenset[str] = frozenset()  # repos whose work trees did not fit the budget


class RepoWatcher:
    """Calls `on_change(names)` on the loop thread, coalesced, when watched repos change on disk.

    `watch_fn`, when given, is an awatch-compatible function that watches in this process
    instead of the worker (tests inject set-up failures through it). `watch_budget`: the
    inotify watches a session may take (default: what the system leaves, `inotify_budget`).
    """

    def __init__(
        self,
        on_change: Callable[[set[str]], object],
        *,
        debounce: float = 0.3,
        on_notice: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch_fn: WatchFn | None = None,
        watch_budget: int | None = None,
    ) -> None:
        self.notices: list[str] = []
        self._budget = watch_budget
        self._on_change, self._on_notice = on_change, on_notice
        self._debounce, self._clock, self._watch_fn = debounce, clock, watch_fn
        self._repos: dict[str, tuple[Path | None, Path]] = {}
        self._gen = 0
        self._wake = asyncio.Event()
        self._quiet: dict[str, float] = {}  # repo -> end of its suppress() window, on `clock`
        # Per repo, loop times of its first and latest unreported event and of its last report.
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._sent: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._current: _Session | None = None
        self._sessions: dict[_Session, asyncio.Task[None]] = {}  # the live ones
        self._fallback = self._lenient = False
        self._trees: tuple[int, frozenset[str]] = (-1, frozenset())  # (gen, its work trees)

    @property
    def polling_fallback(self) -> bool:
        """True while native watching could not be set up: the engine must poll local status."""
        return self._fallback

    @property
    def watching(self) -> bool:
        """True once the OS watches for the latest repo set are in place."""
        s = self._current
        return s is not None and s.gen == self._gen and s in self._sessions

    def unwatched_trees(self) -> frozenset[str]:
        """The repos whose work trees are not watched (over the inotify budget, or every one
        while watching is down): their local changes show only when they are read again."""
        if self._fallback:
            return self._all_trees()
        s = self._current
        return s.unwatched if s is not None else frozenset()

    def _all_trees(self) -> frozenset[str]:
        """The repos with a work tree, made once per watch list (the dashboard's header asks
        at every update: at 10,000 repos a new set each time held the loop)."""
        gen, trees = self._trees
        if gen != self._gen:
            trees = frozenset(name for name, (tree, _) in self._repos.items() if tree is not None)
            self._trees = (self._gen, trees)
        return trees

    def set_repos(self, repos: Repos) -> None:
        """Watch exactly these repos; the old watch runs until the new one is in place."""
        if dict(repos) != self._repos:
            self._repos, self._gen = dict(repos), self._gen + 1
            self._wake.set()

    def suppress(self, name: str, seconds: float) -> None:
        """Ignore `name`'s events for `seconds`: the engine writes to it and refreshes it itself."""
        until = self._clock() + seconds
        self._quiet[name] = max(until, self._quiet.get(name, until))

    async def run(self) -> None:
        """Watch until cancelled, starting a new session whenever the repo set changes."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                new = _Session(self._gen, asyncio.get_running_loop().create_future())
                self._sessions[new] = asyncio.create_task(self._session(new, dict(self._repos)))
                try:
                    await new.ready
                except Exception as exc:
                    await self._failed(exc)
                    continue
                if self._current is not None:
                    self._current.stop.set()
                self._current, self._fallback = new, False
                if new.unwatched:
                    trees = sum(tree is not None for tree, _ in self._repos.values())
                    self._say(
                        f"{len(new.unwatched)} of {trees} work trees are over the inotify watch "
                        f"budget (fs.inotify.max_user_watches={_sysctl('max_user_watches')}); "
                        "their local changes are picked up every poll instead"
                    )
        finally:
            if self._timer is not None:
                self._timer.cancel()
            # Each session kills its worker (or awatch sets its stop event) on cancel.
            tasks = list(self._sessions.values())
            for task in tasks:
                task.cancel()
            self._current = None
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)

    async def _session(self, s: _Session, repos: Repos) -> None:
        """One watch over `repos` until `s.stop` is set; a set-up error goes to `s.ready`."""
        batches: AsyncIterator[set[tuple[Change, str]]] | None = None
        try:
            paths = await asyncio.to_thread(RepoFilter, repos)  # realpath and commondir reads
            roots, missing = await asyncio.to_thread(paths.plan)
            ready_info: dict[str, Any] = {}
            if self._watch_fn is None:
                # Idle ticks only drive the look for missing folders: none, no wake-ups.
                tick = _IDLE_TICK if missing else None
                budget = await self._session_budget()
                batches = _watch_process(
                    roots,
                    lenient=self._lenient,
                    stop=s.stop,
                    tick=tick,
                    budget=budget,
                    ready_info=ready_info,
                )
            else:
                batches = self._watch_fn(
                    *_outermost(roots),
                    watch_filter=None,
                    debounce=_BATCH_MS,
                    step=_STEP_MS,
                    stop_event=s.stop,
                    rust_timeout=_TICK_MS,  # idle ticks: readiness, the look for missing folders
                    yield_on_timeout=True,
                    ignore_permission_denied=self._lenient,
                )
            look_again, absent = time.monotonic() + _RECHECK, set(missing)
            async for changes in batches:
                if not s.ready.done():
                    s.watches = ready_info.get("watches") or 0
                    s.unwatched = paths.trees_of(ready_info.get("unwatched", []))
                    s.ready.set_result(None)
                # A watched folder that goes, or a missing one that comes, needs a fresh plan.
                restart = any(
                    p in roots if c == Change.deleted else c == Change.added and p in absent
                    for c, p in changes
                )
                if missing and time.monotonic() >= look_again:
                    look_again = time.monotonic() + _RECHECK
                    restart = restart or any(map(os.path.isdir, missing))
                if restart and s.gen == self._gen and not s.stop.is_set():
                    self._wake.set()
                self._note(set().union(*(paths.repos_for(p) for _, p in changes)))
        except Exception as exc:
            if not s.ready.done():
                s.ready.set_exception(exc)
            elif s is self._current:  # it died after starting: start over in a moment
                asyncio.get_running_loop().call_later(1.0, self._wake.set)
        finally:
            aclose = getattr(batches, "aclose", None)
            if aclose is not None:  # now, not whenever the generator is collected
                await aclose()
            self._sessions.pop(s, None)
            if not s.ready.done():
                s.ready.set_result(None)

    async def _session_budget(self) -> int | None:
        """The watches a new session may take: the injected budget, or what the system leaves
        (the current session's watches count as ours: the new one replaces it)."""
        if self._budget is not None:
            return self._budget
        if _BACKEND != "inotify":
            return None
        own = self._current.watches if self._current is not None else 0
        return await asyncio.to_thread(inotify_budget, own)

    async def _failed(self, exc: Exception) -> None:
        """A new session could not start: plan again, retry alone or leniently, or degrade."""
        old, sysctl = self._current, _limit(exc)
        if isinstance(exc, FileNotFoundError):  # a folder vanished during set-up
            await asyncio.sleep(0.1)
        elif isinstance(exc, PermissionError) and not self._lenient:
            # One unreadable folder should not cost every repo its watch. Lenient watchfiles
            # skips every failing root, the limit errors too, so strict stays the first try.
            self._lenient = True
            self._say(f"some folders cannot be watched ({exc}); {_POLLING}")
        elif old is not None and sysctl:  # the overlap of two sessions may be what hit it
            old.stop.set()
            if old in self._sessions:
                await asyncio.wait([self._sessions[old]], timeout=2.0)
            self._current = None
        else:
            if old is not None:
                old.stop.set()
            self._current, self._fallback = None, True
            if sysctl is None:
                self._say(f"file watching failed ({exc}); {_POLLING}")
            else:
                limit = f"fs.inotify.{sysctl}={_sysctl(sysctl)}"
                self._say(f"inotify {_LIMITS[sysctl]} limit reached ({limit}); {_POLLING}")
            return
        self._wake.set()

    def _say(self, notice: str) -> None:
        if notice not in self.notices:  # once, however often set_repos retries
            self.notices.append(notice)
            if self._on_notice is not None:
                self._on_notice(notice)

    def _note(self, names: set[str]) -> None:
        now, t = self._clock(), asyncio.get_running_loop().time()
        names = {n for n in names if n in self._repos and self._quiet.get(n, now) <= now}
        for name in names:
            self._first.setdefault(name, t)
            self._last[name] = t
        if names:
            self._arm()

    def _due(self, name: str) -> float:
        """When to report `name`: a new burst `debounce` after it starts; a burst that goes on
        (it started right after a report) once it pauses, or every `_MAX_WAIT` seconds."""
        first, last = self._first[name], self._last[name]
        if first - self._sent.get(name, -math.inf) >= self._debounce:
            return first + self._debounce
        return min(last + self._debounce, first + _MAX_WAIT)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        if self._first:
            when = min(map(self._due, self._first))
            self._timer = asyncio.get_running_loop().call_at(when, self._deliver)

    def _deliver(self) -> None:
        now, t = self._clock(), asyncio.get_running_loop().time()
        due = [n for n in self._first if self._due(n) <= t + 0.001]
        for name in due:
            del self._first[name], self._last[name]
            self._sent[name] = t
        self._arm()
        names = {n for n in due if n in self._repos and self._quiet.get(n, now) <= now}
        if names:
            self._on_change(names)
