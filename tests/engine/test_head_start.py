"""The head start: the first sweep begun before the engine, handed over without a second one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gitwatch_tui.core.models import ScanRoot
from gitwatch_tui.engine import engine as engine_module
from gitwatch_tui.engine import head_start as head_start_module
from gitwatch_tui.engine.events import Event, StatusChanged
from gitwatch_tui.engine.head_start import HeadStart
from tests.conftest import commit_file, git
from tests.engine.test_engine import config_for, start_engine, wait_for


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
    sweeps: list[int] = []
    real_collect = head_start_module.collect_statuses
    gate = threading.Event()

    def counted(specs, **options):  # type: ignore[no-untyped-def]
        sweeps.append(len(specs))
        gate.wait(5)  # statuses arrive only after the engine has subscribed
        return real_collect(specs, **options)

    def engine_sweep(specs, **options):  # type: ignore[no-untyped-def]
        sweeps.append(-len(specs))
        return real_collect(specs, **options)

    monkeypatch.setattr(head_start_module, "collect_statuses", counted)
    monkeypatch.setattr(engine_module, "collect_statuses", engine_sweep)
    head_start = HeadStart.begin(config)
    engine = await start_engine(config, tmp_path, head_start=head_start)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        assert sorted(engine.specs) == ["repo-0", "repo-1", "repo-2"]
        gate.set()
        await wait_for(lambda: len(engine.statuses) == 3)
        assert engine.statuses["repo-1"].untracked == 1
        assert {e.status.name for e in seen if isinstance(e, StatusChanged)} == set(engine.specs)
        assert sweeps == [3]  # the engine did not read them all a second time
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

    monkeypatch.setattr(head_start_module, "collect_statuses", broken)
    head_start = HeadStart.begin(config)
    head_start.watch_list.result(timeout=10)
    engine = await start_engine(config, tmp_path, head_start=head_start)
    try:
        await wait_for(lambda: len(engine.statuses) == 2)
    finally:
        await engine.stop()
