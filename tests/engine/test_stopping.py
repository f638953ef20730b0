"""Stopping the engine: from the first moment nothing new starts, what is under way gets the
grace period, and a pipeline run it owes is started at the next start, never dropped."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import PipelineStep, RepoSpec
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.pipeline import PipelineRunner
from tests.conftest import git
from tests.engine.test_pipeline import ENV, Host, sh, until
from tests.remotes import slow_remote
from tests.server.test_daemon import served_repo

OWED_FILE = "pipelines-owed.json"  # in the state dir (README)


def gated_pipeline(tmp_path: Path) -> tuple[PipelineStep, Path, Path]:
    """A step that notes each run in `runs`, then waits for `gate` to exist."""
    gate, runs = tmp_path / "gate", tmp_path / "runs.txt"
    script = f"echo run >> {runs}; while [ ! -e {gate} ]; do sleep 0.02; done"
    return PipelineStep("deploy", run=sh(script)), gate, runs


def new_engine(tmp_path: Path, *specs: RepoSpec, config_path: Path | None = None) -> Engine:
    config = Config(defaults=Defaults(poll_interval=3600.0, fetch_timeout=30.0), repos=specs)
    return Engine(
        config, config_path=config_path, state_dir=tmp_path / "state", watch_files=False,
        rng=random.Random(1),
    )  # fmt: skip


async def test_runs_cut_short_or_queued_at_the_stop_run_at_the_next_start(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "app"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    step, gate, runs = gated_pipeline(tmp_path)
    spec = RepoSpec(repo, "app", pipeline=(step,))
    host = Host(spec)
    runner = PipelineRunner(host, tmp_path / "state", environ=ENV, kill_grace=0.5)
    runner.start()
    assert runner.trigger("app")
    await until(runs.exists)
    runner.trigger("app")  # queued behind the running one
    await runner.stop()  # cuts the run short; the queued one never started
    assert runs.read_text() == "run\n"
    assert json.loads((tmp_path / "state" / OWED_FILE).read_text()) == {"app": None}
    gate.touch()
    again = PipelineRunner(Host(spec), tmp_path / "state", environ=ENV, kill_grace=0.5)
    again.start()
    await asyncio.wait_for(again.wait_idle(), 10)
    assert runs.read_text() == "run\nrun\n"  # one run owed, once
    assert not (tmp_path / "state" / OWED_FILE).exists()
    await again.stop()


async def test_a_run_triggered_in_the_grace_period_is_owed_not_started(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    step, gate, runs = gated_pipeline(tmp_path)
    spec = RepoSpec(repo, "app", pipeline=(step,))
    engine = new_engine(tmp_path, spec)
    await engine.start()
    assert engine.pipelines.trigger("app")
    await until(runs.exists)  # a run under way when the stop begins
    stopping = asyncio.ensure_future(engine.stop(grace=30.0))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # the run under way has its grace
    engine.pipelines.trigger("app")  # HEAD moved by a sync that ended in the grace
    gate.touch()
    await asyncio.wait_for(stopping, 10)
    assert runs.read_text() == "run\n"  # nothing started in the grace
    engine = new_engine(tmp_path, spec)
    await engine.start()
    try:
        await until(lambda: runs.read_text() == "run\nrun\n", within=10)
    finally:
        await engine.stop(grace=10.0)


async def test_once_stopping_no_fetch_or_reload_starts(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    _, busy, port = served_repo(git_daemon, tmp_path, "grace-busy")
    _, idle, _ = served_repo(git_daemon, tmp_path, "grace-idle")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(f"repos:\n  - {{path: '{busy}', name: busy}}\n")
    with slow_remote(port, delay=2.0) as remote:
        for name, clone in (("grace-busy", busy), ("grace-idle", idle)):
            git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{remote.port}/{name}.git")
        specs = (RepoSpec(busy, "busy"), RepoSpec(idle, "idle"))
        engine = new_engine(tmp_path, *specs, config_path=config_path)
        await engine.start()
        under_way = asyncio.ensure_future(engine.fetch("busy"))
        await until(lambda: len(remote.accepted) == 1)
        stopping = asyncio.ensure_future(engine.stop(grace=30.0))
        await asyncio.sleep(0)
        refused = await engine.fetch("idle")  # a webhook's or a key's, in the grace
        assert (refused.ok, refused.error) == (False, "not started: gitwatch is stopping")
        config_path.write_text(f"repos:\n  - {{path: '{idle}', name: idle}}\n")
        assert not await engine.reload_config()
        assert (await under_way).ok  # the fetch under way finished in the grace
        await asyncio.wait_for(stopping, 10)
    assert len(remote.accepted) == 1
    assert sorted(engine.specs) == ["busy", "idle"]


async def test_a_stop_during_the_start_leaves_nothing_running(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    git(tmp_path, "init", "-q", str(repo))
    engine = new_engine(tmp_path, RepoSpec(repo, "app"))
    starting = asyncio.ensure_future(engine.start())
    await asyncio.sleep(0)  # the start is reading the watch list
    await engine.stop()
    await asyncio.wait_for(starting, 10)  # ends without starting anything
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("gitwatch")]
