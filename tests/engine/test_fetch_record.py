""" "Fetched" is the last successful fetch: the engine records each fetch's outcome, shows a
failure as one, and keeps both times in history across a restart. Real repos, local remotes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.history import History
from tests.conftest import git, make_remote_and_clone
from tests.engine.test_engine import FAST_RETRY, config_for, start_engine, wait_for


async def test_a_failed_fetch_is_shown_as_failed_not_as_fetched(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    engine = await start_engine(config_for(RepoSpec(clone, "repo")), tmp_path, retry=FAST_RETRY)
    try:
        assert (await engine.fetch("repo")).ok
        fetched = engine.statuses["repo"].last_fetch
        assert fetched is not None
        git(clone, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
        assert not (await engine.fetch("repo")).ok
        status, state = engine.statuses["repo"], engine.states["repo"]
        assert status.last_fetch == fetched  # git touched FETCH_HEAD: no matter
        assert status.last_fetch_failed is not None and status.last_fetch_failed >= fetched
        assert (state.last_success, state.last_failure) == (fetched, status.last_fetch_failed)
        git(clone, "remote", "set-url", "origin", str(tmp_path / "repo.git"))
        assert (await engine.fetch("repo")).ok
        status = engine.statuses["repo"]
        assert status.last_fetch_failed is None and (status.last_fetch or 0) >= fetched
    finally:
        await engine.stop()


async def test_fetch_times_survive_a_restart(tmp_path: Path) -> None:
    _, good = make_remote_and_clone(tmp_path, "good")
    _, bad = make_remote_and_clone(tmp_path, "bad")
    git(bad, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    config = config_for(RepoSpec(good, "good"), RepoSpec(bad, "bad"))
    engine = await start_engine(config, tmp_path, retry=FAST_RETRY)
    try:
        await engine.fetch_all()
        before = {name: engine.statuses[name] for name in ("good", "bad")}
    finally:
        await engine.stop()
    assert before["good"].last_fetch is not None and before["bad"].last_fetch is None
    assert before["bad"].last_fetch_failed is not None
    with History(tmp_path / "state" / "history.sqlite3") as history:
        assert set(history.fetch_times()) == {str(good), str(bad)}
    again = await start_engine(config, tmp_path, retry=FAST_RETRY)
    try:
        await wait_for(lambda: len(again.statuses) == 2)
        for name in ("good", "bad"):
            status, state = again.statuses[name], again.states[name]
            assert status.last_fetch == before[name].last_fetch, name
            assert status.last_fetch_failed == before[name].last_fetch_failed, name
            assert (state.last_success, state.last_failure) == (
                status.last_fetch,
                status.last_fetch_failed,
            )
    finally:
        await again.stop()


async def test_every_fetch_record_asked_for_is_written_before_stop_closes_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop right after a fetch-all of more repos than the engine had threads for history
    writes, each write slow: every record is written (a guard: the stop used to cancel writes
    still queued, which lost a record in one CI run; this test did not catch that here)."""
    slow_write = History.record_fetch

    def record_fetch(self: History, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.3)  # a write that waits for another process's lock
        slow_write(self, *args, **kwargs)

    monkeypatch.setattr(History, "record_fetch", record_fetch)
    clones = [make_remote_and_clone(tmp_path, f"r{i}")[1] for i in range(6)]
    config = config_for(*(RepoSpec(clone, clone.name) for clone in clones))
    engine = await start_engine(config, tmp_path, retry=FAST_RETRY)
    try:
        await engine.fetch_all()
    finally:
        await engine.stop()
    with History(tmp_path / "state" / "history.sqlite3") as history:
        assert set(history.fetch_times()) == {str(clone) for clone in clones}
