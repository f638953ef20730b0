"""Time the real dashboard in a real terminal: first frame, first sweep, key latency, memory.

    python benchmarks/dashboard_bench.py [CORPUS ...] [--runs 3] [--samples 20] [--json [PATH]]

Each run starts `gitwatch-tui dashboard CORPUS` in a tmux pane (its own `-L` server, 120x35,
status line off, XDG state and config in a temporary folder, `GITWATCH_TUI_CONFIG` unset) and
reads the screen back with `capture-pane`:

1. first frame: from spawning the process until a capture shows the app (its summary line
   " gitwatch " or the footer's "Quit");
2. all rows filled: until the summary says "N repos" without "scanning", against the plain-git
   lower bound of compare_status.py (`xargs -P<cores> git status`), run just before and just
   after the dashboard; the ratio uses their mean;
3. idle CPU over `--idle-seconds` once the app has settled (the watcher child is up and quiet);
   then the first press of `?`, `p`, `b` and Enter (each screen never shown before), each
   until its screen shows, then Escape until the dashboard is back;
4. key latency during full refreshes: `r` is pressed every `--refresh-every` seconds (and before
   a sample when none of the app's status reads is running), and meanwhile `?` is sent and the
   screen polled until the help screen's "Moving" shows, then Escape until it is gone;
5. peak RSS (VmHWM) of the app's process at the end.

Before the dashboard, each run times the floor in the same pane (`--floor-starts`, 0 for none):
floor_app.py, a bare Textual app that draws what the checks above look for, started 3 times
(spawn → " gitwatch " shown), then `?` and Escape to its full-screen modal `--samples` times
while the lower bound's `xargs git status` runs at the app's background niceness. The table
gives the dashboard's first frame and keys less those: what the dashboard adds to Textual,
Python and tmux on that machine, that day (a VM's speed moved these by 30 % between sessions).

tmux is driven through one control-mode client (`tmux -C`), so a capture costs a pipe round
trip, not a process spawn: that keeps the polling from eating the 2 cores the app needs. Both
capture costs are measured and reported (`--capture spawn` polls with a process per capture).
Captures are `--start-poll-ms` (10) apart until the fill and `--poll-ms` (2) apart for keys.
The corpus (default benchmarks/.corpus/n1000) is built with make_corpus.py when missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import random
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "gitwatch_tui"
sys.path.insert(0, str(HERE))
from compare_status import lower_bound, run_once  # noqa: E402  (same lower bound, same timing)

from gitwatch_tui.core.git import BACKGROUND_NICENESS  # noqa: E402  (the floor's git load)

CORES = os.cpu_count() or 2
TICK = os.sysconf("SC_CLK_TCK")
WIDTH, HEIGHT = 120, 35
TARGETS = {  # the targets: (limit, unit)
    "first_frame_s": (0.6, "s"),
    "fill_ratio": (1.3, "x"),
    "key_open_ms": (100.0, "ms"),
    "key_close_ms": (100.0, "ms"),
    "rss_mb": (200.0, "MB"),
    "quit_s": (1.0, "s"),
}
# Phase time limits, seconds: a hung phase fails the run instead of the whole benchmark.
LIMITS = {"frame": 20.0, "fill": 180.0, "settle": 90.0, "key": 10.0, "quit": 15.0}


class PhaseTimeoutError(RuntimeError):
    """A phase did not reach its screen in time; the message holds the last screen."""


# -- tmux ------------------------------------------------------------------------------------


class Tmux:
    """A private tmux server with one 120x35 session, "gw", driven by tmux commands.

    Commands go through one control-mode client (a pipe round trip each) or, with
    `spawn=True`, through a `tmux` process per command (what a shell script would do).
    """

    def __init__(self, env: dict[str, str], *, spawn: bool = False) -> None:
        self.socket = f"gw-dashboard-bench-{os.getpid()}-{random.randrange(10**6)}"
        self.env = env
        self.spawn = spawn
        self._control: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[tuple[bool, list[str]] | None] = queue.Queue()
        self._lock = threading.Lock()

    def start(self) -> None:
        # -f /dev/null: none of the user's tmux.conf. A placeholder command holds the pane
        # until `launch` respawns it. The status line would take a row: off, so the app gets
        # the full 120x35. remain-on-exit keeps a crashed app's last screen for the report.
        self.run_spawned(
            "-f", os.devnull, "new-session", "-d", "-s", "gw", "-x", str(WIDTH),
            "-y", str(HEIGHT), "sleep 86400", ";",
            "set", "-g", "status", "off", ";",
            "set", "-g", "window-size", "manual", ";",
            "set", "-g", "escape-time", "0", ";",
            "set", "-g", "remain-on-exit", "on",
        )  # fmt: skip
        control = subprocess.Popen(
            ["tmux", "-L", self.socket, "-C", "attach", "-t", "gw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=self.env,
        )
        self._control = control
        threading.Thread(target=self._read_replies, daemon=True).start()
        # The attach itself answers with a block of its own: skip replies up to our marker.
        assert control.stdin is not None
        control.stdin.write("refresh-client -f no-output\ndisplay -p gw-sync\n")
        control.stdin.flush()
        while True:
            reply = self._replies.get(timeout=10)
            if reply is None:
                raise RuntimeError("tmux control client exited at start")
            if reply[1] == ["gw-sync"]:
                break
        size = self.cmd("display", "-p", "-t", "gw", "#{pane_width}x#{pane_height}").strip()
        if size != f"{WIDTH}x{HEIGHT}":
            raise RuntimeError(f"tmux pane is {size}, not {WIDTH}x{HEIGHT}")

    def _read_replies(self) -> None:
        """Collect `%begin ... %end` blocks; every other line is a notification."""
        control = self._control
        assert control is not None and control.stdout is not None
        block: list[str] | None = None
        tag = ""
        for raw in control.stdout:
            line = raw.rstrip("\n")
            if block is None:
                if line.startswith("%begin "):
                    block, tag = [], line.split(" ", 1)[1]
                continue
            # The closing line repeats the opening's time, number and flags: a pane line that
            # happens to start with "%end" cannot end the block.
            if line in (f"%end {tag}", f"%error {tag}"):
                # Flags 1: a command we wrote. The attach on the command line answers with
                # flags 0, and that reply may come after our first ones.
                if tag.split()[-1] == "1":
                    self._replies.put((line.startswith("%end"), block))
                block = None
            else:
                block.append(line)
        self._replies.put(None)

    def run_spawned(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            env=self.env,
        ).stdout

    def cmd(self, *args: str) -> str:
        """Run one tmux command and return its output."""
        if self.spawn or self._control is None:
            return self.run_spawned(*args)
        control = self._control
        assert control.stdin is not None
        with self._lock:
            control.stdin.write(" ".join(shlex.quote(a) for a in args) + "\n")
            control.stdin.flush()
            try:
                reply = self._replies.get(timeout=30)
            except queue.Empty:
                raise RuntimeError(f"tmux {args[0]}: no reply in 30 s") from None
        if reply is None:
            raise RuntimeError("tmux control client exited")
        ok, lines = reply
        if not ok:
            raise RuntimeError(f"tmux {args[0]}: {' '.join(lines)}")
        return "\n".join(lines) + "\n"

    def screen(self) -> str:
        return self.cmd("capture-pane", "-p", "-t", "gw")

    def keys(self, *keys: str) -> None:
        self.cmd("send-keys", "-t", "gw", *keys)

    def pane(self, fmt: str) -> str:
        return self.cmd("display", "-p", "-t", "gw", fmt).strip()

    def close(self) -> None:
        socket = self.run_spawned("display", "-p", "#{socket_path}").strip()
        with contextlib.suppress(Exception):
            self.run_spawned("kill-server")
        if socket:  # tmux 3.3 leaves the socket file behind
            with contextlib.suppress(OSError):
                os.unlink(socket)
        if self._control is not None:
            with contextlib.suppress(Exception):
                self._control.wait(timeout=5)
            if self._control.poll() is None:
                self._control.kill()
                self._control.wait()


@dataclass
class Capture:
    """One capture-pane: when it was sent, when it came back, and the screen."""

    sent: float
    back: float
    text: str


def poll(
    term: Tmux, check: Callable[[str], bool], *, since: float, phase: str, every: float = 0.0
) -> tuple[Capture, Capture | None]:
    """Capture until `check(screen)`; return that capture and the one before it (the change
    happened after the earlier capture was taken). Raises PhaseTimeoutError after LIMITS[phase]."""
    deadline = since + LIMITS[phase]
    before: Capture | None = None
    while True:
        sent = time.perf_counter()
        text = term.screen()
        now = Capture(sent, time.perf_counter(), text)
        if check(text):
            return now, before
        if now.back > deadline:
            raise PhaseTimeoutError(f"{phase}: screen never matched; last screen:\n{text}")
        before = now
        if every:
            time.sleep(every)


def panel_shown(screen: str) -> bool:
    return not summary_line(screen)  # a panel covers the whole screen, the summary included


def panel_gone(screen: str) -> bool:
    return bool(summary_line(screen)) and not help_shown(screen)


# The keys whose first press is timed (the app has never shown their screens before), with
# what shows that they answered.
FIRST_KEYS = {"?": (lambda s: help_shown(s), lambda s: help_gone(s))} | {
    key: (panel_shown, panel_gone) for key in ("p", "b", "Enter")
}


def help_shown(screen: str) -> bool:
    return "Moving" in screen  # a heading of the help screen


def help_gone(screen: str) -> bool:
    return "Moving" not in screen


def summary_line(screen: str) -> str:
    return next((line for line in screen.splitlines() if " gitwatch " in line), "")


# -- /proc -----------------------------------------------------------------------------------


def proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, breadth first."""
    tree, out, todo = proc_children(), [], [pid]
    while todo:
        kids = tree.get(todo.pop(0), [])
        out += kids
        todo += kids
    return out


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime+stime of the process, all its threads; cutime+cstime of its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def status_field(pid: int, key: str) -> int:
    """A number from /proc/PID/status (kB for the Vm* lines)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def status_mb(pid: int, key: str) -> float:
    return status_field(pid, key) / 1024


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def find_app(pane_pid: int) -> int | None:
    """The process running the dashboard: the pane's own process once `exec` has run, else
    the first descendant whose command line says `dashboard`."""
    for pid in [pane_pid, *descendants(pane_pid)]:
        if "dashboard" in cmdline(pid):
            return pid
    return None


def watcher_pid(app: int) -> int | None:
    return next((p for p in descendants(app) if "watch_worker" in " ".join(cmdline(p))), None)


def quit_app(term: Tmux, app: int, during: str, run: Run) -> None:
    """`q` once a full refresh (`r`) or a fetch of every repo (`F`) is under way: the time
    until the app's process is gone, and how many of its processes outlived it."""
    run.quit_during = during
    term.keys("r" if during == "refresh" else "F")
    wanted = reading_status if during == "refresh" else lambda command: " fetch " in command
    deadline = time.perf_counter() + LIMITS["key"]
    while time.perf_counter() < deadline and not run.quit_busy:
        run.quit_busy = any(wanted(" ".join(cmdline(p))) for p in descendants(app))
        time.sleep(0.01)
    ours = descendants(app)
    term.keys("q")
    quit_start = time.perf_counter()
    while Path(f"/proc/{app}").exists() and status_state(app) != "Z":
        if time.perf_counter() - quit_start > LIMITS["quit"]:
            raise PhaseTimeoutError(f"quit: app still running; last screen:\n{term.screen()}")
        time.sleep(0.005)
    run.quit_s = time.perf_counter() - quit_start
    # The watcher child and the group keeper leave as their pipes close: give them 2 s.
    left = [p for p in ours if status_state(p) not in ("", "Z")]
    while left and time.perf_counter() - quit_start < run.quit_s + 2.0:
        time.sleep(0.02)
        left = [p for p in left if status_state(p) not in ("", "Z")]
    run.quit_left = len(left)
    while term.pane("#{pane_dead}") != "1":
        if time.perf_counter() - quit_start > LIMITS["quit"]:
            raise PhaseTimeoutError("quit: the pane outlived the app")
        time.sleep(0.05)
    run.exit_status = term.pane("#{pane_dead_status}")


def status_state(pid: int) -> str:
    """A process's state letter (R, S, Z, ...), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def git_status_running(app: int) -> bool:
    """A status read of the app's is under way: a `git status`, or the shell loop that runs
    them one repo after another (its script names the command)."""
    return any(reading_status(" ".join(cmdline(p))) for p in descendants(app))


def reading_status(command: str) -> bool:
    """A `git status` of ours, or a loop of them: `status`, options (`--ignore-submodules`
    for an untrusted repo), then `--porcelain=v2`."""
    return " status " in command and "--porcelain=v2" in command


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Run:
    """Everything one run measured (seconds unless the name says otherwise)."""

    repos: int
    lower_bound_before_s: float = 0.0
    lower_bound_after_s: float = 0.0
    launch_cmd_ms: float = 0.0  # the respawn-pane round trip, included in the first frame
    first_frame_s: float = 0.0
    rows_shown_s: float = 0.0  # every repo has a row (its status may still be unread)
    filled_s: float = 0.0
    # Where the cores went from spawn to filled, in CPU seconds: the app (every thread), its
    # reaped children (git), and the whole machine's idle time (a core nobody used).
    fill_app_cpu_s: float = 0.0
    fill_git_cpu_s: float = 0.0
    fill_idle_cpu_s: float = 0.0
    settled_after_s: float = 0.0
    settled: bool = False
    idle_seconds: float = 0.0
    idle_app_pct: float = 0.0  # % of one core: the app's own threads
    idle_git_pct: float = 0.0  # its finished children (git: scheduled polls)
    idle_watcher_pct: float = 0.0  # the file-watcher child process
    idle_machine_pct: float = 0.0  # whole machine, % of one core (noise from elsewhere)
    capture_control_ms: float = 0.0  # median cost of one capture-pane, control client
    capture_spawn_ms: float = 0.0  # median cost of one capture-pane, a tmux process each
    # The first press of each FIRST_KEYS key (and the Escape after it): key -> (open, close) ms.
    first_touch_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    key_open_ms: list[float] = field(default_factory=list)
    key_close_ms: list[float] = field(default_factory=list)
    key_resolution_ms: list[float] = field(default_factory=list)  # poll step at each answer
    start_resolution_ms: list[float] = field(default_factory=list)  # same, frame and fill
    refresh_seen: int = 0  # samples with a `git status` of the app running as the key was sent
    refresh_presses: int = 0
    poll_tmux_pct: float = 0.0  # tmux server CPU during the key phase, % of one core
    poll_bench_pct: float = 0.0  # this script's CPU during the key phase
    rss_mb: float = 0.0  # VmHWM of the app process at the end
    rss_now_mb: float = 0.0
    watcher_rss_mb: float = 0.0
    threads: int = 0
    exit_status: str = ""
    quit_during: str = ""  # what ran as `q` went in: "refresh" (`r`) or "fetch-all" (`F`)
    quit_busy: bool = False  # the app's git was seen running just before `q`
    quit_s: float = 0.0  # `q` → the app's process gone
    quit_left: int = 0  # processes of the app still alive once it was gone (git it started)
    # The floor (floor_app.py, a bare Textual app, in the same pane just before the dashboard):
    # its first frames, and `?` / Escape to its modal while plain git reads every status.
    floor_frame_s: list[float] = field(default_factory=list)
    floor_key_open_ms: list[float] = field(default_factory=list)
    floor_key_close_ms: list[float] = field(default_factory=list)
    floor_load_seen: int = 0  # floor key samples with the git load running as the key went in
    load_avg: float = 0.0  # 1-minute load average as the run began
    machine_before_pct: float = 0.0  # whole machine, % of one core, the second before the run

    @property
    def lower_bound_s(self) -> float:
        return (self.lower_bound_before_s + self.lower_bound_after_s) / 2

    @property
    def fill_ratio(self) -> float:
        return self.filled_s / self.lower_bound_s


def measure_floor(
    term: Tmux,
    env: dict[str, str],
    work: Path,
    args: argparse.Namespace,
    run: Run,
    every: float,
    start_every: float,
) -> None:
    """floor_app.py's first frame (`--floor-starts` times), then `?` and Escape to its modal
    (`--samples` times) while the lower bound's `xargs git status` runs over the corpus at the
    niceness the app gives its own background git (restarted whenever it ends)."""
    floor_app = shlex.join([sys.executable, str(HERE / "floor_app.py")])
    command = f"exec env TERM={shlex.quote(env['TERM'])} {floor_app}"
    for _ in range(args.floor_starts):
        t0 = time.perf_counter()
        term.cmd("respawn-pane", "-k", "-t", "gw", command)
        frame, _ = poll(
            term, lambda s: " gitwatch " in s, since=t0, phase="frame", every=start_every
        )
        run.floor_frame_s.append(frame.back - t0)
        time.sleep(0.3)
        quit_and_wait(term)
    t0 = time.perf_counter()
    term.cmd("respawn-pane", "-k", "-t", "gw", command)
    poll(term, lambda s: " gitwatch " in s, since=t0, phase="frame", every=start_every)
    sweep = ["nice", "-n", str(BACKGROUND_NICENESS), *lower_bound(work, args.jobs).argv]
    load: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(args.samples):
            if load is None or load.poll() is not None:
                load = subprocess.Popen(sweep, stdout=subprocess.DEVNULL, start_new_session=True)
                time.sleep(0.1)  # git under way before the key goes in
            run.floor_load_seen += load.poll() is None
            time_help_keys(term, run.floor_key_open_ms, run.floor_key_close_ms, every)
            time.sleep(random.uniform(0.02, 0.08))
    finally:
        # TERM, not KILL: git removes its index.lock on TERM, and a lock left behind in the
        # corpus would change what the dashboard then reads.
        if load is not None and load.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(load.pid, signal.SIGTERM)
            try:
                load.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(load.pid, signal.SIGKILL)
                load.wait()
    quit_and_wait(term)


def quit_and_wait(term: Tmux) -> None:
    """`q`, and wait until the pane's app has exited: one that `respawn-pane -k` killed would
    still be restoring the terminal while the next app starts, and slow its first frame."""
    term.keys("q")
    deadline = time.perf_counter() + LIMITS["quit"]
    while term.pane("#{pane_dead}") != "1":
        if time.perf_counter() > deadline:
            raise PhaseTimeoutError(f"quit: the app did not exit; last screen:\n{term.screen()}")
        time.sleep(0.02)


def time_help_keys(
    term: Tmux, opens: list[float], closes: list[float], every: float
) -> list[float]:
    """`?` until its screen shows "Moving", then Escape until it is gone: each in ms into
    `opens` and `closes`. Returns the poll step (ms) at each answer: the screen changed after
    the capture before the matching one was sent, so each figure is exact to that step."""
    steps = []
    for key, check, out in (("?", help_shown, opens), ("Escape", help_gone, closes)):
        sent = time.perf_counter()
        term.keys(key)
        match, prev = poll(term, check, since=sent, phase="key", every=every)
        out.append((match.back - sent) * 1000)
        steps.append((match.back - (prev.sent if prev else sent)) * 1000)
    return steps


def clean_env(state: Path) -> dict[str, str]:
    """The caller's environment minus anything that changes the app: a config file, Textual
    and colour switches, an enclosing tmux; state and config in a temporary folder."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITWATCH_TUI_CONFIG", "TMUX", "TMUX_PANE", "NO_COLOR", "ESCDELAY")
        and not k.startswith("TEXTUAL")
    }
    env.update(
        XDG_STATE_HOME=str(state / "state"),
        XDG_CONFIG_HOME=str(state / "config"),
        TERM="xterm-256color",
    )
    return env


def app_argv() -> list[str]:
    exe = Path(sys.executable).with_name("gitwatch-tui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gitwatch_tui"]


def measure_capture(term: Tmux, n: int = 30) -> tuple[float, float]:
    """Median ms of one capture-pane through the control client, and as a process."""
    control, spawned = [], []
    for _ in range(n):
        t = time.perf_counter()
        term.screen()
        control.append(time.perf_counter() - t)
        t = time.perf_counter()
        term.run_spawned("capture-pane", "-p", "-t", "gw")
        spawned.append(time.perf_counter() - t)
    return statistics.median(control) * 1000, statistics.median(spawned) * 1000


def wait_quiet(limit: float, busy_pct: float = 25.0) -> float:
    """Wait (up to `limit` s) for a second in which the whole machine is below `busy_pct` of
    one core: other work on a shared VM skews every figure. Returns the last second's %."""
    deadline = time.monotonic() + limit
    while True:
        busy0, total0 = machine_busy()
        time.sleep(1.0)
        busy1, total1 = machine_busy()
        pct = (busy1 - busy0) / max(1, total1 - total0) * CORES * 100
        if pct < busy_pct or time.monotonic() > deadline:
            return pct


def one_run(corpus: Path, args: argparse.Namespace, log: Callable[[str], None]) -> Run:
    work = corpus / "work"
    n = sum(1 for _ in work.iterdir())
    run = Run(repos=n, machine_before_pct=wait_quiet(args.wait_quiet))
    run.load_avg = os.getloadavg()[0]
    base = lower_bound(work, args.jobs)
    run.lower_bound_before_s = run_once(base)
    tmp = Path(tempfile.mkdtemp(prefix="gitwatch-dashboard-bench-"))
    env = clean_env(tmp)
    term = Tmux(env, spawn=args.capture == "spawn")
    app: int | None = None
    try:
        term.start()
        exports = " ".join(
            f"{k}={shlex.quote(env[k])}" for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "TERM")
        )
        command = (
            f"exec env -u GITWATCH_TUI_CONFIG {exports} "
            f"{shlex.join([*app_argv(), 'dashboard', str(work)])}"
        )
        # Each capture costs the tmux server and this script CPU that the app and its git
        # would otherwise get: every 2 ms, that was 0.15 of a core, and the fill took 0.1-0.3 s
        # longer than with a capture every 10 ms. The start-up phases poll at the coarser step
        # (their resolution is reported); key latency, tens of ms, keeps the fine one.
        every, start_every = args.poll_ms / 1000, args.start_poll_ms / 1000

        # 0. the floor: the same measures for an app that is nothing but Textual.
        if args.floor_starts:
            measure_floor(term, env, work, args, run, every, start_every)
            log(
                f"  floor: first frame {statistics.median(run.floor_frame_s):.3f} s, `?` under "
                f"git load {statistics.median(run.floor_key_open_ms):.0f} ms (median)"
            )

        # 1. first frame: the clock starts as the pane's process is spawned.
        busy0, total0 = machine_busy()
        t0 = time.perf_counter()
        term.cmd("respawn-pane", "-k", "-t", "gw", command)
        run.launch_cmd_ms = (time.perf_counter() - t0) * 1000
        frame, before = poll(
            term,
            lambda s: " gitwatch " in s or "Quit" in s,
            since=t0,
            phase="frame",
            every=start_every,
        )
        run.first_frame_s = frame.back - t0
        run.start_resolution_ms.append((frame.back - (before.sent if before else t0)) * 1000)
        app = find_app(int(term.pane("#{pane_pid}")))
        if app is None:
            raise RuntimeError("no dashboard process under the tmux pane")

        # 2. every repo has a row (the summary counts them all), then every row filled.
        shown, _ = poll(
            term,
            lambda s: f" {n} repos" in summary_line(s),
            since=t0,
            phase="fill",
            every=start_every,
        )
        run.rows_shown_s = shown.back - t0

        def filled(screen: str) -> bool:
            line = summary_line(screen)
            return f" {n} repos" in line and "scanning" not in line

        done, before = poll(term, filled, since=t0, phase="fill", every=start_every)
        run.filled_s = done.back - t0
        run.start_resolution_ms.append((done.back - (before.sent if before else t0)) * 1000)
        busy1, total1 = machine_busy()
        run.fill_app_cpu_s, run.fill_git_cpu_s = cpu_seconds(app)
        run.fill_idle_cpu_s = (total1 - total0 - (busy1 - busy0)) / TICK
        log(
            f"  first frame {run.first_frame_s:.3f} s, filled {run.filled_s:.3f} s "
            f"(lower bound before {run.lower_bound_before_s:.3f} s)"
        )

        # 3. settle: the watcher child starts after the first sweep and walks every repo. The
        # app itself never goes quiet (scheduled polls: 1,000 repos at the default 300 s
        # interval is 3 fetches a second), so only the watcher's quiet is waited for.
        settle_start = time.perf_counter()
        quiet = 0
        while time.perf_counter() - settle_start < LIMITS["settle"]:
            w = watcher_pid(app)
            if w is None and args.need_watcher:
                quiet = 0
                time.sleep(0.25)
                continue
            with contextlib.suppress(OSError):
                cpu_before = cpu_seconds(w)[0] if w else 0.0
                time.sleep(0.5)
                busy = (cpu_seconds(w)[0] - cpu_before) / 0.5 if w else 0.0
                quiet = quiet + 1 if busy < 0.05 else 0
            if quiet >= 2 and time.perf_counter() - settle_start >= args.settle_min:
                run.settled = True
                break
        run.settled_after_s = time.perf_counter() - settle_start
        w = watcher_pid(app)
        app0, git0 = cpu_seconds(app)
        watch0 = cpu_seconds(w)[0] if w else 0.0
        busy0, total0 = machine_busy()
        t_idle = time.perf_counter()
        time.sleep(args.idle_seconds)
        run.idle_seconds = time.perf_counter() - t_idle
        app1, git1 = cpu_seconds(app)
        watch1 = cpu_seconds(w)[0] if w and Path(f"/proc/{w}").exists() else watch0
        busy1, total1 = machine_busy()
        span = run.idle_seconds / 100  # so that the figures are % of one core
        run.idle_app_pct = (app1 - app0) / span
        run.idle_git_pct = (git1 - git0) / span
        run.idle_watcher_pct = (watch1 - watch0) / span
        run.idle_machine_pct = (busy1 - busy0) / max(1, total1 - total0) * CORES * 100
        run.capture_control_ms, run.capture_spawn_ms = measure_capture(term)

        # 3b. the first press of each key, once the app has settled: what a user meets first.
        for key, (opened, closed) in FIRST_KEYS.items():
            times = []
            for send, check in ((key, opened), ("Escape", closed)):
                sent = time.perf_counter()
                term.keys(send)
                match, _ = poll(term, check, since=sent, phase="key", every=every)
                times.append((match.back - sent) * 1000)
            run.first_touch_ms[key] = (times[0], times[1])
        log("  first touch: " + ", ".join(
            f"{key} {o:.0f}/{c:.0f} ms" for key, (o, c) in run.first_touch_ms.items()
        ))  # fmt: skip

        # 4. key latency while full refreshes run. What the polling costs (tmux rendering
        # captures, this script reading them) is CPU the app does not get: reported.
        server = int(term.pane("#{pid}"))
        tmux0, own0 = cpu_seconds(server)[0], own_cpu()
        keys_start = last_r = time.perf_counter()
        term.keys("r")
        run.refresh_presses += 1
        time.sleep(0.3)
        for _ in range(args.samples):
            now = time.perf_counter()
            running = git_status_running(app)
            if now - last_r >= args.refresh_every or (not running and now - last_r > 0.2):
                term.keys("r")
                run.refresh_presses += 1
                last_r = time.perf_counter()
                time.sleep(0.1)  # let the refresh get going before the key goes in
                running = git_status_running(app)
            run.refresh_seen += running
            steps = time_help_keys(term, run.key_open_ms, run.key_close_ms, every)
            run.key_resolution_ms.extend(steps)
            time.sleep(random.uniform(0.02, 0.08))  # off the app's frame and timer beat
        span = (time.perf_counter() - keys_start) / 100
        run.poll_tmux_pct = (cpu_seconds(server)[0] - tmux0) / span
        run.poll_bench_pct = (own_cpu() - own0) / span

        # 5. memory at the end, then quit the way a user does.
        run.rss_mb = status_mb(app, "VmHWM")
        run.rss_now_mb = status_mb(app, "VmRSS")
        run.threads = status_field(app, "Threads")
        w = watcher_pid(app)
        run.watcher_rss_mb = status_mb(w, "VmHWM") if w else float("nan")
        quit_app(term, app, args.quit_during, run)
    finally:
        # Closing the server hangs up on the app; whatever of ours outlives that is killed,
        # by pid, provided it still runs the same command line.
        ours = {pid: cmdline(pid) for pid in ([app, *descendants(app)] if app else [])}
        term.close()
        deadline = time.monotonic() + 3
        for pid, argv in ours.items():
            while cmdline(pid) == argv and time.monotonic() < deadline:
                time.sleep(0.05)
            if argv and cmdline(pid) == argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
    run.lower_bound_after_s = run_once(base)
    return run


# -- report ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarize(runs: list[Run]) -> dict[str, Any]:
    med = statistics.median
    opens = [v for r in runs for v in r.key_open_ms]
    closes = [v for r in runs for v in r.key_close_ms]
    samples = sum(len(r.key_open_ms) for r in runs)
    return {
        "repos": runs[0].repos,
        "runs": len(runs),
        "first_frame_s": med(r.first_frame_s for r in runs),
        "rows_shown_s": med(r.rows_shown_s for r in runs),
        "quit_s": med(r.quit_s for r in runs),
        "quit_left": max(r.quit_left for r in runs),
        "quit_busy": all(r.quit_busy for r in runs),
        "filled_s": med(r.filled_s for r in runs),
        "lower_bound_s": med(r.lower_bound_s for r in runs),
        "fill_app_cpu_s": med(r.fill_app_cpu_s for r in runs),
        "fill_git_cpu_s": med(r.fill_git_cpu_s for r in runs),
        "fill_idle_cpu_s": med(r.fill_idle_cpu_s for r in runs),
        "fill_ratio": med(r.fill_ratio for r in runs),
        "first_touch_ms": {
            key: (
                med(r.first_touch_ms[key][0] for r in runs),
                med(r.first_touch_ms[key][1] for r in runs),
            )
            for key in FIRST_KEYS
        },  # fmt: skip
        "key_open_ms": med(opens),
        "key_open_p90_ms": pct(opens, 0.9),
        "key_open_max_ms": max(opens),
        "key_close_ms": med(closes),
        "key_close_p90_ms": pct(closes, 0.9),
        "key_close_max_ms": max(closes),
        "key_resolution_ms": med(v for r in runs for v in r.key_resolution_ms),
        "start_resolution_ms": med(v for r in runs for v in r.start_resolution_ms),
        "refresh_coverage": sum(r.refresh_seen for r in runs) / max(1, samples),
        "rss_mb": med(r.rss_mb for r in runs),
        "watcher_rss_mb": med(r.watcher_rss_mb for r in runs),
        "idle_app_pct": med(r.idle_app_pct for r in runs),
        "idle_git_pct": med(r.idle_git_pct for r in runs),
        "idle_watcher_pct": med(r.idle_watcher_pct for r in runs),
        "idle_machine_pct": med(r.idle_machine_pct for r in runs),
        "capture_control_ms": med(r.capture_control_ms for r in runs),
        "capture_spawn_ms": med(r.capture_spawn_ms for r in runs),
        "poll_tmux_pct": med(r.poll_tmux_pct for r in runs),
        "poll_bench_pct": med(r.poll_bench_pct for r in runs),
        "machine_before_pct": med(r.machine_before_pct for r in runs),
        "load_avg": med(r.load_avg for r in runs),
        "launch_cmd_ms": med(r.launch_cmd_ms for r in runs),
        **floor_summary(runs),
        "settled": all(r.settled for r in runs),
    }


def floor_summary(runs: list[Run]) -> dict[str, Any]:
    """The floor's medians, and the dashboard's figures less them (run by run, then the
    median): what the dashboard itself adds. Empty when no floor was measured."""
    med = statistics.median
    if not all(r.floor_frame_s and r.floor_key_open_ms for r in runs):
        return {}
    opens = [v for r in runs for v in r.floor_key_open_ms]
    closes = [v for r in runs for v in r.floor_key_close_ms]
    return {
        "floor_frame_s": med(v for r in runs for v in r.floor_frame_s),
        "floor_key_open_ms": med(opens),
        "floor_key_open_p90_ms": pct(opens, 0.9),
        "floor_key_open_max_ms": max(opens),
        "floor_key_close_ms": med(closes),
        "floor_key_close_p90_ms": pct(closes, 0.9),
        "floor_key_close_max_ms": max(closes),
        "floor_load_coverage": sum(r.floor_load_seen for r in runs) / max(1, len(opens)),
        "frame_over_floor_s": med(r.first_frame_s - med(r.floor_frame_s) for r in runs),
        "key_open_over_floor_ms": med(med(r.key_open_ms) - med(r.floor_key_open_ms) for r in runs),
        "key_close_over_floor_ms": med(
            med(r.key_close_ms) - med(r.floor_key_close_ms) for r in runs
        ),
    }


def spread(runs: list[Run], get: Callable[[Run], float], fmt: str) -> str:
    values = [get(r) for r in runs]
    if len(values) == 1:
        return fmt.format(values[0])
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(statistics.median(values))} ({low}–{high})"


def verdict(key: str, value: float) -> str:
    limit, _ = TARGETS[key]
    return "PASS" if value < limit else "FAIL"


def table(corpus: str, runs: list[Run], s: dict[str, Any]) -> str:
    n, lines = s["repos"], list[str]()
    add = lines.append
    add(f"\n{corpus}: {n} repos, {s['runs']} runs, {CORES} cores\n")
    add("| measure | median (min–max over runs) | target | |")
    add("|---|---:|---:|---|")
    frame = spread(runs, lambda r: r.first_frame_s, "{:.2f}")
    add(
        f"| first frame (spawn → app on screen) | {frame} s | < 0.6 s "
        f"| {verdict('first_frame_s', s['first_frame_s'])} |"
    )
    if "floor_frame_s" in s:
        starts = len(runs[0].floor_frame_s)
        add(
            f"| floor: a bare Textual app (floor_app.py), spawn → on screen, {starts} starts a "
            f"run | {spread(runs, lambda r: statistics.median(r.floor_frame_s), '{:.2f}')} s | | |"
        )
        add(f"| first frame − floor | {s['frame_over_floor_s'] * 1000:+.0f} ms | | |")
    add(f"| every repo has a row | {spread(runs, lambda r: r.rows_shown_s, '{:.2f}')} s | | |")
    add(f"| all rows filled | {spread(runs, lambda r: r.filled_s, '{:.2f}')} s | | |")
    add(
        f"| lower bound: git status, xargs -P{CORES} (mean of before/after) | "
        f"{spread(runs, lambda r: r.lower_bound_s, '{:.2f}')} s | | |"
    )
    add(
        f"| filled ÷ lower bound | {spread(runs, lambda r: r.fill_ratio, '{:.2f}')}× | < 1.3× "
        f"| {verdict('fill_ratio', s['fill_ratio'])} |"
    )
    add(
        f"| CPU until filled: app (all threads) / its git / idle cores | "
        f"{s['fill_app_cpu_s']:.2f} / {s['fill_git_cpu_s']:.2f} / {s['fill_idle_cpu_s']:.2f} s "
        f"| | |"
    )
    for key, (opened, closed) in s["first_touch_ms"].items():
        add(
            f"| first press of `{key}` → its screen / Escape → back | {opened:.0f} / "
            f"{closed:.0f} ms | < 100 ms | {'PASS' if max(opened, closed) < 100 else 'FAIL'} |"
        )
    for key, label in (("open", "`?` → help shown"), ("close", "Escape → help gone")):
        add(
            f"| key during refresh: {label}, median / p90 / max | "
            f"{s[f'key_{key}_ms']:.0f} / {s[f'key_{key}_p90_ms']:.0f} / "
            f"{s[f'key_{key}_max_ms']:.0f} ms | < 100 ms | "
            f"{verdict(f'key_{key}_ms', s[f'key_{key}_ms'])} |"
        )
    if "floor_frame_s" in s:
        for key, label in (("open", "`?` → its modal shown"), ("close", "Escape → gone")):
            add(
                f"| floor: {label} in the bare app during `xargs -P{CORES} git status` at nice "
                f"{BACKGROUND_NICENESS}, median / p90 / max | {s[f'floor_key_{key}_ms']:.0f} / "
                f"{s[f'floor_key_{key}_p90_ms']:.0f} / {s[f'floor_key_{key}_max_ms']:.0f} ms | | |"
            )
        add(
            f"| floor key samples with the git load running as the key went in | "
            f"{s['floor_load_coverage']:.0%} of {sum(len(r.floor_key_open_ms) for r in runs)} | | |"
        )
        add(
            f"| key during refresh − floor (medians): `?` / Escape | "
            f"{s['key_open_over_floor_ms']:+.0f} / {s['key_close_over_floor_ms']:+.0f} ms | | |"
        )
    add(
        f"| peak RSS of the app process (VmHWM) | {spread(runs, lambda r: r.rss_mb, '{:.0f}')} MB "
        f"| < 200 MB | {verdict('rss_mb', s['rss_mb'])} |"
    )
    add(
        f"| idle CPU, % of one core: app / its git polls / watcher child | "
        f"{s['idle_app_pct']:.1f} / {s['idle_git_pct']:.1f} / {s['idle_watcher_pct']:.1f} % | | |"
    )
    add(
        f"| whole machine during the idle window (noise), % of one core | "
        f"{s['idle_machine_pct']:.1f} % of {CORES * 100} % | | |"
    )
    add(
        f"| capture-pane cost: control client / a tmux process | "
        f"{s['capture_control_ms']:.2f} / {s['capture_spawn_ms']:.2f} ms | | |"
    )
    add(
        f"| polling's own CPU in the key phase: tmux server / this script, % of one core | "
        f"{s['poll_tmux_pct']:.0f} / {s['poll_bench_pct']:.0f} % | | |"
    )
    add(
        f"| resolution (poll step at the answer), median: first frame and fill / keys | "
        f"{s['start_resolution_ms']:.1f} / {s['key_resolution_ms']:.1f} ms | | |"
    )
    add(
        f"| machine before each run: busy % of one core / 1-min load | "
        f"{s['machine_before_pct']:.0f} % / {s['load_avg']:.2f} | | |"
    )
    add(
        f"| key samples during a refresh (`git status` running as the key went in) | "
        f"{s['refresh_coverage']:.0%} of {sum(len(r.key_open_ms) for r in runs)} | | |"
    )
    add(f"| watcher child peak RSS | {s['watcher_rss_mb']:.0f} MB | | |")
    during = runs[0].quit_during
    add(
        f"| `q` during a {during} → app gone (its git seen running first: "
        f"{'yes' if s['quit_busy'] else 'no'}) | {spread(runs, lambda r: r.quit_s, '{:.2f}')} s "
        f"| < 1 s | {verdict('quit_s', s['quit_s'])} |"
    )
    add(f"| processes of the app left 2 s after it | {s['quit_left']} | 0 | |")
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------


def ensure_corpus(corpus: Path) -> Path:
    """The corpus folder; benchmarks/.corpus/nN is built with make_corpus.py when missing."""
    if (corpus / "work").is_dir():
        return corpus.resolve()
    match = re.fullmatch(r"n(\d+)", corpus.name)
    if not match:
        raise SystemExit(f"{corpus}: no corpus there (make one with make_corpus.py)")
    make = [sys.executable, str(HERE / "make_corpus.py"), str(corpus), "--repos", match[1]]
    subprocess.run(make, check=True)
    return corpus.resolve()


def versions() -> dict[str, str]:
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()

    script = "import importlib.metadata as m; print(m.version('textual'))"
    textual = out(sys.executable, "-c", script)
    return {
        "git": out("git", "--version"),
        "tmux": out("tmux", "-V"),
        "python": platform.python_version(),
        "textual": textual,
        "commit": out("git", "-C", str(HERE), "rev-parse", "--short", "HEAD"),
        "cores": str(CORES),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, nargs="*", default=[HERE / ".corpus" / "n1000"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20, help="key samples per run, each key")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--refresh-every", type=float, default=1.5, help="seconds between `r`")
    parser.add_argument(
        "--settle-min", type=float, default=3.0, help="seconds after the fill before idle CPU"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for the machine to be quiet",
    )
    parser.add_argument(
        "--poll-ms", type=float, default=2.0, help="sleep between captures, key latency"
    )
    parser.add_argument(
        "--start-poll-ms",
        type=float,
        default=10.0,
        help="sleep between captures until the first frame and the fill",
    )
    parser.add_argument("--jobs", type=int, default=CORES, help="lower bound's xargs -P")
    parser.add_argument(
        "--floor-starts",
        type=int,
        default=3,
        help="starts of floor_app.py (a bare Textual app) a run, before the dashboard; 0: none",
    )
    parser.add_argument("--capture", choices=("control", "spawn"), default="control")
    parser.add_argument(
        "--quit-during",
        choices=("refresh", "fetch-all"),
        default="refresh",
        help="what the app is doing when `q` goes in at the end of a run",
    )
    parser.add_argument(
        "--need-watcher",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="settling waits for the file-watcher child process",
    )
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="write JSON (to stdout without PATH)"
    )
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        raise SystemExit("needs tmux")
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json == "-" else print
    info = versions()
    log(", ".join(f"{k} {v}" for k, v in info.items()))
    report: dict[str, Any] = {
        "versions": info,
        "args": {**vars(args), "corpus": [c.name for c in args.corpus]},
    }
    report["corpora"] = []
    failed = False
    for raw in args.corpus:
        corpus = ensure_corpus(raw)
        # Warm-up, untimed: the page cache for the repos, and the .pyc files an installed
        # package has (compileall writes them even under PYTHONDONTWRITEBYTECODE, which an
        # import would not, and an editable install would then compile every module per launch).
        run_once(lower_bound(corpus / "work", args.jobs))
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(PACKAGE)], check=True)
        subprocess.run([sys.executable, "-c", "import gitwatch_tui.ui.app"], check=True)
        runs: list[Run] = []
        for i in range(args.runs):
            log(f"{corpus.name}: run {i + 1}/{args.runs}")
            try:
                runs.append(one_run(corpus, args, log))
            except (PhaseTimeoutError, RuntimeError) as exc:
                log(f"  run failed: {exc}")
                failed = True
        if not runs:
            continue
        s = summarize(runs)
        s["pass"] = {key: verdict(key, s[key]) == "PASS" for key in TARGETS}
        log(table(corpus.name, runs, s))
        report["corpora"].append(
            {
                "corpus": corpus.name,
                "summary": s,
                "runs": [
                    {**asdict(r), "lower_bound_s": r.lower_bound_s, "fill_ratio": r.fill_ratio}
                    for r in runs
                ],
            }
        )
    if args.json:
        text = json.dumps(report, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
