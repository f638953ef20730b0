"""Conflicts: hunk parsing on literal bytes, then every kind and every way out on real repos."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from gitwatch_tui.core.conflicts import (
    RECORD_NAME,
    abort_operation,
    conflict_hunks,
    continue_operation,
    find_hunks,
    mark_resolved,
    read_conflicts,
    resolve_file,
    resolve_hunks,
    split_lines,
)
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import ConflictEntry, ConflictHunk, TextSegment
from tests.conftest import commit_file, git

TIMEOUT = 20.0
ODD = "-x y é.txt"  # a leading dash, spaces and non-ASCII: a name that must reach git whole
BASE_LINES = [f"l{i}\n" for i in range(1, 15)]


def spec_of(path: Path) -> RepoSpec:
    return RepoSpec(path=path, name=path.name)


def git_fails(cwd: Path, *args: str) -> str:
    """Run git where it must fail (a merge that conflicts); returns what it said."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def write(repo: Path, name: str, data: bytes | str) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def commit_all(repo: Path, files: dict[str, bytes | str | None], message: str) -> None:
    """Write (or, for None, delete) files and commit exactly those."""
    for name, data in files.items():
        if data is None:
            git(repo, "rm", "-q", "--", name)
        else:
            write(repo, name, data)
            git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", message)


def lines(*items: str) -> str:
    return "".join(items)


def replaced(base: list[str], changes: dict[int, str]) -> str:
    """The base lines with line number -> new text."""
    return "".join(f"{changes[i]}\n" if i in changes else line for i, line in enumerate(base, 1))


def new_repo(tmp_path: Path, name: str = "repo") -> Path:
    repo = tmp_path / name
    repo.mkdir()
    git(repo, "init", "-q")
    return repo


def conflicted_merge(tmp_path: Path) -> Path:
    """A merge of `other` into main that stops with one file of every conflict kind."""
    repo = new_repo(tmp_path)
    commit_all(
        repo,
        {
            "t.txt": "".join(BASE_LINES),
            "du.txt": "du base\n",
            "ud.txt": "ud base\n",
            "b.bin": b"\x00\x01base",
            ODD: "odd base\n",
            "same.txt": "same\n",
        },
        "base",
    )
    git(repo, "switch", "-q", "-c", "other")
    commit_all(
        repo,
        {
            "t.txt": replaced(BASE_LINES, {2: "T2", 7: "T7", 12: "T12"}),
            "both.txt": "them\n",
            "du.txt": "du theirs\n",
            "ud.txt": None,
            "b.bin": b"\x00\x01theirs",
            ODD: "odd theirs\n",
        },
        "theirs",
    )
    git(repo, "switch", "-q", "main")
    commit_all(
        repo,
        {
            "t.txt": replaced(BASE_LINES, {2: "O2", 12: "O12"}),
            "both.txt": "us\n",
            "du.txt": None,
            "ud.txt": "ud ours\n",
            "b.bin": b"\x00\x01ours",
            ODD: "odd ours\n",
        },
        "ours",
    )
    git_fails(repo, "merge", "other")
    return repo


def snapshot(repo: Path) -> dict[str, object]:
    """Everything an abort must put back: HEAD, the index, every file's bytes, the stashes."""
    files: dict[str, bytes] = {}
    for folder, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(repo))] = path.read_bytes()
    stashes = subprocess.run(
        ["git", "stash", "list", "--format=%H %gs"], cwd=repo, capture_output=True, text=True
    ).stdout
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "-s", "-z"),
        "files": files,
        "stashes": stashes,
    }


def unmerged(repo: Path) -> set[str]:
    out = git(repo, "ls-files", "-u", "-z")
    return {record.split("\t", 1)[1] for record in out.split("\0") if record}


# -- pure parsing -----------------------------------------------------------------------------


def test_split_lines_breaks_after_lf_only() -> None:
    data = b"a\r\nb\x0cc\xe2\x80\xa8d\ne"
    assert split_lines(data) == [b"a\r\n", b"b\x0cc\xe2\x80\xa8d\n", b"e"]
    assert split_lines(b"") == []
    assert split_lines(b"x\n") == [b"x\n"]


def test_find_hunks_like_git() -> None:
    text = (
        b"top\n"
        b"<<<<<<< HEAD\r\n"
        b"ours\r\n"
        b"||||||| base\r\n"
        b"old\r\n"
        b"=======\r\n"
        b"theirs\r\n"
        b">>>>>>> other\r\n"
        b"<<<<<<<no space: not a marker\n"
        b"<<<<<<< two\n"
        b"a\n"
        b"=======\n"
        b"b\n"
        b">>>>>>> end\n"
        b"<<<<<<< open\n"
        b"never closed\n"
        b"=======\n"
    )
    lines = split_lines(text)
    [first, second] = find_hunks(lines)
    assert (first.start, first.base_at, first.sep, first.end) == (1, 3, 5, 7)
    assert (second.start, second.base_at, second.sep, second.end) == (9, None, 11, 13)
    # "=======" on a last line without a newline is text, as for git.
    assert find_hunks(split_lines(b"<<<<<<< a\nx\n=======")) == []
    # A larger marker size leaves 7-character markers alone.
    assert find_hunks(lines, 10) == []


# -- reading ----------------------------------------------------------------------------------


def test_read_conflicts_every_kind_and_the_count(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    state = read_conflicts(spec_of(repo), timeout=TIMEOUT)

    assert state.error is None and state.operation == "merge"
    assert {(e.path, e.code, e.kind, e.binary) for e in state.files} == {
        ("t.txt", "UU", "both modified", False),
        ("both.txt", "AA", "added by both", False),
        ("du.txt", "DU", "deleted by us", False),
        ("ud.txt", "UD", "deleted by them", False),
        ("b.bin", "UU", "both modified", True),
        (ODD, "UU", "both modified", False),
    }
    by_path = {e.path: e for e in state.files}
    assert by_path["du.txt"].stages == (1, 3) and by_path["t.txt"].stages == (1, 2, 3)
    assert (state.resolved, state.total, state.label) == (0, 6, "merging 0/6")

    git(repo, "add", "--", "both.txt")
    git(repo, "rm", "-q", "--", "du.txt")
    state = read_conflicts(spec_of(repo), timeout=TIMEOUT)
    assert state.resolved_paths == ("both.txt", "du.txt")
    assert state.label == "merging 2/6"


def test_count_starts_from_git_own_conflict_list(tmp_path: Path) -> None:
    # Files resolved before gitwatch first looks still count: MERGE_MSG lists them all.
    repo = conflicted_merge(tmp_path)
    git(repo, "add", "--", "both.txt", ODD)
    state = read_conflicts(spec_of(repo), timeout=TIMEOUT)
    assert (state.resolved, state.total) == (2, 6)
    git(repo, "merge", "--abort")
    state = read_conflicts(spec_of(repo), timeout=TIMEOUT)
    assert not state.active and state.label == "" and state.total == 0
    assert not (repo / ".git" / RECORD_NAME).exists()


def test_attributes_make_a_text_file_binary(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    commit_all(repo, {".gitattributes": "*.lock merge=binary\n", "x.lock": "a\n"}, "base")
    git(repo, "switch", "-q", "-c", "other")
    commit_all(repo, {"x.lock": "b\n"}, "theirs")
    git(repo, "switch", "-q", "main")
    commit_all(repo, {"x.lock": "c\n"}, "ours")
    git_fails(repo, "merge", "other")
    [entry] = read_conflicts(spec_of(repo), timeout=TIMEOUT).files
    assert entry == ConflictEntry("x.lock", "UU", "both modified", (1, 2, 3), binary=True)


# -- hunks ------------------------------------------------------------------------------------


def test_hunks_with_a_computed_base(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    file = conflict_hunks(spec_of(repo), "t.txt", timeout=TIMEOUT)

    assert file.error is None and not file.binary and file.base_computed
    # The file says HEAD; the panel says which branch that is.
    assert (file.ours_label, file.theirs_label) == ("main", "other")
    first, second = file.hunks
    assert (first.ours_label, first.theirs_label) == ("HEAD", "other")
    assert (first.ours, first.base, first.theirs) == (("O2\n",), ("l2\n",), ("T2\n",))
    assert (second.ours, second.base, second.theirs) == (("O12\n",), ("l12\n",), ("T12\n",))
    assert (first.index, first.line, second.index) == (0, 2, 1)
    # The text between hunks is the merged file: theirs' clean change to line 7 is in it.
    texts = [s for s in file.segments if isinstance(s, TextSegment)]
    assert texts[0].lines == ("l1\n",)
    assert "T7\n" in texts[1].lines and texts[-1].lines[-1] == "l14\n"


def test_hunks_with_the_file_own_diff3_base(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    git(repo, "config", "merge.conflictStyle", "diff3")
    commit_file(repo, ODD, "one\ntwo\n")
    git(repo, "switch", "-q", "-c", "other")
    commit_file(repo, ODD, "one\nTHEIRS\n")
    git(repo, "switch", "-q", "main")
    commit_file(repo, ODD, "one\nOURS\nmore ours\n")
    git_fails(repo, "merge", "other")

    file = conflict_hunks(spec_of(repo), ODD, timeout=TIMEOUT)
    [hunk] = file.hunks
    assert hunk == ConflictHunk(
        index=0, line=2, ours=("OURS\n", "more ours\n"), base=("two\n",), theirs=("THEIRS\n",),
        ours_label="HEAD", theirs_label="other", base_label=hunk.base_label,
    )  # fmt: skip
    assert hunk.base_label and not file.base_computed
    assert file.entry is not None and file.entry.kind == "both modified"


def test_added_by_both_has_no_base_and_binary_has_no_hunks(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    [hunk] = conflict_hunks(spec_of(repo), "both.txt", timeout=TIMEOUT).hunks
    assert (hunk.ours, hunk.base, hunk.theirs) == (("us\n",), None, ("them\n",))
    binary = conflict_hunks(spec_of(repo), "b.bin", timeout=TIMEOUT)
    assert binary.binary and binary.segments == () and binary.error is None


def test_hunks_refuse_paths_outside_the_repo(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    (tmp_path / "secret.txt").write_text("<<<<<<< a\nx\n=======\ny\n>>>>>>> b\n")
    for path in ("../secret.txt", "/etc/passwd", "a/./b"):
        assert conflict_hunks(spec_of(repo), path, timeout=TIMEOUT).error
        outcome = resolve_hunks(spec_of(repo), path, {0: "ours"}, timeout=TIMEOUT)
        assert not outcome.ok


# -- resolving hunks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "middle", "end"),
    [
        ({0: "ours", 1: "theirs"}, "O2\n", "T12\n"),
        ({0: "theirs", 1: "both"}, "T2\n", "O12\nT12\n"),
    ],
)
def test_resolve_hunks_rewrites_only_the_chosen_hunks(
    tmp_path: Path, choices: dict[int, str], middle: str, end: str
) -> None:
    repo = conflicted_merge(tmp_path)
    outcome = resolve_hunks(spec_of(repo), "t.txt", choices, timeout=TIMEOUT)  # type: ignore[arg-type]
    assert outcome.ok and outcome.remaining_hunks == 0
    merged = replaced(BASE_LINES, {2: middle.rstrip("\n"), 7: "T7", 12: "@"})
    assert (repo / "t.txt").read_text() == merged.replace("@\n", end)
    assert "t.txt" in unmerged(repo)  # nothing staged


def test_resolve_one_hunk_of_a_crlf_file_leaves_every_other_byte(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)

    def crlf(second: str, last: str) -> str:  # CRLF, and no newline at the end
        return "\r\n".join(["a", second, "c", "d", "e", "f", "g", "h", last])

    commit_all(repo, {ODD: crlf("b", "i")}, "base")
    git(repo, "switch", "-q", "-c", "other")
    commit_all(repo, {ODD: crlf("B-theirs", "I-theirs")}, "theirs")
    git(repo, "switch", "-q", "main")
    commit_all(repo, {ODD: crlf("B-ours", "I-ours")}, "ours")
    git_fails(repo, "merge", "other")
    before = (repo / ODD).read_bytes()
    file = conflict_hunks(spec_of(repo), ODD, timeout=TIMEOUT)
    assert [h.ours for h in file.hunks][0] == ("B-ours\r\n",)
    second_start = before.index(b"<<<<<<<", before.index(b">>>>>>>"))

    outcome = resolve_hunks(
        spec_of(repo), ODD, {0: "theirs"}, expected_fingerprint=file.fingerprint, timeout=TIMEOUT
    )

    assert outcome.ok and outcome.remaining_hunks == 1
    after = (repo / ODD).read_bytes()
    assert after == b"a\r\nB-theirs\r\nc\r\nd\r\ne\r\nf\r\ng\r\nh\r\n" + before[second_start:]
    # The same fingerprint again is refused: the file changed, hunk 0 is another hunk now.
    stale = resolve_hunks(
        spec_of(repo), ODD, {0: "ours"}, expected_fingerprint=file.fingerprint, timeout=TIMEOUT
    )
    assert not stale.ok and "changed" in stale.message
    assert (repo / ODD).read_bytes() == after
    [last] = conflict_hunks(spec_of(repo), ODD, timeout=TIMEOUT).hunks
    assert last.ours[0].startswith("I-ours")


def test_resolve_hunks_refuses_an_unknown_hunk(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    before = (repo / "t.txt").read_bytes()
    outcome = resolve_hunks(spec_of(repo), "t.txt", {0: "ours", 2: "ours"}, timeout=TIMEOUT)
    assert not outcome.ok and "hunk 2" in outcome.message
    assert (repo / "t.txt").read_bytes() == before


def test_resolve_hunks_keeps_the_file_mode(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    os.chmod(repo / "t.txt", 0o755)
    assert resolve_hunks(spec_of(repo), "t.txt", {0: "ours"}, timeout=TIMEOUT).ok
    assert os.stat(repo / "t.txt").st_mode & 0o777 == 0o755
    assert not [p for p in os.listdir(repo) if p.startswith(".gitwatch-")]


# -- resolving whole files --------------------------------------------------------------------


def test_resolve_file_every_kind(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    spec = spec_of(repo)

    assert resolve_file(spec, "t.txt", "ours", timeout=TIMEOUT).ok
    # Every hunk took ours, and theirs' clean change to line 7 stayed.
    assert (repo / "t.txt").read_text() == replaced(BASE_LINES, {2: "O2", 7: "T7", 12: "O12"})
    assert resolve_file(spec, "b.bin", "theirs", timeout=TIMEOUT).ok
    assert (repo / "b.bin").read_bytes() == b"\x00\x01theirs"
    assert resolve_file(spec, "both.txt", "both", timeout=TIMEOUT).ok
    assert (repo / "both.txt").read_text() == "us\nthem\n"
    assert resolve_file(spec, "du.txt", "ours", timeout=TIMEOUT).ok  # we deleted it
    assert not (repo / "du.txt").exists()
    assert resolve_file(spec, "ud.txt", "ours", timeout=TIMEOUT).ok  # we modified it
    assert (repo / "ud.txt").read_text() == "ud ours\n"
    assert resolve_file(spec, ODD, "theirs", timeout=TIMEOUT).ok
    assert (repo / ODD).read_text() == "odd theirs\n"

    assert unmerged(repo) == set()
    staged = git(repo, "diff", "--cached", "--name-status", "-z", "HEAD").split("\0")
    assert dict(zip(staged[1::2], staged[::2], strict=False)) == {
        "t.txt": "M", "b.bin": "M", "both.txt": "M", ODD: "M",
    }  # fmt: skip
    assert read_conflicts(spec, timeout=TIMEOUT).label == "merging 6/6"


@pytest.mark.parametrize(
    ("path", "side", "kept"),
    [
        ("du.txt", "theirs", "du theirs\n"),  # deleted by us, keep their change
        ("ud.txt", "theirs", None),  # deleted by them, take the deletion
        ("b.bin", "ours", b"\x00\x01ours"),
    ],
)
def test_resolve_file_the_other_way(
    tmp_path: Path, path: str, side: str, kept: str | bytes | None
) -> None:
    repo = conflicted_merge(tmp_path)
    outcome = resolve_file(spec_of(repo), path, side, timeout=TIMEOUT)  # type: ignore[arg-type]
    assert outcome.ok and outcome.paths == (path,)
    assert path not in unmerged(repo)
    if kept is None:
        assert not (repo / path).exists()
        assert git(repo, "ls-files", "--", path) == ""
    else:
        data = (repo / path).read_bytes()
        assert data == (kept.encode() if isinstance(kept, str) else kept)
        assert git(repo, "ls-files", "--", path) == path
    # The undo hint brings the conflict back, where git can: not after a deletion won.
    if path == "b.bin":
        assert outcome.undo is not None
        subprocess.run(shlex.split(outcome.undo), cwd=repo, capture_output=True)
        assert path in unmerged(repo)
    else:
        assert outcome.undo is None


def test_rename_rename_gives_added_by_us_added_by_them_and_both_deleted(tmp_path: Path) -> None:
    repo = new_repo(tmp_path)
    commit_all(repo, {"f.txt": "content\n"}, "base")
    git(repo, "switch", "-q", "-c", "other")
    git(repo, "mv", "--", "f.txt", ODD)
    git(repo, "commit", "-q", "-m", "theirs renames")
    git(repo, "switch", "-q", "main")
    git(repo, "mv", "--", "f.txt", "ours.txt")
    git(repo, "commit", "-q", "-m", "ours renames")
    git_fails(repo, "merge", "other")
    spec = spec_of(repo)

    state = read_conflicts(spec, timeout=TIMEOUT)
    assert [(e.path, e.code, e.kind, e.stages) for e in state.files] == [
        (ODD, "UA", "added by them", (3,)),
        ("f.txt", "DD", "both deleted", (1,)),
        ("ours.txt", "AU", "added by us", (2,)),
    ]
    # Keep their name only: ours.txt goes, theirs stays, the old name is gone on both sides.
    assert resolve_file(spec, "ours.txt", "theirs", timeout=TIMEOUT).ok
    assert resolve_file(spec, ODD, "theirs", timeout=TIMEOUT).ok
    assert resolve_file(spec, "f.txt", "ours", timeout=TIMEOUT).ok
    assert unmerged(repo) == set()
    assert git(repo, "ls-files", "-z").split("\0") == [ODD, ""]
    assert (repo / ODD).read_text() == "content\n" and not (repo / "ours.txt").exists()
    assert continue_operation(spec, timeout=TIMEOUT).ok


def test_undo_of_a_text_resolution_brings_the_markers_back(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    outcome = resolve_file(spec_of(repo), ODD, "theirs", timeout=TIMEOUT)
    assert outcome.undo == f"git checkout -m -- '{ODD}'"
    assert ODD not in unmerged(repo)
    subprocess.run(shlex.split(outcome.undo), cwd=repo, check=True, capture_output=True)
    assert ODD in unmerged(repo)
    assert len(conflict_hunks(spec_of(repo), ODD, timeout=TIMEOUT).hunks) == 1


def test_resolve_file_refuses_both_without_hunks(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    for path in ("b.bin", "du.txt"):
        outcome = resolve_file(spec_of(repo), path, "both", timeout=TIMEOUT)
        assert not outcome.ok and outcome.refused == (path,)
    assert unmerged(repo) >= {"b.bin", "du.txt"}
    assert not resolve_file(spec_of(repo), "same.txt", "ours", timeout=TIMEOUT).ok


def test_mark_resolved_refuses_files_with_markers_left(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    spec = spec_of(repo)
    assert resolve_hunks(spec, "t.txt", {0: "ours"}, timeout=TIMEOUT).ok  # one hunk left
    (repo / ODD).write_text("hand-merged\n")
    (repo / "ud.txt").unlink()

    outcome = mark_resolved(spec, ["t.txt", ODD, "ud.txt", "b.bin"], timeout=TIMEOUT)

    assert not outcome.ok and outcome.refused == ("t.txt",)
    assert set(outcome.paths) == {ODD, "ud.txt", "b.bin"}
    assert unmerged(repo) == {"t.txt", "both.txt", "du.txt"}
    assert git(repo, "ls-files", "--", "ud.txt") == ""  # the deletion is staged
    forced = mark_resolved(spec, ["t.txt"], force=True, timeout=TIMEOUT)
    assert forced.ok and "t.txt" not in unmerged(repo)


# -- continue and abort -----------------------------------------------------------------------


def test_continue_merge_without_an_editor(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    spec = spec_of(repo)
    ours = git(repo, "rev-parse", "HEAD")
    refused = continue_operation(spec, timeout=TIMEOUT)
    assert not refused.ok and len(refused.conflicts) == 6
    assert git(repo, "rev-parse", "HEAD") == ours

    for path in ("t.txt", "b.bin", "both.txt", "du.txt", "ud.txt", ODD):
        assert resolve_file(spec, path, "ours", timeout=TIMEOUT).ok
    outcome = continue_operation(spec, timeout=TIMEOUT)

    assert outcome.ok, outcome.message
    assert (outcome.operation, outcome.old_head) == ("merge", ours)
    assert outcome.new_head == git(repo, "rev-parse", "HEAD") != ours
    assert git(repo, "rev-list", "--parents", "-n1", "HEAD").split()[1:] == [
        ours, git(repo, "rev-parse", "other"),
    ]  # fmt: skip
    assert git(repo, "log", "-1", "--format=%B").strip() == "Merge branch 'other'"
    assert not read_conflicts(spec, timeout=TIMEOUT).active


def two_branches(tmp_path: Path) -> Path:
    """main and `other` each change the same line of f.txt after a common commit."""
    repo = new_repo(tmp_path)
    commit_all(repo, {"f.txt": "base\n", "g.txt": "g\n"}, "base")
    git(repo, "switch", "-q", "-c", "other")
    commit_all(repo, {"f.txt": "theirs\n"}, "their change")
    commit_all(repo, {"g.txt": "g2\n"}, "their second change")
    git(repo, "switch", "-q", "main")
    commit_all(repo, {"f.txt": "ours\n"}, "our change")
    return repo


def test_continue_a_rebase(tmp_path: Path) -> None:
    repo = two_branches(tmp_path)
    git(repo, "switch", "-q", "other")
    git_fails(repo, "rebase", "main")
    state = read_conflicts(spec_of(repo), timeout=TIMEOUT)
    assert state.operation == "rebase" and state.label == "rebasing 0/1"
    # In a rebase git's "ours" is the branch rebased onto: main, named as such; "theirs" the
    # commit replayed, by its id and subject.
    file = conflict_hunks(spec_of(repo), "f.txt", timeout=TIMEOUT)
    assert file.hunks[0].ours == ("ours\n",)
    assert (file.ours_role, file.ours_label) == ("upstream", "main")
    replayed = git(repo, "log", "-1", "--format=%h %s", "REBASE_HEAD")
    assert (file.theirs_role, file.theirs_label) == ("your commit", replayed)

    assert resolve_file(spec_of(repo), "f.txt", "both", timeout=TIMEOUT).ok
    outcome = continue_operation(spec_of(repo), timeout=TIMEOUT)

    assert outcome.ok, outcome.message
    assert git(repo, "log", "--format=%s", "main..other").splitlines() == [
        "their second change", "their change",
    ]  # fmt: skip
    assert git(repo, "merge-base", "main", "other") == git(repo, "rev-parse", "main")
    assert (repo / "f.txt").read_text() == "ours\ntheirs\n"
    assert not read_conflicts(spec_of(repo), timeout=TIMEOUT).active


def test_continue_a_cherry_pick(tmp_path: Path) -> None:
    repo = two_branches(tmp_path)
    git_fails(repo, "cherry-pick", "other~1")
    assert read_conflicts(spec_of(repo), timeout=TIMEOUT).label == "cherry-picking 0/1"
    assert resolve_file(spec_of(repo), "f.txt", "theirs", timeout=TIMEOUT).ok

    outcome = continue_operation(spec_of(repo), timeout=TIMEOUT)

    assert outcome.ok, outcome.message
    assert git(repo, "log", "-1", "--format=%s").strip() == "their change"
    assert (repo / "f.txt").read_text() == "theirs\n"
    assert git(repo, "status", "--porcelain") == ""


def test_abort_a_merge_restores_everything_byte_for_byte(tmp_path: Path) -> None:
    repo = conflicted_merge(tmp_path)
    git(repo, "merge", "--abort")
    # Local work the merge does not touch (git merges only with a clean index): an edit and
    # an untracked file.
    (repo / "same.txt").write_text("local edit, not committed\n")
    write(repo, "notes/untracked é.txt", "mine\n")
    before = snapshot(repo)
    git_fails(repo, "merge", "other")
    assert resolve_file(spec_of(repo), "t.txt", "theirs", timeout=TIMEOUT).ok  # work to undo

    outcome = abort_operation(spec_of(repo), timeout=TIMEOUT)

    assert outcome.ok and outcome.operation == "merge", outcome.message
    assert snapshot(repo) == before
    assert not read_conflicts(spec_of(repo), timeout=TIMEOUT).active


def test_abort_a_rebase(tmp_path: Path) -> None:
    repo = two_branches(tmp_path)
    git(repo, "switch", "-q", "other")
    before = snapshot(repo)
    git_fails(repo, "rebase", "main")
    outcome = abort_operation(spec_of(repo), timeout=TIMEOUT)
    assert outcome.ok and outcome.operation == "rebase"
    assert snapshot(repo) == before
    assert git(repo, "branch", "--show-current") == "other"


def test_abort_a_stash_apply_keeps_the_stash(tmp_path: Path) -> None:
    from gitwatch_tui.core.stash import apply_stash

    repo = two_branches(tmp_path)
    (repo / "f.txt").write_text("stashed\n")
    write(repo, "new dir/untracked é.txt", "untracked\n")
    git(repo, "stash", "push", "-q", "--include-untracked", "-m", "mine")
    stash = git(repo, "rev-parse", "stash@{0}")
    commit_all(repo, {"f.txt": "moved on\n"}, "another change")
    (repo / "g.txt").write_text("unrelated local edit\n")
    before = snapshot(repo)

    applied = apply_stash(spec_of(repo), "stash@{0}", pop=True, timeout=TIMEOUT)
    assert not applied.ok and applied.conflicts == ("f.txt",) and applied.kept
    assert (repo / "new dir" / "untracked é.txt").exists()
    state = read_conflicts(spec_of(repo), timeout=TIMEOUT)
    assert (state.operation, state.stash, state.label) == (None, stash, "applying stash 0/1")
    refused = continue_operation(spec_of(repo), timeout=TIMEOUT)
    assert not refused.ok and refused.conflicts == ("f.txt",)

    outcome = abort_operation(spec_of(repo), timeout=TIMEOUT)

    assert outcome.ok, outcome.message
    assert snapshot(repo) == before
    assert git(repo, "rev-parse", "stash@{0}") == stash
    assert not (repo / ".git" / RECORD_NAME).exists()


def test_abort_refuses_an_unmerged_index_gitwatch_did_not_make(tmp_path: Path) -> None:
    repo = two_branches(tmp_path)
    (repo / "f.txt").write_text("stashed\n")
    git(repo, "stash", "-q")
    commit_all(repo, {"f.txt": "moved on\n"}, "another change")
    git_fails(repo, "stash", "apply")
    before = snapshot(repo)
    outcome = abort_operation(spec_of(repo), timeout=TIMEOUT)
    assert not outcome.ok and "nothing was changed" in outcome.message
    assert snapshot(repo) == before
    assert read_conflicts(spec_of(repo), timeout=TIMEOUT).label == "conflicts 0/1"


def test_nothing_to_continue_or_abort(tmp_path: Path) -> None:
    repo = two_branches(tmp_path)
    assert continue_operation(spec_of(repo), timeout=TIMEOUT).ok
    assert not abort_operation(spec_of(repo), timeout=TIMEOUT).ok
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    state = read_conflicts(RepoSpec(bare, "bare", bare=True), timeout=TIMEOUT)
    assert state.error and not state.active


@pytest.mark.parametrize(
    ("message", "label"),
    [(["-m", "Merge remote-tracking branch 'origin/main'"], "origin/main"), ([], "short")],
)
def test_theirs_as_a_commit_id_is_named(tmp_path: Path, message: list[str], label: str) -> None:
    repo = new_repo(tmp_path)
    commit_all(repo, {"t.txt": "".join(BASE_LINES)}, "base")
    git(repo, "switch", "-q", "-c", "other")
    commit_all(repo, {"t.txt": replaced(BASE_LINES, {2: "T2"})}, "theirs")
    sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "switch", "-q", "main")
    commit_all(repo, {"t.txt": replaced(BASE_LINES, {2: "O2"})}, "ours")
    git_fails(repo, "merge", *message, sha)  # by id, as a pull merges what it previewed

    file = conflict_hunks(spec_of(repo), "t.txt", timeout=TIMEOUT)

    assert file.hunks[0].theirs_label == sha  # the file itself says the full id
    assert file.theirs_label == (sha[:7] if label == "short" else label)


def test_a_stash_that_re_applied_with_conflicts_names_its_sides_in_words(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "f.txt", "base\n", "base")
    (repo / "f.txt").write_text("stashed\n")
    git(repo, "stash", "-q")
    commit_file(repo, "f.txt", "committed\n", "later")
    git_fails(repo, "stash", "apply")
    file = conflict_hunks(spec_of(repo), "f.txt", timeout=TIMEOUT)
    assert file.hunks[0].ours == ("committed\n",) and file.hunks[0].theirs == ("stashed\n",)
    assert (file.ours_role, file.ours_label) == ("your working tree", "")
    assert (file.theirs_role, file.theirs_label) == ("the stash", "")
