"""Unpushed work on every local branch: one for-each-ref, read by the details only."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.details import read_details
from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import BranchTracking
from gitwatch_tui.core.unpushed import read_branches, unpushed_only
from tests.conftest import commit_file, git, make_remote_and_clone


def test_details_list_branches_ahead_of_their_upstream_not_only_heads(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    git(clone, "switch", "-q", "-c", "feature")
    git(clone, "push", "-q", "-u", "origin", "feature")
    commit_file(clone, "f.txt", "f\n")
    git(clone, "switch", "-q", "-c", "gone-one")
    git(clone, "push", "-q", "-u", "origin", "gone-one")
    git(remote, "branch", "-D", "gone-one")
    git(clone, "fetch", "-q", "--prune")
    git(clone, "switch", "-q", "main")
    details = read_details(RepoSpec(path=clone, name="app"), timeout=20)
    assert details.outgoing_total == 0  # HEAD's branch has nothing to push: the others do
    assert details.unpushed == (BranchTracking("feature", "origin/feature", 1, 0),)
    every = read_branches(RepoPaths.of(clone), timeout=20)
    assert isinstance(every, tuple)
    by_name = {b.name: b for b in every}
    assert by_name["main"].current and by_name["main"].ahead == 0
    assert by_name["gone-one"].upstream_gone and by_name["gone-one"].ahead is None
    assert unpushed_only(every) == details.unpushed
