"""Which tracked repos a push is about, and fetching them without piling up fetches.

A push names its repository by URL (https, ssh, scp-like `git@host:owner/repo.git`, git://)
and its branch by ref. A tracked repo matches when the URL of a remote it fetches normalises
to the same text and the branch is one it follows. URLs are read from the repo's own git
config (cached by the config file's identity, so a rebuild of the index costs a `stat` per
repo), never guessed from the repo's name.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.remotes import read_remote_config
from gitwatch_tui.engine.engine import Engine, UnknownRepo

_SPACE = re.compile(r"\s")
_SCP_LIKE = re.compile(r"(?:[^@/:]*@)?(?P<host>\[[^\]/]*\]|[^:/\[]+):(?P<path>.*)")
_NETWORK_SCHEMES = frozenset({"http", "https", "ssh", "git", "git+ssh", "ssh+git"})
# A miss may mean a remote URL changed under us (`git remote set-url`): look again, but not
# more often than this, so that a flood of pushes for unknown repos costs nothing.
_REBUILD_ON_MISS_AFTER = 10.0
# A delivery waits this long at most for a rebuild: one repo whose config read hangs (until its
# timeout) must not hold up every push. The rebuild goes on and serves the next delivery.
_REBUILD_WAIT = 1.0
# Config reads at once during a rebuild: a hung one costs one thread, not the whole rebuild.
_READERS = 8
# Heads per repo known to be fetched, so that a redelivery of one costs nothing.
_HEADS_REMEMBERED = 64


@functools.lru_cache(maxsize=8192)  # the same few URLs come with every push
def normalize_url(url: str) -> str | None:
    """A remote URL as `host/path`: lower-case host and path, no user, port, `.git` or slashes
    at the ends; local paths and file:// URLs as their absolute path. None if not a git URL.

    The port is dropped because one server often serves ssh and https on different ports
    (`ssh://git@host:2222/o/r` and `https://host/o/r` are the same repo). Forges treat owner and
    repo names case-insensitively, so the path is lower-cased too (not for local paths).
    """
    raw = url.strip()
    if not raw or _SPACE.search(raw):
        return None
    if "://" in raw:
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return _local(parts.path)
        if scheme not in _NETWORK_SCHEMES:
            return None
        try:
            host = parts.hostname  # lower-cased, without user and port
            parts.port  # noqa: B018 (checks it: a URL with a bad port is no URL)
        except ValueError:
            return None
        path = parts.path
    elif raw.startswith("/"):
        return _local(raw)
    else:
        # scp-like: [user@]host:path. A colon after a slash is a relative local path instead.
        scp = _SCP_LIKE.fullmatch(raw)
        if scp is None:
            return None
        host, path = scp["host"].strip("[]").lower(), scp["path"]
    path = _strip_repo_path(path)
    if not host or not path:
        return None
    return f"{host}/{path.lower()}"


def _strip_repo_path(path: str) -> str:
    path = path.strip("/")
    path = path.removesuffix("/.git").removesuffix(".git").rstrip("/")
    return path


def _local(path: str) -> str | None:
    stripped = _strip_repo_path(path)
    return "/" + stripped if stripped else None


def branch_of_ref(ref: str) -> str | None:
    """`refs/heads/x` (or a bare branch name) to `x`; None for tags and other refs."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :]
    if ref.startswith("refs/"):
        return None
    return ref


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    remotes: tuple[str, ...]  # the repo's remote names, to split `origin/x` into remote + branch


def _retrieved(task: asyncio.Task[None]) -> None:
    """Read a background rebuild's outcome: one that failed (its readers shut down by
    `close` while a request was still being answered) is no one's error to report."""
    if not task.cancelled():
        task.exception()


class RepoIndex:
    """Normalised remote URL -> the tracked repos fetching from it, kept in step with the
    engine's watch list (rebuilt when the list changes, and on a miss now and then)."""

    def __init__(self, engine: Engine, *, timeout: float = 10.0) -> None:
        self._engine = engine
        self._timeout = timeout
        self._by_url: dict[str, list[_Entry]] = {}
        self._built_from: Mapping[str, RepoSpec] | None = None
        self._built_specs: dict[str, RepoSpec] = {}
        self._built_at = float("-inf")
        self._building: asyncio.Task[None] | None = None
        self._readings: dict[str, tuple[_Entry, set[str]]] = {}  # per repo: what it fetches
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="gw-index")

    async def match(self, urls: Iterable[str], ref: str | None) -> list[str]:
        """The names of the tracked repos that a push of `ref` to any of `urls` concerns."""
        keys = {key for url in urls if (key := normalize_url(url)) is not None}
        if not keys:
            return []
        if self._stale():
            await self._rebuilt(_REBUILD_WAIT)
        found = self._lookup(keys, ref)
        if not found and time.monotonic() - self._built_at > _REBUILD_ON_MISS_AFTER:
            await self._rebuilt(_REBUILD_WAIT)
            found = self._lookup(keys, ref)
        return found

    async def _rebuilt(self, within: float) -> None:
        """Wait up to `within` seconds for a rebuild (started if none is under way)."""
        await asyncio.wait([self.warm_up()], timeout=within)

    def _stale(self) -> bool:
        specs = self._engine.specs
        if specs is self._built_from:
            return False
        # The engine replaces its dict on every reload; an equal one needs no rebuild.
        if specs == self._built_specs:
            self._built_from = specs
            return False
        return True

    def _lookup(self, keys: set[str], ref: str | None) -> list[str]:
        names: dict[str, None] = {}
        specs, statuses = self._engine.specs, self._engine.statuses
        for key in sorted(keys):
            for entry in self._by_url.get(key, ()):
                spec = specs.get(entry.name)
                if spec is None:
                    continue
                if _follows(ref, spec, statuses.get(entry.name), entry.remotes):
                    names[entry.name] = None
        return list(names)

    def warm_up(self) -> asyncio.Task[None]:
        """Read every repo's remote URLs again, in the background (one rebuild at a time);
        returns the rebuild under way."""
        if self._building is None or self._building.done():
            self._building = asyncio.create_task(self._rebuild(), name="webhook index")
            self._building.add_done_callback(_retrieved)
        return self._building

    def close(self) -> None:
        """Cancel a rebuild in progress (reads under way finish on their own)."""
        if self._building is not None:
            self._building.cancel()
        self._readers.shutdown(wait=False, cancel_futures=True)

    async def _rebuild(self) -> None:
        """Read every repo's remote URLs, several at a time. When some reads are slow (a hung
        config), the index is put in use without them first, their last known URLs kept."""
        specs = self._engine.specs
        statuses = dict(self._engine.statuses)
        loop = asyncio.get_running_loop()
        reads = {
            name: loop.run_in_executor(self._readers, self._read_repo, spec, statuses)
            for name, spec in specs.items()
        }
        if not reads:
            self._use({}, specs)
            return
        _, slow = await asyncio.wait(reads.values(), timeout=_REBUILD_WAIT)
        if slow:
            self._use(self._read_so_far(reads), specs)
            await asyncio.wait(slow)
        self._use(self._read_so_far(reads), specs)

    def _read_so_far(
        self, reads: dict[str, asyncio.Future[tuple[_Entry, set[str]]]]
    ) -> dict[str, tuple[_Entry, set[str]]]:
        """Each repo's fresh reading, or its last one while its read is still under way."""
        found = {}
        for name, read in reads.items():
            if read.done() and not read.cancelled() and read.exception() is None:
                found[name] = read.result()
            elif name in self._readings:
                found[name] = self._readings[name]
        return found

    def _use(
        self, readings: dict[str, tuple[_Entry, set[str]]], specs: Mapping[str, RepoSpec]
    ) -> None:
        by_url: dict[str, list[_Entry]] = {}
        for entry, urls in readings.values():
            for key in {k for url in urls if (k := normalize_url(url)) is not None}:
                by_url.setdefault(key, []).append(entry)
        self._readings, self._by_url = readings, by_url
        self._built_from, self._built_specs = specs, dict(specs)
        self._built_at = time.monotonic()

    def _read_repo(
        self, spec: RepoSpec, statuses: dict[str, RepoStatus]
    ) -> tuple[_Entry, set[str]]:
        urls: set[str] = set()
        remotes: tuple[str, ...] = ()
        if spec.url:
            urls.add(spec.url)
        if spec.path.exists():
            config = read_remote_config(
                RepoPaths.of(spec.path, bare=spec.bare), timeout=self._timeout
            )
            if not isinstance(config, str):
                remotes = config.remotes
                urls.update(_fetched_urls(spec, statuses.get(spec.name), config.urls))
        return _Entry(spec.name, remotes), urls


def _fetched_urls(spec: RepoSpec, status: RepoStatus | None, urls: dict[str, str]) -> list[str]:
    """The URLs a plain `git fetch` of this repo talks to, as `core.remotes.fetch` picks the remote:
    the configured remote; else the branch's upstream remote and origin; else the only one."""
    if spec.remote is not None:
        return [urls[spec.remote]] if spec.remote in urls else []
    chosen = []
    upstream_remote = _split_upstream(status.upstream, tuple(urls))[0] if status else None
    if upstream_remote is not None:
        chosen.append(urls[upstream_remote])
    if "origin" in urls:
        chosen.append(urls["origin"])
    elif len(urls) == 1:
        chosen.extend(urls.values())
    return chosen


def _split_upstream(upstream: str | None, remotes: tuple[str, ...]) -> tuple[str | None, str]:
    """`origin/feature/x` -> ("origin", "feature/x"), using the repo's remote names (a remote
    name may itself hold a slash); (None, "") when the upstream is local or unknown."""
    if not upstream:
        return None, ""
    for remote in sorted(remotes, key=len, reverse=True):
        if upstream.startswith(remote + "/"):
            return remote, upstream[len(remote) + 1 :]
    return None, ""


def _follows(
    ref: str | None, spec: RepoSpec, status: RepoStatus | None, remotes: tuple[str, ...]
) -> bool:
    """Does a push of `ref` concern this repo?

    No ref, or a tag: yes (the fetch brings the tag; a repo may deploy by tag). A branch: yes
    when it is the checked-out branch, the branch its upstream tracks, or in its `branches`
    list; also when the checked-out branch is not known (not read yet, detached HEAD), since
    a fetch is cheap and missing a push is not. Other refs (pull requests, notes): no.
    """
    if ref is None or ref.startswith("refs/tags/"):
        return True
    branch = branch_of_ref(ref)
    if branch is None:
        return False
    if status is None or status.detached or status.branch is None:
        return True
    if branch == status.branch or branch == _split_upstream(status.upstream, remotes)[1]:
        return True
    return any(fnmatch.fnmatchcase(branch, pattern) for pattern in spec.branches)


class FetchTrigger:
    """Fetch repos now, in the background, a burst of pushes to one repo costing a few fetches.

    A repo has at most one fetch running and one queued. Each push is remembered until a
    fetch covers it: one that began after the push landed (the forge moved the ref before it
    sent the hook), or whose result holds the pushed commit (`after`, when the payload names
    one; a fetch the engine had already started when the push landed is only known to cover
    it that way). A push not covered leads to one more fetch, at least `spacing` seconds after
    the last began: however many pushes arrive meanwhile, they share it. A head already
    fetched is not fetched again (a redelivery), and a failed fetch is left to the engine's
    own retries and back-off.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        spacing: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._spacing = spacing
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # repo -> pushes not covered yet: head sha ("" for a push without one) -> when it landed
        self._waiting: dict[str, dict[str, float]] = {}
        self._fetched: dict[str, dict[str, None]] = {}  # repo -> heads known fetched, newest last
        self._pausing: set[str] = set()  # repos whose next fetch waits out the spacing
        # When each repo's last fetch began: kept across bursts, so that a push arriving just
        # after the previous fetch covered everything still waits out the spacing.
        self._last_began: dict[str, float] = {}
        self._closed = False
        self.started = 0  # fetches asked of the engine (the benchmark reports it)

    def fetch(self, name: str, head: str | None = None) -> None:
        """A push to `name` landed, moving a ref to `head` (when known)."""
        if self._closed or (head and head in self._fetched.get(name, ())):
            return
        waiting = self._waiting.setdefault(name, {})
        # A sha-less push counts from its own landing; a head from the first delivery of it.
        if head:
            waiting.setdefault(head, self._clock())
        else:
            waiting[""] = self._clock()
        if name not in self._tasks:
            task = asyncio.create_task(self._run(name), name=f"webhook fetch {name}")
            self._tasks[name] = task

    async def _run(self, name: str) -> None:
        try:
            while not self._closed and (waiting := self._waiting.get(name)):
                last_began = self._last_began.get(name, float("-inf"))
                if (pause := last_began + self._spacing - self._clock()) > 0:
                    self._pausing.add(name)
                    try:
                        await asyncio.sleep(pause)  # pushes arriving meanwhile share the next fetch
                    finally:
                        self._pausing.discard(name)
                    if self._closed:
                        break
                # A fetch already under way may predate the pushes: join it, but it covers them
                # only if its result holds their heads.
                joined, last_began = self._in_flight(name), self._clock()
                self._last_began[name] = last_began
                self.started += 1
                try:
                    finished = await self._engine.fetch(name)
                except UnknownRepo:  # no longer watched (config reload)
                    break
                if not finished.ok:
                    break  # the engine retries on its own schedule, with back-off
                await self._settle(name, waiting, since=None if joined else last_began)
        finally:
            # Both at once: a push handled in between would find a task that is ending
            # and start none, and wait for the next push.
            self._waiting.pop(name, None)
            self._tasks.pop(name, None)

    async def _settle(self, name: str, waiting: dict[str, float], since: float | None) -> None:
        """Forget the pushes a fetch that began at `since` (None: unknown) has covered."""
        covered = {key for key, landed in waiting.items() if since is not None and landed <= since}
        heads = [key for key in waiting if key and key not in covered]
        if heads:
            covered |= await self._reachable(name, heads)
        for key in covered:
            del waiting[key]
            if key:
                self._remember(name, key)

    async def _reachable(self, name: str, heads: list[str]) -> set[str]:
        try:
            return await self._engine.reachable_commits(name, heads)
        except UnknownRepo:  # no longer watched
            return set()

    def _remember(self, name: str, head: str) -> None:
        fetched = self._fetched.setdefault(name, {})
        fetched[head] = None
        if len(fetched) > _HEADS_REMEMBERED:
            del fetched[next(iter(fetched))]

    def _in_flight(self, name: str) -> bool:
        state = self._engine.states.get(name)
        return state is not None and state.phase in ("fetching", "cloning", "syncing")

    def close(self) -> None:
        """Start no more fetches. Those running are left to the engine, so that its shutdown
        can let them finish within its grace period (cancelling one here would kill its git)."""
        self._closed = True
        for name in self._pausing:
            self._tasks[name].cancel()  # waiting, not fetching: nothing of git's to end

    @property
    def running(self) -> int:
        return len(self._tasks)
