"""The engine's commands for the dashboard's panels: pull modes, previews, changes in history."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import (
    PullPreview,
    PullRefusal,
    PullResult,
    SwitchRefusal,
    SwitchResult,
)
from gitwatch_tui.engine.engine import Engine, UnknownRepo
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
        assert isinstance(refused, PullRefusal) and refused.reason == "diverged"

        merged = await engine.pull("a", "merge")
        assert isinstance(merged, PullResult) and merged.ok is False
        assert merged.conflicts == ("shared.txt",) and merged.operation == "merge"
        status = engine.statuses["a"]
        assert status.operation == "merge" and status.conflicted == 1
        assert (clone / "shared.txt").read_text().startswith("<<<<<<<")
        entries = await engine.recent_history("a", limit=1)
        assert entries[0].action == "pull" and entries[0].old_head is not None
        assert entries[0].ok is False
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
        preview = await engine.preview_pull("a", "ff-only")
        assert isinstance(preview, PullPreview) and preview.upstream_sha == first
        push_change(remote, tmp_path, "a.txt", "2\n")  # not fetched: the preview still holds

        finished = await engine.pull("a", expected_upstream=preview.upstream_sha)

        assert isinstance(finished, PullResult) and finished.ok and finished.new_head == first
        assert finished.undo
        [entry] = await engine.recent_history("a", limit=1)
        assert entry.action == "pull" and "undo" in (entry.detail or "")
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
        assert isinstance(finished, PullResult) and finished.ok and finished.new_head == first


async def test_a_switch_is_logged_with_its_undo_and_a_refused_one_with_its_reason(
    tmp_path: Path,
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "branch", "feature")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        switched = await engine.switch("a", "feature")
        assert isinstance(switched, SwitchResult) and switched.branch == "feature"
        refused = await engine.switch("a", "no-such-branch")
        assert isinstance(refused, SwitchRefusal) and refused.reason == "not-found"

        refusal, done = await engine.recent_history("a", limit=2)
        assert (refusal.action, refusal.ok, refusal.detail) == ("switch", False, "not-found")
        assert refusal.error == refused.message
        assert (done.action, done.ok) == ("switch", True)
        assert (done.old_head, done.new_head) == (switched.previous_head, switched.head)
        assert done.detail is not None and f"undo: {switched.undo}" in done.detail


async def test_every_command_names_a_repo_it_does_not_watch_with_unknown_repo(
    tmp_path: Path,
) -> None:
    """Not a KeyError: an `except KeyError` around a command must not read as "unknown repo"."""
    _, clone = make_remote_and_clone(tmp_path, "repo")
    async with Engine(
        config_for(RepoSpec(clone, "a")), state_dir=tmp_path / "state", watch_files=False
    ) as engine:
        commands = {
            "fetch": engine.fetch("nope"),
            "pull": engine.pull("nope", expected_upstream="0" * 40),
            "details": engine.details("nope"),
            "preview_pull": engine.preview_pull("nope", "ff-only"),
            "list_branches": engine.list_branches("nope"),
            "read_stashes": engine.read_stashes("nope"),
            "stash_diff": engine.stash_diff("nope", "stash@{0}"),
            "read_conflicts": engine.read_conflicts("nope"),
            "conflict_hunks": engine.conflict_hunks("nope", "a.txt"),
            "reachable_commits": engine.reachable_commits("nope", ["0" * 40]),
            "switch": engine.switch("nope", "main"),
            "stash_and_switch": engine.stash_and_switch("nope", "main"),
            "apply_stash": engine.apply_stash("nope", "0" * 40, pop=True),
            "drop_stash": engine.drop_stash("nope", "stash@{0}", expected_sha="0" * 40),
            "resolve": engine.resolve("nope", "a.txt", "ours"),
            "resolve_hunks": engine.resolve_hunks(
                "nope", "a.txt", {0: "theirs"}, expected_fingerprint=""
            ),
            "mark_resolved": engine.mark_resolved("nope", ["a.txt"]),
            "continue_operation": engine.continue_operation("nope"),
            "abort_operation": engine.abort_operation("nope"),
        }
        for what, command in commands.items():
            with pytest.raises(UnknownRepo, match="no such repo: nope") as raised:
                await command
            assert not isinstance(raised.value, KeyError), what
            assert raised.value.name == "nope"
        assert await engine.recent_history("nope") == []
