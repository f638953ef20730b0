"""Automatic syncs after a fetch: a fast-forward or a rebase, refused whenever work could be lost.

git refuses to overwrite local changes and untracked files, but it silently replaces IGNORED
files and folders (a build output, a `.env`) with incoming ones. So before any sync we list the
paths it would create and refuse when any of them already exists on disk untracked or ignored.

The checks that every move of HEAD needs (the work tree now, the files in the way) are in
`local_state`, and the rebase with its autostash in `rebase`: pull, switch and tags share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import ClassVar, Literal

from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.local_state import (
    added_stash,
    after_move,
    count_merges,
    find_overwritten,
    head_moved,
    read_local_state,
    rev_parse,
    shown,
)
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.rebase import run_rebase
from gitwatch_tui.core.results import Refusal, plural
from gitwatch_tui.core.status import error_status, status_from

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


SYNC_WORDS: dict[str, tuple[str, str]] = {
    "error": ("{error}", "the next poll tries again; the log (l) has the details"),
    "error/bare": ("a bare repository has no work tree to sync", "set auto_sync: off for it"),
    "error/not-aborted": (
        "the rebase stopped and could not be aborted ({error})",
        "run `git rebase --abort` in the repo",
    ),
    "error/stopped": ("{why}; aborted, nothing changed{kept}", "pull it yourself (p) to see why"),
    "conflicts": ("{files} in conflict", "resolve them in the conflict panel (c)"),
    "operation": ("a {operation} is in progress", "finish or abort it first (c)"),
    "dirty": (
        "{staged} staged and {unstaged}",
        "commit or stash them: auto-sync fast-forwards a clean tree only",
    ),
    "dirty/partly-staged": (
        "{files} partly staged, and a rebase would unstage them",
        "stage or unstage each one whole",
    ),
    "detached": ("HEAD is on no branch", "switch to a branch (b)"),
    "no-upstream": (
        "branch {branch} tracks no remote branch",
        "set one: git branch -u REMOTE/BRANCH",
    ),
    "upstream-gone": (
        "upstream {upstream} no longer exists",
        "switch to a branch that has one (b), or set another upstream",
    ),
    "branch-not-allowed": (
        "branch {branch} is not one auto-sync may move",
        "add it to the repo's branches: in the config",
    ),
    "not-behind": ("nothing new on {upstream}", "nothing to do until there is"),
    "diverged": (
        "{ahead} not on {upstream} and {behind} incoming",
        "pull with rebase or merge (p)",
    ),
    "diverged/merges": (
        "local merge commits would be flattened by a rebase",
        "pull with merge (p) instead",
    ),
    "would-overwrite": (
        "incoming files would replace {files} that git does not track here: {shown}",
        "move them away first",
    ),
    # A tag deploy's own (core/tags.py).
    "error/no-tag": ("this repo follows no tag", "set follow_tag: in the config"),
    "error/bare-tag": (
        "a bare repository has no work tree to check a tag out in",
        "remove follow_tag: from it",
    ),
    "no-upstream/tag": (
        "no tag matching '{pattern}' is a semantic version",
        "push one, such as v1.2.3",
    ),
    "not-behind/tag": ("already at {tag}", "nothing to do until a newer tag"),
    "dirty/tag": (
        "{files} with local changes: {shown}",
        "commit or stash them: a tag deploy checks out a clean tree only",
    ),
    "detached/orphans": (
        "HEAD has {commits} on no branch or tag",
        "keep them with `git branch NAME` first",
    ),
    "would-overwrite/tag": (
        "the tag's files would replace {files} that git does not track here: {shown}",
        "move them away first",
    ),
}


@dataclass(frozen=True, slots=True)
class SyncRefusal(Refusal):
    """Why an automatic sync was not done: a machine `reason`, a human `message` (what is
    wrong, then the next step), the local files a sync would overwrite."""

    reason: RefusalReason
    WORDS: ClassVar[Mapping[str, tuple[str, str]]] = SYNC_WORDS


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
            return SyncRefusal.of("error", error=merged.error_text)
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
            return SyncRefusal.of("error/not-aborted", error=aborted.error_text)
        why = "the rebase would conflict" if not run.result.timed_out else message
        kept = added_stash(repo, run.stash_before, timeout=timeout)
        extra = "; your uncommitted changes are kept in stash@{0}" if kept else ""
        return SyncRefusal.of("error/stopped", why=why, kept=extra)
    if added_stash(repo, run.stash_before, timeout=timeout):
        message += "; your uncommitted changes are kept in stash@{0}"
    return SyncRefusal.of("error", error=message)


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
        return SyncRefusal.of("error/bare")
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
        files = plural(len(partly_staged), "file")
        return SyncRefusal.of("dirty/partly-staged", partly_staged, files=files)
    refs = run_git(["rev-parse", "HEAD", "@{upstream}"], repo, timeout=timeout)
    if not refs.ok:
        return SyncRefusal.of("error", error=refs.error_text)
    head, upstream = refs.stdout.decode("ascii").split()
    if mode == "rebase-autostash" and fresh.ahead:
        # A rebase flattens local merges, silently dropping any change made in the merge itself.
        merges = count_merges(repo, upstream, head, timeout=timeout)
        if isinstance(merges, str):
            return SyncRefusal.of("error", error=merges)
        if merges:
            return SyncRefusal.of("diverged/merges")
    return _overwrite_refusal(repo, head, upstream, timeout) or _Plan(repo, head, upstream)


def _state_refusal(spec: RepoSpec, status: RepoStatus, mode: SyncMode) -> SyncRefusal | None:
    """The first precondition a status snapshot fails, or None."""
    if status.error:
        return SyncRefusal.of("error", error=status.error)
    if status.conflicted:
        return SyncRefusal.of("conflicts", files=plural(status.conflicted, "file"))
    if status.operation:
        return SyncRefusal.of("operation", operation=status.operation)
    if mode == "ff-only" and (status.staged or status.unstaged):
        unstaged = plural(status.unstaged, "unstaged change")
        return SyncRefusal.of("dirty", staged=status.staged, unstaged=unstaged)
    if status.detached:
        return SyncRefusal.of("detached")
    if status.upstream is None:
        return SyncRefusal.of("no-upstream", branch=status.branch)
    if status.upstream_gone:
        return SyncRefusal.of("upstream-gone", upstream=status.upstream)
    if not branch_allowed(status.branch, spec.branches):
        return SyncRefusal.of("branch-not-allowed", branch=status.branch)
    ahead, behind = status.ahead or 0, status.behind or 0
    if behind == 0:
        return SyncRefusal.of("not-behind", upstream=status.upstream)
    if mode == "ff-only" and ahead > 0:
        ahead_words = plural(ahead, "local commit")
        return SyncRefusal.of(
            "diverged", ahead=ahead_words, upstream=status.upstream, behind=behind
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


def _overwrite_refusal(
    repo: RepoPaths, head: str, target: str, timeout: float
) -> SyncRefusal | None:
    """Refuse when a path the sync would create exists on disk untracked or ignored."""
    blockers = find_overwritten(repo, head, target, timeout=timeout)
    if isinstance(blockers, str):
        return SyncRefusal.of("error", error=blockers)
    if not blockers:
        return None
    files = plural(len(blockers), "file")
    return SyncRefusal.of("would-overwrite", blockers, files=files, shown=shown(blockers))
