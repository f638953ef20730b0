"""Automatic syncs after a fetch: a fast-forward or a rebase, refused whenever work could be lost.

git refuses to overwrite local changes and untracked files, but it silently replaces IGNORED
files and folders (a build output, a `.env`) with incoming ones. So before any sync we list the
paths it would create and refuse when any of them already exists on disk untracked or ignored.

The checks that every move of HEAD needs (the work tree now, the files in the way, the rebase
with its autostash) are public here and shared by `pull` and `switch`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from gitwatch_tui.core.details import parse_files
from gitwatch_tui.core.git import GitResult, RepoPaths, run_git
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.results import FileChange, Refusal
from gitwatch_tui.core.status import (
    GitDirState,
    PorcelainStatus,
    error_status,
    parse_porcelain_v2,
    read_git_dir_state,
    status_from,
)

RefusalReason = Literal[
    "dirty",
    "conflicts",
    "operation",
    "detached",
    "no-upstream",
    "upstream-gone",
    "branch-not-allowed",
    "not-behind",
    "diverged",
    "would-overwrite",
    "error",
]
SyncMode = Literal["ff-only", "rebase-autostash"]

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
class SyncRefusal(Refusal):
    """Why an automatic sync was not done: a machine `reason`, a human `message`, the local
    files a sync would overwrite."""

    reason: RefusalReason


@dataclass(frozen=True, slots=True)
class SyncResult:
    """A sync that happened; `stash_kept` names the stash holding changes that did not re-apply,
    `trouble` what went wrong after HEAD had moved (a hook that timed out or failed)."""

    old_head: str
    new_head: str
    mode: str
    stash_kept: str | None = None
    trouble: str | None = None


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


@dataclass(frozen=True, slots=True)
class RebaseRun:
    """What `git rebase --autostash` did; `stopped` means a rebase is left in progress."""

    result: GitResult
    stopped: bool
    stash_before: str | None  # refs/stash before the rebase, to tell whether git added one


@dataclass(frozen=True, slots=True)
class _Plan:
    repo: RepoPaths
    head: str
    # The commit checked is the commit synced to, even if a fetch moves the upstream meanwhile.
    upstream: str


def branch_allowed(branch: str | None, patterns: Sequence[str]) -> bool:
    """True when `branch` matches one of the fnmatch `patterns`; no patterns allow every branch."""
    if not patterns:
        return True
    # Case-sensitive on every platform, like git's branch names; `*` also matches `/`.
    return branch is not None and any(fnmatchcase(branch, p) for p in patterns)


def check_fast_forward(spec: RepoSpec, status: RepoStatus, *, timeout: float) -> SyncRefusal | None:
    """Why a fast-forward must not happen now, or None when it is safe. Changes nothing."""
    plan = _prepare(spec, status, "ff-only", timeout)
    return plan if isinstance(plan, SyncRefusal) else None


def fast_forward(spec: RepoSpec, status: RepoStatus, *, timeout: float) -> SyncResult | SyncRefusal:
    """Fast-forward the branch to its upstream when every precondition holds."""
    plan = _prepare(spec, status, "ff-only", timeout)
    if isinstance(plan, SyncRefusal):
        return plan
    # --no-autostash: a user's merge.autoStash must not turn a tree dirtied meanwhile into a stash.
    # --no-overwrite-ignore: should an ignored file appear after the check, git refuses too.
    merged = run_git(
        ["merge", "--ff-only", "--no-autostash", "--no-overwrite-ignore", "--quiet", plan.upstream],
        plan.repo,
        timeout=timeout,
        background=False,
    )
    if not merged.ok:
        moved = head_moved(plan.repo, plan.head, timeout=timeout)
        if moved is None:
            return SyncRefusal("error", merged.error_text)
        return SyncResult(plan.head, moved, "ff-only", trouble=after_move(merged))
    new_head = rev_parse(plan.repo, "HEAD", timeout=timeout) or plan.upstream
    return SyncResult(plan.head, new_head, "ff-only")


def rebase_autostash(
    spec: RepoSpec, status: RepoStatus, *, timeout: float
) -> SyncResult | SyncRefusal:
    """Rebase the branch onto its upstream, stashing and re-applying uncommitted changes."""
    plan = _prepare(spec, status, "rebase-autostash", timeout)
    if isinstance(plan, SyncRefusal):
        return plan
    repo = plan.repo
    run = run_rebase(repo, plan.upstream, timeout=timeout)
    if run.result.ok:
        # git stores the autostash in the stash list only when re-applying it conflicted.
        kept = added_stash(repo, run.stash_before, timeout=timeout)
        new_head = rev_parse(repo, "HEAD", timeout=timeout) or ""
        return SyncResult(plan.head, new_head, "rebase-autostash", stash_kept=kept)
    message = run.result.error_text
    moved = None if run.stopped else head_moved(repo, plan.head, timeout=timeout)
    if moved is not None:  # the rebase was done when git failed (a post-rewrite hook)
        kept = added_stash(repo, run.stash_before, timeout=timeout)
        return SyncResult(plan.head, moved, "rebase-autostash", kept, after_move(run.result))
    if run.stopped:
        # Stopped half-way (a conflict, or killed on timeout): --abort restores the branch and
        # re-applies the autostash, so the user finds exactly what they left.
        aborted = run_git(["rebase", "--abort"], repo, timeout=timeout, background=False)
        if not aborted.ok:
            return SyncRefusal(
                "error",
                f"rebase stopped and could not be aborted ({aborted.error_text}); "
                "run `git rebase --abort`",
            )
        cause = "rebase would conflict" if not run.result.timed_out else message
        message = f"{cause}; aborted, nothing changed"
    if added_stash(repo, run.stash_before, timeout=timeout):
        message += "; your uncommitted changes are kept in stash@{0}"
    return SyncRefusal("error", message)


def auto_sync(
    spec: RepoSpec, status: RepoStatus, *, timeout: float
) -> SyncResult | SyncRefusal | None:
    """Run the repo's `auto_sync` policy; None when it is "off"."""
    if spec.auto_sync == "ff-only":
        return fast_forward(spec, status, timeout=timeout)
    if spec.auto_sync == "rebase-autostash":
        return rebase_autostash(spec, status, timeout=timeout)
    return None


def _prepare(
    spec: RepoSpec, status: RepoStatus, mode: SyncMode, timeout: float
) -> _Plan | SyncRefusal:
    """Every check, on the snapshot given and then on the repo as it is now."""
    if spec.bare:
        return SyncRefusal("error", "a bare repository has no work tree to sync")
    refusal = _state_refusal(spec, status, mode)  # cheap: no git call when the snapshot says no
    if refusal is not None:
        return refusal
    repo = RepoPaths.of(spec.path, trusted=spec.trust)
    # The snapshot may be a second old; the user may have started editing since.
    fresh, partly_staged = _fresh_status(spec, repo, timeout)
    refusal = _state_refusal(spec, fresh, mode)
    if refusal is not None:
        return refusal
    if partly_staged:
        # The autostash is re-applied without its index: the staged version would be lost.
        return SyncRefusal(
            "dirty",
            f"{len(partly_staged)} file(s) partly staged; a rebase would unstage them",
            partly_staged,
        )
    refs = run_git(["rev-parse", "HEAD", "@{upstream}"], repo, timeout=timeout)
    if not refs.ok:
        return SyncRefusal("error", refs.error_text)
    head, upstream = refs.stdout.decode("ascii").split()
    if mode == "rebase-autostash" and fresh.ahead:
        # A rebase flattens local merges, silently dropping any change made in the merge itself.
        merges = count_merges(repo, upstream, head, timeout=timeout)
        if isinstance(merges, str):
            return SyncRefusal("error", merges)
        if merges:
            return SyncRefusal("diverged", "local merge commits would be flattened by a rebase")
    return _overwrite_refusal(repo, head, upstream, timeout) or _Plan(repo, head, upstream)


def _state_refusal(spec: RepoSpec, status: RepoStatus, mode: SyncMode) -> SyncRefusal | None:
    """The first precondition a status snapshot fails, or None."""
    if status.error:
        return SyncRefusal("error", status.error)
    if status.conflicted:
        return SyncRefusal("conflicts", f"{status.conflicted} conflicted file(s)")
    if status.operation:
        return SyncRefusal("operation", f"a {status.operation} is in progress")
    if mode == "ff-only" and (status.staged or status.unstaged):
        return SyncRefusal(
            "dirty", f"{status.staged} staged and {status.unstaged} unstaged change(s)"
        )
    if status.detached:
        return SyncRefusal("detached", "HEAD is detached")
    if status.upstream is None:
        return SyncRefusal("no-upstream", f"branch {status.branch} has no upstream")
    if status.upstream_gone:
        return SyncRefusal("upstream-gone", f"upstream {status.upstream} no longer exists")
    if not branch_allowed(status.branch, spec.branches):
        return SyncRefusal("branch-not-allowed", f"branch {status.branch} is not set to auto-sync")
    ahead, behind = status.ahead or 0, status.behind or 0
    if behind == 0:
        return SyncRefusal("not-behind", f"nothing new on {status.upstream}")
    if mode == "ff-only" and ahead > 0:
        return SyncRefusal(
            "diverged", f"{ahead} local commit(s) not on {status.upstream}, {behind} incoming"
        )
    return None


def _fresh_status(
    spec: RepoSpec, repo: RepoPaths, timeout: float
) -> tuple[RepoStatus, tuple[str, ...]]:
    """The repo's status now, and its files with both staged and unstaged changes."""
    local = read_local_state(repo, timeout=timeout)
    if isinstance(local, str):
        return error_status(spec, local), ()
    return status_from(spec, local.porcelain, local.git_dir), local.partly_staged


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


def _overwrite_refusal(
    repo: RepoPaths, head: str, target: str, timeout: float
) -> SyncRefusal | None:
    """Refuse when a path the sync would create exists on disk untracked or ignored."""
    blockers = find_overwritten(repo, head, target, timeout=timeout)
    if isinstance(blockers, str):
        return SyncRefusal("error", blockers)
    if not blockers:
        return None
    message = (
        f"incoming files would replace {len(blockers)} untracked or ignored: {shown(blockers)}"
    )
    return SyncRefusal("would-overwrite", message, blockers)


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
    """What is on disk where the sync would create `path`: (local path, is a folder), or None."""
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
            # A tracked file that the sync deletes makes room for the folder; anything else
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


def run_rebase(repo: RepoPaths, upstream: str, *, timeout: float) -> RebaseRun:
    """Rebase the current branch onto `upstream` (a commit), stashing uncommitted changes.

    An explicit upstream also means --no-fork-point: no local commit is dropped because the
    upstream's reflog once had it. When the rebase stops, git keeps the autostash in the
    rebase's state and re-applies it on `--continue` or `--abort`.
    """
    stash_before = rev_parse(repo, "refs/stash", timeout=timeout)
    rebased = run_git(["rebase", "--autostash", upstream], repo, timeout=timeout, background=False)
    stopped = not rebased.ok and read_git_dir_state(repo.git_dir).operation == "rebase"
    if stopped and _on_a_branch(repo):
        # While a rebase runs HEAD is detached; back on the branch, it was done and git was
        # stopped after (a post-rewrite hook): only its state files are left.
        forget_finished(repo, "rebase", timeout=timeout)
        stopped = False
    return RebaseRun(rebased, stopped, stash_before)


def forget_finished(repo: RepoPaths, operation: str, *, timeout: float) -> None:
    """Remove the state a merge or rebase left when git was stopped after it was done: HEAD,
    the index and the files stay as they are (an autostash goes to the stash list). Left in
    place, it would read as an operation in progress, and `--abort` would undo the work."""
    run_git([operation, "--quit"], repo, timeout=timeout, background=False)


def _on_a_branch(repo: RepoPaths) -> bool:
    try:
        head = (repo.git_dir / "HEAD").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return head.startswith("ref: ")


def added_stash(repo: RepoPaths, before: str | None, *, timeout: float) -> str | None:
    """`stash@{0}` when git stored a stash since refs/stash was `before` (an autostash that did
    not re-apply cleanly), else None."""
    return "stash@{0}" if rev_parse(repo, "refs/stash", timeout=timeout) != before else None
