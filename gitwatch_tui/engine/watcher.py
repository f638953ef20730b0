"""Tell the engine, within about a second, which watched repositories changed on disk.

One `watchfiles.awatch` session covers the work trees and git dirs of every repo. Its batches
are mapped to repo names and coalesced, so a burst of changes to a repo is reported `debounce`
seconds after it starts and once more when it ends. A new repo set starts a new session before
the old one stops, so no event falls into the gap. When the OS refuses the watches (inotify
limits) the watcher says so once and sets `polling_fallback`; the engine then polls.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

Repos = Mapping[str, tuple[Path | None, Path]]  # name -> (work tree or None if bare, git dir)
WatchFn = Callable[..., AsyncIterator[set[tuple[Change, str]]]]

# In a git dir only these change what status shows; objects/, logs/ and *.lock churn on every
# command. Per-worktree names live in a worktree's own git dir, shared ones in the common dir.
_OWN = frozenset(
    {"HEAD", "index", "FETCH_HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG"}
)
_OWN_DIRS = frozenset({"rebase-merge", "rebase-apply"})
_SHARED = frozenset({"refs", "packed-refs", "config"})  # config: `branch -u` moves the upstream
_STASH_LOG = ["logs", "refs", "stash"]  # `git stash drop stash@{1}` rewrites only the reflog
_BATCH_MS, _STEP_MS, _TICK_MS = 100, 50, 100
_RECHECK = 2.0  # seconds between looks for repo folders that are missing
_MAX_WAIT = 2.0  # a repo that never stops changing is still reported this often
_LIMITS = {"max_user_watches": "watch", "max_user_instances": "instance"}
_POLLING = "local changes are picked up every poll instead"


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
    """The inotify sysctl `exc` ran into: notify words ENOSPC as "OS file watch limit reached"
    (an OSError) and EMFILE as "Too many open files (os error 24)" (a RuntimeError)."""
    text = str(exc)
    if "watch limit" in text or "os error 28" in text:
        return "max_user_watches"
    if "os error 24" in text or "Too many open files" in text:
        return "max_user_instances"
    return None


def _sysctl(name: str) -> str:
    try:
        return Path("/proc/sys/fs/inotify", name).read_text().strip()
    except OSError:
        return "?"


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

    def plan(self) -> tuple[list[str], list[str]]:
        """(folders to watch, folders missing for now); a root inside another is covered by it."""
        roots = self.roots
        top = sorted(r for r in roots if not any(str(p) in roots for p in Path(r).parents))
        return [r for r in top if os.path.isdir(r)], [r for r in top if not os.path.isdir(r)]


@dataclass(eq=False, slots=True)
class _Session:
    """One awatch over one repo set."""

    gen: int
    ready: asyncio.Future[None]  # resolved by the first batch: the OS watches are in place
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class RepoWatcher:
    """Calls `on_change(names)` on the loop thread, coalesced, when watched repos change on disk."""

    def __init__(
        self,
        on_change: Callable[[set[str]], object],
        *,
        debounce: float = 0.3,
        on_notice: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        watch_fn: WatchFn = awatch,
    ) -> None:
        self.notices: list[str] = []
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

    @property
    def polling_fallback(self) -> bool:
        """True while native watching could not be set up: the engine must poll local status."""
        return self._fallback

    @property
    def watching(self) -> bool:
        """True once the OS watches for the latest repo set are in place."""
        s = self._current
        return s is not None and s.gen == self._gen and s in self._sessions

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
        finally:
            if self._timer is not None:
                self._timer.cancel()
            # awatch sets its stop event on cancel; its thread returns within one step.
            tasks = list(self._sessions.values())
            for task in tasks:
                task.cancel()
            self._current = None
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)

    async def _session(self, s: _Session, repos: Repos) -> None:
        """One awatch over `repos` until `s.stop` is set; a set-up error goes to `s.ready`."""
        try:
            paths = await asyncio.to_thread(RepoFilter, repos)  # realpath and commondir reads
            roots, missing = await asyncio.to_thread(paths.plan)
            watched, look_again = set(roots), time.monotonic() + _RECHECK
            async for changes in self._watch_fn(
                *roots,
                watch_filter=None,
                debounce=_BATCH_MS,
                step=_STEP_MS,
                stop_event=s.stop,
                rust_timeout=_TICK_MS,  # idle ticks: readiness and the look for missing folders
                yield_on_timeout=True,
                ignore_permission_denied=self._lenient,
            ):
                if not s.ready.done():
                    s.ready.set_result(None)
                # A watched folder that goes, or a missing one that comes, needs a fresh plan.
                restart = any(c == Change.deleted and p in watched for c, p in changes)
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
            self._sessions.pop(s, None)
            if not s.ready.done():
                s.ready.set_result(None)

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
