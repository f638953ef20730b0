"""Diffs of changed files and commits, on real repos with real bare remotes: the file list's
kinds, binary and huge files summarised, and no program of an untrusted repo run."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.details import read_details
from gitwatch_tui.core.diffs import MAX_LINES, capped, file_diff, show_commit
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import FileChange, Patch
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.core.test_trust import Traps


def spec(path: Path, *, trust: bool = False) -> RepoSpec:
    return RepoSpec(path, path.name, trust=trust)


def diff_of(path: Path, name: str, kind: str, *, trust: bool = False) -> Patch:
    files = read_details(spec(path), timeout=20).files
    change = next(f for f in files if f.path == name and f.kind == kind)
    return file_diff(spec(path, trust=trust), change, timeout=20)


@pytest.fixture()
def traps(tmp_path: Path) -> Traps:
    return Traps(tmp_path)


@pytest.fixture()
def clone(tmp_path: Path) -> Path:
    return make_remote_and_clone(tmp_path, "repo")[1]


def test_the_file_list_and_each_kinds_patch(clone: Path) -> None:
    commit_file(clone, "old-name.txt", "one\ntwo\nthree\n")
    (clone / "README.md").write_text("hello\nstaged line\n")
    git(clone, "add", "README.md")
    (clone / "README.md").write_text("hello\nstaged line\nunstaged line\n")
    git(clone, "mv", "old-name.txt", "new-name.txt")
    (clone / "notes.txt").write_text("first\nsecond\n")

    files = read_details(spec(clone), timeout=20).files

    assert set(files) == {
        FileChange("README.md", "staged", "M"),
        FileChange("README.md", "unstaged", "M"),
        FileChange("new-name.txt", "staged", "R", orig_path="old-name.txt"),
        FileChange("notes.txt", "untracked", "?"),
    }
    staged = diff_of(clone, "README.md", "staged")
    assert "+staged line" in staged.text and "unstaged line" not in staged.text
    unstaged = diff_of(clone, "README.md", "unstaged")
    assert "+unstaged line" in unstaged.text and "+staged line" not in unstaged.text
    renamed = diff_of(clone, "new-name.txt", "staged")
    assert "rename from old-name.txt" in renamed.text and "rename to new-name.txt" in renamed.text
    untracked = diff_of(clone, "notes.txt", "untracked")
    assert untracked.text == "+first\n+second\n" and untracked.summary is None


def test_a_binary_file_is_summarised_by_its_size(clone: Path) -> None:
    (clone / "image.bin").write_bytes(b"\x89PNG\0" + bytes(range(256)) * 48)  # 12,293 bytes
    git(clone, "add", "image.bin")
    (clone / "loose.bin").write_bytes(b"\0\1\2" * 1000)

    staged = diff_of(clone, "image.bin", "staged")
    untracked = diff_of(clone, "loose.bin", "untracked")

    assert staged.text == "" and staged.summary == "binary, 12 KB"
    assert untracked.text == "" and untracked.summary == "binary, 2 KB"


def test_a_huge_file_is_capped_and_says_how_much(clone: Path) -> None:
    commit_file(clone, "big.txt", "".join(f"line {i}\n" for i in range(40_000)))
    (clone / "big.txt").write_text("".join(f"changed {i}\n" for i in range(40_000)))
    (clone / "huge-new.txt").write_text("".join(f"{i}\n" for i in range(40_000)))

    changed = diff_of(clone, "big.txt", "unstaged")
    new = diff_of(clone, "huge-new.txt", "untracked")

    assert changed.shown_lines == MAX_LINES and changed.total_lines > 80_000
    assert changed.summary == f"huge: {changed.total_lines:,} lines, first 2,000 shown"
    assert new.summary == "huge: 40,000 lines, first 2,000 shown"
    assert new.text.splitlines()[-1] == "+1999"


def test_a_cap_on_characters_keeps_one_line_at_least() -> None:
    patch = capped("x" * 50 + "\n" + "y" * 50 + "\n", max_chars=60)
    assert patch.text == "x" * 50 + "\n" and patch.total_lines == 2 and patch.summary


@pytest.mark.parametrize("trusted", [False, True])
def test_an_untrusted_repos_diff_programs_never_run(
    clone: Path,
    traps: Traps,
    trusted: bool,
) -> None:
    commit_file(clone, ".gitattributes", "*.conv diff=trap\n")
    commit_file(clone, "a.conv", "one\n")
    commit_file(clone, "b.txt", "one\n")
    textconv, external = traps.make("textconv", then='cat "$1"'), traps.make("external")
    git(clone, "config", "diff.trap.textconv", str(textconv))
    (clone / "a.conv").write_text("two\n")
    (clone / "b.txt").write_text("two\n")

    conv = diff_of(clone, "a.conv", "unstaged", trust=trusted)
    git(clone, "config", "diff.external", str(external))
    plain = diff_of(clone, "b.txt", "unstaged", trust=trusted)
    shown = show_commit(spec(clone, trust=trusted), git(clone, "rev-parse", "HEAD"), timeout=20)

    if trusted:  # behaves like git: both programs ran
        assert traps.ran() == {"textconv", "external"}
    else:
        assert traps.ran() == set()
        assert "+two" in conv.text and "+two" in plain.text and "+one" in shown.text
    assert conv.error is None and plain.error is None and shown.error is None


def test_show_commit_gives_the_stat_and_patch_and_refuses_what_is_not_a_sha(clone: Path) -> None:
    sha = commit_file(clone, "src/app.py", "print('hi')\n", "Add the app")

    shown = show_commit(spec(clone), sha, timeout=20)

    assert f"commit {sha}" in shown.text and "Add the app" in shown.text
    assert "src/app.py | 1 +" in shown.text and "+print('hi')" in shown.text
    assert show_commit(spec(clone), "--output=/tmp/x", timeout=20).error == (
        "not a commit id: '--output=/tmp/x'"
    )
