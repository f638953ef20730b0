"""The stash list: read it, show a stash's diff, apply / pop / drop, never losing work.

The list is one `git log -g refs/stash` with each stash's files (its first-parent diff), plus
one more log for the untracked files kept in the stashes' third parents, however many stashes
there are.

git's own `stash apply` is not all-or-nothing: it merges the tracked changes first and only
then restores the untracked files, so an untracked file in the way leaves the apply half done
(and an ignored file in the way of a tracked one is overwritten without a word). So an apply
is checked first and refused, with nothing changed, when a path the stash touches has local
changes or something untracked or ignored sits where the stash puts a file. What a
conflicting apply touched is recorded for `conflicts.abort_operation`.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitwatch_tui.core.changes import parse_files
from gitwatch_tui.core.conflicts import StashApplyRecord, record_stash_apply
from gitwatch_tui.core.git import GitResult, RepoPaths, run_git
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import (
    StashDropped,
    StashEntry,
    StashError,
    StashFile,
    StashList,
    StashOutcome,
    plural,
)
from gitwatch_tui.core.status import locate_work_tree, parse_porcelain_v2, read_git_dir_state

STASH_REF = "refs/stash"
_FORMAT = "--format=%H%x00%P%x00%ct%x00%gd%x00%gs"
_FIELDS = 5
# --diff-merges=first-parent: a stash is a merge commit; its changes are those against the
# commit it was made on. --no-renames: a user's diff.renames must not merge two entries.
_LIST_ARGS = (
    "log", "-g", "-z", "--ignore-missing", "--no-show-signature", "--no-renames",
    "--diff-merges=first-parent", "--name-status", _FORMAT, STASH_REF, "--",
)  # fmt: skip
_UNTRACKED_ARGS = (
    "log", "--no-walk=unsorted", "-z", "--no-show-signature", "--no-renames", "--root",
    "--name-status", "--format=%H",
)  # fmt: skip
_STATUS_LETTERS = frozenset(b"ACDMRTUXB")
_SELECTOR = re.compile(r"stash@\{(\d+)\}")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True, slots=True)
class _Plan:
    head: str
    paths: tuple[str, ...]  # tracked paths the stash changes
    untracked: dict[str, str]  # its untracked files -> blob
    created_dirs: tuple[str, ...]


def stash_branch(message: str) -> str | None:
    """The branch named by a stash message ("WIP on main: ..." / "On main: ..."), or None."""
    for prefix in ("WIP on ", "On "):
        if message.startswith(prefix):
            # A branch name cannot hold a colon, so the first one ends it.
            name, colon, _ = message[len(prefix) :].partition(":")
            if colon and name and name != "(no branch)":
                return name
    return None


def parse_log_changes(data: bytes, fields: int) -> list[tuple[list[str], list[tuple[str, str]]]]:
    """Commits from `git log -z --name-status --format=<fields NUL-separated>`.

    Each commit's format fields, then its changes as (status letter, path). Commit fields
    start with a full sha, never a single letter, so they cannot be read as a change.
    """
    tokens = data.split(b"\0")
    commits: list[tuple[list[str], list[tuple[str, str]]]] = []
    i = 0
    while i + fields <= len(tokens) and tokens[i]:
        header = [_decode(t) for t in tokens[i : i + fields]]
        i += fields
        changes: list[tuple[str, str]] = []
        if i < len(tokens) and tokens[i].startswith(b"\n"):
            tokens[i] = tokens[i][1:]  # the diff starts on a new line
            while i + 1 < len(tokens) and len(tokens[i]) == 1 and tokens[i][0] in _STATUS_LETTERS:
                changes.append((_decode(tokens[i]), _decode(tokens[i + 1])))
                i += 2
        commits.append((header, changes))
    return commits


def read_stashes(spec: RepoSpec, *, timeout: float) -> StashList:
    """Every stash with its files, in two git calls at most; errors are data."""
    repo = locate_work_tree(spec, bare="stashes")
    if isinstance(repo, str):
        return StashList(error=repo)
    return _read_stashes(repo, time.monotonic() + timeout)


def list_stashes(spec: RepoSpec, *, timeout: float) -> tuple[StashEntry, ...]:
    """Every stash with its files, newest first; empty when there are none or on error."""
    return read_stashes(spec, timeout=timeout).entries


def _read_stashes(repo: RepoPaths, deadline: float) -> StashList:
    listed = run_git(_LIST_ARGS, repo, timeout=_left(deadline))
    if not listed.ok:
        return StashList(error=listed.error_text)
    commits = parse_log_changes(listed.stdout, _FIELDS)
    untracked_of = {h[0]: h[1].split()[2] for h, _ in commits if len(h[1].split()) > 2}
    untracked_files: dict[str, list[tuple[str, str]]] = {}
    if untracked_of:
        shas = list(dict.fromkeys(untracked_of.values()))
        logged = run_git([*_UNTRACKED_ARGS, *shas, "--"], repo, timeout=_left(deadline))
        if not logged.ok:
            return StashList(error=logged.error_text)
        untracked_files = {h[0]: c for h, c in parse_log_changes(logged.stdout, 1)}
    entries = []
    for position, ((sha, parents, when, selector, message), changes) in enumerate(commits):
        match = _SELECTOR.fullmatch(selector)
        index = int(match[1]) if match else position
        u_sha = untracked_of.get(sha)
        files = [StashFile(path, status) for status, path in changes]
        files += [
            StashFile(p, "A", untracked=True) for _, p in untracked_files.get(u_sha or "", [])
        ]
        entries.append(
            StashEntry(
                index=index,
                ref=f"stash@{{{index}}}",
                sha=sha,
                message=message,
                branch=stash_branch(message),
                time=_float(when),
                files=tuple(files),
                base=parents.split()[0] if parents else "",
                untracked_sha=u_sha,
            )
        )
    return StashList(tuple(entries))


def stash_diff(spec: RepoSpec, ref: str, *, timeout: float) -> str | StashError:
    """The stash's patch against the commit it was made on, its untracked files included."""
    repo = locate_work_tree(spec, bare="stashes")
    if isinstance(repo, str):
        return StashError(repo)
    bad = _bad_ref(ref)
    if bad:
        return StashError(bad)
    args = ["stash", "show", "-p", "--include-untracked", "--no-ext-diff", "--no-textconv", ref]
    shown = run_git(args, repo, timeout=timeout)
    if not shown.ok:
        return StashError(shown.error_text)
    return shown.stdout.decode("utf-8", errors="replace")


def apply_stash(spec: RepoSpec, ref: str, *, pop: bool = False, timeout: float) -> StashOutcome:
    """Apply a stash (`ref` is "stash@{N}" or its sha), its staged state too when git can.

    Refuses, changing nothing, during an operation or a conflict, and when a path the stash
    touches has local changes or an untracked or ignored file is in the way. A conflict keeps
    the stash even when `pop` was asked; a clean pop drops it and says how to get it back.
    """
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec, bare="stashes")
    if isinstance(repo, str):
        return StashOutcome(False, message=repo)
    listing = _read_stashes(repo, deadline)
    if listing.error is not None:
        return StashOutcome(False, message=listing.error)
    entry = _find(listing.entries, ref)
    if isinstance(entry, str):
        return StashOutcome(False, message=entry)
    plan = _plan_apply(repo, entry, deadline)
    if isinstance(plan, StashOutcome):
        return plan
    applied, index_restored = _run_apply(repo, entry.sha, deadline)
    note = "" if index_restored else "; its staged changes could not be restaged (all unstaged)"
    if not applied.ok:
        return _failed_apply(repo, entry, plan, applied, deadline)
    if not pop:
        message = f"applied {entry.ref} ({entry.sha[:10]}); the stash is kept{note}"
        return StashOutcome(True, (), True, message, entry.ref, entry.sha, index_restored)
    dropped = drop_stash(spec, entry.ref, expected_sha=entry.sha, timeout=_left(deadline))
    if isinstance(dropped, StashError):
        message = f"applied {entry.ref}, but it could not be dropped: {dropped.message}{note}"
        return StashOutcome(True, (), True, message, entry.ref, entry.sha, index_restored)
    message = f"popped {entry.ref} ({entry.sha[:10]}){note}; to get it back: {dropped.undo}"
    return StashOutcome(
        True, (), False, message, entry.ref, entry.sha, index_restored, undo=dropped.undo
    )


def _run_apply(repo: RepoPaths, sha: str, deadline: float) -> tuple[GitResult, bool]:
    """`git stash apply --index`, or without --index when git refuses only because of it."""
    applied = _git_write(["stash", "apply", "--quiet", "--index", sha], repo, deadline)
    # git refuses --index, changing nothing, when the staged changes do not apply to HEAD.
    if applied.ok or "try without --index" not in applied.stderr.lower():
        return applied, applied.ok
    return _git_write(["stash", "apply", "--quiet", sha], repo, deadline), False


def _failed_apply(
    repo: RepoPaths, entry: StashEntry, plan: _Plan, applied: GitResult, deadline: float
) -> StashOutcome:
    listed = run_git(["ls-files", "-u", "-z"], repo, timeout=_left(deadline))
    records = listed.stdout.split(b"\0") if listed.ok else []
    conflicts = tuple(dict.fromkeys(_decode(r.partition(b"\t")[2]) for r in records if r))
    if not conflicts:
        message = f"applying {entry.ref} failed: {applied.error_text}; the stash is kept"
        return StashOutcome(False, (), True, message, entry.ref, entry.sha)
    record = StashApplyRecord(entry.sha, plan.head, plan.paths, plan.untracked, plan.created_dirs)
    record_stash_apply(repo.git_dir, record, conflicts)
    message = (
        f"applying {entry.ref} conflicts in {plural(len(conflicts), 'file')}; the stash is kept "
        f"({entry.sha[:10]})"
    )
    return StashOutcome(False, conflicts, True, message, entry.ref, entry.sha)


def _plan_apply(repo: RepoPaths, entry: StashEntry, deadline: float) -> _Plan | StashOutcome:
    """What the apply will touch, or the refusal when it could overwrite something."""

    def refuse(message: str, blocked: Iterable[str] = ()) -> StashOutcome:
        return StashOutcome(False, (), True, message, entry.ref, entry.sha, blocked=tuple(blocked))

    operation = read_git_dir_state(repo.git_dir).operation
    if operation is not None:
        return refuse(f"a {operation} is in progress; finish or abort it first")
    status = run_git(
        ["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=no", "--no-renames"],
        repo,
        timeout=_left(deadline),
    )
    if not status.ok:
        return refuse(status.error_text)
    head = parse_porcelain_v2(status.stdout).head
    changes = parse_files(status.stdout)
    if any(c.kind == "conflicted" for c in changes):
        return refuse("some files are conflicted; resolve them first")
    if head is None:
        return refuse("the branch has no commit yet")
    touched = _touched_paths(repo, entry, deadline)
    untracked = _untracked_blobs(repo, entry, deadline)
    if isinstance(touched, str) or isinstance(untracked, str):
        return refuse(touched if isinstance(touched, str) else str(untracked))
    dirty = sorted({c.path for c in changes} & set(touched))
    if dirty:
        return refuse(_listing("local changes to", dirty, "would be overwritten"), dirty)
    tracked = _tracked(repo, touched, deadline)
    if isinstance(tracked, str):
        return refuse(tracked)
    assert repo.work_tree is not None
    in_the_way = [p for p in touched if p not in tracked and _obstructed(repo.work_tree, p)]
    in_the_way += [p for p in untracked if _obstructed(repo.work_tree, p)]
    if in_the_way:
        blocked = sorted(set(in_the_way))
        return refuse(_listing("untracked or ignored", blocked, "would be overwritten"), blocked)
    created = {_first_missing_dir(repo.work_tree, p) for p in [*touched, *untracked]}
    created.discard(None)
    return _Plan(head, tuple(touched), untracked, tuple(sorted(d for d in created if d)))


def _touched_paths(repo: RepoPaths, entry: StashEntry, deadline: float) -> list[str] | str:
    """Tracked paths the stash changes: in its worktree state or in its staged state."""
    worktree = [f.path for f in entry.files if not f.untracked]
    args = ["diff-tree", "-r", "-z", "--no-renames", "--name-only", entry.base, f"{entry.sha}^2"]
    staged = run_git(args, repo, timeout=_left(deadline))
    if not staged.ok:
        return staged.error_text
    index = [_decode(p) for p in staged.stdout.split(b"\0") if p]
    return sorted(set(worktree) | set(index))


def _untracked_blobs(repo: RepoPaths, entry: StashEntry, deadline: float) -> dict[str, str] | str:
    if entry.untracked_sha is None:
        return {}
    args = ["ls-tree", "-r", "-z", "--full-tree", entry.untracked_sha]
    listed = run_git(args, repo, timeout=_left(deadline))
    if not listed.ok:
        return listed.error_text
    blobs = {}
    for record in listed.stdout.split(b"\0"):
        info, _, path = record.partition(b"\t")
        if path:
            blobs[_decode(path)] = info.split()[2].decode("ascii")
    return blobs


def _tracked(repo: RepoPaths, paths: Sequence[str], deadline: float) -> set[str] | str:
    if not paths:
        return set()
    args = ["ls-files", "-z", "--", *(f":(literal){p}" for p in paths)]
    listed = run_git(args, repo, timeout=_left(deadline))
    if not listed.ok:
        return listed.error_text
    return {_decode(p) for p in listed.stdout.split(b"\0") if p}


def _obstructed(root: Path, path: str) -> bool:
    """Something is on disk where `path` would go: the path itself, or a file for a folder."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        try:
            mode = os.lstat(root.joinpath(*parts[:depth])).st_mode
        except FileNotFoundError:
            return False
        except OSError:
            return True  # cannot tell: assume it matters
        if depth == len(parts) or not stat.S_ISDIR(mode):
            return True
    return False


def _first_missing_dir(root: Path, path: str) -> str | None:
    folders = path.split("/")[:-1]
    for depth in range(1, len(folders) + 1):
        if not os.path.lexists(root.joinpath(*folders[:depth])):
            return "/".join(folders[:depth])
    return None


def drop_stash(
    spec: RepoSpec, ref: str, *, expected_sha: str, timeout: float
) -> StashDropped | StashError:
    """Drop "stash@{N}" if it still is the stash `expected_sha` (indexes shift as stashes come
    and go); the result says how to put it back."""
    deadline = time.monotonic() + timeout
    repo = locate_work_tree(spec, bare="stashes")
    if isinstance(repo, str):
        return StashError(repo)
    if not _SELECTOR.fullmatch(ref):
        return StashError(f"not a stash reference: {ref!r} (expected stash@{{N}})")
    args = ["log", "-g", "-z", "--ignore-missing", "--format=%H%x00%gd%x00%gs", STASH_REF, "--"]
    listed = run_git(args, repo, timeout=_left(deadline))
    if not listed.ok:
        return StashError(listed.error_text)
    fields = [_decode(f) for f in listed.stdout.split(b"\0")]
    found = {fields[i + 1]: (fields[i], fields[i + 2]) for i in range(0, len(fields) - 2, 3)}
    if ref not in found:
        return StashError(f"there is no {ref}; nothing dropped")
    sha, message = found[ref]
    if not _SHA.fullmatch(expected_sha) or not sha.startswith(expected_sha.lower()):
        return StashError(
            f"{ref} is now another stash ({sha[:10]}: {message}); nothing dropped, "
            "read the list again"
        )
    dropped = _git_write(["stash", "drop", "--quiet", ref], repo, deadline)
    if not dropped.ok:
        return StashError(dropped.error_text)
    return StashDropped(ref, sha, message)


def _find(entries: Sequence[StashEntry], ref: str) -> StashEntry | str:
    bad = _bad_ref(ref)
    if bad:
        return bad
    if _SELECTOR.fullmatch(ref):
        matches = [e for e in entries if e.ref == ref]
    else:
        matches = [e for e in entries if e.sha.startswith(ref.lower())]
    if len(matches) != 1:
        return f"no stash {ref} in the stash list" if not matches else f"{ref} is ambiguous"
    return matches[0]


def _bad_ref(ref: str) -> str | None:
    # Only these two shapes reach git: nothing that could read as an option or a revision range.
    if _SELECTOR.fullmatch(ref) or _SHA.fullmatch(ref):
        return None
    return f"not a stash reference: {ref!r} (expected stash@{{N}} or a sha)"


def _listing(before: str, paths: Sequence[str], after: str) -> str:
    shown = ", ".join(paths[:3]) + (" ..." if len(paths) > 3 else "")
    return f"{before} {plural(len(paths), 'file')} {after}: {shown}; nothing changed"


def _git_write(args: Sequence[str], repo: RepoPaths, deadline: float) -> GitResult:
    return run_git(args, repo, timeout=_left(deadline), background=False)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)
