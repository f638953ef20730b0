"""Liveness and isolation: every repo keeps being polled whatever its cycles do, and one repo's
failure never holds back another. Real repos, real remotes (bare, smart HTTP), real hooks."""

from __future__ import annotations

import asyncio
import os
import random
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.engine.backoff import RetryPolicy
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, LogLine, SyncFinished, SyncStateChanged
from gitwatch_tui.engine.locks import RepoLock
from tests.conftest import (
    GitHttpServer,
    commit_file,
    free_port,
    git,
    make_remote_and_clone,
    push_from_elsewhere,
)
from tests.engine.test_engine import config_for, start_engine, wait_for

QUICK = RetryPolicy(base=0.1, cap=0.4, breaker_threshold=2, breaker_cooldown=30.0)


class Attempts:
    """Counts each repo's poll attempts: every time its phase turns to fetching."""

    def __init__(self, engine: Engine) -> None:
        self.count: Counter[str] = Counter()
        self.events: list[Event] = []
        self._phase: dict[str, str] = {}
        engine.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, SyncStateChanged):
            state = event.state
            if state.phase == "fetching" and self._phase.get(state.repo) != "fetching":
                self.count[state.repo] += 1
            self._phase[state.repo] = state.phase

    def since(self, before: Counter[str]) -> Counter[str]:
        return self.count - before


def slow_hook(repo: Path, seconds: float) -> None:
    """A post-merge hook that sleeps: an auto fast-forward then outlasts a short interval (in a
    repo marked `trust: true`: an untrusted repo's own hooks never run in the background)."""
    hook = repo / ".git" / "hooks" / "post-merge"
    hook.write_text(f"#!/bin/sh\nsleep {seconds}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def stalled_config(repo: Path) -> Path:
    """Make every git command in `repo` block on reading its config (an include that is a
    FIFO nobody writes): status and fetch hang until their timeouts."""
    fifo = repo.parent / f"{repo.name}-stall.fifo"
    os.mkfifo(fifo)
    git(repo, "config", "include.path", str(fifo))
    return fifo


def http_clone(server: GitHttpServer, base: Path, name: str) -> tuple[Path, Path]:
    """A bare repo served over smart HTTP and a clone of it."""
    seed = base / f"{name}-seed"
    seed.mkdir()
    git(seed, "init", "-q")
    commit_file(seed, "README.md", f"{name}\n")
    remote = server.root / f"{name}.git"
    git(base, "clone", "-q", "--bare", str(seed), str(remote))
    git(remote, "config", "http.receivepack", "true")
    clone = base / name
    git(base, "clone", "-q", f"{server.url}/{name}.git", str(clone))
    return remote, clone


# -- liveness ---------------------------------------------------------------------------------


async def test_a_cycle_longer_than_its_interval_is_polled_again(tmp_path: Path) -> None:
    """The next poll is scheduled when a cycle ends: a slow post-merge hook (2x the interval)
    used to leave the repo with no next poll at all."""
    remote, slow = make_remote_and_clone(tmp_path, "slow")
    _, quick = make_remote_and_clone(tmp_path, "quick")
    slow_hook(slow, 0.6)
    config = config_for(
        RepoSpec(slow, "slow", auto_sync="ff-only", trust=True),
        RepoSpec(quick, "quick"),
        poll_interval=0.3,
    )
    engine = await start_engine(config, tmp_path, retry=QUICK)
    try:
        for round_ in range(4):  # each push gives the next cycle a fast-forward and the hook
            before = engine.statuses.get("slow")
            push_from_elsewhere(remote, tmp_path, name=f"dev{round_}")
            await wait_for(
                lambda b=before: (
                    (s := engine.statuses.get("slow")) is not None
                    and s != b
                    and s.behind == 0
                    and s.head != (b.head if b else None)
                ),
                within=10,
            )
        assert not engine.find_overdue()
    finally:
        await engine.stop()


async def test_randomized_cycles_keep_every_repo_polled(tmp_path: Path) -> None:
    """Cycles shorter and longer than their interval (slow hooks, a stalled status, a lock held
    by another process, cancelled cycles), over a fixed seed: every repo keeps being polled and
    the watchdog finds nothing overdue."""
    rng = random.Random(20261207)
    specs, remotes, holds = [], {}, []
    for index in range(8):
        name = f"r{index}"
        remote, clone = make_remote_and_clone(tmp_path, name)
        remotes[name] = remote
        kind = ("plain", "slow-hook", "busy", "slow-status")[index % 4]
        if kind == "slow-hook":
            slow_hook(clone, rng.uniform(0.3, 0.9))
        if kind == "slow-status":
            stalled_config(clone)
        if kind == "busy":
            holds.append(RepoLock(tmp_path / "state", clone))
        interval = rng.uniform(0.2, 0.6)
        trust = kind == "slow-hook"
        specs.append(
            RepoSpec(clone, name, auto_sync="ff-only", poll_interval=interval, trust=trust)
        )
    config = config_for(*specs, status_timeout=1.0, fetch_timeout=1.0)
    for lock in holds:
        assert lock.try_acquire()  # another gitwatch-tui holds these repos for a while
    engine = await start_engine(config, tmp_path, retry=QUICK, watchdog_every=0.2)
    attempts = Attempts(engine)
    try:
        deadline = time.monotonic() + 8.0
        pushes = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(rng.uniform(0.05, 0.3))
            action = rng.random()
            if action < 0.3:
                name = rng.choice(list(remotes))
                push_from_elsewhere(remotes[name], tmp_path, name=f"p{pushes}")
                pushes += 1
            elif action < 0.5 and engine._cycles:  # a cycle cancelled mid-way
                rng.choice(list(engine._cycles.values())).cancel()
            elif action < 0.6 and holds:
                holds.pop().release()
        for lock in holds:
            lock.release()
        before = attempts.count.copy()
        # Every repo is polled again within a few of its intervals (the stalled one within
        # its timeouts and its back-off).
        await wait_for(lambda: set(attempts.since(before)) == {s.name for s in specs}, within=15)
        assert all(attempts.count[s.name] >= 2 for s in specs), attempts.count
        alarms = [e for e in attempts.events if isinstance(e, LogLine) and "watchdog" in e.message]
        assert not alarms
        assert not engine.find_overdue()
    finally:
        for lock in holds:
            lock.release()
        await engine.stop()


async def test_a_state_dir_that_cannot_hold_locks_is_an_error_and_a_retry(tmp_path: Path) -> None:
    """An exception while taking the repo's lock used to end its poll task for good (and leave
    `phase: fetching` forever); now it is the repo's error, retried with back-off."""
    _, clone = make_remote_and_clone(tmp_path, "locked-out")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "locks").write_text("a file where the lock folder should be\n")
    config = config_for(RepoSpec(clone, "locked-out"), poll_interval=0.2)
    engine = await start_engine(config, tmp_path, retry=QUICK, state_dir=state_dir)
    try:
        await wait_for(lambda: engine.states["locked-out"].failures >= 2, within=10)
        state = engine.states["locked-out"]
        assert state.phase == "backoff" and "internal error" in (state.last_error or "")
        (state_dir / "locks").unlink()
        await wait_for(lambda: engine.states["locked-out"].last_success is not None, within=10)
        assert engine.states["locked-out"].failures == 0
    finally:
        await engine.stop()


EMFILE_SCRIPT = """
import asyncio, os, resource, sys, time
from pathlib import Path
from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.backoff import RetryPolicy
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import SyncStateChanged

async def main():
    clone, state = Path(sys.argv[1]), Path(sys.argv[2])
    config = Config(defaults=Defaults(poll_interval=0.2, fetch_timeout=5.0),
                    repos=(RepoSpec(clone, "flood"),))
    engine = Engine(config, state_dir=state, watch_files=False, keep_history=False,
                    retry=RetryPolicy(base=0.1, cap=0.3))
    # Every state is kept as published: sampling it could miss a 0.3 s back-off on a loaded
    # machine, where the retry has begun by the time the loop looks.
    states = []
    engine.subscribe(lambda e: states.append(e.state) if isinstance(e, SyncStateChanged) else None)
    await engine.start()
    while "flood" not in engine.statuses:
        await asyncio.sleep(0.02)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    held = []
    def take_every_descriptor():
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass  # every descriptor is taken: the next lock file cannot be opened (EMFILE)
    def failing():
        return [s for s in states if s.failures >= 2 and s.phase == "backoff"]
    deadline = time.monotonic() + 40
    while not failing() and time.monotonic() < deadline:
        # Again and again: a poll under way as they were first taken frees its own (its
        # lock, its git's pipes) when it ends, and the next poll could use those.
        take_every_descriptor()
        await asyncio.sleep(0.02)
    seen = failing()[:1]
    print("failing:", *((s.phase, s.last_error) for s in seen), flush=True)
    for fd in held:
        os.close(fd)
    deadline = time.monotonic() + 40
    while engine.states["flood"].failures and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    print("recovered:", engine.states["flood"].failures == 0, flush=True)
    await engine.stop()

asyncio.run(main())
"""


def test_running_out_of_file_descriptors_is_retried_not_fatal(tmp_path: Path) -> None:
    """EMFILE (a connection flood) while a poll takes its lock: the repo shows the error and
    is polled again once descriptors are free. In its own process: it takes every fd."""
    _, clone = make_remote_and_clone(tmp_path, "flood")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(EMFILE_SCRIPT), str(clone),
         str(tmp_path / "state")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "failing: ('backoff'" in result.stdout and "Too many open files" in result.stdout
    assert "recovered: True" in result.stdout
    assert "never retrieved" not in result.stderr


async def test_the_watchdog_reports_a_repo_with_no_next_attempt_and_repairs_it(
    tmp_path: Path,
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "lost")
    engine = await start_engine(
        config_for(RepoSpec(clone, "lost"), poll_interval=3600), tmp_path, watchdog_every=0.1
    )
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        await wait_for(lambda: engine.next_attempt("lost") is not None)
        assert engine.find_overdue() == []
        engine._due_at.clear()  # a scheduling bug loses the repo's next attempt
        assert engine.find_overdue() == ["lost"]
        await wait_for(
            lambda: any(isinstance(e, LogLine) and e.level == "error" and e.repo == "lost"
                        for e in seen)
        )  # fmt: skip
        await wait_for(lambda: any(isinstance(e, SyncFinished) and e.repo == "lost" for e in seen))
        await wait_for(lambda: engine.overdue == () and engine.find_overdue() == [])
    finally:
        await engine.stop()


# -- isolation --------------------------------------------------------------------------------


async def test_a_401_on_one_repo_never_holds_back_its_neighbour_on_the_same_server(
    git_http: GitHttpServer, tmp_path: Path
) -> None:
    remote, healthy = http_clone(git_http, tmp_path, "healthy")
    _, private = http_clone(git_http, tmp_path, "private")
    git_http.answers["private.git"] = 401
    config = config_for(
        RepoSpec(healthy, "healthy"), RepoSpec(private, "private"), poll_interval=0.2
    )
    engine = await start_engine(config, tmp_path, retry=QUICK)
    attempts = Attempts(engine)
    try:
        await wait_for(lambda: engine.states["private"].auth_failed, within=10)
        held = engine.states["private"]
        assert held.circuit_open and held.phase == "circuit-open"
        before = attempts.count.copy()
        push_from_elsewhere(remote, tmp_path, count=1)
        await wait_for(lambda: engine.statuses["healthy"].behind == 1, within=10)
        await wait_for(lambda: attempts.since(before)["healthy"] >= 5, within=15)
        assert attempts.since(before)["private"] == 0  # held at once, not retried
        state = engine.states["healthy"]
        assert not state.circuit_open and state.failures == 0
    finally:
        await engine.stop()


async def test_a_5xx_from_one_repo_backs_off_that_repo_alone(
    git_http: GitHttpServer, tmp_path: Path
) -> None:
    _, healthy = http_clone(git_http, tmp_path, "fine")
    _, other = http_clone(git_http, tmp_path, "fine2")
    _, broken = http_clone(git_http, tmp_path, "broken")
    git_http.answers["broken.git"] = 503
    specs = [RepoSpec(p, p.name) for p in (healthy, other, broken)]
    engine = await start_engine(config_for(*specs, poll_interval=0.2), tmp_path, retry=QUICK)
    attempts = Attempts(engine)
    try:
        await wait_for(lambda: engine.states["broken"].failures >= 4, within=15)
        assert not engine.states["broken"].circuit_open  # one repo: not the server's fault
        await wait_for(
            lambda: attempts.count["fine"] >= 5 and attempts.count["fine2"] >= 5, within=15
        )
        assert not engine.states["fine"].circuit_open
    finally:
        await engine.stop()


async def test_a_server_breaker_opens_when_several_repos_find_it_down(tmp_path: Path) -> None:
    """Connection refused from three repos on one server opens its breaker for all of them."""
    port = free_port()  # nothing listens there
    specs = []
    for name in ("d1", "d2", "d3"):
        _, clone = make_remote_and_clone(tmp_path, name)
        git(clone, "remote", "set-url", "origin", f"http://127.0.0.1:{port}/{name}.git")
        specs.append(RepoSpec(clone, name))
    engine = await start_engine(config_for(*specs, poll_interval=0.2), tmp_path, retry=QUICK)
    try:
        await wait_for(lambda: all(engine.states[s.name].circuit_open for s in specs), within=15)
        assert "failed to connect" in (engine.states["d1"].last_error or "").lower()
        assert not any(engine.states[s.name].auth_failed for s in specs)
    finally:
        await engine.stop()


async def test_a_hung_status_in_one_repo_never_slows_another(tmp_path: Path) -> None:
    """A repo whose every git call hangs (a stalled config) used to hold the shared status
    refresh, and with it every other repo's poll, for its whole timeout."""
    _, hung = make_remote_and_clone(tmp_path, "hung")
    _, healthy = make_remote_and_clone(tmp_path, "healthy")
    config = config_for(
        RepoSpec(hung, "hung"), RepoSpec(healthy, "healthy"), poll_interval=0.2,
        status_timeout=20.0, fetch_timeout=20.0,
    )  # fmt: skip
    engine = await start_engine(config, tmp_path, retry=QUICK)
    attempts = Attempts(engine)
    try:
        await wait_for(lambda: len(engine.statuses) == 2, within=10)
        stalled_config(hung)
        await engine.refresh("healthy")
        hung_read = asyncio.ensure_future(engine.refresh("hung"))
        await asyncio.sleep(0)
        before = attempts.count.copy()
        started = time.monotonic()
        fresh = await engine.refresh("healthy")
        assert time.monotonic() - started < 4.0 and fresh.error is None
        # Polls go on at their interval while the hung read waits out its 20 s.
        await wait_for(
            lambda: attempts.since(before)["healthy"] >= 2 or hung_read.done(), within=20
        )
        assert not hung_read.done()
        hung_read.cancel()
    finally:
        await engine.stop()


async def test_a_repo_asked_for_again_during_a_hung_sweep_is_read_again_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh asked for while the repo is being read, in a sweep with a hung repo, is
    read again after the re-reads' short gathering time: not when the hung one times out."""
    from gitwatch_tui.engine import engine as engine_module

    _, hung = make_remote_and_clone(tmp_path, "hung")
    _, healthy = make_remote_and_clone(tmp_path, "healthy")
    config = config_for(RepoSpec(hung, "hung"), RepoSpec(healthy, "healthy"), status_timeout=20.0)
    engine = await start_engine(config, tmp_path)
    try:
        await wait_for(lambda: len(engine.statuses) == 2, within=10)
        stalled_config(hung)
        asked_again = threading.Event()
        real = engine_module.collect_statuses

        def held(specs: list[RepoSpec], **options: Any) -> object:
            report = options.pop("on_status")

            def after_the_ask(status: RepoStatus) -> None:  # healthy's first read ends late
                asked_again.wait(10)
                report(status)

            return real(specs, on_status=after_the_ask, **options)

        monkeypatch.setattr(engine_module, "collect_statuses", held)
        sweep = asyncio.ensure_future(engine.refresh_all())  # both in one batch
        await wait_for(lambda: len(engine._reading) == 2)
        again = asyncio.ensure_future(engine.refresh("healthy"))  # during its first read
        await wait_for(lambda: "healthy" in engine._pending_refresh)
        asked_again.set()
        started = time.monotonic()
        fresh = await asyncio.wait_for(again, 10)
        assert time.monotonic() - started < 5.0 and fresh.error is None
        assert not sweep.done()  # the hung repo is still being read
        sweep.cancel()
    finally:
        await engine.stop()
