"""Time the sync engine: fetch-all over a loopback git daemon, idle CPU and RSS with many repos.

    python benchmarks/engine_bench.py [--repos-fetch 300] [--repos-idle 1000] [--rounds 5]
                                      [--idle-seconds 30] [--only fetch|idle|watcher]

Fetch: one long-lived Engine (in its own process, driven over a pipe) fetches every clone of a
corpus from a `git daemon` on 127.0.0.1, "no-op" (nothing new) and "new commits" (one commit
pushed into every bare remote before each run, untimed). Each engine run comes right after a
plain-git lower bound (`xargs -P8 git fetch`, optionally followed by a `git status` sweep) and
ratios are taken pair by pair; the median is reported. Idle: an Engine over 1,000 repos with
file watching and history on; first sweep time, CPU between polls, and peak RSS after one
fetch-all from the file:// origins. Watcher: a RepoWatcher alone over the same 1,000 repos,
a fresh process per round; how long its start and a reload hold the event loop, the inotify
watches of the process and its children, idle CPU of both, write-to-callback latency. Each
scenario runs in its own process, so one scenario's memory cannot show up in another's.
Corpora are built with make_corpus.py when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import IO, Any, TextIO

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / ".corpus"
CORES = os.cpu_count() or 2
# poll_interval: first polls are spread at random over one interval, so with 1,000 repos even
# 10**6 s puts one in a 40 s window 4 % of the time.
NEVER = 10.0**9
LOOPBACK = "lo"  # the remote every clone gets, pointing at the git daemon
MODES = ("no-op", "new commits")

# Set-up git calls (remote config, new commits) must not read the user's config.
SETUP_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}
# The lower bounds and the engine both see the caller's environment, so both read the same git
# config. `--no-auto-maintenance`: the engine passes it too, and without it every plain fetch
# starts one more process (`git maintenance run --auto`), which would flatter the engine.
LB_FETCH = 'xargs -0 -P"$1" -I{} git -C {} fetch --no-auto-maintenance "$3" < "$2"'
LB_STATUS = (
    'xargs -0 -P"$1" -I{} git -C {} status --porcelain=v2 --branch --show-stash >/dev/null < "$2"'
)


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Sample:
    """One timed run: wall and CPU seconds, peak RSS, failed fetches and some of their errors."""

    wall: float
    cpu: float
    rss_mb: float
    failed: int = 0
    server_cpu: float = 0.0
    errors: list[str] = field(default_factory=list)
    stall_ms: float | None = None  # engine runs: the longest event-loop stall


@dataclass
class Series:
    """Every sample of one strategy in one mode, with its ratios to the runs it is paired with."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    ratios: dict[str, list[float]] = field(default_factory=dict)

    def add(self, sample: Sample, **paired_with: Sample) -> Sample:
        self.samples.append(sample)
        for name, reference in paired_with.items():
            self.ratios.setdefault(name, []).append(sample.wall / reference.wall)
        return sample


def run_shell(script: str, *args: object, env: dict[str, str] | None = None) -> Sample:
    """Run a plain-git lower bound; CPU and RSS of every waited-for process come from wait4."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["sh", "-c", script, "sh", *map(str, args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
        _, _, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode(errors="replace")
    # One `fatal:` line per failed git call; xargs' exit status only says "some failed".
    fatal = [line for line in text.splitlines() if line.startswith("fatal:")]
    return Sample(
        wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, len(fatal), errors=fatal
    )


def cpu_seconds() -> float:
    """User + system CPU of this process and of every child it has waited for."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def children_cpu(pid: int) -> float:
    """CPU of the reaped children of `pid` (the daemon's upload-pack processes), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds per live thread of this process: tid -> (comm, seconds)."""
    tick, out = os.sysconf("SC_CLK_TCK"), {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread just ended
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (not idle, not waiting on I/O)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int | None = None) -> list[int]:
    """Every live process below `pid` (default: this one), from the ppid field of /proc/*/stat."""
    root, children = pid or os.getpid(), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:  # it just ended
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, frontier = [], [root]
    while frontier:
        kids = children.get(frontier.pop(), [])
        found += kids
        frontier += kids
    return found


def live_children_cpu() -> float:
    """CPU seconds of this process's live descendants (a watcher child): getrusage's CHILDREN
    counts only those already waited for."""
    total = 0.0
    for pid in descendants():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def inotify_watches() -> int:
    """How many inotify watches this process and its descendants hold (all their instances)."""
    total = 0
    for pid in [os.getpid(), *descendants()]:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                        total += sum(line.startswith("inotify wd:") for line in info)
            except OSError:
                continue
    return total


def tree_rss_mb() -> float:
    """Resident memory of this process plus its live descendants, in MB."""
    total = proc_status_mb("VmRSS")
    for pid in descendants():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def proc_status_mb(key: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- corpus, daemon, remotes -----------------------------------------------------------------


def ensure_corpus(n: int, where: Path = CORPUS_DIR) -> Path:
    """`where`/nN (default benchmarks/.corpus/nN), built with make_corpus.py when it is not
    there yet."""
    corpus = where / f"n{n}"
    manifest = corpus / "manifest.json"
    if not manifest.exists():
        print(f"building {corpus} ...", file=sys.stderr, flush=True)
        make = [sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--repos", str(n)]
        subprocess.run(make, check=True, stdout=sys.stderr)
    repos = json.loads(manifest.read_text())["repos"]
    if len(repos) != n:
        raise SystemExit(f"{corpus} holds {len(repos)} repos, not {n}; rebuild it with --force")
    return corpus


def clones(corpus: Path) -> list[Path]:
    return sorted((corpus / "work").iterdir())


def path_list(paths: Sequence[Path], directory: Path) -> Path:
    """A NUL-separated list for `xargs -0`, read from a file so no pipe buffer limits it."""
    listing = directory / f"list-{len(paths)}"
    listing.write_bytes(b"".join(os.fsencode(p) + b"\0" for p in paths))
    return listing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def git_daemon(remotes: Path, log: IO[bytes]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A `git daemon` on 127.0.0.1 serving `remotes`; yields (process, URL prefix)."""
    port = free_port()
    # The dashed program itself: `git daemon` would run it as a child of a `git` wrapper, whose
    # /proc counters would not see the upload-pack processes until the daemon exits.
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout
    daemon = Path(exec_path.strip(), "git-daemon")
    program = [str(daemon)] if daemon.exists() else ["git", "daemon"]
    argv = [
        *program,
        *("--reuseaddr", "--export-all", f"--base-path={remotes}"),
        *("--listen=127.0.0.1", f"--port={port}", str(remotes)),
    ]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)
        yield proc, f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def setup_git(*args: str | Path, stdin: bytes | None = None) -> None:
    subprocess.run(
        ["git", *map(str, args)], input=stdin, env=SETUP_ENV, check=True, capture_output=True
    )


def add_loopback_remote(work: Sequence[Path], url: str) -> None:
    """Give every clone the remote `lo` = the daemon's copy of its bare repo (idempotent)."""

    def configure(clone: Path) -> None:
        setup_git("-C", clone, "config", f"remote.{LOOPBACK}.url", f"{url}/{clone.name}.git")
        fetch = f"+refs/heads/*:refs/remotes/{LOOPBACK}/*"
        setup_git("-C", clone, "config", f"remote.{LOOPBACK}.fetch", fetch)

    with ThreadPoolExecutor(CORES * 2) as pool:
        list(pool.map(configure, work))


_pushes = 0


def push_commits(remotes: Sequence[Path]) -> None:
    """One new commit (one changed file) on `main` of every bare remote, by fast-import."""
    global _pushes
    _pushes += 1
    stamp = int(time.time())
    who = f"Bench <bench@example.invalid> {stamp} +0000"
    blob = f"push {_pushes} at {stamp}\n".encode()
    msg = f"bench push {_pushes}".encode()
    # `from refs/heads/main^0`: continue the branch as it is in the repo, not from scratch.
    stream = (
        f"commit refs/heads/main\ncommitter {who}\ndata {len(msg)}\n".encode()
        + msg
        + b"\nfrom refs/heads/main^0\nM 100644 inline bench.txt\n"
        + b"data %d\n%s\n" % (len(blob), blob)
    )
    with ThreadPoolExecutor(CORES * 2) as pool:
        list(
            pool.map(lambda r: setup_git("-C", r, "fast-import", "--quiet", stdin=stream), remotes)
        )


def read_ref(git_dir: Path, ref: str) -> str | None:
    """A ref's commit id, loose or packed, without starting git."""
    try:
        return (git_dir / ref).read_text().strip()
    except OSError:
        pass
    try:
        for line in (git_dir / "packed-refs").read_text().splitlines():
            oid, _, name = line.partition(" ")
            if name == ref:
                return oid
    except OSError:
        pass
    return None


def stale_clones(work: Sequence[Path], remotes: Path) -> int:
    """Clones whose `lo/main` is not the remote's `main`: fetches that did not land."""
    return sum(
        read_ref(clone / ".git", f"refs/remotes/{LOOPBACK}/main")
        != read_ref(remotes / f"{clone.name}.git", "refs/heads/main")
        for clone in work
    )


# -- the engine side (runs in a worker process) ----------------------------------------------


class Probe:
    """Follows the engine's events: when the last one came, how many of each, the log lines."""

    def __init__(self, engine: Any, expect: int) -> None:
        from gitwatch_tui.engine.events import LogLine, StatusChanged

        self._log_line, self._status_changed = LogLine, StatusChanged
        self.engine, self.expect = engine, expect
        self.last_event = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.logs: list[str] = []
        self.swept: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        engine.subscribe(self._on_event)

    def _on_event(self, event: object) -> None:
        self.last_event = time.monotonic()
        self.counts[type(event).__name__] += 1
        if isinstance(event, self._log_line):
            self.logs.append(f"{event.level}: {event.message}")
        elif (
            isinstance(event, self._status_changed)
            and not self.swept.done()
            and len(self.engine.statuses) >= self.expect
        ):
            self.swept.set_result(time.perf_counter())

    async def quiet_for(self, seconds: float, limit: float = 30.0) -> None:
        """Wait until no event came for `seconds` (at most `limit`): the engine has settled."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            idle = time.monotonic() - self.last_event
            if idle >= seconds:
                return
            await asyncio.sleep(seconds - idle)


def make_engine(
    corpus: Path, remote: str | None, state_dir: Path, *, watch_files: bool, keep_history: bool
) -> Any:
    from gitwatch_tui.core.config import Config, Defaults
    from gitwatch_tui.core.models import RepoSpec
    from gitwatch_tui.engine.engine import Engine

    specs = tuple(RepoSpec(path=p, name=p.name, remote=remote) for p in clones(corpus))
    config = Config(defaults=Defaults(poll_interval=NEVER), repos=specs)
    return Engine(config, state_dir=state_dir, watch_files=watch_files, keep_history=keep_history)


class StallMeter:
    """The longest time the event loop could not run a 10 ms timer: how long a UI would freeze.

    Not left running while idle CPU is measured: its 100 wake-ups a second would be counted.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.01)
            last = now

    def stop(self) -> float:
        """Stop measuring; the longest stall in milliseconds."""
        self._task.cancel()
        return 1000 * self.longest


async def timed(call: Callable[[], Awaitable[list[Any]]]) -> dict[str, Any]:
    """Time one engine call from inside the process; count the repos it failed on."""
    meter = StallMeter()
    cpu, started = cpu_seconds(), time.perf_counter()
    results = await call()
    wall = time.perf_counter() - started
    stall_ms = meter.stop()
    errors = [r.error for r in results if r.error is not None]
    return {
        "wall": wall,
        "cpu": cpu_seconds() - cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "failed": len(errors),
        "errors": errors[:5],
        "stall_ms": stall_ms,
    }


def protocol_channel() -> TextIO:
    """Keep the real stdout for replies; anything else that prints goes to stderr."""
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return channel


def reply(channel: TextIO, data: dict[str, Any]) -> None:
    channel.write(json.dumps(data) + "\n")
    channel.flush()


async def fetch_worker(corpus: Path, watch: bool) -> None:
    """Serve commands from stdin (fetch, refresh, usage, quiet, quit) with one engine."""
    channel = protocol_channel()
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="gitwatch-bench-") as state:
        engine = make_engine(corpus, LOOPBACK, Path(state), watch_files=watch, keep_history=False)
        probe = Probe(engine, len(clones(corpus)))
        started = time.perf_counter()
        await engine.start()
        reply(channel, {"sweep_s": await probe.swept - started})
        try:
            while True:
                command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
                if command in ("fetch", "refresh"):
                    # Let watcher-driven refreshes from the previous run finish first.
                    await probe.quiet_for(1.0)
                    call = engine.fetch_all if command == "fetch" else engine.refresh_all
                    reply(channel, await timed(call))
                elif command == "usage":
                    reply(channel, {"cpu": cpu_seconds()})
                elif command == "quiet":
                    # The lower bound writes to the same clones; the product would refresh
                    # them, but that work belongs to neither side of the comparison. The
                    # watcher still receives and maps those events (that CPU is reported).
                    watcher = getattr(engine, "_watcher", None)
                    if watcher is not None:
                        for name in engine.specs:
                            watcher.suppress(name, 120.0)
                    reply(channel, {})
                else:
                    break
        finally:
            await engine.stop()
        reply(channel, {"logs": probe.logs})


async def idle_worker(corpus: Path, idle_seconds: float, *, watch: bool, sweep_only: bool) -> None:
    """Start, sweep, idle, fetch-all from origin; reply once with every measurement.

    With `sweep_only`, stop after the first sweep (the watch-off reference for it).
    """
    channel = protocol_channel()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gitwatch-bench-") as state:
        # The real configuration: file watching and sync history on.
        engine = make_engine(corpus, None, Path(state), watch_files=watch, keep_history=True)
        probe = Probe(engine, len(clones(corpus)))
        try:
            meter = StallMeter()
            started = time.perf_counter()
            await engine.start()
            result["start_s"] = time.perf_counter() - started
            result["sweep_s"] = await probe.swept - started
            result["hwm_after_sweep_mb"] = proc_status_mb("VmHWM")
            # Private, read-only: the engine logs watcher notices but exposes no watcher state.
            watcher = getattr(engine, "_watcher", None)
            while watcher is not None and not (watcher.watching or watcher.polling_fallback):
                if time.perf_counter() - started > 120:
                    break
                await asyncio.sleep(0.05)
            result["watch_ready_s"] = time.perf_counter() - started
            result["start_stall_ms"] = meter.stop()
            result["watching"] = bool(watcher and watcher.watching)
            result["polling_fallback"] = bool(watcher and watcher.polling_fallback)
            result["notices"] = list(watcher.notices) if watcher else []
            if sweep_only:
                return
            await probe.quiet_for(3.0)
            result["inotify_watches"] = inotify_watches()
            result["threads"] = len(os.listdir("/proc/self/task"))

            counts, threads = Counter(probe.counts), thread_cpu()
            me0, kids0 = (
                resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            )
            t0, busy, live = time.perf_counter(), machine_busy_seconds(), live_children_cpu()
            await asyncio.sleep(idle_seconds)
            window = time.perf_counter() - t0
            busy = machine_busy_seconds() - busy
            live = live_children_cpu() - live  # a watcher process, if the watcher has one
            me1, kids1 = (
                resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            )
            after = thread_cpu()
            user = me1.ru_utime - me0.ru_utime
            system = me1.ru_stime - me0.ru_stime
            # max(): float noise in the subtraction would print as -0.00.
            kids = max(0.0, kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime)
            by_kind: dict[str, float] = {}
            for tid, (comm, cpu) in after.items():
                kind = "loop" if tid == os.getpid() else "notify" if "notify" in comm else "other"
                by_kind[kind] = by_kind.get(kind, 0.0) + cpu - threads.get(tid, (comm, 0.0))[1]
            result["idle"] = {
                "window_s": window,
                "user_s": user,
                "system_s": system,
                "children_s": kids,
                "live_children_s": live,
                "pct": 100 * (user + system + kids + live) / window,
                # Everything else on the machine meanwhile: the noise of this measurement.
                "machine_pct": 100 * busy / window,
                "by_thread_s": dict(by_kind),
                "events": dict(probe.counts - counts),
            }
            result["fetch"] = await timed(engine.fetch_all)
            await probe.quiet_for(1.0)
            result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            result["rss_mb"] = proc_status_mb("VmRSS")
        finally:
            await engine.stop()
            result["logs"] = probe.logs
            reply(channel, result)


async def until(predicate: Callable[[], object], limit: float) -> bool:
    """Poll `predicate` every 10 ms for at most `limit` seconds; whether it came true."""
    deadline = time.perf_counter() + limit
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def watcher_worker(corpus: Path, idle_seconds: float) -> None:
    """A RepoWatcher alone over every clone: start-up stall, watches, idle CPU, latency, reload.

    Replies once. With `idle_seconds` 0 the idle window is skipped (the rounds before the last).
    """
    from gitwatch_tui.engine.watcher import RepoWatcher

    channel = protocol_channel()
    work = clones(corpus)
    repos = {p.name: (p, p / ".git") for p in work}
    calls: list[set[str]] = []
    watcher = RepoWatcher(calls.append, debounce=0.3)
    result: dict[str, Any] = {}

    async def start(spec: dict[str, tuple[Path, Path]]) -> tuple[float, float]:
        """set_repos, then (seconds until `watching`, longest loop stall in ms) over that time
        and one more second: work the watcher does right after it is ready counts too."""
        meter = StallMeter()
        started = time.perf_counter()
        watcher.set_repos(spec)
        await asyncio.sleep(0)  # `watching` reads the new generation from here on
        await until(lambda: watcher.watching or watcher.polling_fallback or task.done(), 120)
        ready = time.perf_counter() - started
        await asyncio.sleep(1.0)
        return ready, meter.stop()

    task = asyncio.create_task(watcher.run())
    probe = work[len(work) // 2] / "bench-latency.txt"
    try:
        result["ready_s"], result["start_stall_ms"] = await start(repos)
        result["watching"], result["notices"] = watcher.watching, list(watcher.notices)
        result["inotify_watches"] = inotify_watches()
        result["processes"] = 1 + len(descendants())
        result["threads"] = len(os.listdir("/proc/self/task"))
        result["rss_mb"] = tree_rss_mb()
        await asyncio.sleep(3.0)
        if idle_seconds:  # no StallMeter runs now: its wake-ups would count
            mark, busy = len(calls), machine_busy_seconds()
            own, kids, t0 = cpu_seconds(), live_children_cpu(), time.perf_counter()
            await asyncio.sleep(idle_seconds)
            window = time.perf_counter() - t0
            own, kids = cpu_seconds() - own, live_children_cpu() - kids
            result["idle_pct"] = 100 * (own + kids) / window
            result["idle_split_pct"] = [100 * own / window, 100 * kids / window]
            result["idle_window_s"] = window
            result["idle_calls"] = len(calls) - mark  # on_change calls: somebody wrote files
            result["machine_pct"] = 100 * (machine_busy_seconds() - busy) / window

        # Latency of one work-tree write, as the dashboard would see it (debounce 0.3 s).
        def reported_since(mark: int) -> Callable[[], bool]:
            return lambda: any(probe.parent.name in c for c in calls[mark:])

        latencies = []
        for i in range(3):
            mark = len(calls)
            started = time.perf_counter()
            probe.write_text(f"{i}\n")
            if await until(reported_since(mark), 5.0):
                latencies.append(time.perf_counter() - started)
            probe.unlink()
            await asyncio.sleep(1.0)
        result["latency_s"] = latencies
        # A config reload that drops one repo: a second session starts before the first stops.
        smaller = {k: v for k, v in repos.items() if k != work[0].name}
        result["reload_s"], result["reload_stall_ms"] = await start(smaller)
        stopping = time.perf_counter()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        result["stop_s"] = time.perf_counter() - stopping
        await asyncio.sleep(0.2)
        result["processes_after_stop"] = 1 + len(descendants())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        probe.unlink(missing_ok=True)
        reply(channel, result)


# -- the driver ------------------------------------------------------------------------------


class Worker:
    """A worker process running one engine, driven one command per line."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"engine worker died (exit status {self.proc.wait()})")
        data: dict[str, Any] = json.loads(line)
        return data

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> dict[str, Any]:
        try:
            return self.ask("quit")
        finally:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def engine_sample(data: dict[str, Any]) -> Sample:
    return Sample(
        data["wall"],
        data["cpu"],
        data["rss_mb"],
        data["failed"],
        errors=data["errors"],
        stall_ms=data["stall_ms"],
    )


def fetch_scenario(
    corpus: Path,
    rounds: int,
    fetch_jobs: int,
    status_jobs: int,
    modes: Sequence[str] = MODES,
    watching: Sequence[bool] = (False, True),
) -> dict[str, Any]:
    """Paired rounds, lower bound then engine, for each mode, file watching off then on."""
    work, remotes = clones(corpus), corpus / "remotes"
    bare = [remotes / f"{c.name}.git" for c in work]
    series: dict[tuple[str, str], Series] = {}
    lb_engine_cpu: list[float] = []  # the watching engine's CPU while a lower bound ran
    notes: list[str] = []

    def get(mode: str, label: str) -> Series:
        return series.setdefault((mode, label), Series(label))

    with tempfile.TemporaryDirectory(prefix="gitwatch-bench-") as tmp:
        listing = path_list(work, Path(tmp))
        daemon_log = open(Path(tmp) / "daemon.log", "w+b")  # noqa: SIM115 (read after close)
        with daemon_log, git_daemon(remotes, daemon_log) as (daemon, url):

            def plain(script: str, mode: str) -> Sample:
                """A lower-bound run; in "new commits" mode push first and verify after."""
                if mode == "new commits":
                    push_commits(bare)
                server = children_cpu(daemon.pid)
                sample = run_shell(script, fetch_jobs, listing, LOOPBACK, status_jobs)
                sample.server_cpu = children_cpu(daemon.pid) - server
                if mode == "new commits":
                    sample.failed = max(sample.failed, stale_clones(work, remotes))
                return sample

            def engine(worker: Worker, mode: str) -> Sample:
                if mode == "new commits":
                    push_commits(bare)
                server = children_cpu(daemon.pid)
                sample = engine_sample(worker.ask("fetch"))
                sample.server_cpu = children_cpu(daemon.pid) - server
                if mode == "new commits":
                    sample.failed = max(sample.failed, stale_clones(work, remotes))
                return sample

            def one_round(worker: Worker, mode: str, watch: bool) -> None:
                """Lower bound, then the engine; with watching off also the fairer reference
                (lower bound + status sweep) and, in no-op mode, the status sweep alone."""
                ours = get(mode, f"engine.fetch_all(), watch {'on' if watch else 'off'}")
                if watch:
                    worker.ask("quiet")
                before = worker.ask("usage")["cpu"] if watch else 0.0
                lb = get(mode, "lower bound").add(plain(LB_FETCH, mode))
                if watch:
                    lb_engine_cpu.append(worker.ask("usage")["cpu"] - before)
                sample = ours.add(engine(worker, mode), lb=lb)
                if watch:
                    return
                lbs = get(mode, "lower bound + status sweep").add(plain(fetch_status, mode))
                ours.ratios.setdefault("lbs", []).append(sample.wall / lbs.wall)
                if mode == "no-op":
                    status = run_shell(LB_STATUS, status_jobs, listing)
                    get("status", "lower bound: git status").add(status)
                    refresh = engine_sample(worker.ask("refresh"))
                    get("status", "engine.refresh_all()").add(refresh, lb=status)

            add_loopback_remote(work, url)
            # Fetch, then the status sweep at the engine's status concurrency ($4).
            fetch_status = LB_FETCH + "; " + LB_STATUS.replace('"$1"', '"$4"')
            for watch in watching:
                tag = "watch on" if watch else "watch off"
                worker = Worker("fetch", str(corpus), *(["--watch"] if watch else []))
                try:
                    notes.append(f"engine ({tag}) first sweep: {worker.read()['sweep_s']:.2f} s")
                    for mode in modes:  # warm-up: page cache, the first fetch creates lo/*
                        plain(LB_FETCH, mode)
                        engine(worker, mode)
                    for mode in modes:
                        for _ in range(rounds):
                            one_round(worker, mode, watch)
                finally:
                    notes += [f"engine ({tag}) log: {line}" for line in worker.close()["logs"]]
        daemon_lines = Path(daemon_log.name).read_text(errors="replace").splitlines()
    if lb_engine_cpu:
        notes.append(
            "watch on: the idle engine used "
            f"{statistics.median(lb_engine_cpu):.2f} CPU s (median) while a lower-bound run "
            "wrote to its clones (events received and mapped, refreshes suppressed)"
        )
    # The readiness probe connects and hangs up: one "hung up unexpectedly" line is expected.
    notes.append(f"git daemon log: {len(daemon_lines)} line(s), 1 expected (readiness probe)")
    notes += [f"git daemon: {line}" for line in daemon_lines[:10]]
    return {"series": series, "notes": notes}


def idle_scenario(
    corpus: Path, idle_seconds: float, fetch_jobs: int, status_jobs: int
) -> dict[str, Any]:
    """Lower bounds around the engine's first sweeps (each can only happen once per process)."""
    work = clones(corpus)

    def one_shot(*argv: str) -> dict[str, Any]:
        worker = Worker(*argv)
        try:
            return worker.read()
        finally:
            assert worker.proc.stdin is not None
            worker.proc.stdin.close()
            worker.proc.wait(timeout=60)

    with tempfile.TemporaryDirectory(prefix="gitwatch-bench-") as tmp:
        listing = path_list(work, Path(tmp))
        # Warm-up: the page cache for clones and remotes. Then let the writes of that fetch
        # (FETCH_HEAD in every clone) reach the disk, so writeback does not overlap the sweeps.
        run_shell(LB_FETCH, fetch_jobs, listing, "origin")
        run_shell(LB_STATUS, status_jobs, listing)
        os.sync()
        time.sleep(2.0)
        status = [run_shell(LB_STATUS, status_jobs, listing)]
        unwatched = one_shot("sweep", str(corpus))
        status.append(run_shell(LB_STATUS, status_jobs, listing))
        result = one_shot("idle", str(corpus), "--watch", "--idle-seconds", str(idle_seconds))
        status.append(run_shell(LB_STATUS, status_jobs, listing))
        fetch = run_shell(LB_FETCH, fetch_jobs, listing, "origin")
    result["lb_status"] = status
    result["unwatched"] = unwatched
    result["lb_fetch"] = fetch
    return result


def watcher_scenario(corpus: Path, rounds: int, idle_seconds: float) -> list[dict[str, Any]]:
    """`rounds` fresh watcher processes after one warm-up; only the last measures idle CPU."""

    def one(idle: float) -> dict[str, Any]:
        worker = Worker("watcher", str(corpus), "--idle-seconds", str(idle))
        try:
            return worker.read()
        finally:
            assert worker.proc.stdin is not None
            worker.proc.stdin.close()
            worker.proc.wait(timeout=60)

    one(0)  # warm-up: the dentry and inode caches of every folder the watcher walks
    return [one(0) for _ in range(rounds - 1)] + [one(idle_seconds)]


# -- report ----------------------------------------------------------------------------------


def median_range(values: list[float], fmt: str = "{:.2f}") -> str:
    mid, low, high = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{mid} ({low}–{high})"


def print_fetch(result: dict[str, Any], n: int, rounds: int, fetch_jobs: int) -> None:
    print(
        f"### Fetch-all, {n} repos from git daemon on 127.0.0.1, -P{fetch_jobs}, {rounds} rounds\n"
    )
    print(
        "| mode | strategy | wall s, median (min–max) | × lower bound, paired median "
        "| × lower bound + status | CPU s | server CPU s | peak RSS MB | failed "
        "| longest loop stall ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    labels = ["lower bound", "lower bound + status sweep", "lower bound: git status"]
    labels += [f"engine.fetch_all(), watch {x}" for x in ("off", "on")] + ["engine.refresh_all()"]
    order = {(m, label): i for i, (m, label) in enumerate(product((*MODES, "status"), labels))}
    for (mode, _), s in sorted(result["series"].items(), key=lambda kv: order[kv[0]]):
        lb = s.ratios.get("lb")
        ratio = f"**{statistics.median(lb):.2f}**" if lb else "1 (reference)"
        if mode == "status":
            ratio = f"{statistics.median(lb):.2f}" if lb else "1 (reference)"
        lbs = s.ratios.get("lbs")
        ratio2 = f"**{statistics.median(lbs):.2f}**" if lbs else ""
        if s.label == "lower bound + status sweep":
            ratio2 = "1 (reference)"
        walls = [x.wall for x in s.samples]
        stalls = [x.stall_ms for x in s.samples if x.stall_ms is not None]
        stall = f"{max(stalls):.0f}" if stalls else ""
        cpu = statistics.median(x.cpu for x in s.samples)
        server = statistics.median(x.server_cpu for x in s.samples)
        print(
            f"| {mode} | {s.label} | {median_range(walls)} | {ratio} | {ratio2} | {cpu:.2f} | "
            f"{server:.2f} | {max(x.rss_mb for x in s.samples):.0f} | "
            f"{sum(x.failed for x in s.samples)} | {stall} |"
        )
    errors = Counter(e for s in result["series"].values() for x in s.samples for e in x.errors)
    print()
    for note in result["notes"]:
        print(f"- {note}")
    for error, count in errors.most_common(5):
        print(f"- error ×{count}: {error}")


def print_idle(result: dict[str, Any], n: int, status_jobs: int, fetch_jobs: int) -> None:
    idle, fetch = result["idle"], result["fetch"]
    threads = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(idle["by_thread_s"].items()))
    watcher = "native (inotify)" if result["watching"] else "NOT watching"
    if result["polling_fallback"]:
        watcher = "polling fallback"
    max_watches = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    print(f"### Idle and memory, {n} repos (watch_files=True, keep_history=True)\n")
    print("| measure | value | target |")
    print("|---|---:|---:|")
    lb = [x.wall for x in result["lb_status"]]
    off, on = result["unwatched"], result
    # Each engine sweep against the mean of the lower-bound runs just before and after it.
    rows = [
        (
            f"first sweep: lower bound, xargs -P{status_jobs} git status (3 runs around the two "
            "below)",
            " / ".join(f"{x:.2f} s" for x in lb),
            "",
        ),
        (
            "first sweep: engine, watch off (start() → all statuses; × lower bound; longest "
            "loop stall)",
            f"{off['sweep_s']:.2f} s; {off['sweep_s'] / statistics.mean(lb[:2]):.2f}×; "
            f"{off['start_stall_ms']:.0f} ms",
            "",
        ),
        (
            "first sweep: engine, watch on (same)",
            f"{on['sweep_s']:.2f} s; **{on['sweep_s'] / statistics.mean(lb[1:]):.2f}×**; "
            f"**{on['start_stall_ms']:.0f} ms**",
            "",
        ),
        ("file watcher", f"{watcher}, ready after {result['watch_ready_s']:.1f} s", ""),
        ("inotify watches", f"{result['inotify_watches']:,} (max_user_watches {max_watches})", ""),
        (
            f"idle CPU over {idle['window_s']:.0f} s, % of one core",
            f"**{idle['pct']:.2f} %**",
            "< 2 %",
        ),
        (
            "idle CPU split",
            f"user {idle['user_s']:.2f} s, sys {idle['system_s']:.2f} s, "
            f"children {idle['children_s']:.2f} s, live child processes "
            f"{idle.get('live_children_s', 0.0):.2f} s; by thread: {threads}",
            "",
        ),
        (
            "whole machine meanwhile, % of one core (noise)",
            f"{idle['machine_pct']:.1f} % of {CORES * 100} %",
            "",
        ),
        ("events while idle", json.dumps(idle["events"]) if idle["events"] else "none", ""),
        (
            f"fetch_all from file:// origins (-P{fetch_jobs})",
            f"{fetch['wall']:.2f} s, CPU {fetch['cpu']:.2f} s, {fetch['failed']} failed, "
            f"longest loop stall {fetch['stall_ms']:.0f} ms",
            "",
        ),
        (
            f"lower bound: xargs -P{fetch_jobs} git fetch origin (one run, after)",
            f"{result['lb_fetch'].wall:.2f} s, CPU {result['lb_fetch'].cpu:.2f} s, "
            f"{result['lb_fetch'].failed} failed",
            "",
        ),
        ("peak RSS after first sweep (VmHWM)", f"{result['hwm_after_sweep_mb']:.0f} MB", ""),
        (
            "peak RSS after start + sweep + idle + fetch_all (ru_maxrss)",
            f"**{result['maxrss_mb']:.0f} MB** (VmRSS now {result['rss_mb']:.0f} MB)",
            "< 150 MB",
        ),
        ("threads", str(result["threads"]), ""),
    ]
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for line in result["notices"] + result["logs"] + off["logs"]:
        print(f"- engine: {line}")


def print_watcher(results: list[dict[str, Any]], n: int) -> None:
    def span(key: str, fmt: str = "{:.2f}") -> str:
        return median_range([r[key] for r in results], fmt)

    last = results[-1]
    latencies = [x for r in results for x in r["latency_s"]]
    state = "native" if all(r["watching"] for r in results) else "NOT watching in every round"
    max_watches = Path("/proc/sys/fs/inotify/max_user_watches").read_text().strip()
    print(f"### File watcher alone, {n} repos, {len(results)} rounds (median (min–max))\n")
    print("| measure | value |")
    print("|---|---:|")
    rows = [
        ("set_repos → `watching` (OS watches in place), s", span("ready_s")),
        ("longest loop stall, start (until watching + 1 s), ms", span("start_stall_ms", "{:.0f}")),
        ("inotify watches (loop process + watcher process)", span("inotify_watches", "{:,.0f}")),
        ("reload, one repo fewer: → `watching`, s", span("reload_s")),
        ("reload: longest loop stall, ms", span("reload_stall_ms", "{:.0f}")),
        ("work-tree write → on_change (debounce 0.3 s), s", median_range(latencies)),
        (
            f"idle CPU over {last['idle_window_s']:.0f} s, % of one core (loop process + watcher "
            "process)",
            f"{last['idle_pct']:.2f} % ({' + '.join(f'{x:.2f}' for x in last['idle_split_pct'])})",
        ),
        (
            "meanwhile: on_change calls; whole machine busy, % of one core (noise)",
            f"{last['idle_calls']}; {last['machine_pct']:.0f} % of {CORES * 100} %",
        ),
        ("RSS, loop process + watcher process, MB", span("rss_mb", "{:.0f}")),
        ("processes / loop-process threads", f"{last['processes']} / {last['threads']}"),
        ("cancel run() → done, s", span("stop_s", "{:.3f}")),
        ("processes left after stop", str(max(r["processes_after_stop"] for r in results) - 1)),
        ("state", f"{state}; max_user_watches {max_watches}"),
    ]
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for notice in {x for r in results for x in r["notices"]}:
        print(f"- watcher: {notice}")


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos-fetch", type=int, default=300, metavar="N")
    parser.add_argument("--repos-idle", type=int, default=1000, metavar="N")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("fetch", "idle", "watcher"), help="run one scenario")
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=CORPUS_DIR,
        help="where the nN corpora are (or are built), e.g. a disk with room for n10000",
    )
    parser.add_argument(
        "--fetch-modes", nargs="+", choices=MODES, default=list(MODES), metavar="MODE"
    )
    parser.add_argument(
        "--fetch-watch", nargs="+", choices=("off", "on"), default=["off", "on"], metavar="W"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--watch", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.worker:  # a worker process: `--worker KIND CORPUS ...`
        corpus = Path(rest[0])
        if args.worker == "fetch":
            asyncio.run(fetch_worker(corpus, args.watch))
        elif args.worker == "watcher":
            asyncio.run(watcher_worker(corpus, args.idle_seconds))
        else:
            sweep_only = args.worker == "sweep"
            asyncio.run(
                idle_worker(corpus, args.idle_seconds, watch=args.watch, sweep_only=sweep_only)
            )
        return 0
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    from gitwatch_tui.core.config import Defaults

    defaults = Defaults()
    fetch_jobs, status_jobs = defaults.fetch_concurrency, defaults.status_loops()
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{CORES} cores, {git}, Python {sys.version.split()[0]}; load before: {load()}\n")
    if args.only in (None, "fetch"):
        corpus = ensure_corpus(args.repos_fetch, args.corpus_dir)
        watching = [w == "on" for w in args.fetch_watch]
        result = fetch_scenario(
            corpus, args.rounds, fetch_jobs, status_jobs, args.fetch_modes, watching
        )
        print_fetch(result, args.repos_fetch, args.rounds, fetch_jobs)
        print(f"\nload after fetch: {load()}\n")
    if args.only in (None, "idle"):
        corpus = ensure_corpus(args.repos_idle, args.corpus_dir)
        result = idle_scenario(corpus, args.idle_seconds, fetch_jobs, status_jobs)
        print_idle(result, args.repos_idle, status_jobs, fetch_jobs)
        print(f"\nload after idle: {load()}\n")
    if args.only in (None, "watcher"):
        corpus = ensure_corpus(args.repos_idle, args.corpus_dir)
        print_watcher(watcher_scenario(corpus, args.rounds, args.idle_seconds), args.repos_idle)
        print(f"\nload after watcher: {load()}")
    return 0


if __name__ == "__main__":
    if shutil.which("git") is None:
        sys.exit("git is not on PATH")
    sys.exit(main())
