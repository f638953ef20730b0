"""A work tree's local state around a move of HEAD, read the same way by every change.

Before a move: the branch, index and tracked files now (`read_local_state`), and the untracked
or ignored files the move would replace (`find_overwritten`; git silently replaces ignored
ones). After a git call that failed or timed out: whether HEAD moved anyway (`head_moved`,
`after_move`), whether git stored a stash (`added_stash`), and the state of an operation git
finished but was stopped after (`forget_finished`). Shared by autosync, pull, switch and tags.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitwatch_tui.core.changes import parse_files
from gitwatch_tui.core.git import GitResult, RepoPaths, run_git
from gitwatch_tui.core.results import FileChange
from gitwatch_tui.core.status import (
    GitDirState,
    PorcelainStatus,
    parse_porcelain_v2,
    read_git_dir_state,
)

# The tracked changes only: untracked files are never in the way of a checkout that lists its
# obstacles itself (`find_overwritten`), and finding them is the slow part of status. No renames:
# a renamed file is its old and its new path, both of which a change of HEAD may touch.
LOCAL_STATE_ARGS = (
    "status",
    "--porcelain=v2",
    "--branch",
    "-z",
    "--untracked-files=no",
    "--no-renames",
)


@dataclass(frozen=True, slots=True)
class LocalState:
    """The branch, index and tracked files of a work tree as they are now, and its git dir."""

    porcelain: PorcelainStatus
    files: tuple[FileChange, ...]
    git_dir: GitDirState

    @property
    def changed(self) -> tuple[str, ...]:
        """Paths with staged or unstaged changes, sorted."""
        return tuple(sorted({f.path for f in self.files if f.kind != "conflicted"}))

    @property
    def partly_staged(self) -> tuple[str, ...]:
        """Paths with both staged and unstaged changes: an autostash would unstage them."""
        staged = {f.path for f in self.files if f.kind == "staged"}
        return tuple(sorted({f.path for f in self.files if f.kind == "unstaged"} & staged))

    @property
    def conflicted(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.kind == "conflicted")


def read_local_state(repo: RepoPaths, *, timeout: float) -> LocalState | str:
    """The work tree's branch and tracked changes now, or git's error."""
    result = run_git(LOCAL_STATE_ARGS, repo, timeout=timeout)
    if not result.ok:
        return result.error_text
    return LocalState(
        parse_porcelain_v2(result.stdout),
        parse_files(result.stdout),
        read_git_dir_state(repo.git_dir),
    )


def find_overwritten(
    repo: RepoPaths, head: str, target: str, *, timeout: float
) -> tuple[str, ...] | str:
    """The untracked or ignored paths that moving the work tree from `head` to `target` would
    replace or delete, sorted; or git's error. `head` and `target` are commits or trees."""
    # Plumbing, --no-renames: a renamed file is a deletion plus an addition at the new path.
    args = ["diff-tree", "-r", "-z", "--no-renames", "--name-status", head, target]
    diff = run_git(args, repo, timeout=timeout)
    if not diff.ok:
        return diff.error_text
    fields = [os.fsdecode(field) for field in diff.stdout.split(b"\0")]
    changes = list(zip(fields[::2], fields[1::2], strict=False))
    added = sorted(path for kind, path in changes if kind == "A")
    deleted = {path for kind, path in changes if kind == "D"}
    assert repo.work_tree is not None
    blockers: list[str] = []
    folders: list[str] = []
    for path in added:
        obstacle = _obstacle(repo.work_tree, path, deleted)
        if obstacle is not None:
            (folders if obstacle[1] else blockers).append(obstacle[0])
    if folders:
        # A folder where a file arrives is removed with everything in it that git does not
        # track (it deletes ignored files without a word): list that, ignored files included.
        specs = [f":(literal){folder}" for folder in folders]
        others = run_git(["ls-files", "-z", "--others", "--", *specs], repo, timeout=timeout)
        if not others.ok:
            return others.error_text
        blockers += [os.fsdecode(p) for p in others.stdout.split(b"\0") if p]
    return tuple(sorted(set(blockers)))


def shown(paths: Sequence[str], most: int = 3) -> str:
    """The first few paths for a message: `a, b, c ...`."""
    return ", ".join(paths[:most]) + (" ..." if len(paths) > most else "")


def _obstacle(root: Path, path: str, deleted: set[str]) -> tuple[str, bool] | None:
    """What is on disk where the move would create `path`: (local path, is a folder), or None."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        try:
            mode = os.lstat(root / prefix).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return prefix, False  # cannot tell what is there: assume it matters
        if depth == len(parts):
            return prefix, stat.S_ISDIR(mode)
        if not stat.S_ISDIR(mode):
            # A tracked file that the move deletes makes room for the folder; anything else
            # (an untracked or ignored file, a symlink) would be replaced by it.
            return None if prefix in deleted else (prefix, False)
    return None


def head_moved(repo: RepoPaths, before: str | None, *, timeout: float) -> str | None:
    """HEAD's commit if it is no longer `before`. Read after a git call that failed or timed
    out: git moves HEAD before it runs the hooks (post-merge, post-checkout, post-rewrite), so
    a hook that fails or outlives the timeout leaves the move done."""
    head = rev_parse(repo, "HEAD", timeout=timeout)
    return head if head is not None and head != before else None


def after_move(result: GitResult) -> str:
    """What went wrong after HEAD had moved, in git's words."""
    verb = result.args[0] if result.args else ""
    what = result.error_text if result.timed_out else f"git {verb} failed: {result.error_text}"
    return f"{what} after HEAD had moved"


def rev_parse(repo: RepoPaths, rev: str, *, timeout: float) -> str | None:
    """The full object name of `rev`, or None when it does not exist."""
    result = run_git(["rev-parse", "--verify", "--quiet", rev], repo, timeout=timeout)
    if not result.ok:
        return None
    return result.stdout.decode("ascii").strip() or None


def count_merges(repo: RepoPaths, upstream: str, head: str, *, timeout: float) -> int | str:
    """How many merge commits `head` has that `upstream` has not, or git's error."""
    merges = run_git(
        ["rev-list", "--count", "--merges", f"{upstream}..{head}"], repo, timeout=timeout
    )
    if not merges.ok:
        return merges.error_text
    return int(merges.stdout.strip() or 0)


def forget_finished(repo: RepoPaths, operation: str, *, timeout: float) -> None:
    """Remove the state a merge or rebase left when git was stopped after it was done: HEAD,
    the index and the files stay as they are (an autostash goes to the stash list). Left in
    place, it would read as an operation in progress, and `--abort` would undo the work."""
    run_git([operation, "--quit"], repo, timeout=timeout, background=False)


def added_stash(repo: RepoPaths, before: str | None, *, timeout: float) -> str | None:
    """`stash@{0}` when git stored a stash since refs/stash was `before` (an autostash that did
    not re-apply cleanly), else None."""
    return "stash@{0}" if rev_parse(repo, "refs/stash", timeout=timeout) != before else None
