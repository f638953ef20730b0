"""The engine's background work runs none of an untrusted repo's own programs; what the user
starts from the dashboard (pull, switch) behaves like git and runs the repo's hooks."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec, ScanRoot
from gitwatch_tui.core.results import SwitchResult
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, SyncFinished
from gitwatch_tui.engine.head_start import HeadStart
from tests.conftest import git, make_remote_and_clone, push_from_elsewhere
from tests.core.test_trust import Traps, install_hooks
from tests.engine.test_engine_details import config_for


@pytest.fixture()
def traps(tmp_path: Path) -> Traps:
    return Traps(tmp_path)


def trapped_clone(base: Path, traps: Traps) -> tuple[Path, Path]:
    """A clone one commit behind its remote, with hooks and a clean filter of its own."""
    remote, clone = make_remote_and_clone(base, "repo")
    (clone / ".gitattributes").write_text("*.md filter=evil\n")
    git(clone, "config", "filter.evil.clean", str(traps.make("clean", "cat")))
    install_hooks(clone, traps)
    push_from_elsewhere(remote, base)
    return remote, clone


async def until(check: object, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("trusted", [False, True])
async def test_a_poll_with_auto_sync_runs_the_repos_programs_only_when_trusted(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    remote, clone = trapped_clone(tmp_path, traps)
    spec = RepoSpec(clone, "a", auto_sync="ff-only", trust=trusted)
    async with Engine(config_for(spec), state_dir=tmp_path / "state", watch_files=False) as engine:
        seen: list[Event] = []
        engine.subscribe(seen.append)
        os.utime(clone / "README.md", (os.stat(clone / "README.md").st_mtime + 5,) * 2)
        assert (await engine.fetch("a")).ok
        await until(lambda: any(isinstance(e, SyncFinished) and e.automatic for e in seen))
        assert git(clone, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
        details = await engine.details("a")
        assert details.error is None
    ran = traps.ran()
    if trusted:
        assert {"clean", "post-merge", "reference-transaction"} <= ran
    else:
        assert ran == set()


async def test_dashboard_pull_and_switch_run_the_repos_own_hooks(
    tmp_path: Path, traps: Traps
) -> None:
    """An untrusted repo: the user's own actions behave like git."""
    _, clone = trapped_clone(tmp_path, traps)
    git(clone, "branch", "feature")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        pulled = await engine.pull("a")
        assert pulled.ok
        assert "post-merge" in traps.ran()
        traps.reset()
        switched = await engine.switch("a", "feature")
        assert isinstance(switched, SwitchResult)
        assert "post-checkout" in traps.ran()


@pytest.mark.parametrize("trusted", [False, True])
def test_the_head_starts_first_sweep_runs_the_repos_filter_only_when_trusted(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    """The first sweep runs in a forked child before the engine starts: the same rules."""
    _, clone = trapped_clone(tmp_path / "repos", traps)
    os.utime(clone / "README.md", (os.stat(clone / "README.md").st_mtime + 5,) * 2)
    base = config_for()
    config = replace(base, scan=(ScanRoot(tmp_path / "repos", trust=trusted),))
    head_start = HeadStart.begin(config)
    try:
        head_start.swept.result(timeout=20)
        specs, _ = head_start.watch_list.result()
        assert clone in [spec.path for spec in specs]
    finally:
        head_start.stop()
    assert traps.ran() == ({"clean"} if trusted else set())
