"""The engine against real repos and real remotes on 127.0.0.1 (git daemon, silent, 401)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.cron import CronSchedule
from gitwatch_tui.core.models import CloneOptions, RepoSpec
from gitwatch_tui.engine.backoff import RetryPolicy
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import (
    ConfigError,
    ConfigReloaded,
    Event,
    StatusChanged,
    SyncFinished,
)
from gitwatch_tui.engine.limiter import MANUAL, SCHEDULED, PriorityLimiter
from gitwatch_tui.engine.locks import RepoLock
from tests.conftest import commit_file, free_port, git, push_from_elsewhere

FAST_RETRY = RetryPolicy(base=0.1, cap=0.3, breaker_threshold=2, breaker_cooldown=0.6)


async def wait_for(predicate: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def served_clone(daemon: tuple[str, Path], base: Path, name: str) -> tuple[Path, Path]:
    """A bare remote served by git daemon and a clone of it over git://."""
    url, served = daemon
    seed = base / f"{name}-seed"
    seed.mkdir(parents=True)
    git(seed, "init", "-q")
    commit_file(seed, "README.md", f"{name}\n")
    remote = served / f"{name}.git"
    git(base, "clone", "-q", "--bare", str(seed), str(remote))
    clone = base / name
    git(base, "clone", "-q", f"{url}/{name}.git", str(clone))
    return remote, clone


def config_for(*specs: RepoSpec, **defaults: float) -> Config:
    settings = {"poll_interval": 3600.0, "fetch_timeout": 10.0, **defaults}
    return Config(defaults=Defaults(**settings), repos=specs)  # type: ignore[arg-type]


async def start_engine(config: Config, tmp_path: Path, **options: object) -> Engine:
    """An engine on its own state dir; file watching off unless a test needs it."""
    options.setdefault("state_dir", tmp_path / "state")
    options.setdefault("watch_files", False)
    options.setdefault("rng", random.Random(1))
    engine = Engine(config, **options)  # type: ignore[arg-type]
    await engine.start()
    return engine


async def test_first_sweep_and_fetch_over_git_daemon(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    remote, clone = served_clone(git_daemon, tmp_path, "daemon-a")
    _, other = served_clone(git_daemon, tmp_path, "daemon-b")
    engine = await start_engine(config_for(RepoSpec(clone, "a"), RepoSpec(other, "b")), tmp_path)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        await wait_for(lambda: len(engine.statuses) == 2)
        assert engine.statuses["a"].behind == 0
        push_from_elsewhere(remote, tmp_path, count=2)
        finished = await engine.fetch("a")
        assert finished.ok, finished.error
        assert engine.statuses["a"].behind == 2
        assert engine.statuses["a"].last_fetch is not None
        assert any(isinstance(e, StatusChanged) and e.status.behind == 2 for e in seen)
        assert engine.states["a"].phase == "idle" and engine.states["a"].failures == 0
        assert engine.history is not None
        [entry] = engine.history.recent("a")
        assert (entry.action, entry.ok) == ("fetch", True)
    finally:
        await engine.stop()


async def test_hung_remote_backs_off_while_the_others_keep_syncing(
    git_daemon: tuple[str, Path], silent_server: str, tmp_path: Path
) -> None:
    remote, good = served_clone(git_daemon, tmp_path, "good")
    _, hung = served_clone(git_daemon, tmp_path, "hung")
    git(hung, "remote", "set-url", "origin", silent_server)
    push_from_elsewhere(remote, tmp_path)
    config = config_for(RepoSpec(good, "good"), RepoSpec(hung, "hung"), fetch_timeout=1.0)
    engine = await start_engine(config, tmp_path, retry=FAST_RETRY)
    try:
        started = time.monotonic()
        hung_fetch = asyncio.create_task(engine.fetch("hung"))
        good_fetch = await engine.fetch("good")
        assert good_fetch.ok and time.monotonic() - started < 1.0  # not held up by the hang
        assert engine.statuses["good"].behind == 1
        result = await hung_fetch
        assert not result.ok and "timed out" in (result.error or "")
        state = engine.states["hung"]
        assert state.phase in ("backoff", "circuit-open") and state.failures == 1
        assert state.next_attempt is not None and state.next_attempt > time.time()
        assert "timed out" in (state.last_error or "")
    finally:
        await engine.stop()


async def test_http_401_is_an_auth_error_at_once_never_a_prompt(
    unauthorized_server: str, tmp_path: Path
) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    commit_file(seed, "a.txt", "a\n")
    git(seed, "remote", "add", "origin", unauthorized_server)
    engine = await start_engine(config_for(RepoSpec(seed, "private")), tmp_path, retry=FAST_RETRY)
    try:
        started = time.monotonic()
        result = await engine.fetch("private")
        assert time.monotonic() - started < 5
        state = engine.states["private"]
        assert not result.ok and state.auth_failed
        assert "authentication failed" in (state.last_error or "")
        assert state.circuit_open  # no point retrying a server that wants credentials
    finally:
        await engine.stop()


async def test_circuit_opens_when_the_server_is_down_and_closes_when_it_is_back(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    url, served = git_daemon
    _, clone = served_clone(git_daemon, tmp_path, "flaky")
    port = free_port()  # the server's new address, down for now: connection refused
    git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{port}/flaky.git")
    config = config_for(RepoSpec(clone, "flaky"), poll_interval=0.2)
    engine = await start_engine(config, tmp_path, retry=FAST_RETRY)
    server: asyncio.subprocess.Process | None = None
    try:
        await wait_for(lambda: engine.states["flaky"].circuit_open, within=10)
        failures = engine.states["flaky"].failures
        assert failures >= FAST_RETRY.breaker_threshold  # the server's only repo
        server = await asyncio.create_subprocess_exec(
            "git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
            "--listen=127.0.0.1", f"--port={port}", str(served),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await wait_for(lambda: not engine.states["flaky"].circuit_open, within=10)
        state = engine.states["flaky"]
        assert state.failures == 0 and state.last_success is not None
    finally:
        await engine.stop()
        if server is not None:
            server.terminate()
            await server.wait()


async def test_a_repo_the_server_does_not_know_backs_off_without_opening_its_circuit(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    remote, clone = served_clone(git_daemon, tmp_path, "moved")
    remote.rename(remote.with_name("moved-away.git"))  # "repository not found": the repo's own
    config = config_for(RepoSpec(clone, "moved"), poll_interval=0.2)
    engine = await start_engine(config, tmp_path, retry=FAST_RETRY)
    try:
        await wait_for(lambda: engine.states["moved"].failures >= 4, within=10)
        state = engine.states["moved"]
        assert state.phase == "backoff" and not state.circuit_open
    finally:
        await engine.stop()


async def test_a_corrupt_repo_gets_an_error_status_and_the_rest_are_fine(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    _, good = served_clone(git_daemon, tmp_path, "fine")
    _, bad = served_clone(git_daemon, tmp_path, "corrupt")
    (bad / ".git" / "HEAD").write_text("not a ref\n")
    engine = await start_engine(config_for(RepoSpec(good, "fine"), RepoSpec(bad, "bad")), tmp_path)
    try:
        await wait_for(lambda: len(engine.statuses) == 2)
        assert "not a git repository" in (engine.statuses["bad"].error or "")
        assert engine.statuses["fine"].error is None
    finally:
        await engine.stop()


async def test_a_local_edit_is_seen_within_a_second(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    _, clone = served_clone(git_daemon, tmp_path, "edited")
    engine = await start_engine(config_for(RepoSpec(clone, "edited")), tmp_path, watch_files=True)
    try:
        await wait_for(lambda: "edited" in engine.statuses)
        await wait_for(lambda: engine.watching)  # started after the first sweep
        edited_at = time.monotonic()
        (clone / "new-file.txt").write_text("hello\n")
        await wait_for(lambda: engine.statuses["edited"].untracked == 1, within=3)
        assert time.monotonic() - edited_at < 2.0
        git(clone, "add", "new-file.txt")  # a change inside .git (the index) is seen too
        await wait_for(lambda: engine.statuses["edited"].staged == 1, within=3)
    finally:
        await engine.stop()


async def test_hot_reload_adds_and_removes_repos_and_keeps_the_last_good_config(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    from gitwatch_tui.core.config_file import load_config

    _, one = served_clone(git_daemon, tmp_path, "one")
    _, two = served_clone(git_daemon, tmp_path, "two")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(f"repos:\n  - path: {one}\n")
    engine = await start_engine(load_config(config_file), tmp_path, config_path=config_file)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        await wait_for(lambda: "one" in engine.statuses)
        config_file.write_text(f"repos:\n  - path: {two}\n")
        await wait_for(lambda: any(isinstance(e, ConfigReloaded) for e in seen), within=5)
        reloaded = next(e for e in seen if isinstance(e, ConfigReloaded))
        assert (reloaded.added, reloaded.removed) == (("two",), ("one",))
        await wait_for(lambda: set(engine.statuses) == {"two"})
        config_file.write_text("repos:\n  - path: x\n    pol_interval: 5\n")
        await wait_for(lambda: any(isinstance(e, ConfigError) for e in seen), within=5)
        error = next(e for e in seen if isinstance(e, ConfigError))
        assert f"{config_file}:3:5" in error.message and "did you mean" in error.message
        assert set(engine.specs) == {"two"}  # the last good config is still in force
    finally:
        await engine.stop()


async def test_auto_sync_fast_forwards_only_what_is_safe(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    clean_remote, clean = served_clone(git_daemon, tmp_path, "auto-clean")
    dirty_remote, dirty = served_clone(git_daemon, tmp_path, "auto-dirty")
    off_remote, off = served_clone(git_daemon, tmp_path, "auto-off")
    for remote in (clean_remote, dirty_remote, off_remote):
        push_from_elsewhere(remote, tmp_path)
    (dirty / "README.md").write_text("my unsaved work\n")
    config = config_for(
        RepoSpec(clean, "clean", auto_sync="ff-only"),
        RepoSpec(dirty, "dirty", auto_sync="ff-only"),
        RepoSpec(off, "off"),
    )
    engine = await start_engine(config, tmp_path)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        await engine.fetch_all()
        synced = [e for e in seen if isinstance(e, SyncFinished) and e.action == "auto-sync"]
        by_repo = {e.repo: e for e in synced}
        assert by_repo["clean"].ok and by_repo["clean"].automatic
        assert by_repo["clean"].new_head == git(clean_remote, "rev-parse", "main")
        assert engine.statuses["clean"].behind == 0
        assert not by_repo["dirty"].ok and by_repo["dirty"].detail == "dirty"
        assert (dirty / "README.md").read_text() == "my unsaved work\n"
        assert engine.statuses["dirty"].behind == 1
        assert "off" not in by_repo and engine.statuses["off"].behind == 1
    finally:
        await engine.stop()


async def test_a_repo_held_by_another_process_is_not_fetched(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    _, clone = served_clone(git_daemon, tmp_path, "locked")
    engine = await start_engine(config_for(RepoSpec(clone, "locked")), tmp_path)
    lock = RepoLock(tmp_path / "state", clone)
    assert lock.try_acquire()
    try:
        result = await engine.fetch("locked")
        assert not result.ok and "busy" in (result.error or "")
        lock.release()
        assert (await engine.fetch("locked")).ok
    finally:
        lock.release()
        await engine.stop()


async def test_stop_ends_a_hung_fetch_promptly(
    git_daemon: tuple[str, Path], silent_server: str, tmp_path: Path
) -> None:  # fmt: skip
    _, clone = served_clone(git_daemon, tmp_path, "stuck")
    git(clone, "remote", "set-url", "origin", silent_server)
    engine = await start_engine(config_for(RepoSpec(clone, "stuck"), fetch_timeout=60), tmp_path)
    fetching = asyncio.create_task(engine.fetch("stuck"))
    await wait_for(lambda: engine.states["stuck"].phase == "fetching")
    started = time.monotonic()
    await engine.stop()
    assert time.monotonic() - started < 5
    fetching.cancel()


async def test_manual_commands_jump_the_queue() -> None:
    limiter = PriorityLimiter(1)
    order: list[str] = []

    async def job(name: str, priority: int) -> None:
        async with limiter.slot(priority):
            order.append(name)
            await asyncio.sleep(0.01)

    async with limiter.slot(SCHEDULED):  # the one slot is busy
        jobs = [asyncio.create_task(job(f"poll-{i}", SCHEDULED)) for i in range(3)]
        await asyncio.sleep(0)
        jobs.append(asyncio.create_task(job("key-press", MANUAL)))
        await asyncio.sleep(0)
    await asyncio.gather(*jobs)
    assert order == ["key-press", "poll-0", "poll-1", "poll-2"]


async def test_a_missing_repo_with_a_url_is_cloned_then_watched(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = git_daemon
    remote, _ = served_clone(git_daemon, tmp_path, "to-clone")
    push_from_elsewhere(remote, tmp_path, count=2)
    target = tmp_path / "checkouts" / "to-clone"
    spec = RepoSpec(target, "fresh", url=f"{url}/to-clone.git", clone=CloneOptions(depth=1))
    engine = await start_engine(config_for(spec), tmp_path)
    seen: list[Event] = []
    engine.subscribe(seen.append)
    try:
        await wait_for(
            lambda: any(isinstance(e, SyncFinished) and e.action == "clone" for e in seen)
        )
        cloned = next(e for e in seen if isinstance(e, SyncFinished) and e.action == "clone")
        assert cloned.ok, cloned.error
        await wait_for(lambda: engine.statuses["fresh"].error is None)
        assert engine.statuses["fresh"].branch == "main"
        assert git(target, "rev-parse", "--is-shallow-repository") == "true"
        assert git(target, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    finally:
        await engine.stop()


async def test_a_clone_that_fails_backs_off_and_leaves_nothing_behind(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = git_daemon
    target = tmp_path / "checkouts" / "nowhere"
    spec = RepoSpec(target, "nowhere", url=f"{url}/does-not-exist.git")
    engine = await start_engine(config_for(spec), tmp_path, retry=FAST_RETRY)
    try:
        await wait_for(lambda: engine.states["nowhere"].failures >= 1)
        assert engine.states["nowhere"].phase in ("backoff", "circuit-open")
        assert not target.exists()
        assert "not cloned yet" in (engine.statuses["nowhere"].error or "")
    finally:
        await engine.stop()


async def test_a_cron_schedule_sets_the_next_poll(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    _, clone = served_clone(git_daemon, tmp_path, "cron")
    every_minute = RepoSpec(clone, "cron", schedule=CronSchedule.parse("* * * * *"))
    engine = await start_engine(config_for(every_minute), tmp_path)
    try:
        assert (await engine.fetch("cron")).ok
        wait = (engine.states["cron"].next_attempt or 0) - time.time()
        assert 0 < wait <= 60 + 30  # the next minute plus at most 30 s of jitter, not 1 hour
    finally:
        await engine.stop()


async def test_events_can_be_read_as_an_async_stream(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    _, clone = served_clone(git_daemon, tmp_path, "streamed")
    engine = Engine(config_for(RepoSpec(clone, "s")), state_dir=tmp_path / "st", watch_files=False)
    stream = engine.events.stream()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    await engine.start()
    try:
        event = await asyncio.wait_for(first, 5)
        assert isinstance(event, StatusChanged) and event.status.name == "s"
    finally:
        await engine.stop()
        await stream.aclose()
