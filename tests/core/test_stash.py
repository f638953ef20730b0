"""The stash list: the parser on literal bytes, then list, diff, apply, pop, drop on real repos."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.conflicts import read_conflicts
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import StashDropped, StashError, StashFile
from gitwatch_tui.core.stash import (
    apply_stash,
    drop_stash,
    list_stashes,
    parse_log_changes,
    read_stashes,
    stash_branch,
    stash_diff,
)
from tests.conftest import commit_file, git

TIMEOUT = 20.0
ODD = "-x y é.txt"  # a leading dash, spaces and non-ASCII
SHA1 = "1" * 40
SHA2 = "2" * 40


def spec_of(path: Path) -> RepoSpec:
    return RepoSpec(path=path, name=path.name)


def new_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "a.txt", "a\n")
    commit_file(repo, ODD, "odd\n")
    return repo


def write(repo: Path, name: str, text: str) -> None:
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)


def snapshot(repo: Path) -> dict[str, object]:
    """HEAD, the index, every file's bytes (ignored ones too) and the stash list."""
    files: dict[str, bytes] = {}
    for folder, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(repo))] = path.read_bytes()
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "-s", "-z"),
        "files": files,
        "stashes": stash_list(repo),
    }


def stash_list(repo: Path) -> list[str]:
    result = subprocess.run(
        ["git", "stash", "list", "--format=%H %gs"], cwd=repo, capture_output=True, text=True
    )
    return result.stdout.splitlines()


def two_stashes(repo: Path) -> tuple[str, str]:
    """stash@{1}: a message, a tracked edit and untracked files; stash@{0}: a staged edit on
    branch feature/x. Returns their shas, newest first."""
    write(repo, "a.txt", "a edited\n")
    write(repo, "new dir/untracked é.txt", "untracked\n")
    write(repo, "-dash.txt", "dash\n")
    git(repo, "stash", "push", "-q", "--include-untracked", "-m", "my: message é")
    older = git(repo, "rev-parse", "stash@{0}")
    git(repo, "switch", "-q", "-c", "feature/x")
    write(repo, ODD, "odd staged\n")
    git(repo, "add", "--", ODD)
    git(repo, "stash", "push", "-q")
    return git(repo, "rev-parse", "stash@{0}"), older


# -- pure parsing -----------------------------------------------------------------------------


def test_parse_log_changes_reads_fields_and_changes() -> None:
    data = (
        f"{SHA1}\0{SHA2} {SHA2}\0001700000000\0stash@{{0}}\0On main: x\0"
        "\nM\0a.txt\0D\0-d\0A\0M\0".encode()  # a file named "M"
        + f"{SHA2}\0{SHA1}\0001\0stash@{{1}}\0\0".encode()  # no changes, an empty message
    )
    [first, second] = parse_log_changes(data, 5)
    assert first == (
        [SHA1, f"{SHA2} {SHA2}", "1700000000", "stash@{0}", "On main: x"],
        [("M", "a.txt"), ("D", "-d"), ("A", "M")],
    )
    assert second == ([SHA2, SHA1, "1", "stash@{1}", ""], [])
    assert parse_log_changes(b"", 5) == []


@pytest.mark.parametrize(
    ("message", "branch"),
    [
        ("WIP on main: 1a2b3c4 subject: with colon", "main"),
        ("On feature/x: my message", "feature/x"),
        ("WIP on (no branch): 1a2b3c4 detached", None),
        ("autostash", None),
        ('Created via "git stash store".', None),
    ],
)
def test_stash_branch(message: str, branch: str | None) -> None:
    assert stash_branch(message) == branch


# -- list and diff ----------------------------------------------------------------------------


def test_list_with_message_branch_date_and_files(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    before = time.time()
    newest, older = two_stashes(repo)

    first, second = list_stashes(spec_of(repo), timeout=TIMEOUT)

    assert (first.index, first.ref, first.sha) == (0, "stash@{0}", newest)
    assert first.branch == "feature/x" and first.message.startswith("WIP on feature/x: ")
    assert first.files == (StashFile(ODD, "M"),)
    assert first.untracked_sha is None
    assert (second.index, second.ref, second.sha) == (1, "stash@{1}", older)
    assert (second.message, second.branch) == ("On main: my: message é", "main")
    assert set(second.files) == {
        StashFile("a.txt", "M"),
        StashFile("new dir/untracked é.txt", "A", untracked=True),
        StashFile("-dash.txt", "A", untracked=True),
    }
    assert second.base == git(repo, "rev-parse", "main")
    assert all(before - 120 < e.time <= time.time() + 1 for e in (first, second))


def test_list_is_fast_enough_for_many_stashes(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    for i in range(20):
        write(repo, "a.txt", f"edit {i}\n")
        write(repo, f"u{i}.txt", f"{i}\n")
        git(repo, "stash", "push", "-q", "-u", "-m", f"stash {i}")
    started = time.monotonic()
    entries = list_stashes(spec_of(repo), timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert [e.message for e in entries] == [f"On main: stash {i}" for i in range(19, -1, -1)]
    assert entries[5].files == (StashFile("a.txt", "M"), StashFile("u14.txt", "A", True))
    assert elapsed < 2.0  # two git calls, not one per stash


def test_no_stashes_and_no_repo(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    assert read_stashes(spec_of(repo), timeout=TIMEOUT).entries == ()
    assert read_stashes(spec_of(repo), timeout=TIMEOUT).error is None
    missing = read_stashes(spec_of(tmp_path / "nowhere"), timeout=TIMEOUT)
    assert missing.entries == () and missing.error
    assert list_stashes(spec_of(tmp_path / "nowhere"), timeout=TIMEOUT) == ()


def test_diff_includes_untracked_files(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    newest, _ = two_stashes(repo)
    diff = stash_diff(spec_of(repo), "stash@{1}", timeout=TIMEOUT)
    assert isinstance(diff, str)
    assert "+a edited" in diff and "+untracked" in diff and "b/new dir/untracked é.txt" in diff
    assert "+odd staged" in str(stash_diff(spec_of(repo), newest, timeout=TIMEOUT))
    for bad in ("--output=/tmp/x", "stash@{0}..HEAD", "main"):
        assert isinstance(stash_diff(spec_of(repo), bad, timeout=TIMEOUT), StashError)


# -- apply and pop ----------------------------------------------------------------------------


def test_apply_restores_tracked_untracked_and_staged_state(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    newest, older = two_stashes(repo)
    git(repo, "switch", "-q", "main")

    outcome = apply_stash(spec_of(repo), "stash@{0}", timeout=TIMEOUT)
    assert outcome.ok and outcome.kept and outcome.index_restored, outcome.message
    assert (outcome.sha, outcome.conflicts, outcome.undo) == (newest, (), None)
    assert git(repo, "diff", "--cached", "--name-only", "-z") == f"{ODD}\0"  # staged again

    git(repo, "stash", "push", "-q")  # put that away; `older` is stash@{2} now
    outcome = apply_stash(spec_of(repo), older[:12], timeout=TIMEOUT)
    assert outcome.ok and outcome.ref == "stash@{2}", outcome.message
    assert (repo / "a.txt").read_text() == "a edited\n"
    assert (repo / "new dir" / "untracked é.txt").read_text() == "untracked\n"
    assert (repo / "-dash.txt").read_text() == "dash\n"
    assert git(repo, "ls-files", "--others") != ""  # untracked again, not added
    assert len(stash_list(repo)) == 3


def test_pop_drops_and_says_how_to_get_it_back(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    newest, older = two_stashes(repo)

    outcome = apply_stash(spec_of(repo), "stash@{0}", pop=True, timeout=TIMEOUT)

    assert outcome.ok and not outcome.kept, outcome.message
    assert stash_list(repo) == [f"{older} On main: my: message é"]
    assert outcome.undo is not None and newest in outcome.undo
    git(repo, "stash", "push", "-q")  # the popped changes go away again, then the undo
    git(repo, "stash", "drop", "-q")
    subprocess.run(shlex.split(outcome.undo), cwd=repo, check=True)
    assert git(repo, "rev-parse", "stash@{0}") == newest


def test_pop_with_a_conflict_keeps_the_stash(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    write(repo, "a.txt", "stashed\n")
    git(repo, "stash", "-q")
    sha = git(repo, "rev-parse", "stash@{0}")
    commit_file(repo, "a.txt", "committed since\n")

    outcome = apply_stash(spec_of(repo), "stash@{0}", pop=True, timeout=TIMEOUT)

    assert not outcome.ok and outcome.kept and outcome.conflicts == ("a.txt",)
    assert "kept" in outcome.message
    assert git(repo, "rev-parse", "stash@{0}") == sha
    assert read_conflicts(spec_of(repo), timeout=TIMEOUT).stash == sha


def test_apply_falls_back_without_the_index_and_says_so(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    numbers = [f"{i}\n" for i in range(1, 8)]
    commit_file(repo, "a.txt", "".join(numbers))
    write(repo, "a.txt", "".join(numbers).replace("2", "staged"))
    git(repo, "add", "a.txt")
    write(repo, "a.txt", "".join(numbers).replace("2", "staged").replace("6", "worktree"))
    git(repo, "stash", "-q")
    # HEAD now has the staged line already (and another change): the staged part no longer
    # applies on its own, but the whole change merges cleanly.
    commit_file(repo, "a.txt", "".join(numbers).replace("2", "staged"))
    commit_file(repo, "b.txt", "b\n")

    outcome = apply_stash(spec_of(repo), "stash@{0}", timeout=TIMEOUT)

    assert outcome.ok and not outcome.index_restored, outcome.message
    assert "could not be restaged" in outcome.message
    assert (repo / "a.txt").read_text() == "1\nstaged\n3\n4\n5\nworktree\n7\n"
    assert git(repo, "diff", "--cached", "--name-only") == ""


def test_apply_refused_over_local_changes_changes_nothing(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    two_stashes(repo)
    git(repo, "switch", "-q", "main")
    write(repo, "a.txt", "local edit\n")
    before = snapshot(repo)

    outcome = apply_stash(spec_of(repo), "stash@{1}", pop=True, timeout=TIMEOUT)

    assert not outcome.ok and outcome.kept and outcome.blocked == ("a.txt",)
    assert "nothing changed" in outcome.message
    assert snapshot(repo) == before
    # A staged change to a file the stash touches is local work too.
    git(repo, "add", "a.txt")
    assert apply_stash(spec_of(repo), "stash@{1}", timeout=TIMEOUT).blocked == ("a.txt",)


@pytest.mark.parametrize("ignored", [False, True])
def test_apply_refused_when_an_untracked_file_is_in_the_way(tmp_path: Path, ignored: bool) -> None:
    # git itself would apply the tracked part and then fail on the untracked file.
    repo = new_repo(tmp_path)
    two_stashes(repo)
    git(repo, "switch", "-q", "main")
    write(repo, "-dash.txt", "mine, not the stash's\n")
    if ignored:
        write(repo, ".git/info/exclude", "-dash.txt\n")
    before = snapshot(repo)

    outcome = apply_stash(spec_of(repo), "stash@{1}", timeout=TIMEOUT)

    assert not outcome.ok and outcome.blocked == ("-dash.txt",), outcome.message
    assert snapshot(repo) == before


def test_apply_refused_when_an_ignored_file_is_in_the_way_of_a_tracked_one(
    tmp_path: Path,
) -> None:
    repo = new_repo(tmp_path)
    write(repo, "build.out", "stashed\n")
    git(repo, "add", "build.out")
    git(repo, "stash", "-q")
    write(repo, ".git/info/exclude", "*.out\n")
    write(repo, "build.out", "precious ignored output\n")
    before = snapshot(repo)
    outcome = apply_stash(spec_of(repo), "stash@{0}", timeout=TIMEOUT)
    assert not outcome.ok and outcome.blocked == ("build.out",)
    assert snapshot(repo) == before


def test_apply_refuses_unknown_refs_and_operations(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    two_stashes(repo)
    for ref in ("stash@{5}", "-p", "HEAD", "0000000"):
        outcome = apply_stash(spec_of(repo), ref, timeout=TIMEOUT)
        assert not outcome.ok and outcome.message, ref
    (repo / ".git" / "MERGE_HEAD").write_text(git(repo, "rev-parse", "HEAD") + "\n")
    before = snapshot(repo)
    outcome = apply_stash(spec_of(repo), "stash@{0}", timeout=TIMEOUT)
    assert not outcome.ok and "merge is in progress" in outcome.message
    assert snapshot(repo) == before


# -- drop -------------------------------------------------------------------------------------


def test_drop_refuses_a_stale_sha(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    newest, older = two_stashes(repo)
    write(repo, "a.txt", "yet another\n")
    git(repo, "stash", "-q")  # stash@{0} is now a third stash
    before = stash_list(repo)

    refused = drop_stash(spec_of(repo), "stash@{0}", expected_sha=newest, timeout=TIMEOUT)

    assert isinstance(refused, StashError) and "nothing dropped" in refused.message
    assert stash_list(repo) == before
    assert isinstance(
        drop_stash(spec_of(repo), "stash@{9}", expected_sha=newest, timeout=TIMEOUT), StashError
    )
    assert isinstance(
        drop_stash(spec_of(repo), newest, expected_sha=newest, timeout=TIMEOUT), StashError
    )


def test_drop_returns_a_sha_that_stash_store_restores(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    newest, older = two_stashes(repo)

    dropped = drop_stash(spec_of(repo), "stash@{1}", expected_sha=older, timeout=TIMEOUT)

    assert isinstance(dropped, StashDropped)
    assert (dropped.sha, dropped.message) == (older, "On main: my: message é")
    assert stash_list(repo) == [
        f"{newest} {list_stashes(spec_of(repo), timeout=TIMEOUT)[0].message}"
    ]
    subprocess.run(shlex.split(dropped.undo), cwd=repo, check=True)
    [back, _] = list_stashes(spec_of(repo), timeout=TIMEOUT)
    assert (back.sha, back.message) == (older, "On main: my: message é")
    assert StashFile("new dir/untracked é.txt", "A", untracked=True) in back.files


def test_a_refused_drop_reads_as_failed_in_the_history(tmp_path: Path) -> None:
    from gitwatch_tui.engine.engine import change_finished

    repo = new_repo(tmp_path)
    two_stashes(repo)
    refused = drop_stash(spec_of(repo), "stash@{0}", expected_sha="0" * 40, timeout=TIMEOUT)
    assert isinstance(refused, StashError) and not refused.ok
    finished = change_finished("repo", "stash-drop", refused, 0.1)
    assert not finished.ok and finished.error == refused.message
    assert len(stash_list(repo)) == 2
