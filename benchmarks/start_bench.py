"""Time the dashboard's start from its status snapshot, and its idle CPU, in a real terminal.

    python benchmarks/start_bench.py [CORPUS] [--idle-seconds 30] [--json [PATH]]

Two starts of `gitwatch-tui --config CONFIG dashboard` in one state folder, over CORPUS/work
(default benchmarks/.corpus/n1000; polls every `--poll-interval`, 8760h by default, so none is
due while measuring: first polls are spread over one interval, so with 24 h 10,000 repos still
poll every 8.6 s; the audit at its default, or `--audit-period`):

1. cold: no snapshot yet. First frame, and every row filled (the summary says "N repos"
   without "scanning"); then `q`, which writes the snapshot.
2. warm: first frame; every row shown (from the snapshot: "N repos" and no "scanning");
   fully fresh (no "refreshing" either: every repo read again). Then, once the file
   watcher has settled, idle CPU over `--idle-seconds`: the app's own time, its reaped
   children's (git, the head start) and its live ones' (the watcher), from /proc.

The terminal is driven as dashboard_bench.py drives it (a tmux control-mode client).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dashboard_bench import (  # noqa: E402  (the same terminal, screen and /proc helpers)
    LIMITS,
    Tmux,
    app_argv,
    clean_env,
    cpu_seconds,
    descendants,
    find_app,
    poll,
    quit_and_wait,
    summary_line,
    wait_quiet,
    watcher_pid,
)

LIMITS.update(fresh=300.0, quit=30.0)


@dataclass
class Start:
    """One start's figures, seconds from spawning the process."""

    first_frame_s: float = 0.0
    all_rows_s: float = 0.0  # every row shown (fresh or from the snapshot)
    fresh_s: float = 0.0  # every row read by this run


@dataclass
class Result:
    repos: int
    cold: Start
    warm: Start
    idle_seconds: float = 0.0
    idle_app_pct: float = 0.0  # % of one core: the app's own threads
    idle_children_pct: float = 0.0  # reaped children (git) and live ones (the watcher)
    idle_live_pct: float = 0.0  # of which the live ones (the watcher's process)

    @property
    def idle_total_pct(self) -> float:
        return self.idle_app_pct + self.idle_children_pct


def write_config(folder: Path, work: Path, audit_period: str | None, poll: str) -> Path:
    config = folder / "config.yaml"
    audit = f"  audit_period: {audit_period}\n" if audit_period else ""
    scan = f"scan:\n  - {json.dumps(str(work))}\n"
    config.write_text(f"defaults:\n  poll_interval: {poll}\n{audit}{scan}")
    return config


def start(term: Tmux, command: str, n: int) -> tuple[Start, int]:
    """Spawn the app and time its first frame, all rows shown and all rows fresh."""
    figures = Start()
    t0 = time.perf_counter()
    term.cmd("respawn-pane", "-k", "-t", "gw", command)
    # Every 10 ms, as dashboard_bench.py's start-up phases: a capture loop with no pause takes
    # a core from the app on a 2-core machine (the first frame measured 0.5 s later).
    frame, _ = poll(
        term, lambda s: " gitwatch " in s or "Quit" in s, since=t0, phase="frame", every=0.01
    )
    figures.first_frame_s = frame.back - t0
    app = find_app(int(term.pane("#{pane_pid}")))
    if app is None:
        raise RuntimeError("no dashboard process under the tmux pane")

    def shown(screen: str) -> bool:
        line = summary_line(screen)
        return f" {n} repos" in line and "scanning" not in line

    def fresh(screen: str) -> bool:
        return shown(screen) and "refreshing" not in summary_line(screen)

    done, _ = poll(term, shown, since=t0, phase="fill", every=0.01)
    figures.all_rows_s = done.back - t0
    done, _ = poll(term, fresh, since=t0, phase="fresh", every=0.01)
    figures.fresh_s = done.back - t0
    return figures, app


def settle(app: int, limit: float = 30.0) -> None:
    """Wait until the watcher child is up and has used no CPU for a second."""
    deadline = time.monotonic() + limit
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        watcher = watcher_pid(app)
        if watcher is None:
            time.sleep(0.25)
            continue
        try:
            before = cpu_seconds(watcher)[0]
            time.sleep(0.5)
            quiet = quiet + 1 if cpu_seconds(watcher)[0] - before < 0.01 else 0
        except OSError:  # replaced by a new watch session meanwhile: wait for that one
            quiet = 0


def tree_cpu(app: int) -> tuple[float, float, float]:
    """(the app's own CPU seconds, its reaped children's, its live ones')."""
    own, reaped = cpu_seconds(app)
    live = 0.0
    for pid in descendants(app):
        try:
            live += sum(cpu_seconds(pid))
        except OSError:
            continue  # ended meanwhile: its time is in `reaped` once collected
    return own, reaped, live


def measure(
    corpus: Path,
    idle_seconds: float,
    log: Callable[[str], object],
    audit: str | None = None,
    poll: str = "8760h",
) -> Result:
    work = corpus / "work"
    n = sum(1 for _ in work.iterdir())
    tmp = Path(tempfile.mkdtemp(prefix="gitwatch-start-bench-"))
    env = clean_env(tmp)
    config = write_config(tmp, work, audit, poll)
    names = [k for k in ("XDG_STATE_HOME", "TERM", "PYTHONPATH") if k in env]  # this checkout's
    exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in names)
    argv = [*app_argv(), "--config", str(config), "dashboard"]
    command = f"exec env -u GITWATCH_TUI_CONFIG {exports} {shlex.join(argv)}"
    term = Tmux(env)
    try:
        term.start()
        wait_quiet(30)
        cold, _ = start(term, command, n)
        log(f"cold: first frame {cold.first_frame_s:.3f} s, filled {cold.fresh_s:.3f} s")
        quit_and_wait(term)
        wait_quiet(30)
        warm, app = start(term, command, n)
        log(
            f"warm: first frame {warm.first_frame_s:.3f} s, all rows {warm.all_rows_s:.3f} s, "
            f"fresh {warm.fresh_s:.3f} s"
        )
        result = Result(n, cold, warm)
        settle(app)
        own0, reaped0, live0 = tree_cpu(app)
        t0 = time.perf_counter()
        time.sleep(idle_seconds)
        own1, reaped1, live1 = tree_cpu(app)
        result.idle_seconds = time.perf_counter() - t0
        span = result.idle_seconds / 100  # % of one core
        result.idle_app_pct = (own1 - own0) / span
        result.idle_live_pct = (live1 - live0) / span
        result.idle_children_pct = (reaped1 - reaped0) / span + result.idle_live_pct
        log(
            f"idle over {result.idle_seconds:.0f} s: app {result.idle_app_pct:.2f} %, "
            f"children {result.idle_children_pct:.2f} % of a core "
            f"(the watcher's process {result.idle_live_pct:.2f} %)"
        )
        quit_and_wait(term)
        return result
    finally:
        term.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(HERE / ".corpus" / "n1000"))
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--json", nargs="?", const="-", default=None)
    parser.add_argument("--audit-period", help="the config's audit_period (default: unset)")
    parser.add_argument("--poll-interval", default="8760h", help="the config's poll_interval")
    args = parser.parse_args()
    result = measure(
        Path(args.corpus), args.idle_seconds, print, args.audit_period, args.poll_interval
    )
    if args.json:
        data = asdict(result) | {"idle_total_pct": result.idle_total_pct}
        text = json.dumps(data, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
