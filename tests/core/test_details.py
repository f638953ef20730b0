"""Repo details: every case on real repos and remotes (the parsers: test_changes.py)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.details import read_details
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import BranchTracking, FileChange, RepoDetails
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere


def git_fails(cwd: Path, *args: str) -> str:
    """Run git where it must fail (a merge that conflicts); returns what it said."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def details(path: Path, limit: int = 50, *, bare: bool = False) -> RepoDetails:
    return read_details(RepoSpec(path, path.name, bare=bare), timeout=20, limit=limit)


# -- incoming and outgoing --------------------------------------------------------------------


def test_incoming_and_outgoing_newest_first_capped_with_totals(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path, count=5)
    git(clone, "fetch", "-q")
    subjects = ["local one", "tab\tin | the subject", '-dash; "quotes" and ünïcødé']
    heads = [commit_file(clone, f"local-{i}.txt", f"{i}\n", s) for i, s in enumerate(subjects)]
    before = time.time()

    result = details(clone, limit=2)

    assert result.error is None
    assert result.upstream == "origin/main"
    assert (result.incoming_total, result.outgoing_total) == (5, 3)
    assert [c.subject for c in result.incoming] == [
        "change upstream-other-4.txt",
        "change upstream-other-3.txt",
    ]
    assert [c.subject for c in result.outgoing] == subjects[:0:-1]
    for commit, head in zip(result.outgoing, heads[::-1], strict=False):
        assert head.startswith(commit.sha) and 4 <= len(commit.sha) < 40
    assert {c.author for c in result.incoming + result.outgoing} == {"Test Author"}
    assert all(before - 120 < c.time <= before + 1 for c in result.outgoing)
    assert result.files == ()

    everything = details(clone)
    assert [c.subject for c in everything.outgoing] == subjects[::-1]
    assert len(everything.incoming) == 5


def test_in_sync_and_limit_zero_list_nothing(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    assert details(clone) == RepoDetails("origin/main", (), (), 0, 0, ())
    push_from_elsewhere(remote, tmp_path, count=2)
    git(clone, "fetch", "-q")
    assert details(clone, limit=0) == RepoDetails("origin/main", (), (), 2, 0, ())
    with pytest.raises(ValueError, match="negative"):
        details(clone, limit=-1)


def test_no_upstream_detached_and_gone_upstream_are_not_errors(tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    git(local, "init", "-q")
    assert details(local) == RepoDetails(None, (), (), 0, 0, ())  # unborn branch
    commit_file(local, "a.txt", "a\n")
    assert details(local) == RepoDetails(None, (), (), 0, 0, ())

    remote, clone = make_remote_and_clone(tmp_path, "repo")
    commit_file(clone, "ahead.txt", "1\n")
    git(clone, "checkout", "-q", "--detach")
    main_ahead = (BranchTracking("main", "origin/main", 1, 0),)  # unpushed, though not HEAD's
    assert details(clone) == RepoDetails(None, (), (), 0, 0, (), unpushed=main_ahead)
    git(clone, "checkout", "-q", "main")
    assert details(clone).outgoing_total == 1

    git(remote, "branch", "-m", "main", "renamed")
    git(clone, "fetch", "-q", "--prune")
    assert details(clone) == RepoDetails("origin/main", (), (), 0, 0, ())


def test_bare_repo_reads_its_branch_upstream(tmp_path: Path) -> None:
    remote, _ = make_remote_and_clone(tmp_path, "repo")
    assert details(remote, bare=True) == RepoDetails(None, (), (), 0, 0, ())

    mirror = tmp_path / "tracking.git"
    git(tmp_path, "clone", "-q", "--bare", str(remote), str(mirror))
    git(mirror, "config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
    git(mirror, "config", "branch.main.remote", "origin")
    git(mirror, "config", "branch.main.merge", "refs/heads/main")
    push_from_elsewhere(remote, tmp_path, count=3)
    git(mirror, "fetch", "-q", "origin")

    result = details(mirror, limit=2, bare=True)
    assert (result.upstream, result.incoming_total, result.outgoing_total) == ("origin/main", 3, 0)
    assert [c.subject for c in result.incoming] == [
        "change upstream-other-2.txt",
        "change upstream-other-1.txt",
    ]
    assert result.files == () and result.error is None


# -- changed files ----------------------------------------------------------------------------


def test_staged_unstaged_untracked_renamed_with_awkward_names(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    commit_file(clone, "old name.txt", "rename me\n" * 20)
    commit_file(clone, "-dash.txt", "x\n")
    commit_file(clone, "ünï cødé.txt", "y\n")

    (clone / "README.md").write_text("staged\n")
    git(clone, "add", "README.md")
    (clone / "README.md").write_text("staged, then changed again\n")
    git(clone, "mv", "--", "old name.txt", "-new name.txt")
    (clone / "-dash.txt").unlink()
    (clone / "ünï cødé.txt").write_text("changed\n")
    (clone / "--untracked file.txt").write_text("?\n")
    (clone / "dïr").mkdir()
    (clone / "dïr" / "inside.txt").write_text("?\n")

    result = details(clone)

    assert result.error is None
    assert set(result.files) == {
        FileChange("-new name.txt", "staged", "R", orig_path="old name.txt"),
        FileChange("README.md", "staged", "M"),
        FileChange("README.md", "unstaged", "M"),
        FileChange("-dash.txt", "unstaged", "D"),
        FileChange("ünï cødé.txt", "unstaged", "M"),
        FileChange("--untracked file.txt", "untracked", "?"),
        FileChange("dïr/", "untracked", "?"),
    }
    assert len(result.files) == 7


def test_renames_show_even_when_the_user_turned_them_off(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "config", "status.renames", "false")
    git(clone, "mv", "README.md", "READ ME.md")
    assert details(clone).files == (FileChange("READ ME.md", "staged", "R", orig_path="README.md"),)


def test_merge_conflicts_are_labelled(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    commit_file(clone, "both.txt", "base\n")
    commit_file(clone, "ours deletes.txt", "base\n")
    commit_file(clone, "theirs deletes.txt", "base\n")
    git(clone, "checkout", "-q", "-b", "theirs")
    commit_file(clone, "both.txt", "theirs\n")
    commit_file(clone, "ours deletes.txt", "theirs changed\n")
    git(clone, "rm", "-q", "theirs deletes.txt")
    commit_file(clone, "-added both.txt", "theirs\n")
    git(clone, "checkout", "-q", "main")
    commit_file(clone, "both.txt", "ours\n")
    git(clone, "rm", "-q", "ours deletes.txt")
    commit_file(clone, "theirs deletes.txt", "ours changed\n")
    commit_file(clone, "-added both.txt", "ours\n")
    (clone / "notes.txt").write_text("untracked during the merge\n")

    merge = git_fails(clone, "merge", "-q", "theirs")
    assert "CONFLICT" in merge

    result = details(clone)
    assert result.error is None
    assert set(result.files) == {
        FileChange("both.txt", "conflicted", "U", conflict="both modified"),
        FileChange("ours deletes.txt", "conflicted", "U", conflict="deleted by us"),
        FileChange("theirs deletes.txt", "conflicted", "U", conflict="deleted by them"),
        FileChange("-added both.txt", "conflicted", "U", conflict="added by both"),
        FileChange("notes.txt", "untracked", "?"),
    }
    assert result.outgoing_total == 6  # main's own commits: the merge is not made yet


# -- repos that cannot be read ----------------------------------------------------------------


def test_missing_and_broken_repos_are_errors_not_exceptions(tmp_path: Path) -> None:
    missing = details(tmp_path / "nowhere")
    assert missing == RepoDetails(None, (), (), 0, 0, (), "path does not exist")

    plain = tmp_path / "plain"
    plain.mkdir()
    assert details(plain).error == "not a git repository (no .git here)"

    broken = tmp_path / "broken"
    (broken / ".git").mkdir(parents=True)
    result = details(broken)
    assert result.error and "not a git repository" in result.error
    assert (result.upstream, result.files, result.incoming) == (None, (), ())

    bare_broken = tmp_path / "bare.git"
    bare_broken.mkdir()
    assert details(bare_broken, bare=True).error
