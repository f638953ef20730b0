"""Repo details: the pure parsers on literal bytes, then every case on real repos and remotes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.details import parse_files, parse_log, read_details
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import CommitInfo, FileChange, RepoDetails
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere

OID = "1" * 40
OID2 = "2" * 40
MODES = "100644 100644 100644"


def z(*records: str) -> bytes:
    return "".join(r + "\0" for r in records).encode()


def git_fails(cwd: Path, *args: str) -> str:
    """Run git where it must fail (a merge that conflicts); returns what it said."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def details(path: Path, limit: int = 50, *, bare: bool = False) -> RepoDetails:
    return read_details(RepoSpec(path, path.name, bare=bare), timeout=20, limit=limit)


# -- pure parsers -----------------------------------------------------------------------------


def test_parse_files_every_record_kind() -> None:
    data = z(
        f"# branch.oid {OID}",
        "# branch.head main",
        f"1 MM N... {MODES} {OID} {OID2} dir/with space.txt",
        f"2 R. N... {MODES} {OID} {OID} R100 -new name.txt",
        "old name.txt",
        f"1 .D N... {MODES} {OID} {OID} ünïcødé.txt",
        f"u UU N... {MODES} 100644 {OID} {OID2} {OID} both.txt",
        f"u DU N... 000000 100644 100644 100644 {OID} {OID2} {OID} gone here.txt",
        "? -untracked.txt",
        "? new dir/",
        "! ignored.log",
    )
    assert parse_files(data) == (
        FileChange("dir/with space.txt", "staged", "M"),
        FileChange("dir/with space.txt", "unstaged", "M"),
        FileChange("-new name.txt", "staged", "R", orig_path="old name.txt"),
        FileChange("ünïcødé.txt", "unstaged", "D"),
        FileChange("both.txt", "conflicted", "U", conflict="both modified"),
        FileChange("gone here.txt", "conflicted", "U", conflict="deleted by us"),
        FileChange("-untracked.txt", "untracked", "?"),
        FileChange("new dir/", "untracked", "?"),
    )


@pytest.mark.parametrize(
    ("xy", "label"),
    [
        ("DD", "both deleted"),
        ("AU", "added by us"),
        ("UD", "deleted by them"),
        ("UA", "added by them"),
        ("DU", "deleted by us"),
        ("AA", "added by both"),
        ("UU", "both modified"),
    ],
)
def test_parse_files_conflict_labels(xy: str, label: str) -> None:
    [change] = parse_files(z(f"u {xy} N... {MODES} 100644 {OID} {OID} {OID} f"))
    assert change == FileChange("f", "conflicted", "U", conflict=label)


def test_parse_files_rename_after_a_rename_reads_each_original_path() -> None:
    # The original path is a field of its own: one that looks like a record is still a path.
    data = z(
        f"2 R. N... {MODES} {OID} {OID} R100 a",
        "? looks untracked",
        f"2 RM N... {MODES} {OID} {OID} R90 b",
        "1 M. also a path",
    )
    assert parse_files(data) == (
        FileChange("a", "staged", "R", orig_path="? looks untracked"),
        FileChange("b", "staged", "R", orig_path="1 M. also a path"),
        FileChange("b", "unstaged", "M"),
    )


def test_parse_files_keeps_non_utf8_paths_round_trippable() -> None:
    [change] = parse_files(b"? caf\xe9.txt\0")
    assert change.path.encode("utf-8", errors="surrogateescape") == b"caf\xe9.txt"


def test_parse_log_any_subject() -> None:
    data = b"abc1234\0tab\there | pipe \xe2\x9c\x93\0Ann\0001700000000\0def5678\0\0Bob\0x\0"
    assert parse_log(data) == (
        CommitInfo("abc1234", "tab\there | pipe ✓", "Ann", 1700000000.0),
        CommitInfo("def5678", "", "Bob", 0.0),
    )
    assert parse_log(b"") == ()


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
    assert details(clone) == RepoDetails(None, (), (), 0, 0, ())
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
