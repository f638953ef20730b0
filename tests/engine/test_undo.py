"""Undo (`u`) through the engine, on real repos with real bare remotes: each kind of change
goes back to the exact state before it (refs, stash list, the files), once; an undo is
refused, changing nothing, once the repo has moved on or where it would lose work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import (
    BranchResult,
    PullResult,
    ResolveOutcome,
    StashDropped,
    StashOutcome,
    SwitchResult,
    UndoRefusal,
    UndoResult,
)
from gitwatch_tui.engine.engine import Engine
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere
from tests.core.test_pull import snapshot
from tests.core.test_switch import push_branch
from tests.engine.test_engine_changes import push_change
from tests.engine.test_engine_details import config_for


def state(repo: Path) -> dict[str, object]:
    """HEAD, index, files, stash list, and every local ref with the branches' config."""
    config = [line for line in git(repo, "config", "--list", "--local").splitlines()
              if line.startswith("branch.")]  # fmt: skip
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")
    return {**snapshot(repo), "refs": refs, "config": config}


@asynccontextmanager
async def engine_on(tmp_path: Path, spec: RepoSpec) -> AsyncIterator[Engine]:
    async with Engine(config_for(spec), state_dir=tmp_path / "state", watch_files=False) as engine:
        yield engine


async def undone(engine: Engine, name: str, *steps: str) -> UndoResult:
    """`u`: the preview says `steps`, the undo is done, and a second `u` is refused."""
    preview = await engine.preview_undo(name)
    assert preview.refusal is None, preview.refusal
    for step in steps:
        assert any(step in said for said in preview.steps), (step, preview.steps)
    result = await engine.undo_last(name)
    assert isinstance(result, UndoResult), result
    again = await engine.undo_last(name)
    assert isinstance(again, UndoRefusal) and again.reason == "undone"
    [entry, *_] = await engine.recent_history(name, limit=3)
    assert entry.action == "undo" and not entry.ok  # the refused second one
    return result


async def test_a_fast_forward_pull_is_undone_and_the_undo_is_in_history(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path, count=2)
    git(clone, "fetch", "-q")  # the pull's fetch is not undone
    before = state(clone)
    old = git(clone, "rev-parse", "HEAD")
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        pulled = await engine.pull("a")
        assert isinstance(pulled, PullResult) and pulled.ok

        await undone(engine, "a", f"move main back from {pulled.new_head[:7]} to {old[:7]}")

        assert state(clone) == before
        actions = [e.action for e in await engine.recent_history("a", limit=5)]
        assert actions[:3] == ["undo", "undo", "pull"]


@pytest.mark.parametrize("mode", ["merge", "rebase"])
async def test_a_merge_or_rebase_pull_is_undone(tmp_path: Path, mode: str) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_change(remote, tmp_path, "theirs.txt", "theirs\n")
    commit_file(clone, "mine.txt", "mine\n", "my work")
    git(clone, "fetch", "-q")
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        pulled = await engine.pull("a", mode)  # type: ignore[arg-type]
        assert isinstance(pulled, PullResult) and pulled.ok
        assert (clone / "theirs.txt").exists()

        await undone(engine, "a", "move main back")

        assert state(clone) == before


async def test_an_auto_sync_is_undone(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path)
    git(clone, "fetch", "-q")  # the poll's fetch is not undone
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a", auto_sync="ff-only")) as engine:
        await engine.fetch("a")
        assert git(clone, "rev-parse", "HEAD") == git(clone, "rev-parse", "origin/main")

        result = await undone(engine, "a", "move main back")

        assert result.record.action == "auto-sync"
        assert state(clone) == before


async def test_a_switch_to_a_remote_branch_is_undone_with_the_branch_it_made(
    tmp_path: Path,
) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_branch(remote, tmp_path, "topic", {"t.txt": "t\n"})
    git(clone, "fetch", "-q")
    (clone / "notes.txt").write_text("untracked, carried along\n")
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        switched = await engine.switch("a", "origin/topic")
        assert isinstance(switched, SwitchResult)

        await undone(engine, "a", "switch from topic back to main", "delete topic")

        assert state(clone) == before


async def test_a_stash_and_switch_is_undone_with_the_changes_back(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "branch", "other")
    (clone / "README.md").write_text("edited\n")
    (clone / "new.txt").write_text("new\n")
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        switched = await engine.stash_and_switch("a", "other")
        assert isinstance(switched, SwitchResult) and switched.stash is not None

        await undone(engine, "a", "switch from other back to main", "re-apply the changes")

        assert state(clone) == before


async def _stashed(clone: Path) -> None:
    (clone / "README.md").write_text("stashed edit\n")
    (clone / "extra.txt").write_text("stashed untracked\n")
    git(clone, "stash", "push", "-q", "--include-untracked", "-m", "my stash")


@pytest.mark.parametrize("pop", [False, True])
async def test_a_stash_apply_or_pop_is_undone_exactly(tmp_path: Path, pop: bool) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    await _stashed(clone)
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        applied = await engine.apply_stash("a", "stash@{0}", pop=pop)
        assert isinstance(applied, StashOutcome) and applied.ok and applied.kept is not pop

        result = await undone(engine, "a", "the changes it brought are stashed first")

        assert result.stash is None and "back as it was" in result.message
        assert state(clone) == before


async def test_undoing_a_stash_apply_keeps_later_edits_in_a_stash(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    await _stashed(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        await engine.apply_stash("a", "stash@{0}")
        (clone / "extra.txt").write_text("edited after the apply\n")

        result = await undone(engine, "a")

        assert result.stash is not None
        assert git(clone, "show", f"{result.stash}^3:extra.txt") == "edited after the apply"
        assert git(clone, "stash", "list", "--format=%gs").splitlines()[1] == "On main: my stash"
        assert git(clone, "status", "--porcelain") == ""


async def test_a_stash_drop_is_undone(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    await _stashed(clone)
    sha = git(clone, "rev-parse", "stash@{0}")
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        dropped = await engine.drop_stash("a", "stash@{0}", expected_sha=sha)
        assert isinstance(dropped, StashDropped)

        await undone(engine, "a", f"put the dropped stash back ({sha[:7]}")

        assert state(clone) == before


async def test_a_resolve_is_undone_with_the_conflict_back(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_change(remote, tmp_path, "shared.txt", "theirs\n")
    commit_file(clone, "shared.txt", "ours\n", "my side")
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        stopped = await engine.pull("a", "merge")
        assert isinstance(stopped, PullResult) and stopped.conflicts
        before = state(clone)
        resolved = await engine.resolve("a", "shared.txt", "ours")
        assert isinstance(resolved, ResolveOutcome) and resolved.ok

        await undone(engine, "a", "bring the conflict back in shared.txt")

        assert state(clone) == before


async def test_a_branch_delete_is_undone_with_its_upstream(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_branch(remote, tmp_path, "topic", {"t.txt": "t\n"})
    git(clone, "fetch", "-q")
    git(clone, "branch", "--track", "topic", "origin/topic")
    sha = git(clone, "rev-parse", "topic")
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        deleted = await engine.delete_branch("a", "topic", expected_sha=sha)
        assert isinstance(deleted, BranchResult)

        await undone(engine, "a", f"re-create branch topic at {sha[:7]}")

        assert state(clone) == before


async def test_a_branch_rename_and_a_create_are_undone(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "branch", "old")
    before = state(clone)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        assert isinstance(await engine.rename_branch("a", "old", "new"), BranchResult)
        await undone(engine, "a", "rename new back to old")
        assert state(clone) == before

        made = await engine.create_branch("a", "feature", switch=True)
        assert isinstance(made, BranchResult) and made.switched
        await undone(engine, "a", "switch back to main", "delete feature")
        assert state(clone) == before


async def test_an_undo_is_refused_once_the_repo_moved_on(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        await engine.pull("a")
        commit_file(clone, "later.txt", "later\n", "work after the pull")
        after = state(clone)

        preview = await engine.preview_undo("a")
        result = await engine.undo_last("a")

        assert preview.refusal is not None and preview.refusal.reason == "moved-on"
        assert isinstance(result, UndoRefusal) and result.reason == "moved-on"
        assert "HEAD is at" in result.message
        assert state(clone) == after


async def test_an_undo_that_would_lose_a_local_change_is_refused(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_change(remote, tmp_path, "README.md", "upstream\n")
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        await engine.pull("a")
        (clone / "README.md").write_text("my edit on the pulled file\n")
        (clone / "other.txt").write_text("untracked\n")
        after = state(clone)

        result = await engine.undo_last("a")

        assert isinstance(result, UndoRefusal) and result.reason == "dirty", result
        assert "nothing was changed" in result.message
        assert state(clone) == after
        # The undo was not used up: with the edit gone it goes through.
        (clone / "README.md").write_text("upstream\n")
        assert isinstance(await engine.undo_last("a"), UndoResult)


async def test_nothing_to_undo_without_a_change(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        preview = await engine.preview_undo("a")
        assert preview.record is None and preview.refusal is not None
        assert preview.refusal.reason == "nothing"


async def test_a_fault_keeping_the_way_back_does_not_lose_the_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitwatch_tui.core import undo
    from gitwatch_tui.engine.events import Event, LogLine

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the undo record")

    monkeypatch.setattr(undo, "undo_record", broken)
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        seen: list[Event] = []
        engine.subscribe(seen.append)

        pulled = await engine.pull("a")

        assert isinstance(pulled, PullResult) and pulled.ok  # the pull is reported as done
        [entry, *_] = await engine.recent_history("a", limit=1)
        assert entry.action == "pull" and entry.ok
        assert any(isinstance(e, LogLine) and "a bug in the undo record" in e.message for e in seen)
        assert (await engine.preview_undo("a")).refusal is not None  # nothing kept to undo


async def test_undoing_a_switch_refuses_where_a_local_change_would_be_overwritten(
    tmp_path: Path,
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "switch", "-q", "-c", "other")
    commit_file(clone, "README.md", "other's readme\n", "change the readme on other")
    git(clone, "switch", "-q", "main")
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        assert isinstance(await engine.switch("a", "other"), SwitchResult)
        (clone / "README.md").write_text("my edit, which main's README.md would overwrite\n")
        after = state(clone)

        result = await engine.undo_last("a")

        assert isinstance(result, UndoRefusal) and result.reason == "dirty", result
        assert "git switch refused" in result.message
        assert state(clone) == after


async def test_a_change_u_cannot_undo_hides_the_older_one(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path)
    async with engine_on(tmp_path, RepoSpec(clone, "a")) as engine:
        assert isinstance(await engine.pull("a"), PullResult)
        commit_file(clone, "mine.txt", "mine\n", "my work")
        pushed = await engine.push("a")
        assert pushed.ok, pushed

        preview = await engine.preview_undo("a")
        result = await engine.undo_last("a")

        # Not the pull from before the push: the last change was the push.
        assert preview.refusal is not None and preview.refusal.reason == "nothing"
        assert isinstance(result, UndoRefusal) and result.reason == "nothing"
        assert git(clone, "rev-parse", "HEAD") == git(clone, "rev-parse", "origin/main")
