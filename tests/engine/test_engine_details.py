"""The engine's detail-pane commands against real repos: details and recent sync history."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import FileChange
from gitwatch_tui.engine.engine import Engine, UnknownRepo
from tests.conftest import commit_file, make_remote_and_clone, push_from_elsewhere


def config_for(*specs: RepoSpec) -> Config:
    return Config(defaults=Defaults(poll_interval=3600.0, fetch_timeout=10.0), repos=specs)


async def test_details_after_a_fetch(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path, count=3)
    commit_file(clone, "mine.txt", "1\n", "my | work")
    (clone / "new file.txt").write_text("?\n")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        before = await engine.details("a")
        assert (before.incoming_total, before.outgoing_total) == (0, 1)

        assert (await engine.fetch("a")).ok
        result = await engine.details("a", limit=2)

        assert result.error is None and result.upstream == "origin/main"
        assert (result.incoming_total, result.outgoing_total) == (3, 1)
        assert [c.subject for c in result.incoming] == [
            "change upstream-other-2.txt",
            "change upstream-other-1.txt",
        ]
        assert [c.subject for c in result.outgoing] == ["my | work"]
        assert result.files == (FileChange("new file.txt", "untracked", "?"),)
        with pytest.raises(UnknownRepo, match="no such repo: nope"):
            await engine.details("nope")


async def test_details_of_a_missing_repo_is_an_error_field(tmp_path: Path) -> None:
    config = config_for(RepoSpec(tmp_path / "gone", "gone"))
    async with Engine(config, state_dir=tmp_path / "state", watch_files=False) as engine:
        result = await engine.details("gone")
    assert result.error == "path does not exist"


async def test_recent_history_shows_the_fetch_newest_first(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    _, other = make_remote_and_clone(tmp_path, "other")
    config = config_for(RepoSpec(clone, "a"), RepoSpec(other, "b"))
    async with Engine(config, state_dir=tmp_path / "state", watch_files=False) as engine:
        assert await engine.recent_history("a") == []
        await engine.fetch("a")
        await engine.fetch("b")
        push_from_elsewhere(remote, tmp_path)
        await engine.pull("a")

        entries = await engine.recent_history("a")
        assert [(e.repo, e.action, e.ok) for e in entries] == [
            ("a", "pull", True),
            ("a", "fetch", True),
            ("a", "fetch", True),
        ]
        assert entries[0].new_head is not None
        assert [e.action for e in await engine.recent_history("a", limit=1)] == ["pull"]


async def test_recent_history_is_empty_when_history_is_off_or_unusable(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    config = config_for(RepoSpec(clone, "a"))
    state = tmp_path / "state"
    async with Engine(config, state_dir=state, watch_files=False, keep_history=False) as engine:
        await engine.fetch("a")
        assert await engine.recent_history("a") == []

    async with Engine(config, state_dir=state, watch_files=False) as engine:
        assert engine.history is not None
        engine.history.close()  # every read now raises HistoryUnavailable
        assert await engine.recent_history("a") == []
