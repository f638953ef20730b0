"""The daemon's memory over a scanned folder: RSS after the first sweep and after a while.

    python benchmarks/daemon_bench.py CORPUS [--minutes 3] [--poll 1000h] [--every 10]

Starts the real `gitwatch-tui daemon` (its own process, its defaults: file watching, history,
the audit) with a config that scans `CORPUS/work`, a state dir in a temporary folder and a
long poll interval (so no fetch is due), then reads `/proc/<pid>/status` every few seconds:
VmRSS and VmHWM of the daemon, and the RSS of its children (the file watcher's process).
The first sweep is over when the log has a `status` line for every repo. Stops the daemon
with SIGTERM at the end and reports how long it took to go.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid` in MB (empty once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (git that runs now, the watcher's process)."""
    pids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


class StatusLines:
    """Follows the daemon's JSON log: which repos have had a `status` line so far."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.repos = path, 0, set[str]()

    def poll(self) -> int:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += end
        for line in data[:end].splitlines():
            if b'"event": "status"' in line:
                self.repos.add(json.loads(line)["name"])
        return len(self.repos)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a make_corpus.py corpus (its work/ is scanned)")
    parser.add_argument("--minutes", type=float, default=3.0, help="observed after the sweep")
    parser.add_argument("--poll", default="1000h", help="the poll interval (none due by default)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    work = args.corpus.resolve() / "work"
    repos = sum(1 for _ in work.iterdir())
    print(f"{repos} repos in {work}; load before: {' '.join(map(str, os.getloadavg()))}")
    with tempfile.TemporaryDirectory(prefix="gitwatch-daemon-bench-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(
            f"defaults: {{poll_interval: {args.poll}}}\nscan: ['{work}']\n"
            "server: {listen: '127.0.0.1:0'}\n"
        )
        env = {**os.environ, "GITWATCH_TUI_CONFIG": "", "XDG_STATE_HOME": f"{tmp}/state"}
        log_path = Path(tmp) / "daemon.log"
        with log_path.open("w") as log:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "gitwatch_tui", "daemon", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env,
                cwd=HERE.parent,
            )  # fmt: skip
        try:
            observe(daemon, StatusLines(log_path), repos, args)
        finally:
            stopping = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(120)
            gone = time.monotonic() - stopping
            print(f"\nSIGTERM → gone: {gone:.2f} s, exit {daemon.returncode}")
    return 0


def observe(daemon: subprocess.Popen[bytes], lines: StatusLines, repos: int, args: Any) -> None:
    """Sample until the sweep is over and `args.minutes` more have passed; print a table."""
    started = time.monotonic()
    swept: float | None = None
    print("\n| s since start | repos read | daemon VmRSS MB | daemon VmHWM MB | children RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    while daemon.poll() is None:
        time.sleep(args.every)
        read = lines.poll()
        now = time.monotonic() - started
        if swept is None and read >= repos:
            swept = now
        mine = memory_mb(daemon.pid)
        kids = sum(memory_mb(pid).get("VmRSS", 0.0) for pid in children(daemon.pid))
        print(
            f"| {now:.0f} | {read} | {mine.get('VmRSS', 0):.0f} | {mine.get('VmHWM', 0):.0f} "
            f"| {kids:.0f} |",
            flush=True,
        )
        if swept is not None and now - swept >= args.minutes * 60:
            break
    print(f"\nfirst sweep over at {swept or float('nan'):.0f} s; load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
