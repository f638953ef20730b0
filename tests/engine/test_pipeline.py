"""Post-sync pipelines: real processes in real repos, and the engine running them after a sync."""

from __future__ import annotations

import asyncio
import os
import random
import stat
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import ConfigMapSpec, PipelineStep, RepoSpec, StepLimits
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import (
    Event,
    EventBus,
    LogLine,
    PipelineStateChanged,
    SyncFinished,
)
from gitwatch_tui.engine.history import History
from gitwatch_tui.engine.pipeline import PipelineRunner
from tests.conftest import (
    commit_file,
    git,
    make_remote_and_clone,
    process_ends,
    push_from_elsewhere,
)

ENV = {"PATH": os.environ["PATH"], "HOME": "/nonexistent-home", "LANG": "C.UTF-8"}


class Host:
    """The engine's side of the runner: an event bus and the watch list."""

    def __init__(self, *specs: RepoSpec) -> None:
        self.events = EventBus()
        self.specs = {spec.name: spec for spec in specs}
        self.history: History | None = None
        self.seen: list[Event] = []
        self.events.subscribe(self.seen.append)

    def lines(self, step: str | None = None) -> list[str]:
        return [
            e.message
            for e in self.seen
            if isinstance(e, LogLine) and e.run_id and (step is None or e.step == step)
        ]

    def states(self) -> list[PipelineStateChanged]:
        return [e for e in self.seen if isinstance(e, PipelineStateChanged)]


async def until(predicate: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def sh(script: str) -> tuple[str, ...]:
    return ("sh", "-c", script)


def runner_for(
    tmp_path: Path, *specs: RepoSpec, environ: dict[str, str] | None = None
) -> tuple[PipelineRunner, Host]:
    host = Host(*specs)
    runner = PipelineRunner(host, tmp_path / "state", environ=environ or ENV, kill_grace=0.5)
    return runner, host


async def test_output_streams_as_log_lines_and_into_the_run_log(repo: Path, tmp_path: Path) -> None:
    steps = (
        PipelineStep("build", run=sh("echo compiling; echo warning: x >&2; printf 'no newline'")),
        PipelineStep("test", run=("echo", "tests passed")),
    )
    spec = RepoSpec(repo, "app", pipeline=steps)
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok", final
    assert (final.index, final.total, final.failed, final.ref) == (2, 2, (), "main")
    assert final.head == git(repo, "rev-parse", "HEAD")
    assert host.lines("build")[1:4] == ["compiling", "warning: x", "no newline"]
    assert "tests passed" in host.lines("test")
    running = [(s.state, s.step, s.index) for s in host.states()]
    assert running == [("running", "build", 1), ("running", "test", 2), ("ok", None, 2)]
    log = tmp_path / "state" / "runs" / "app" / f"{final.run_id}.log"
    assert final.log_path == str(log)
    text = log.read_text()
    assert "compiling\nwarning: x\nno newline\n" in text and "tests passed" in text


async def test_a_failed_step_stops_the_run_unless_it_may_continue(
    repo: Path, tmp_path: Path
) -> None:
    steps = (
        PipelineStep("lint", run=sh("echo lint; exit 3"), on_failure="continue"),
        PipelineStep("build", run=sh("exit 2")),
        PipelineStep("deploy", run=("echo", "deployed")),
    )
    spec = RepoSpec(repo, "app", pipeline=steps)
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "failed"
    assert (final.step, final.index, final.failed) == ("build", 2, ("lint", "build"))
    assert final.error == "step build: exit status 2"
    assert host.lines("deploy") == []  # never started
    assert any("lint failed: exit status 3 (on_failure: continue)" in m for m in host.lines())
    # With only tolerated failures the run is ok, and says which steps failed.
    spec = RepoSpec(repo, "app", pipeline=(steps[0], steps[2]))
    final = await runner.run(spec)
    assert final is not None and (final.state, final.failed) == ("ok", ("lint",))
    assert "deployed" in host.lines("deploy")


async def test_timeout_ends_the_step_and_its_children(repo: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # The shell ignores SIGTERM (and so does its child): only the SIGKILL after the grace works.
    script = f"trap '' TERM; sleep 60 & echo $! > {pid_file}; echo started; wait"
    steps = (
        PipelineStep("hang", run=sh(script), timeout=0.5),
        PipelineStep("after", run=("true",)),
    )
    spec = RepoSpec(repo, "app", pipeline=steps)
    runner, host = runner_for(tmp_path, spec)
    started = time.monotonic()
    final = await runner.run(spec)
    assert time.monotonic() - started < 5
    assert final is not None and final.state == "timeout"
    assert final.error == "step hang: timed out after 0.5s" and final.step == "hang"
    child = int(pid_file.read_text())
    assert process_ends(child, within=2.0)
    assert "started" in host.lines("hang")


async def test_processes_left_behind_end_with_the_step(repo: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    step = PipelineStep("bg", run=sh(f"sleep 60 & echo $! > {pid_file}"))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, _ = runner_for(tmp_path, spec)
    started = time.monotonic()
    final = await runner.run(spec)
    assert final is not None and final.state == "ok"
    assert time.monotonic() - started < 3  # not held up by the child keeping stdout open
    assert process_ends(int(pid_file.read_text()), within=2.0)


async def test_steps_run_only_on_allowed_branches(repo: Path, tmp_path: Path) -> None:
    steps = (
        PipelineStep("always", run=("echo", "a")),
        PipelineStep("release", run=("echo", "r"), branches=("release/*",)),
    )
    spec = RepoSpec(repo, "app", pipeline=steps)
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.total == 1 and host.lines("release") == []
    git(repo, "switch", "-q", "-c", "release/1.0")
    final = await runner.run(spec)
    assert final is not None and final.total == 2 and "r" in host.lines("release")
    # A tag deploy matches the tag; nothing allowed means no run at all.
    only = RepoSpec(repo, "app", pipeline=(steps[1],))
    assert await runner.run(only, ref="v1.0.0") is None
    assert any("no step runs on v1.0.0" in e.message for e in host.seen if isinstance(e, LogLine))


async def test_a_step_sees_only_its_declared_environment(repo: Path, tmp_path: Path) -> None:
    environ = {**ENV, "LEAKED": "daemon-only", "API_TOKEN": "s3cret", "OTHER_TOKEN": "no"}
    step = PipelineStep("env", run=("env",), env=(("APP_MODE", "prod"),), secrets=("API_TOKEN",))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, host = runner_for(tmp_path, spec, environ=environ)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok"
    printed = dict(line.split("=", 1) for line in host.lines("env")[1:-1])
    assert printed == {
        "PATH": ENV["PATH"],
        "HOME": "/nonexistent-home",
        "LANG": "C.UTF-8",
        "APP_MODE": "prod",
        "API_TOKEN": "***",  # it has the value, and its output shows it masked
    }
    missing = RepoSpec(repo, "app", pipeline=(PipelineStep("x", run=("env",), secrets=("NOPE",)),))
    final = await runner.run(missing)
    assert final is not None and final.state == "failed"
    assert final.error == "step x: secret NOPE is not set"


async def test_resource_limits_apply_to_the_step(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.bin"
    limits = StepLimits(file_size=1024 * 1024)
    step = PipelineStep("fill", run=sh(f"head -c 3000000 /dev/zero > {out}"), limits=limits)
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, _ = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "failed", final
    assert out.stat().st_size <= 1024 * 1024
    # The daemon's own limits are untouched.
    import resource

    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
    # Without the limit the same step succeeds: the limit, not the command, failed it.
    spec = RepoSpec(repo, "app", pipeline=(PipelineStep("fill", run=step.run),))
    final = await runner.run(spec)
    assert final is not None and final.state == "ok" and out.stat().st_size == 3_000_000


async def test_configmap_step_renders_and_pipes_to_kubectl(repo: Path, tmp_path: Path) -> None:
    (repo / "config").mkdir()
    (repo / "config" / "app.yaml").write_text("port: 8080\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    kubectl = fake_bin / "kubectl"
    kubectl.write_text('#!/bin/sh\necho "$@" > "$RECORD.args"\ncat > "$RECORD"\necho applied\n')
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "kubectl-stdin.yaml"
    config = ConfigMapSpec(
        name="app-config", namespace="prod", files=("config/*.yaml",), output="../out", apply=True
    )
    step = PipelineStep("render", configmap=config, env=(("RECORD", str(record)),))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    environ = {**ENV, "PATH": f"{fake_bin}:{ENV['PATH']}"}
    runner, host = runner_for(tmp_path, spec, environ=environ)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok", host.lines()
    written = tmp_path / "out" / "app-config.yaml"
    assert record.read_text() == written.read_text()
    assert (tmp_path / "kubectl-stdin.yaml.args").read_text() == "apply -f -\n"
    manifest = yaml.safe_load(record.read_text())
    assert manifest["kind"] == "ConfigMap" and manifest["data"] == {"app.yaml": "port: 8080\n"}
    assert "applied" in host.lines("render")
    # A refusal fails the step with the reason, and kubectl is not run.
    record.unlink()
    big = ConfigMapSpec(name="app-config", files=("config/*.yaml",), max_bytes=10, apply=True)
    spec = RepoSpec(repo, "app", pipeline=(PipelineStep("render", configmap=big),))
    final = await runner.run(spec)
    assert final is not None and final.state == "failed" and "over its limit" in (final.error or "")
    assert not record.exists()


async def test_triggers_during_a_run_coalesce_into_one_more_run(repo: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    runs = tmp_path / "runs.txt"
    script = f"echo run >> {runs}; while [ ! -e {gate} ]; do sleep 0.02; done"
    spec = RepoSpec(repo, "app", pipeline=(PipelineStep("slow", run=sh(script)),))
    runner, host = runner_for(tmp_path, spec)
    assert runner.trigger("app")
    await until(runs.exists)
    for _ in range(3):
        runner.trigger("app")
    gate.touch()
    await asyncio.wait_for(runner.wait_idle(), 10)
    assert runs.read_text() == "run\nrun\n"
    assert [s.state for s in host.states() if s.state != "running"] == ["ok", "ok"]
    assert not runner.trigger("nope")


# -- in the engine ------------------------------------------------------------------------------


async def start_engine(tmp_path: Path, *specs: RepoSpec) -> Engine:
    defaults = Defaults(poll_interval=3600.0, fetch_timeout=10.0)
    engine = Engine(
        Config(defaults=defaults, repos=specs),
        state_dir=tmp_path / "state",
        watch_files=False,
        rng=random.Random(1),
    )
    await engine.start()
    return engine


async def test_auto_sync_then_the_pipeline_runs(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "svc")
    built = tmp_path / "built.txt"
    step = PipelineStep(
        "build", run=sh('git rev-parse HEAD > "$OUT"; echo built'), env=(("OUT", str(built)),)
    )
    spec = RepoSpec(clone, "svc", auto_sync="ff-only", pipeline=(step,))
    engine = await start_engine(tmp_path, spec)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        push_from_elsewhere(remote, tmp_path)
        assert (await engine.fetch("svc")).ok
        await asyncio.wait_for(engine.pipelines.wait_idle(), 10)
        [synced] = [e for e in seen if isinstance(e, SyncFinished) and e.action == "auto-sync"]
        assert synced.ok and synced.new_head == git(clone, "rev-parse", "HEAD")
        assert built.read_text().strip() == synced.new_head
        final = engine.pipelines.last["svc"]
        assert (final.state, final.head, final.ref) == ("ok", synced.new_head, "main")
        assert any(isinstance(e, LogLine) and e.message == "built" for e in seen)
        assert engine.history is not None
        entries = engine.history.recent("svc")
        assert [(e.action, e.ok) for e in entries][:2] == [("pipeline", True), ("auto-sync", True)]
        # A fetch that brings nothing new moves no HEAD and runs nothing.
        assert (await engine.fetch("svc")).ok
        assert not engine.pipelines.running("svc")
        assert len([e for e in seen if isinstance(e, PipelineStateChanged)]) == 2
    finally:
        await engine.stop()


async def test_a_new_tag_is_deployed_then_the_pipeline_runs(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "site")
    step = PipelineStep("deploy", run=sh("cat version.txt"), branches=("v1.*",))
    spec = RepoSpec(clone, "site", follow_tag="v*", pipeline=(step,))
    engine = await start_engine(tmp_path, spec)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        other = tmp_path / "releaser"
        git(tmp_path, "clone", "-q", str(remote), str(other))
        tagged = commit_file(other, "version.txt", "1.1.0\n")
        git(other, "tag", "v1.1.0")
        git(other, "push", "-q", "origin", "main", "v1.1.0")
        assert (await engine.fetch("site")).ok
        await asyncio.wait_for(engine.pipelines.wait_idle(), 10)
        [deployed] = [e for e in seen if isinstance(e, SyncFinished) and e.action == "deploy-tag"]
        assert deployed.ok and (deployed.new_head, deployed.detail) == (tagged, "v1.1.0")
        assert git(clone, "rev-parse", "HEAD") == tagged
        assert engine.statuses["site"].detached
        final = engine.pipelines.last["site"]
        assert (final.state, final.ref) == ("ok", "v1.1.0")
        assert "1.1.0" in [e.message for e in seen if isinstance(e, LogLine) and e.step]
        # The next poll finds nothing newer: no event, no run.
        count = len(seen)
        assert (await engine.fetch("site")).ok
        later = [e for e in seen[count:] if isinstance(e, SyncFinished)]
        assert not any(e.action == "deploy-tag" for e in later)
    finally:
        await engine.stop()


async def test_stopping_the_engine_ends_a_running_step(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "slow")
    pid_file = tmp_path / "child.pid"
    step = PipelineStep("hang", run=sh(f"sleep 60 & echo $! > {pid_file}; wait"))
    spec = RepoSpec(clone, "slow", auto_sync="ff-only", pipeline=(step,))
    engine = await start_engine(tmp_path, spec)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    push_from_elsewhere(remote, tmp_path)
    await engine.fetch("slow")
    await until(lambda: pid_file.exists() and pid_file.read_text())
    await engine.stop()
    assert process_ends(int(pid_file.read_text()), within=2.0)
    assert [e.state for e in seen if isinstance(e, PipelineStateChanged)][-1] == "cancelled"
