"""Time `gitwatch-tui status` against the plain-git lower bound and peer tools, in one run.

    python benchmarks/compare_status.py CORPUS [--rounds 5] [--jobs N] [--peers]

Every round runs each strategy once, in the same order, right after the lower bound; ratios
are taken within a round (the machine's speed drifts between rounds) and the median is
reported. Wall time, CPU time and peak RSS (largest single process, from wait4) are measured
from outside, start-up included. Our JSON output is also checked against the corpus manifest.

`--peers` installs gita into `benchmarks/.peers` (PyPI) and uses mgitstatus when it is on PATH
(Debian: `apt-get install mgitstatus`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
GITA_VERSION = "0.16.8.2"


@dataclass
class Strategy:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def run_once(strategy: Strategy) -> float:
    """Run once; record wall seconds, CPU seconds (every waited-for process) and peak RSS MB."""
    env = {**os.environ, **strategy.env}
    started = time.perf_counter()
    proc = subprocess.Popen(
        strategy.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: some repo in error, still a full run
        raise SystemExit(f"{strategy.name} failed with exit status {proc.returncode}")
    strategy.walls.append(wall)
    strategy.cpus.append(usage.ru_utime + usage.ru_stime)
    strategy.rss_mb.append(usage.ru_maxrss / 1024)
    return wall


def lower_bound(work: Path, jobs: int) -> Strategy:
    script = (
        'printf "%s\\0" "$1"/* | xargs -0 -P"$2" -I{} '
        "git -C {} status --porcelain=v2 --branch --show-stash >/dev/null"
    )
    return Strategy(
        f"lower bound: git status, xargs -P{jobs}", ["sh", "-c", script, "sh", str(work), str(jobs)]
    )


def ours(work: Path, xdg: Path) -> Strategy:
    exe = Path(sys.executable).with_name("gitwatch-tui")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "gitwatch_tui"]
    env = {"GITWATCH_TUI_CONFIG": "", "XDG_CONFIG_HOME": str(xdg)}
    return Strategy("gitwatch-tui status --json", [*argv, "status", "--json", str(work)], env)


def install_gita() -> Path | None:
    gita = PEERS / "bin" / "gita"
    if not gita.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        pip = [str(PEERS / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        if subprocess.run([*pip, f"gita=={GITA_VERSION}"]).returncode != 0:
            return None
    return gita


def gita(work: Path, xdg: Path) -> Strategy | None:
    exe = install_gita()
    if exe is None:
        return None
    env = {"XDG_CONFIG_HOME": str(xdg / "gita-home")}
    # gita keeps its repo list under XDG_CONFIG_HOME: register the corpus there once.
    subprocess.run(
        [str(exe), "add", *sorted(str(p) for p in work.iterdir())],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return Strategy(f"gita {GITA_VERSION} `gita ll`", [str(exe), "ll"], env)


def mgitstatus(work: Path) -> Strategy | None:
    exe = shutil.which("mgitstatus")
    return Strategy("mgitstatus -d 1", [exe, "-d", "1", str(work)]) if exe else None


def check_against_manifest(corpus: Path, strategy: Strategy) -> tuple[int, int]:
    """Run our JSON output once and compare every field the manifest knows."""
    out = subprocess.run(
        strategy.argv, capture_output=True, text=True, env={**os.environ, **strategy.env}
    ).stdout
    ours_by_path = {Path(row["path"]).name: row for row in map(json.loads, out.splitlines())}
    manifest = json.loads((corpus / "manifest.json").read_text())
    repos = manifest["repos"] if isinstance(manifest, dict) else manifest
    fields = ("upstream", "ahead", "behind", "staged", "unstaged", "untracked", "stash", "head")
    mismatches = 0
    for expected in repos:
        got = ours_by_path.get(Path(expected["path"]).name)
        if got is None:
            mismatches += 1
            continue
        branch_ok = got["branch"] == expected["branch"] or (
            expected["branch"] is None and got["detached"]
        )
        if not branch_ok or any(got[f] != expected[f] for f in fields if f in expected):
            mismatches += 1
    return mismatches, len(repos)


def median_range(values: list[float], fmt: str = "{:.2f}") -> str:
    mid, low, high = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{mid} ({low}–{high})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--peers", action="store_true", help="also time gita and mgitstatus")
    args = parser.parse_args()
    work = args.corpus.resolve() / "work"
    repos = sorted(work.iterdir())
    xdg = Path(tempfile.mkdtemp(prefix="gitwatch-bench-"))
    try:
        base = lower_bound(work, args.jobs)
        others = [ours(work, xdg)]
        if args.peers:
            others += [s for s in (gita(work, xdg), mgitstatus(work)) if s is not None]
        one_repo = [
            Strategy(
                "one repo: git status",
                ["git", "-C", str(repos[0]), "status", "--porcelain=v2", "--branch"],
            ),
            Strategy(
                "one repo: gitwatch-tui status",
                [*others[0].argv[:-1], str(repos[0])],
                others[0].env,
            ),
        ]
        everything = [base, *others, *one_repo]
        for strategy in everything:  # warm-up: page cache, .pyc files
            run_once(strategy)
        for strategy in everything:
            for samples in (strategy.walls, strategy.cpus, strategy.rss_mb):
                samples.clear()
        for _ in range(args.rounds):
            for strategy in others:  # each run right after its own lower-bound run
                reference = run_once(base)
                strategy.ratios.append(run_once(strategy) / reference)
            for strategy in one_repo:
                run_once(strategy)
        mismatches, total = check_against_manifest(args.corpus.resolve(), others[0])
    finally:
        shutil.rmtree(xdg, ignore_errors=True)

    print(
        f"N={len(repos)} repos, {args.rounds} rounds, {os.cpu_count()} cores, "
        f"{subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}\n"
    )
    print(
        "| strategy | wall s, median (min–max) | × lower bound, paired median "
        "| CPU s | peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|")
    for strategy in [base, *others]:
        ratio = f"{statistics.median(strategy.ratios):.2f}" if strategy.ratios else "1 (reference)"
        print(
            f"| {strategy.name} | {median_range(strategy.walls)} | {ratio} | "
            f"{statistics.median(strategy.cpus):.2f} | {max(strategy.rss_mb):.0f} |"
        )
    for strategy in one_repo:
        print(
            f"| {strategy.name} | {median_range(strategy.walls, '{:.3f}')} | | "
            f"{statistics.median(strategy.cpus):.3f} | {max(strategy.rss_mb):.0f} |"
        )
    print(f"\ncorrectness: gitwatch-tui JSON vs manifest: {mismatches} mismatches of {total} repos")
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
