"""The head start: the first sweep begun before the engine, handed over without a second one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gitwatch_tui.core import status as status_module
from gitwatch_tui.core.config import Config
from gitwatch_tui.core.models import ScanRoot
from gitwatch_tui.engine import engine as engine_module
from gitwatch_tui.engine.head_start import HeadStart
from tests.conftest import commit_file, git
from tests.core.test_git import processes_mentioning
from tests.engine.test_engine import config_for, start_engine, wait_for
from tests.processes import blocking_repo, kill_marked, marked, new_marker, wait_until


def make_repos(root: Path, count: int) -> None:
    for index in range(count):
        repo = root / f"repo-{index}"
        repo.mkdir(parents=True)
        git(repo, "init", "-q")
        commit_file(repo, "a.txt", f"{index}\n")
    (root / "repo-1" / "dirty.txt").write_text("new\n")


async def test_engine_takes_over_the_head_start_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repos(tmp_path / "repos", 3)
    config = config_for()
    config = type(config)(defaults=config.defaults, scan=(ScanRoot(tmp_path / "repos"),))
    engine_sweeps: list[int] = []
    real_collect = engine_module.collect_statuses

    def engine_sweep(specs, **options):  # type: ignore[no-untyped-def]
        engine_sweeps.append(len(specs))
        return real_collect(specs, **options)

    monkeypatch.setattr(engine_module, "collect_statuses", engine_sweep)
    head_start = HeadStart.begin(config)
    engine = await start_engine(config, tmp_path, head_start=head_start)
    try:
        assert sorted(engine.specs) == ["repo-0", "repo-1", "repo-2"]
        await wait_for(lambda: len(engine.statuses) == 3)
        assert engine.statuses["repo-1"].untracked == 1
        await wait_for(lambda: head_start.swept.done())
        assert head_start.swept.exception() is None
        assert engine_sweeps == []  # the engine did not read them all a second time
    finally:
        await engine.stop()


async def test_statuses_read_before_the_engine_starts_are_replayed(tmp_path: Path) -> None:
    make_repos(tmp_path / "repos", 2)
    base = config_for()
    config = type(base)(defaults=base.defaults, scan=(ScanRoot(tmp_path / "repos"),))
    head_start = HeadStart.begin(config)
    head_start.swept.result(timeout=10)  # everything read before anyone listens
    engine = await start_engine(config, tmp_path, head_start=head_start)
    try:
        await wait_for(lambda: len(engine.statuses) == 2)
        assert engine.statuses["repo-1"].untracked == 1
    finally:
        await engine.stop()


async def test_a_failed_head_start_falls_back_to_the_engines_own_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repos(tmp_path / "repos", 2)
    base = config_for()
    config = type(base)(defaults=base.defaults, scan=(ScanRoot(tmp_path / "repos"),))

    def broken(*_args: object, **_options: object) -> None:
        raise RuntimeError("sweep broke")

    # The child imports it when it starts: it finds the broken one.
    monkeypatch.setattr(status_module, "collect_statuses", broken)
    head_start = HeadStart.begin(config)
    head_start.watch_list.result(timeout=10)
    engine = await start_engine(config, tmp_path, head_start=head_start)
    try:
        await wait_for(lambda: len(engine.statuses) == 2)
        assert "sweep broke" in str(head_start.swept.exception())  # said by the child
    finally:
        await engine.stop()


def slow_repos(root: Path, sleep: str) -> Config:
    """Two repos, one whose status hangs in a clean filter that runs `sleep`."""
    make_repos(root, 2)
    slow = root / "repo-0"
    commit_file(slow, ".gitattributes", "*.txt filter=slow\n")
    git(slow, "config", "filter.slow.clean", f"sleep {sleep}; cat")  # after: add would run it
    (slow / "a.txt").write_text("y\n")  # same size, changed: git must filter it to compare
    base = config_for()
    # Trusted: an untrusted repo's own filter would not run at all.
    return type(base)(defaults=base.defaults, scan=(ScanRoot(root, trust=True),))


def until(predicate: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_stop_ends_the_child_and_the_git_it_started(tmp_path: Path) -> None:
    sleep = f"31.{os.getpid()}"  # told apart from any other test's
    head_start = HeadStart.begin(slow_repos(tmp_path / "repos", sleep))
    until(lambda: processes_mentioning(f"sleep {sleep}"))  # the sweep is stuck in the filter
    head_start.stop()
    until(lambda: head_start.swept.done())
    assert head_start.swept.cancelled()  # stopped on purpose: not a failure to report
    until(lambda: not processes_mentioning(f"sleep {sleep}"), within=5)


def test_a_child_that_dies_mid_sweep_is_reported(tmp_path: Path) -> None:
    sleep = f"2.{os.getpid()}"
    head_start = HeadStart.begin(slow_repos(tmp_path / "repos", sleep))
    try:
        until(lambda: processes_mentioning(f"sleep {sleep}"))
        assert head_start._child is not None
        os.kill(head_start._child, signal.SIGKILL)
        until(lambda: head_start.swept.done())
        error = head_start.swept.exception()
        assert error is not None and "ended early (killed by SIGKILL)" in str(error)
        assert head_start.watch_list.result() is not None  # what came before still stands
    finally:
        for pid in processes_mentioning(f"sleep {sleep}"):  # orphaned with the child: not leaked
            os.kill(pid, signal.SIGTERM)


def test_a_sweep_that_fails_midway_leaves_no_git_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleep = f"33.{os.getpid()}"
    real_collect = status_module.collect_statuses

    def fails_at_the_first_status(specs, **options):  # type: ignore[no-untyped-def]
        def on_status(status: object) -> None:
            raise RuntimeError("broke after one status")

        return real_collect(specs, **{**options, "on_status": on_status})

    monkeypatch.setattr(status_module, "collect_statuses", fails_at_the_first_status)
    head_start = HeadStart.begin(slow_repos(tmp_path / "repos", sleep))
    until(lambda: head_start.swept.done())
    assert "broke after one status" in str(head_start.swept.exception())
    until(lambda: not processes_mentioning(f"sleep {sleep}"), within=5)


# The dashboard, stand-in: forks the head start from its main thread, then is SIGKILLed.
HEAD_START_PARENT = """
import sys, time
from pathlib import Path
from gitwatch_tui.core.config import Config
from gitwatch_tui.core.models import ScanRoot
from gitwatch_tui.engine.head_start import HeadStart

HeadStart.begin(Config(scan=(ScanRoot(Path(sys.argv[1])),)))
time.sleep(600)
"""


def test_the_child_and_its_git_end_when_the_parent_is_killed(tmp_path: Path) -> None:
    blocking_repo(tmp_path / "repos" / "blocked")
    env = new_marker()
    parent = subprocess.Popen(
        [sys.executable, "-c", HEAD_START_PARENT, str(tmp_path / "repos")],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).parents[2])},
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: marked(env, program="git", args=" status"), what="a blocked status")
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: not marked(env), within=10, what="the child and its git gone")
    finally:
        parent.kill()
        parent.wait(10)
        kill_marked(env)
