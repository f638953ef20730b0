"""Changed files and commits parsed from git's NUL-separated output, on literal bytes."""

from __future__ import annotations

import pytest

from gitwatch_tui.core.changes import parse_files, parse_log
from gitwatch_tui.core.results import CommitInfo, FileChange

OID = "1" * 40
OID2 = "2" * 40
MODES = "100644 100644 100644"


def z(*records: str) -> bytes:
    return "".join(r + "\0" for r in records).encode()


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
