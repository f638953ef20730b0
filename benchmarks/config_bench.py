"""Time reading large configs: thousands of repos, an alias bomb, a broken file.

    python benchmarks/config_bench.py [--runs 5] [--parser libyaml,python] [--source DIR]

Writes the configs into a temp folder: 1,000 and 10,000 repos of six keys each (path, url,
group, poll_interval, auto_sync, branches), 10,000 repos that each merge the first one
(`<<: *first`), two 40-level "billion laughs" (nine aliases of the level before per level,
as lists and as merge keys), and the 10,000-repo file with a syntax error on its last line.
Each config is read in a fresh process `--runs` times (`load_config`, imports done first;
the median and the range are shown), and once more in another process whose peak RSS
(ru_maxrss) is reported next to that of a process that only imports the reader.

`--parser python` reads with PyYAML's own parser, as when PyYAML is installed without libyaml.
`--source DIR` measures the `gitwatch_tui` of another checkout (say, an older commit), with
this script; by default the checkout the script is in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Run in a child: argv = source, config, runs, parser. Prints one JSON line.
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from gitwatch_tui.core import config_yaml
from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.core.errors import ConfigError

path, runs, parser = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if parser == "python":
    config_yaml._FastLoader = None
times, outcome = [], ""
for _ in range(runs):
    start = time.perf_counter()
    try:
        outcome = f"{len(load_config(path, {}).repos):,} repos"
    except ConfigError as exc:
        outcome = "refused: " + str(exc.problems[-1]).replace(str(path), path.name)
    times.append(time.perf_counter() - start)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"times": times, "outcome": outcome, "rss_mb": rss}))
"""


def repos_config(count: int, *, merge: bool = False, broken: bool = False) -> str:
    """`count` repos of six keys; `merge`: repos after the first merge it and add path and url."""
    lines = ["defaults:\n  poll_interval: 5m\nrepos:\n"]
    for i in range(count):
        team = f"team-{i % 50:02d}"
        lines.append("  - &first\n" if merge and i == 0 else "  -\n")
        lines.append(f"    path: work/{team}/repo-{i:05d}\n")
        lines.append(f"    url: https://git.example.invalid/{team}/repo-{i:05d}.git\n")
        if merge and i > 0:
            lines.append("    <<: *first\n")
            continue
        lines.append(f"    group: {team}\n    poll_interval: {60 + i % 10}m\n")
        lines.append(f"    auto_sync: {'ff-only' if i % 3 else 'off'}\n")
        lines.append('    branches: [main, "release/*"]\n')
    if broken:
        lines.append("    auto_sync: off: on\n")  # "mapping values are not allowed here"
    return "".join(lines)


def laughs(levels: int, *, merge: bool) -> str:
    """Each level holds nine aliases of the one before: 9**levels values once expanded."""
    first = "v0: &v0 {k: lol}" if merge else "v0: &v0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    lines = [first]
    for i in range(1, levels):
        nine = ", ".join([f"*v{i - 1}"] * 9)
        lines.append(f"v{i}: &v{i} {{<<: [{nine}]}}" if merge else f"v{i}: &v{i} [{nine}]")
    return "\n".join([*lines, "repos: []"]) + "\n"


CONFIGS: dict[str, Callable[[], str]] = {
    "1,000 repos": lambda: repos_config(1000),
    "10,000 repos": lambda: repos_config(10_000),
    "10,000 repos, each merging the first": lambda: repos_config(10_000, merge=True),
    "alias bomb, 40 levels of lists": lambda: laughs(40, merge=False),
    "alias bomb, 40 levels of merge keys": lambda: laughs(40, merge=True),
    "10,000 repos, syntax error on the last line": lambda: repos_config(10_000, broken=True),
}


@dataclass
class Row:
    """One config read by one parser."""

    config: str
    parser: str
    size_kb: float
    times: list[float]
    outcome: str
    rss_mb: float


def child(source: Path, path: Path | None, runs: int, parser: str) -> dict[str, object]:
    argv = [sys.executable, "-c", CHILD, str(source), str(path or "/dev/null"), str(runs), parser]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def measure(source: Path, name: str, path: Path, parser: str, runs: int) -> Row:
    timed = child(source, path, runs, parser)
    once = child(source, path, 1, parser)
    times = timed["times"]
    assert isinstance(times, list)
    return Row(
        name,
        parser,
        path.stat().st_size / 1024,
        [float(t) for t in times],
        str(timed["outcome"]),
        float(str(once["rss_mb"])),
    )


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def print_table(rows: list[Row], baseline_mb: float) -> None:
    print(f"\nPeak RSS of a process that only imports the reader: {baseline_mb:.0f} MB")
    print("\n| config | parser | file | load, median (min–max) | result | peak RSS, one load |")
    print("|---|---|---:|---:|---|---:|")
    for row in rows:
        spread = f"{seconds(min(row.times))}–{seconds(max(row.times))}"
        print(
            f"| {row.config} | {row.parser} | {row.size_kb:,.0f} KB "
            f"| **{seconds(statistics.median(row.times))}** ({spread}) | {row.outcome} "
            f"| {row.rss_mb:.0f} MB |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="loads per config (median shown)")
    parser.add_argument("--parser", default="libyaml,python", help="libyaml, python or both")
    parser.add_argument("--source", type=Path, default=HERE.parent, help="checkout to measure")
    parser.add_argument("--only", help="measure only the configs whose name holds this text")
    args = parser.parse_args()
    parsers = [name.strip() for name in args.parser.split(",")]
    source = args.source.resolve()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="config-bench-") as tmp:
        for index, (name, make) in enumerate(CONFIGS.items()):
            if args.only and args.only not in name:
                continue
            path = Path(tmp) / f"config-{index}.yaml"
            path.write_text(make(), encoding="utf-8")
            for parser_name in parsers:
                print(f"{name} ({parser_name})...", file=sys.stderr, flush=True)
                rows.append(measure(source, name, path, parser_name, args.runs))
        baseline = float(str(child(source, None, 0, parsers[0])["rss_mb"]))
    print(f"source: {source}, {args.runs} runs, Python {sys.version.split()[0]}")
    print_table(rows, baseline)


if __name__ == "__main__":
    main()
