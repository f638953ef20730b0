"""Conflicts: what is unmerged, each text file as hunks, and the ways out (resolve, go on, abort).

The worktree file is the source of truth for hunks: the user may have edited it, so hunks are
parsed from its markers and a resolution rewrites only the chosen hunks, every other byte kept.
When the file has no base section (git's default conflict style), the base of each hunk is
computed with `git merge-file --diff3` from the index stages and matched to the file's hunks by
their ours/theirs lines (best effort: a hunk the user changed gets no base).

"ours" and "theirs" are git's index stages 2 and 3. In a rebase, "ours" is the branch being
rebased onto and "theirs" the commit being replayed; the hunk labels say which is which.

The "merging 2/5" count needs the number of files that were conflicted when the conflict began,
which git does not keep. `read_conflicts` keeps it in a small record in the git dir
(`gitwatch-conflict.json`), keyed by the operation's own marker files, seeded from the
"# Conflicts:" list git writes into MERGE_MSG, and grown by every unmerged path it sees.
`stash.apply_stash` adds to the record what a conflicting stash apply touched, which is what
makes aborting that apply (there is no `git stash --abort`) safe; see `abort_operation`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import stat
import tempfile
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitwatch_tui.core.changes import CONFLICT_LABELS
from gitwatch_tui.core.git import GitResult, RepoPaths, git_env, run_git
from gitwatch_tui.core.models import Operation, RepoSpec
from gitwatch_tui.core.results import (
    ConflictEntry,
    ConflictFile,
    ConflictHunk,
    ConflictState,
    OperationOutcome,
    ResolveOutcome,
    Segment,
    Side,
    TextSegment,
    plural,
)
from gitwatch_tui.core.status import locate_work_tree, merge_msg_conflicts, read_git_dir_state

RECORD_NAME = "gitwatch-conflict.json"
DEFAULT_MARKER_SIZE = 7
# git reads this much of a file to decide whether it is binary (a NUL byte in it).
_BINARY_PROBE = 8000
# Which stages exist (1 base, 2 ours, 3 theirs) -> porcelain XY code.
_CODES = {
    (1, 2, 3): "UU",
    (2, 3): "AA",
    (1, 3): "DU",
    (1, 2): "UD",
    (2,): "AU",
    (3,): "UA",
    (1,): "DD",
}
# The operations that have `--continue` and `--abort`.
_RESUMABLE: frozenset[str] = frozenset({"merge", "rebase", "am", "cherry-pick", "revert"})
# Files of the git dir that identify one conflict: a new step of a rebase is a new conflict.
_KEY_FILES = {
    "merge": ("MERGE_HEAD",),
    "cherry-pick": ("CHERRY_PICK_HEAD",),
    "revert": ("REVERT_HEAD",),
    "rebase": (
        "rebase-merge/head-name",
        "rebase-merge/onto",
        "rebase-merge/msgnum",
        "rebase-apply/head-name",
        "rebase-apply/onto",
        "rebase-apply/next",
    ),
    "am": ("rebase-apply/next", "rebase-apply/last"),
}


@dataclass(frozen=True, slots=True)
class StashApplyRecord:
    """What a conflicting stash apply touched, so that aborting it can undo exactly that."""

    stash: str  # the stash commit applied (still in the stash list: a conflict keeps it)
    head: str  # HEAD when it was applied
    paths: tuple[str, ...]  # tracked paths the stash changes (all clean before the apply)
    untracked: Mapping[str, str] = field(default_factory=dict)  # restored file -> its blob
    created_dirs: tuple[str, ...] = ()  # folders that did not exist before the apply


@dataclass(frozen=True, slots=True)
class HunkSpan:
    """Where one hunk is in a list of lines: the indexes of its marker lines."""

    start: int
    base_at: int | None
    sep: int
    end: int


# -- reading ----------------------------------------------------------------------------------


def read_conflicts(spec: RepoSpec, *, timeout: float) -> ConflictState:
    """The operation in progress and the unmerged files, with a resolved/total count.

    Two git calls when there are conflicts (`ls-files -u`, `check-attr`), one otherwise.
    Keeps the record of the conflict's files in the git dir up to date (see the module doc).
    """
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return ConflictState(error=repo)
    operation = read_git_dir_state(repo.git_dir).operation
    entries = _unmerged(repo, (), timeout)
    if isinstance(entries, str):
        return ConflictState(operation=operation, error=entries)
    record = _updated_record(repo.git_dir, operation, [e.path for e in entries])
    stash = record.get("stash") if record else None
    unmerged = {e.path for e in entries}
    resolved = sorted(set(record["conflicted"]) - unmerged) if record else []
    return ConflictState(
        operation=operation,
        files=tuple(entries),
        resolved_paths=tuple(resolved),
        stash=stash["sha"] if isinstance(stash, dict) else None,
    )


def conflict_hunks(spec: RepoSpec, path: str, *, timeout: float) -> ConflictFile:
    """A conflicted text file as plain segments and hunks with ours / base / theirs lines."""
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return ConflictFile(path, None, error=repo)
    entries = _unmerged(repo, (path,), timeout)
    if isinstance(entries, str):
        return ConflictFile(path, None, error=entries)
    entry = entries[0] if entries else None
    if entry is not None and entry.binary:
        return ConflictFile(path, entry, binary=True)
    data = _read_file(repo, path)
    if isinstance(data, str):
        return ConflictFile(path, entry, error=data)
    fingerprint = hashlib.sha256(data).hexdigest()
    if b"\0" in data[:_BINARY_PROBE]:
        return ConflictFile(path, entry, binary=True, fingerprint=fingerprint)
    size = _marker_size(repo, path, _left(deadline))
    lines = split_lines(data)
    raw = find_hunks(lines, size)
    bases: list[tuple[bytes, ...] | None] = [_own_base(lines, h) for h in raw]
    computed = False
    if entry is not None and set(entry.stages) == {1, 2, 3} and None in bases:
        computed = _fill_bases(repo, entry, lines, raw, bases, size, _left(deadline))
    segments = _segments(lines, raw, bases, size)
    hunks = [s for s in segments if isinstance(s, ConflictHunk)]
    sides = _sides(repo, hunks[0], _left(deadline)) if hunks else Sides()
    return ConflictFile(
        path,
        entry,
        tuple(segments),
        ours_label=sides.ours_label,
        theirs_label=sides.theirs_label,
        ours_role=sides.ours_role,
        theirs_role=sides.theirs_role,
        fingerprint=fingerprint,
        base_computed=computed,
    )


@dataclass(frozen=True, slots=True)
class Sides:
    """Who "ours" and "theirs" are, in words (see ConflictFile)."""

    ours_role: str = "ours"
    ours_label: str = "ours"
    theirs_role: str = "theirs"
    theirs_label: str = "theirs"


STASH_MARKERS = ("Updated upstream", "Stashed changes")  # the labels of `git stash apply`


def _sides(repo: RepoPaths, hunk: ConflictHunk, timeout: float) -> Sides:
    """The sides of a conflict as a user thinks of them, from the markers' labels and the
    operation under way."""
    if (hunk.ours_label, hunk.theirs_label) == STASH_MARKERS:
        return Sides("your working tree", "", "the stash", "")
    if any((repo.git_dir / name).is_dir() for name in ("rebase-merge", "rebase-apply")):
        # git's ours is the upstream being rebased onto; theirs the commit being replayed,
        # labelled "abc1234 (its subject)".
        sha, _, subject = hunk.theirs_label.partition(" ")
        commit = f"{sha} {subject.strip('()')}".strip()
        return Sides("upstream", _onto_name(repo, timeout), "your commit", commit)
    return Sides(
        "ours",
        _branch_label(repo.git_dir, hunk.ours_label),
        "theirs",
        _commit_label(repo.git_dir, hunk.theirs_label),
    )


def _onto_name(repo: RepoPaths, timeout: float) -> str:
    """What a rebase goes onto, by name where a branch has it (origin/main), else its id."""
    for folder in ("rebase-merge", "rebase-apply"):
        try:
            onto = (repo.git_dir / folder / "onto").read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            continue
        named = run_git(
            ["for-each-ref", f"--points-at={onto}", "--format=%(refname:short)",
             "refs/remotes", "refs/heads"],
            repo,
            timeout=timeout,
        )  # fmt: skip
        names = named.stdout.decode("utf-8", errors="replace").split() if named.ok else []
        return names[0] if names else onto[:7]
    return "HEAD"


def split_lines(data: bytes) -> list[bytes]:
    """Lines split after each LF only (a CR, form feed or U+2028 is not a line break here)."""
    lines = data.split(b"\n")
    last = lines.pop()
    out = [line + b"\n" for line in lines]
    if last:
        out.append(last)  # a last line without a newline
    return out


def find_hunks(lines: Sequence[bytes], size: int = DEFAULT_MARKER_SIZE) -> list[HunkSpan]:
    """The complete conflict regions in `lines`, found the way `git rerere` finds them."""
    hunks: list[HunkSpan] = []
    start: int | None = None
    base_at: int | None = None
    sep: int | None = None
    for i, line in enumerate(lines):
        if _is_marker(line, b"<", size):
            start, base_at, sep = i, None, None  # a second opening restarts an unclosed one
        elif start is None:
            continue
        elif sep is None and base_at is None and _is_marker(line, b"|", size):
            base_at = i
        elif sep is None and _is_marker(line, b"=", size):
            sep = i
        elif sep is not None and _is_marker(line, b">", size):
            hunks.append(HunkSpan(start, base_at, sep, i))
            start = None
    return hunks


def _is_marker(line: bytes, char: bytes, size: int) -> bool:
    # As git's rerere: exactly `size` marker characters, then a space (always, for < and >,
    # which carry a label) or any whitespace, the line end included.
    if line[:size] != char * size:
        return False
    after = line[size : size + 1]
    if char in (b"<", b">"):
        return after == b" "
    return after != b"" and after in b" \t\n\r\v\f"


def _own_base(lines: Sequence[bytes], hunk: HunkSpan) -> tuple[bytes, ...] | None:
    if hunk.base_at is None:
        return None
    return tuple(lines[hunk.base_at + 1 : hunk.sep])


def _branch_label(git_dir: Path, label: str) -> str:
    """ "HEAD" as the branch it is on, when it is on one (not in a rebase: HEAD is detached)."""
    if label != "HEAD":
        return label
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return label
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else label


_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MERGED_NAME = re.compile(r"Merge (?:remote-tracking branch|branch|tag) '(.+)'")


def _commit_label(git_dir: Path, label: str) -> str:
    """A merge of a commit id (a pull merges the sha it previewed) labels "theirs" with all 40
    hex digits: name it as the merge message does ("origin/main"), else by a short id."""
    if not _OBJECT_ID.fullmatch(label):
        return label
    try:
        first_line = (git_dir / "MERGE_MSG").read_text(encoding="utf-8", errors="replace")
    except OSError:
        first_line = ""
    named = _MERGED_NAME.match(first_line.partition("\n")[0])
    return named[1] if named else label[:7]


def _label(line: bytes, size: int) -> str:
    return _decode(line[size + 1 :].rstrip(b"\r\n"))


def _segments(
    lines: Sequence[bytes],
    raw: Sequence[HunkSpan],
    bases: Sequence[tuple[bytes, ...] | None],
    size: int,
) -> list[Segment]:
    segments: list[Segment] = []
    pos = 0
    for index, (hunk, base) in enumerate(zip(raw, bases, strict=True)):
        if hunk.start > pos:
            segments.append(TextSegment(_texts(lines[pos : hunk.start])))
        ours_end = hunk.base_at if hunk.base_at is not None else hunk.sep
        segments.append(
            ConflictHunk(
                index=index,
                line=hunk.start + 1,
                ours=_texts(lines[hunk.start + 1 : ours_end]),
                base=_texts(base) if base is not None else None,
                theirs=_texts(lines[hunk.sep + 1 : hunk.end]),
                ours_label=_label(lines[hunk.start], size),
                theirs_label=_label(lines[hunk.end], size),
                base_label=(_label(lines[hunk.base_at], size) if hunk.base_at is not None else None)
                or ("base" if base is not None else None),
            )
        )
        pos = hunk.end + 1
    if pos < len(lines):
        segments.append(TextSegment(_texts(lines[pos:])))
    return segments


def _fill_bases(
    repo: RepoPaths,
    entry: ConflictEntry,
    lines: Sequence[bytes],
    raw: Sequence[HunkSpan],
    bases: list[tuple[bytes, ...] | None],
    size: int,
    timeout: float,
) -> bool:
    """Give hunks without a base section the base git's diff3 merge of the stages shows."""
    computed = _diff3_hunks(repo, entry.path, size, timeout)
    used: set[int] = set()
    found = False
    for i, hunk in enumerate(raw):
        if bases[i] is not None:
            continue
        ours_end = hunk.base_at if hunk.base_at is not None else hunk.sep
        key = (_bare(lines[hunk.start + 1 : ours_end]), _bare(lines[hunk.sep + 1 : hunk.end]))
        for j, (ours, base, theirs) in enumerate(computed):
            if j not in used and (_bare(ours), _bare(theirs)) == key:
                used.add(j)
                bases[i] = base
                found = True
                break
    return found


def _diff3_hunks(
    repo: RepoPaths, path: str, size: int, timeout: float
) -> list[tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]]:
    """(ours, base, theirs) of each hunk of a fresh diff3 merge of the index stages."""
    deadline = time.monotonic() + timeout
    blobs = []
    for stage in (2, 1, 3):
        shown = run_git(["cat-file", "blob", f":{stage}:{path}"], repo, timeout=_left(deadline))
        if not shown.ok:
            return []
        blobs.append(shown.stdout)
    with tempfile.TemporaryDirectory(prefix="gitwatch-merge-") as tmp:
        names = []
        for name, blob in zip(("ours", "base", "theirs"), blobs, strict=True):
            (Path(tmp) / name).write_bytes(blob)
            names.append(str(Path(tmp) / name))
        args = ["merge-file", "-p", "--diff3", f"--marker-size={size}"]
        args += ["-L", "ours", "-L", "base", "-L", "theirs", *names]
        merged = run_git(args, repo, timeout=_left(deadline))
    # merge-file exits with the number of conflicts; a negative status is an error.
    if merged.timed_out or not 0 <= merged.returncode < 128:
        return []
    out = split_lines(merged.stdout)
    hunks = []
    for hunk in find_hunks(out, size):
        if hunk.base_at is not None:
            ours = tuple(out[hunk.start + 1 : hunk.base_at])
            hunks.append(
                (ours, tuple(out[hunk.base_at + 1 : hunk.sep]), tuple(out[hunk.sep + 1 : hunk.end]))
            )
    return hunks


def _bare(lines: Iterable[bytes]) -> tuple[bytes, ...]:
    # The index holds LF where the worktree may hold CRLF (autocrlf, eol attributes).
    return tuple(line.rstrip(b"\r\n") for line in lines)


# -- resolving --------------------------------------------------------------------------------


def resolve_hunks(
    spec: RepoSpec,
    path: str,
    choices: Mapping[int, Side],
    *,
    expected_fingerprint: str | None = None,
    timeout: float,
) -> ResolveOutcome:
    """Replace the chosen hunks of a worktree file by ours, theirs or both (ours then theirs).

    Hunks not chosen keep their markers; every other byte stays as it was (line endings, a
    last line without a newline). Nothing is staged: `mark_resolved` does that.

    Args:
        choices: hunk index (`ConflictHunk.index`) -> side.
        expected_fingerprint: `ConflictFile.fingerprint`; refuse if the file changed since.
    """
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return ResolveOutcome(False, repo)
    data = _read_file(repo, path)
    if isinstance(data, str):
        return ResolveOutcome(False, data, refused=(path,))
    if (
        expected_fingerprint is not None
        and hashlib.sha256(data).hexdigest() != expected_fingerprint
    ):
        return ResolveOutcome(
            False, f"{path} changed since it was read; read it again", refused=(path,)
        )
    lines = split_lines(data)
    raw = find_hunks(lines, _marker_size(repo, path, timeout))
    bad = sorted(i for i in choices if not 0 <= i < len(raw))
    if bad:
        return ResolveOutcome(
            False, f"{path} has {plural(len(raw), 'hunk')}, not hunk {bad[0]}", refused=(path,)
        )
    wrong = sorted({side for side in choices.values() if side not in ("ours", "theirs", "both")})
    if wrong:
        return ResolveOutcome(False, f"unknown side {wrong[0]!r}", refused=(path,))
    entries = _unmerged(repo, (path,), timeout, attributes=False)
    written = _write_file(repo, path, _resolved_bytes(lines, raw, choices))
    if written is not None:
        return ResolveOutcome(False, written, refused=(path,))
    left = len(raw) - len(choices)
    message = f"{path}: {plural(len(choices), 'hunk')} resolved, {left} left"
    undo = _undo(entries) if isinstance(entries, list) else None
    return ResolveOutcome(True, message, paths=(path,), remaining_hunks=left, undo=undo)


def _undo(entries: Sequence[ConflictEntry]) -> str | None:
    # `git checkout -m` re-merges from the stages git keeps (in the index's resolve-undo
    # record once staged); it needs both sides.
    if not entries or any(not {2, 3} <= set(e.stages) for e in entries):
        return None
    return "git checkout -m -- " + " ".join(shlex.quote(e.path) for e in entries)


def _resolved_bytes(
    lines: Sequence[bytes], raw: Sequence[HunkSpan], choices: Mapping[int, Side]
) -> bytes:
    out: list[bytes] = []
    pos = 0
    for index, hunk in enumerate(raw):
        side = choices.get(index)
        if side is None:
            continue
        out += lines[pos : hunk.start]
        ours_end = hunk.base_at if hunk.base_at is not None else hunk.sep
        if side in ("ours", "both"):
            out += lines[hunk.start + 1 : ours_end]
        if side in ("theirs", "both"):
            out += lines[hunk.sep + 1 : hunk.end]
        pos = hunk.end + 1
    out += lines[pos:]
    return b"".join(out)


def resolve_file(spec: RepoSpec, path: str, side: Side, *, timeout: float) -> ResolveOutcome:
    """Resolve a whole conflicted file with one side, and stage it.

    A text file with conflict markers gets every hunk replaced by that side, which keeps the
    changes git merged cleanly around them (unlike `git checkout --ours`). Anything else takes
    the side's index stage whole: a binary file, a file without markers left, a file added by
    both; where that side has no stage (it deleted the file, or never had it) the file is
    removed with `git rm`. "both" exists only for text hunks.
    """
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return ResolveOutcome(False, repo)
    if side not in ("ours", "theirs", "both"):
        return ResolveOutcome(False, f"unknown side {side!r}", refused=(path,))
    entries = _unmerged(repo, (path,), timeout)
    if isinstance(entries, str):
        return ResolveOutcome(False, entries, refused=(path,))
    if not entries:
        return ResolveOutcome(False, f"{path} is not conflicted", refused=(path,))
    done = _resolve_entry(spec, repo, entries[0], side, deadline)
    return replace(done, undo=_undo(entries)) if done.ok else done


def _resolve_entry(
    spec: RepoSpec, repo: RepoPaths, entry: ConflictEntry, side: Side, deadline: float
) -> ResolveOutcome:
    path = entry.path
    if not entry.binary and {2, 3} <= set(entry.stages):
        data = _read_file(repo, path)
        text = isinstance(data, bytes) and b"\0" not in data[:_BINARY_PROBE]
        if text and isinstance(data, bytes):
            raw = find_hunks(split_lines(data), _marker_size(repo, path, _left(deadline)))
            if raw:
                return _resolve_all_hunks(spec, repo, path, side, len(raw), deadline)
    if side == "both":
        return ResolveOutcome(
            False, f"{path}: 'both' needs a text file with conflict hunks", refused=(path,)
        )
    stage = 2 if side == "ours" else 3
    if stage in entry.stages:
        return _take_stage(repo, path, side, deadline)
    removed = _git_write(["rm", "-q", "--", _literal(path)], repo, deadline)
    if not removed.ok:
        return ResolveOutcome(False, removed.error_text, refused=(path,))
    return ResolveOutcome(True, f"{path}: removed ({side} deleted it)", paths=(path,))


def _resolve_all_hunks(
    spec: RepoSpec, repo: RepoPaths, path: str, side: Side, count: int, deadline: float
) -> ResolveOutcome:
    done = resolve_hunks(spec, path, dict.fromkeys(range(count), side), timeout=_left(deadline))
    if not done.ok:
        return done
    added = _git_write(["add", "--", _literal(path)], repo, deadline)
    if not added.ok:
        return ResolveOutcome(False, added.error_text, refused=(path,))
    return ResolveOutcome(
        True, f"{path}: {plural(count, 'hunk')} took {side}, staged", paths=(path,)
    )


def _take_stage(repo: RepoPaths, path: str, side: Side, deadline: float) -> ResolveOutcome:
    checked_out = _git_write(["checkout", f"--{side}", "--", _literal(path)], repo, deadline)
    if not checked_out.ok:
        return ResolveOutcome(False, checked_out.error_text, refused=(path,))
    added = _git_write(["add", "--", _literal(path)], repo, deadline)
    if not added.ok:
        return ResolveOutcome(False, added.error_text, refused=(path,))
    return ResolveOutcome(True, f"{path}: took {side}, staged", paths=(path,))


def mark_resolved(
    spec: RepoSpec, paths: Sequence[str], *, force: bool = False, timeout: float
) -> ResolveOutcome:
    """Stage conflicted files as resolved: `git add` a file, `git rm --cached` a missing one.

    A text file that still holds conflict markers is refused unless `force`; the others are
    staged anyway and the refused ones are listed.
    """
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return ResolveOutcome(False, repo)
    if not paths:
        return ResolveOutcome(True, "nothing to mark")
    entries = _unmerged(repo, paths, timeout)
    if isinstance(entries, str):
        return ResolveOutcome(False, entries, refused=tuple(paths))
    by_path = {entry.path: entry for entry in entries}
    refused = [p for p in paths if p not in by_path]
    to_add: list[str] = []
    to_remove: list[str] = []
    assert repo.work_tree is not None
    for path in (p for p in paths if p in by_path):
        if not os.path.lexists(repo.work_tree / path):
            to_remove.append(path)  # deleted on disk: the resolution is the deletion
        elif force or by_path[path].binary or not _has_markers(repo, path, deadline):
            to_add.append(path)
        else:
            refused.append(path)
    for args, group in ((["add"], to_add), (["rm", "-q", "--cached"], to_remove)):
        if group:
            done = _git_write([*args, "--", *map(_literal, group)], repo, deadline)
            if not done.ok:
                return ResolveOutcome(False, done.error_text, refused=tuple(paths))
    staged = tuple(to_add + to_remove)
    message = f"{plural(len(staged), 'file')} marked resolved"
    if refused:
        message += f"; left: {', '.join(refused)} (conflict markers left or not conflicted)"
    undo = _undo([by_path[p] for p in staged])
    return ResolveOutcome(not refused, message, staged, tuple(refused), undo=undo)


def _has_markers(repo: RepoPaths, path: str, deadline: float) -> bool:
    data = _read_file(repo, path)
    if isinstance(data, str) or b"\0" in data[:_BINARY_PROBE]:
        return False  # a symlink, or binary: no markers to look for
    return bool(find_hunks(split_lines(data), _marker_size(repo, path, _left(deadline))))


# -- continue and abort -----------------------------------------------------------------------


def continue_operation(spec: RepoSpec, *, timeout: float) -> OperationOutcome:
    """`git <operation> --continue` with no editor (the prepared message is used as is).

    Refuses while any file is unmerged. With no operation in progress there is nothing to
    continue: a resolved stash apply is finished as it is (its stash is kept).
    """
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return OperationOutcome(False, None, repo)
    operation = read_git_dir_state(repo.git_dir).operation
    entries = _unmerged(repo, (), timeout)
    if isinstance(entries, str):
        return OperationOutcome(False, operation, entries)
    if entries:
        names = ", ".join(e.path for e in entries[:3]) + (" ..." if len(entries) > 3 else "")
        return OperationOutcome(
            False, operation, f"{plural(len(entries), 'file')} still unmerged: {names}",
            conflicts=tuple(e.path for e in entries),
        )  # fmt: skip
    if operation is None:
        # Nothing unmerged and no operation: the conflict is over, there is nothing to run.
        record = _load_record(repo.git_dir)
        _drop_record(repo.git_dir)
        stash = record.get("stash") if record else None
        if isinstance(stash, dict):
            return OperationOutcome(True, None, f"stash applied; it is kept ({stash['sha'][:10]})")
        return OperationOutcome(True, None, "no conflict in progress; nothing to continue")
    if operation not in _RESUMABLE:
        return OperationOutcome(False, operation, f"a {operation} cannot be continued from here")
    return _run_operation(repo, operation, "--continue", deadline)


def abort_operation(spec: RepoSpec, *, timeout: float) -> OperationOutcome:
    """`git <operation> --abort`: back to the state before the operation started.

    A conflicting stash apply has no operation and git has no abort for it. If gitwatch made
    it (`stash.apply_stash` records what it touched, and refuses to apply over local changes
    to those paths), aborting restores those paths to HEAD in the index and the worktree and
    removes the untracked files it restored while they still hold the stash's content: the
    tree is as before the apply, and the stash is still in the list. An unmerged index that
    gitwatch did not make is refused: which side holds the user's own work depends on the
    command that made it, so only the user can say.
    """
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return OperationOutcome(False, None, repo)
    operation = read_git_dir_state(repo.git_dir).operation
    if operation is None:
        return _abort_stash_apply(repo, deadline)
    if operation not in _RESUMABLE:
        return OperationOutcome(False, operation, f"a {operation} cannot be aborted from here")
    return _run_operation(repo, operation, "--abort", deadline)


def _run_operation(
    repo: RepoPaths, operation: Operation, flag: str, deadline: float
) -> OperationOutcome:
    old_head = _head(repo, deadline)
    # GIT_EDITOR=true: git "edits" the prepared message and keeps it; no terminal is needed.
    env = {**git_env(background=False), "GIT_EDITOR": "true"}
    done = run_git([operation, flag], repo, timeout=_left(deadline), background=False, env=env)
    new_head = _head(repo, deadline)
    entries = _unmerged(repo, (), _left(deadline))
    conflicts = tuple(e.path for e in entries) if isinstance(entries, list) else ()
    if done.ok:
        _drop_record(repo.git_dir)
        verb = "continued" if flag == "--continue" else "aborted"
        still = read_git_dir_state(repo.git_dir).operation
        message = f"{operation} {verb}" + (f"; the {still} goes on" if still else "")
        return OperationOutcome(True, operation, message, old_head, new_head, conflicts)
    message = done.error_text
    if conflicts:
        message = f"{operation} stopped: {plural(len(conflicts), 'file')} conflicted"
    return OperationOutcome(False, operation, message, old_head, new_head, conflicts)


def _abort_stash_apply(repo: RepoPaths, deadline: float) -> OperationOutcome:
    record = _load_record(repo.git_dir)
    stash = record.get("stash") if record else None
    if not isinstance(stash, dict):
        entries = _unmerged(repo, (), _left(deadline))
        if entries == []:
            return OperationOutcome(False, None, "no conflict in progress; nothing to abort")
        return OperationOutcome(
            False, None,
            "no merge, rebase, cherry-pick or revert in progress, and no stash apply made by "
            "gitwatch: resolve the files one by one (nothing was changed)",
        )  # fmt: skip
    head = _head(repo, deadline)
    if head != stash["head"]:
        return OperationOutcome(
            False, None, "HEAD moved since the stash was applied; nothing was changed", head, head
        )
    entries = _unmerged(repo, (), _left(deadline))
    if isinstance(entries, str):
        return OperationOutcome(False, None, entries, head, head)
    strangers = sorted({e.path for e in entries} - set(stash["paths"]))
    if strangers:
        message = f"{strangers[0]} is conflicted but the stash does not touch it; nothing changed"
        return OperationOutcome(False, None, message, head, head)
    restored = _restore_to_head(repo, stash["paths"], deadline)
    if restored is not None:
        return OperationOutcome(False, None, restored, head, head)
    kept = _remove_restored_untracked(repo, stash["untracked"], stash["created_dirs"], deadline)
    _drop_record(repo.git_dir)
    message = f"stash apply undone; the stash is kept ({stash['sha'][:10]})"
    if kept:
        message += (
            f"; {plural(len(kept), 'untracked file')} changed since and kept: {', '.join(kept)}"
        )
    return OperationOutcome(True, None, message, head, head)


def _restore_to_head(repo: RepoPaths, paths: Sequence[str], deadline: float) -> str | None:
    """Index and worktree of `paths` back to HEAD; paths HEAD lacks are removed from both."""
    if not paths:
        return None
    specs = [_literal(p) for p in paths]
    # Only paths git knows (in the index or HEAD): `restore` fails on any other pathspec.
    known = run_git(
        ["ls-files", "-z", "--with-tree=HEAD", "--", *specs], repo, timeout=_left(deadline)
    )
    if not known.ok:
        return known.error_text
    names = sorted({_decode(p) for p in known.stdout.split(b"\0") if p})
    if not names:
        return None
    args = ["restore", "--source=HEAD", "--staged", "--worktree", "--"]
    done = _git_write([*args, *map(_literal, names)], repo, deadline)
    return None if done.ok else done.error_text


def _remove_restored_untracked(
    repo: RepoPaths, untracked: Mapping[str, str], created_dirs: Sequence[str], deadline: float
) -> list[str]:
    """Delete the untracked files the apply restored while they still hold the stash's bytes;
    return those that changed since (they are kept)."""
    assert repo.work_tree is not None
    present = [p for p in sorted(untracked) if os.path.lexists(repo.work_tree / p)]
    kept: list[str] = []
    if present:
        hashed = run_git(["hash-object", "--", *present], repo, timeout=_left(deadline))
        shas = hashed.stdout.decode("ascii", errors="replace").split() if hashed.ok else []
        same = dict(zip(present, shas, strict=False))
        for path in present:
            if same.get(path) == untracked[path]:
                with contextlib.suppress(OSError):
                    os.remove(repo.work_tree / path)
            else:
                kept.append(path)
    for folder in sorted(created_dirs, key=lambda d: d.count("/"), reverse=True):
        _remove_empty_tree(repo.work_tree / folder)
    return kept


def _remove_empty_tree(top: Path) -> None:
    for root, _dirs, _files in os.walk(top, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(root)  # fails, as it should, on a folder that still holds something


# -- the record in the git dir ----------------------------------------------------------------


def record_stash_apply(git_dir: Path, record: StashApplyRecord, conflicted: Sequence[str]) -> None:
    """Remember what a conflicting stash apply touched (called by `stash.apply_stash`)."""
    _save_record(
        git_dir,
        {
            "key": _conflict_key(git_dir, None),
            "conflicted": sorted(set(conflicted)),
            "stash": {
                "sha": record.stash,
                "head": record.head,
                "paths": list(record.paths),
                "untracked": dict(record.untracked),
                "created_dirs": list(record.created_dirs),
            },
        },
    )


def _updated_record(
    git_dir: Path, operation: Operation | None, unmerged: Sequence[str]
) -> dict[str, Any] | None:
    """The record of the current conflict with `unmerged` added; written back when it grew."""
    if operation is None and not unmerged:
        _drop_record(git_dir)  # no conflict any more
        return None
    key = _conflict_key(git_dir, operation)
    record = _load_record(git_dir)
    fresh = record is None or record.get("key") != key
    if record is None or fresh:
        # MERGE_MSG belongs to the operation; with none, an old one would be stale.
        listed = merge_msg_conflicts(git_dir) if operation is not None else set()
        record = {"key": key, "conflicted": sorted(listed)}
    known = set(record["conflicted"])
    if fresh or not known >= set(unmerged):
        record["conflicted"] = sorted(known | set(unmerged))
        _save_record(git_dir, record)
    return record


def _conflict_key(git_dir: Path, operation: Operation | None) -> str:
    parts: list[str] = [operation or "none"]
    for name in _KEY_FILES.get(operation or "", ()):
        with contextlib.suppress(OSError):
            parts.append(f"{name}={(git_dir / name).read_text(errors='replace').strip()}")
    return "|".join(parts)


def _load_record(git_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((git_dir / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("conflicted"), list):
        return None
    stash = data.get("stash")
    if stash is not None and not _valid_stash_record(stash):
        data["stash"] = None
    return data


def _valid_stash_record(stash: object) -> bool:
    return (
        isinstance(stash, dict)
        and isinstance(stash.get("sha"), str)
        and isinstance(stash.get("head"), str)
        and isinstance(stash.get("paths"), list)
        and isinstance(stash.get("untracked"), dict)
        and isinstance(stash.get("created_dirs"), list)
    )


def _save_record(git_dir: Path, record: Mapping[str, Any]) -> None:
    # Best effort: a git dir we cannot write to costs the resolved/total count, and the abort
    # of a stash apply (refused then, as for any conflict gitwatch did not make).
    tmp = git_dir / f"{RECORD_NAME}.{secrets.token_hex(4)}.tmp"
    try:
        # ASCII JSON: a name that is not UTF-8 (a surrogate escape) round-trips as \udcXX.
        tmp.write_text(json.dumps(record, sort_keys=True), encoding="ascii")
        os.replace(tmp, git_dir / RECORD_NAME)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _drop_record(git_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (git_dir / RECORD_NAME).unlink()


# -- git and file helpers ---------------------------------------------------------------------


def _unmerged(
    repo: RepoPaths, paths: Collection[str], timeout: float, *, attributes: bool = True
) -> list[ConflictEntry] | str:
    """Unmerged entries (of `paths`, or all), sorted by path; or git's error.

    `attributes=False` skips the binary check (one git call and a read of each file).
    """
    deadline = time.monotonic() + timeout
    args = ["ls-files", "-u", "-z", "--", *map(_literal, paths)]
    listed = run_git(args, repo, timeout=timeout)
    if not listed.ok:
        return listed.error_text
    stages: dict[str, dict[int, str]] = {}
    for record in listed.stdout.split(b"\0"):
        if not record:
            continue
        info, _, raw_path = record.partition(b"\t")
        mode, _sha, stage = info.decode("ascii", errors="replace").split()
        stages.setdefault(_decode(raw_path), {})[int(stage)] = mode
    if not stages:
        return []
    merge_attrs = _attributes(repo, sorted(stages), "merge", _left(deadline)) if attributes else {}
    entries = []
    for path, modes in sorted(stages.items()):
        code = _CODES.get(tuple(sorted(modes)), "UU")
        special = any(mode not in ("100644", "100755") for mode in modes.values())
        binary = attributes and (
            special or merge_attrs.get(path) in ("unset", "binary") or _nul_in(repo, path)
        )
        entries.append(
            ConflictEntry(path, code, CONFLICT_LABELS[code], tuple(sorted(modes)), binary)
        )
    return entries


def _attributes(repo: RepoPaths, paths: Sequence[str], name: str, timeout: float) -> dict[str, str]:
    """One attribute's value per path ("set", "unset", "unspecified" or its value)."""
    result = run_git(["check-attr", "-z", name, "--", *paths], repo, timeout=timeout)
    if not result.ok:
        return {}
    fields = result.stdout.split(b"\0")
    return {_decode(fields[i]): _decode(fields[i + 2]) for i in range(0, len(fields) - 2, 3)}


def _marker_size(repo: RepoPaths, path: str, timeout: float) -> int:
    value = _attributes(repo, [path], "conflict-marker-size", timeout).get(path, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MARKER_SIZE


def _nul_in(repo: RepoPaths, path: str) -> bool:
    assert repo.work_tree is not None
    try:
        with open(repo.work_tree / path, "rb") as file:
            return b"\0" in file.read(_BINARY_PROBE)
    except OSError:
        return False


def _safe_path(repo: RepoPaths, path: str) -> Path | str:
    """The worktree file for a repo-relative path; refuses paths that leave the worktree."""
    assert repo.work_tree is not None
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return f"not a path inside the repository: {path!r}"
    return repo.work_tree / path


def _read_file(repo: RepoPaths, path: str) -> bytes | str:
    full = _safe_path(repo, path)
    if isinstance(full, str):
        return full
    try:
        if stat.S_ISLNK(os.lstat(full).st_mode):
            return f"{path} is a symbolic link"
        return full.read_bytes()
    except FileNotFoundError:
        return f"{path} does not exist in the worktree"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"


def _write_file(repo: RepoPaths, path: str, data: bytes) -> str | None:
    """Replace a worktree file's bytes atomically, keeping its permissions; or say why not."""
    full = _safe_path(repo, path)
    if isinstance(full, str):
        return full
    tmp = full.with_name(f".gitwatch-{secrets.token_hex(6)}.tmp")
    try:
        mode = stat.S_IMODE(os.lstat(full).st_mode)
        with open(tmp, "xb") as file:
            file.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, full)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return f"cannot write {path}: {exc.strerror}"
    return None


def _git_write(args: Sequence[str], repo: RepoPaths, deadline: float) -> GitResult:
    return run_git(args, repo, timeout=_left(deadline), background=False)


def _head(repo: RepoPaths, deadline: float) -> str | None:
    result = run_git(["rev-parse", "--verify", "--quiet", "HEAD"], repo, timeout=_left(deadline))
    if not result.ok:
        return None  # an unborn branch
    return result.stdout.decode("ascii", errors="replace").strip() or None


def _literal(path: str) -> str:
    # A name with * ? [ ] is a file name here, never a glob.
    return f":(literal){path}"


def _texts(lines: Iterable[bytes]) -> tuple[str, ...]:
    return tuple(_decode(line) for line in lines)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)
