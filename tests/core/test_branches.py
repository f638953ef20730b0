"""Branches made, deleted and renamed on real repos with real bare remotes."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.branches import (
    create_branch,
    delete_branch,
    preview_delete,
    rename_branch,
)
from gitwatch_tui.core.results import BranchRefusal, BranchResult
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.core.test_pull import snapshot
from tests.core.test_switch import push_branch, spec_of

TIMEOUT = 20.0


def refs(repo: Path) -> str:
    """Every ref and the branch config: what a branch command may change."""
    config = [line for line in git(repo, "config", "--list", "--local").splitlines()
              if line.startswith("branch.")]  # fmt: skip
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)") + "\n" + str(config)


def refused(repo: Path, outcome: BranchResult | BranchRefusal, reason: str) -> BranchRefusal:
    assert isinstance(outcome, BranchRefusal), outcome
    assert outcome.reason == reason, outcome
    return outcome


def test_a_branch_is_created_at_head_and_switched_to(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    head = git(clone, "rev-parse", "HEAD")

    made = create_branch(spec_of(clone), "feature/x", switch=True, timeout=TIMEOUT)

    assert isinstance(made, BranchResult) and made.switched and made.previous_branch == "main"
    assert git(clone, "symbolic-ref", "--short", "HEAD") == "feature/x"
    assert git(clone, "rev-parse", "feature/x") == head
    assert made.undo == "git switch -- main; git branch -d -- feature/x"


def test_a_branch_from_a_remote_branch_tracks_it_and_is_not_switched_to(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    sha = push_branch(remote, tmp_path, "topic", {"t.txt": "t\n"})
    git(clone, "fetch", "-q")

    made = create_branch(spec_of(clone), "topic", start="origin/topic", timeout=TIMEOUT)

    assert isinstance(made, BranchResult) and not made.switched
    assert git(clone, "rev-parse", "topic") == sha
    assert git(clone, "rev-parse", "--abbrev-ref", "topic@{upstream}") == "origin/topic"
    assert git(clone, "symbolic-ref", "--short", "HEAD") == "main"


def test_bad_and_existing_names_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    before = (snapshot(clone), refs(clone))
    spec = spec_of(clone)
    for bad in ("a..b", "-x", "has space", "@{-1}", "end.lock", ""):
        refused(clone, create_branch(spec, bad, timeout=TIMEOUT), "invalid-name")
    refused(clone, create_branch(spec, "main", switch=True, timeout=TIMEOUT), "exists")
    assert (snapshot(clone), refs(clone)) == before


def test_the_current_branch_is_never_deleted(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    head = git(clone, "rev-parse", "HEAD")
    before = refs(clone)

    preview = preview_delete(spec_of(clone), "main", timeout=TIMEOUT)
    outcome = delete_branch(
        spec_of(clone), "main", expected_sha=head, drop_unmerged=True, timeout=TIMEOUT
    )

    assert preview.refusal is not None and preview.refusal.reason == "current"
    refused(clone, outcome, "current")
    assert refs(clone) == before


def test_a_merged_branch_is_deleted_and_the_result_says_how_to_make_it_again(
    tmp_path: Path,
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "branch", "done")
    sha = git(clone, "rev-parse", "done")

    preview = preview_delete(spec_of(clone), "done", timeout=TIMEOUT)
    deleted = delete_branch(spec_of(clone), "done", expected_sha=sha, timeout=TIMEOUT)

    assert preview.refusal is None and preview.merged and preview.dropped == ()
    assert isinstance(deleted, BranchResult) and deleted.undo == f"git branch -- done {sha}"
    assert git(clone, "branch", "--list", "done") == ""


def test_an_unmerged_branch_shows_what_it_drops_and_needs_the_second_confirm(
    tmp_path: Path,
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "switch", "-q", "-c", "wip")
    first = commit_file(clone, "w1.txt", "1\n", "first wip")
    second = commit_file(clone, "w2.txt", "2\n", "second wip")
    git(clone, "switch", "-q", "main")
    before = refs(clone)

    preview = preview_delete(spec_of(clone), "wip", timeout=TIMEOUT)
    once = delete_branch(spec_of(clone), "wip", expected_sha=second, timeout=TIMEOUT)

    assert preview.dropped_total == 2 and not preview.merged
    assert [c.subject for c in preview.dropped] == ["second wip", "first wip"]
    assert preview.dropped[0].sha == second[: len(preview.dropped[0].sha)]
    assert "2 commits on no other branch" in refused(clone, once, "unmerged").message
    assert refs(clone) == before
    twice = delete_branch(
        spec_of(clone), "wip", expected_sha=second, drop_unmerged=True, timeout=TIMEOUT
    )
    assert isinstance(twice, BranchResult) and git(clone, "branch", "--list", "wip") == ""
    assert first != second


def test_a_branch_moved_since_the_preview_is_not_deleted(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "branch", "side")
    old = git(clone, "rev-parse", "side")
    git(clone, "switch", "-q", "side")
    commit_file(clone, "s.txt", "s\n")
    git(clone, "switch", "-q", "main")

    outcome = delete_branch(spec_of(clone), "side", expected_sha=old, drop_unmerged=True,
                            timeout=TIMEOUT)  # fmt: skip

    refused(clone, outcome, "moved")
    assert git(clone, "branch", "--list", "side").strip() == "side"


def test_an_upstream_gone_branch_says_so_and_keeps_its_upstream_for_the_undo(
    tmp_path: Path,
) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_branch(remote, tmp_path, "merged-away", {"m.txt": "m\n"})
    git(clone, "fetch", "-q")
    git(clone, "branch", "--track", "merged-away", "origin/merged-away")
    git(remote, "branch", "-D", "merged-away")
    git(clone, "fetch", "-q", "--prune")
    sha = git(clone, "rev-parse", "merged-away")

    preview = preview_delete(spec_of(clone), "merged-away", timeout=TIMEOUT)
    deleted = delete_branch(spec_of(clone), "merged-away", expected_sha=sha, drop_unmerged=True,
                            timeout=TIMEOUT)  # fmt: skip

    assert preview.upstream_gone and preview.dropped_total == 1
    assert isinstance(deleted, BranchResult)
    assert deleted.upstream_config == ("origin", "refs/heads/merged-away")


def test_rename_keeps_the_commit_and_refuses_an_existing_name(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "branch", "old")
    git(clone, "branch", "taken")
    sha = git(clone, "rev-parse", "old")
    before = refs(clone)

    refused(clone, rename_branch(spec_of(clone), "old", "taken", timeout=TIMEOUT), "exists")
    refused(clone, rename_branch(spec_of(clone), "old", "a..b", timeout=TIMEOUT), "invalid-name")
    assert refs(clone) == before
    renamed = rename_branch(spec_of(clone), "old", "new", timeout=TIMEOUT)

    assert isinstance(renamed, BranchResult) and renamed.undo == "git branch -m -- new old"
    assert git(clone, "rev-parse", "new") == sha
    assert git(clone, "branch", "--list", "old") == ""
