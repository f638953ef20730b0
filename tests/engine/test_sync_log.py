"""The log's lines about syncing: one per change (a failure said once, not at every retry), from
events a real engine publishes over real repos."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.engine.backoff import RetryPolicy
from gitwatch_tui.engine.events import (
    Event,
    LogLine,
    StatusChanged,
    SyncFinished,
    SyncState,
    SyncStateChanged,
)
from gitwatch_tui.engine.sync_log import SyncLog
from tests.conftest import git, make_remote_and_clone, push_from_elsewhere
from tests.engine.test_engine import config_for, start_engine

# No retry of its own during the test, and the circuit stays closed: the failures are the
# test's three fetches, each the same as the last.
RETRY = RetryPolicy(base=600.0, cap=600.0, breaker_threshold=10, breaker_cooldown=600.0)


def said(events: list[Event]) -> list[str]:
    log = SyncLog()
    return [f"{line.level} {line.repo}: {line.message}" for e in events for line in log.lines(e)]


def test_a_failure_is_said_once_then_its_change_and_its_end() -> None:
    def state(phase: str, failures: int, error: str | None = None, **kw: object) -> Event:
        return SyncStateChanged(SyncState("r", phase, failures, None, error, **kw))  # type: ignore[arg-type]

    lines = said([
        state("fetching", 0), state("idle", 0),  # a poll that worked: no news
        state("fetching", 0), state("backoff", 1, "fatal: repository not found"),
        state("fetching", 1), state("backoff", 2, "fatal: repository not found"),  # a retry
        state("idle", 2, "fatal: repository not found"),  # a sync ended meanwhile: still failing
        state("backoff", 3, "Connection refused"),
        state("circuit-open", 4, "Connection refused", circuit_open=True),
        state("circuit-open", 5, "Connection refused", circuit_open=True),
        state("idle", 0),
    ])  # fmt: skip
    assert lines == [
        "error r: fetch failed: repository not found",
        "error r: still failing, now: Connection refused",
        "error r: circuit open, fetches paused: Connection refused",
        "info r: fetch works again",
    ]


def test_syncs_refusals_and_unreadable_repos() -> None:
    lines = said([
        SyncFinished("r", "fetch", ok=True),
        SyncFinished("r", "fetch", ok=False, error="x"),  # said by its sync state
        SyncFinished("r", "auto-sync", ok=True, old_head="a" * 40, new_head="b" * 40,
                     automatic=True, detail="ff-only"),
        SyncFinished("r", "auto-sync", ok=False, error="2 staged and 0 unstaged changes",
                     automatic=True, detail="dirty"),
        SyncFinished("r", "pull", ok=False, error="merge stopped on 1 conflicted file: a",
                     detail="undo: git merge --abort"),
        SyncFinished("r", "pull", ok=False, error="git merge timed out after 60s"),
        SyncFinished("r", "auto-sync", ok=True, old_head="b" * 40, new_head="c" * 40,
                     error="git merge timed out after 60s after HEAD had moved"),
        StatusChanged(RepoStatus("r", "/r", error="fatal: bad object HEAD")),
        StatusChanged(RepoStatus("r", "/r", error="fatal: bad object HEAD")),
        StatusChanged(RepoStatus("r", "/r")),
    ])  # fmt: skip
    assert lines == [
        "info r: auto-sync: aaaaaaa..bbbbbbb",
        "warning r: auto-sync refused: 2 staged and 0 unstaged changes",
        "warning r: pull: merge stopped on 1 conflicted file: a",
        "error r: pull failed: git merge timed out after 60s",
        "warning r: auto-sync: bbbbbbb..ccccccc; "
        "git merge timed out after 60s after HEAD had moved",
        "error r: cannot be read: bad object HEAD",
        "info r: readable again",
    ]


async def test_an_engine_with_failing_and_syncing_repos_logs_each_change_once(
    tmp_path: Path,
) -> None:
    remote, synced = make_remote_and_clone(tmp_path, "synced")
    _, failing = make_remote_and_clone(tmp_path, "failing")
    git(failing, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    hook = synced / ".git" / "hooks" / "post-merge"
    hook.write_text("#!/bin/sh\nexec sleep 60\n")  # outlives the sync's timeout
    hook.chmod(0o755)
    push_from_elsewhere(remote, tmp_path)
    old_head = git(synced, "rev-parse", "HEAD")
    # Trusted: an untrusted repo's own hooks never run in an automatic sync.
    specs = (
        RepoSpec(synced, "synced", auto_sync="ff-only", trust=True),
        RepoSpec(failing, "failing"),
    )
    engine = await start_engine(config_for(*specs, fetch_timeout=2.0), tmp_path, retry=RETRY)
    log, lines = SyncLog(), list[LogLine]()
    engine.subscribe(lambda event: lines.extend(log.lines(event)))
    try:
        for _ in range(3):
            await engine.fetch("failing")
        await engine.fetch("synced")
    finally:
        await engine.stop()
    new_head = git(synced, "rev-parse", "HEAD")
    messages = [(line.repo, line.message) for line in lines]
    assert [repo for repo, _ in messages].count("failing") == 1  # not once per retry
    failed = next(message for repo, message in messages if repo == "failing")
    assert failed.startswith("fetch failed: ") and "nowhere.git" in failed
    [(_, moved)] = [m for m in messages if m[0] == "synced"]
    assert moved.startswith(f"auto-sync: {old_head[:7]}..{new_head[:7]}; ")
    assert "git merge timed out after 2s after HEAD had moved" in moved
