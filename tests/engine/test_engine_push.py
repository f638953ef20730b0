"""The engine's push command: the row shows ahead 0 after it, and history records it."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import PushRefusal, PushResult
from gitwatch_tui.engine.engine import Engine
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.engine.test_engine_details import config_for


async def test_a_push_refreshes_the_row_and_is_in_history(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    head = commit_file(clone, "a.txt", "a\n")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        await engine.refresh("a")
        assert engine.statuses["a"].ahead == 1
        preview = await engine.preview_push("a")
        assert preview.refusal is None and preview.outgoing_total == 1

        pushed = await engine.push("a")

        assert isinstance(pushed, PushResult), pushed
        assert git(remote, "rev-parse", "main") == head
        assert engine.statuses["a"].ahead == 0
        again = await engine.push("a")
        assert isinstance(again, PushRefusal) and again.reason == "up-to-date"
        refused, done = await engine.recent_history("a", limit=2)
        assert (refused.action, refused.ok, refused.detail) == ("push", False, "up-to-date")
        assert (done.action, done.ok) == ("push", True)
        assert "undo: git push --force-with-lease" in (done.detail or "")
