"""git moves HEAD before it runs the post-merge, post-checkout and post-rewrite hooks. A hook that
outlives the timeout (or fails) makes the git call fail after the move: the result must say
what HEAD is, not "failed, nothing changed". Real repos, real hooks that sleep past the timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.autosync import SyncResult, fast_forward, rebase_autostash
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.pull import pull
from gitwatch_tui.core.results import PullMode, PullResult, SwitchResult
from gitwatch_tui.core.status import collect_statuses
from gitwatch_tui.core.switch import stash_and_switch, switch_branch
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere

TIMEOUT = 2.0  # each git call's; the hooks sleep far longer


def hang_in(repo: Path, hook: str) -> None:
    path = repo / ".git" / "hooks" / hook
    path.write_text("#!/bin/sh\nexec sleep 60\n")
    path.chmod(0o755)


def incoming(base: Path, name: str, *, local_commit: bool = False) -> Path:
    """A clone with one fetched incoming commit (and one of its own if `local_commit`)."""
    remote, clone = make_remote_and_clone(base, name)
    if local_commit:
        commit_file(clone, "mine.txt", "mine\n")
    push_from_elsewhere(remote, base, name=f"{name}-other")
    git(clone, "fetch", "-q")
    return clone


def status_of(spec: RepoSpec) -> RepoStatus:
    [status] = collect_statuses([spec], jobs=1, timeout=20)
    return status


@pytest.mark.parametrize(
    ("mode", "hook", "local_commit"),
    [("ff-only", "post-merge", False), ("merge", "post-merge", True),
     ("rebase", "post-rewrite", True)],
)  # fmt: skip
def test_a_pull_whose_hook_times_out_reports_the_move(
    tmp_path: Path, mode: PullMode, hook: str, local_commit: bool
) -> None:
    clone = incoming(tmp_path, "pulled", local_commit=local_commit)
    old = git(clone, "rev-parse", "HEAD")
    hang_in(clone, hook)
    result = pull(RepoSpec(clone, "pulled"), mode, timeout=TIMEOUT)
    assert isinstance(result, PullResult), result
    assert result.old_head == old and result.new_head == git(clone, "rev-parse", "HEAD") != old
    assert git(clone, "merge-base", "--is-ancestor", "origin/main", "HEAD") == ""
    assert "timed out" in result.message and "after HEAD had moved" in result.message
    # git left the merge's or rebase's state files: done work is not an operation in progress
    # (whose --abort would undo it).
    status = status_of(RepoSpec(clone, "pulled"))
    assert (status.operation, status.branch, status.dirty) == (None, "main", False)


@pytest.mark.parametrize(
    ("sync", "hook", "local_commit"),
    [(fast_forward, "post-merge", False), (rebase_autostash, "post-rewrite", True)],
)  # fmt: skip
def test_an_auto_sync_whose_hook_times_out_reports_the_move(
    tmp_path: Path, sync: object, hook: str, local_commit: bool
) -> None:
    clone = incoming(tmp_path, "synced", local_commit=local_commit)
    old = git(clone, "rev-parse", "HEAD")
    hang_in(clone, hook)
    policy = "ff-only" if sync is fast_forward else "rebase-autostash"
    # Trusted: an untrusted repo's own hooks never run in an automatic sync.
    spec = RepoSpec(clone, "synced", auto_sync=policy, trust=True)  # type: ignore[arg-type]
    result = sync(spec, status_of(spec), timeout=TIMEOUT)  # type: ignore[operator]
    assert isinstance(result, SyncResult), result
    assert result.old_head == old and result.new_head == git(clone, "rev-parse", "HEAD") != old
    assert result.trouble is not None and "timed out" in result.trouble
    assert status_of(spec).operation is None


def test_a_switch_whose_hook_times_out_says_it_switched(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "switched")
    git(clone, "branch", "feature")
    hang_in(clone, "post-checkout")
    result = switch_branch(RepoSpec(clone, "switched"), "feature", timeout=TIMEOUT)
    assert isinstance(result, SwitchResult), result
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "feature" == result.branch
    assert "timed out" in result.message and result.message.startswith("switched to feature")


def test_a_stash_and_switch_whose_hook_times_out_keeps_the_stash_off_the_new_branch(
    tmp_path: Path,
) -> None:
    """The switch happened: re-applying the stash (as after a real failure) would put the
    changes on the wrong branch."""
    _, clone = make_remote_and_clone(tmp_path, "stashed")
    git(clone, "branch", "feature")
    (clone / "README.md").write_text("work in progress on main\n")
    hang_in(clone, "post-checkout")
    result = stash_and_switch(RepoSpec(clone, "stashed"), "feature", timeout=TIMEOUT)
    assert isinstance(result, SwitchResult), result
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "feature"
    assert result.stash is not None and git(clone, "status", "--porcelain") == ""
    assert "on main before switching to feature" in git(clone, "stash", "list")
