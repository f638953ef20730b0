"""The engine's commands for the dashboard's panels: pull modes, previews, changes in history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.pull import PullPreview, preview_pull
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, SyncFinished
from gitwatch_tui.engine.locks import RepoLock
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.engine.test_engine_details import config_for


def push_change(remote: Path, base: Path, name: str, content: str) -> str:
    """Commit `name` with `content` to the remote's main from another clone; its sha."""
    other = base / f"pusher-{name.replace('/', '_')}"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "pull", "-q", "--ff-only")
    sha = commit_file(other, name, content, f"upstream {name}")
    git(other, "push", "-q", "origin", "HEAD:main")
    return sha


async def test_merge_pull_that_conflicts_stays_in_progress_and_is_logged(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_change(remote, tmp_path, "shared.txt", "theirs\n")
    commit_file(clone, "shared.txt", "ours\n", "my side")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        seen: list[Event] = []
        engine.subscribe(seen.append)
        refused = await engine.pull("a")  # ff-only by default: diverged is refused
        assert not refused.ok and refused.detail == "diverged"

        merged = await engine.pull("a", "merge")
        assert merged.ok is False and merged.action == "pull"
        status = engine.statuses["a"]
        assert status.operation == "merge" and status.conflicted == 1
        assert (clone / "shared.txt").read_text().startswith("<<<<<<<")
        entries = await engine.recent_history("a", limit=1)
        assert entries[0].action == "pull" and entries[0].old_head is not None
        assert any(isinstance(e, SyncFinished) and e.action == "pull" for e in seen)


async def test_previewed_pull_goes_to_the_previewed_commit_without_fetching(
    tmp_path: Path,
) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    first = push_change(remote, tmp_path, "a.txt", "1\n")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        assert (await engine.fetch("a")).ok
        preview = await engine.inspect("a", preview_pull, "ff-only")
        assert isinstance(preview, PullPreview) and preview.upstream_sha == first
        push_change(remote, tmp_path, "a.txt", "2\n")  # not fetched: the preview still holds

        finished = await engine.pull("a", expected_upstream=preview.upstream_sha)

        assert finished.ok and finished.new_head == first
        assert "undo" in (finished.detail or "")
        assert engine.statuses["a"].behind == 0
        with pytest.raises(ValueError, match="unknown pull mode"):
            await engine.pull("a", "octopus")  # type: ignore[arg-type]


async def test_a_pull_the_user_asked_for_waits_for_a_poll_holding_the_repo(
    tmp_path: Path,
) -> None:
    """A background poll (here, another process's) holds the repo's lock for a moment: the
    user's pull waits for it instead of being refused at once with "busy"."""
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    first = push_change(remote, tmp_path, "a.txt", "1\n")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        assert (await engine.fetch("a")).ok
        poll = RepoLock(tmp_path / "state", clone)
        assert poll.try_acquire()
        pulling = asyncio.ensure_future(engine.pull("a", expected_upstream=first))
        await asyncio.sleep(0.5)  # the pull is waiting for the lock meanwhile
        assert not pulling.done()
        poll.release()
        finished = await pulling
        assert finished.ok and finished.new_head == first
