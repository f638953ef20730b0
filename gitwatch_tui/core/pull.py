"""Pull on the user's request: a preview of what comes in, then a fast-forward, rebase or merge.

Nothing here fetches: the engine fetches first, and the pull brings the branch to the upstream
commit that was previewed (`expected_upstream`), never to one the user has not seen.

What happens to uncommitted changes, by mode:

* **ff-only** moves HEAD with `git merge --ff-only --no-autostash`. Changes to files the pull
  does not touch stay exactly as they are, staged or not; git carries them over.
* **rebase** and **merge** run with git's `--autostash`: tracked changes are stashed before and
  re-applied after. A merge needs it because `git merge --abort` cannot always rebuild the
  uncommitted changes a merge started with; with the changes stashed, the tree is clean during
  the merge, and git re-applies them when the merge or rebase ends (committed, continued or
  aborted), even one left stopped on a conflict. The price: the stash is re-applied without its
  index, so a staged edit comes back unstaged (same bytes) and a file that is partly staged
  would lose its staged version: such files are refused.

Either way a pull is refused when uncommitted changes touch a file the pull changes (the user
must decide), and when an untracked or IGNORED file is where an incoming file goes (git would
silently replace an ignored one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from gitwatch_tui.core.changes import LOG_ARGS, parse_log
from gitwatch_tui.core.git import GitResult, RepoPaths, run_git
from gitwatch_tui.core.local_state import (
    LocalState,
    added_stash,
    after_move,
    count_merges,
    find_overwritten,
    forget_finished,
    head_moved,
    read_local_state,
    rev_parse,
    shown,
)
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.rebase import run_rebase
from gitwatch_tui.core.results import (
    CommitInfo,
    IncomingFile,
    PullMode,
    PullPreview,
    PullRefusal,
    PullResult,
    plural,
)
from gitwatch_tui.core.status import locate_work_tree, read_git_dir_state


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything read before a pull: the branch, both tips, the incoming files."""

    repo: RepoPaths
    local: LocalState
    branch: str
    upstream: str
    upstream_ref: str
    head: str
    target: str
    base: str
    ahead: int
    behind: int
    files: tuple[IncomingFile, ...]

    @property
    def touched(self) -> frozenset[str]:
        return frozenset(
            path for f in self.files for path in (f.path, f.orig_path) if path is not None
        )


def preview_pull(spec: RepoSpec, mode: PullMode, *, timeout: float, limit: int = 50) -> PullPreview:
    """What pulling in `mode` would bring and do, and whether it is refused. Changes nothing.

    Args:
        timeout: for each git call.
        limit: the most incoming commits listed; `incoming_total` counts them all.
    """
    plan = _read_plan(spec, timeout)
    if isinstance(plan, PullRefusal):
        return PullPreview(mode, None, None, None, None, (), 0, 0, (), (), plan)
    refusal = _refusal(plan, mode, timeout)
    incoming: tuple[CommitInfo, ...] = ()
    if plan.behind and limit > 0:
        args = (*LOG_ARGS, f"--max-count={limit}", f"{plan.head}..{plan.target}", "--")
        log = run_git(args, plan.repo, timeout=timeout)
        if not log.ok and refusal is None:
            refusal = PullRefusal("error", log.error_text)
        incoming = parse_log(log.stdout) if log.ok else ()
    return PullPreview(
        mode=mode,
        branch=plan.branch,
        upstream=plan.upstream,
        head=plan.head,
        upstream_sha=plan.target,
        incoming=incoming,
        incoming_total=plan.behind,
        outgoing_total=plan.ahead,
        files=plan.files,
        effects=_effects(plan, mode),
        refusal=refusal,
    )


def pull(
    spec: RepoSpec, mode: PullMode, *, timeout: float, expected_upstream: str | None = None
) -> PullResult | PullRefusal:
    """Bring the current branch up to its upstream in `mode`, after checking everything again.

    A merge or rebase that stops on conflicts is left in progress (the result lists them).

    Args:
        timeout: for each git call.
        expected_upstream: the upstream sha the user previewed (`PullPreview.upstream_sha`);
            refused as "stale" when the upstream has moved since.
    """
    plan = _read_plan(spec, timeout)
    if isinstance(plan, PullRefusal):
        return plan
    if expected_upstream is not None and expected_upstream != plan.target:
        return PullRefusal.of(
            "stale", upstream=plan.upstream, old=expected_upstream[:7], new=plan.target[:7]
        )
    refusal = _refusal(plan, mode, timeout)
    if refusal is not None:
        return refusal
    if mode == "ff-only":
        return _fast_forward(plan, timeout)
    if mode == "rebase":
        return _rebase(plan, timeout)
    return _merge(plan, timeout)


# --- reading -----------------------------------------------------------------------------------


def _read_plan(spec: RepoSpec, timeout: float) -> _Plan | PullRefusal:
    """The branch, its upstream and the incoming files; refused when there is nothing to read."""
    repo = locate_work_tree(spec, bare="work tree to pull into")
    if isinstance(repo, str):
        return PullRefusal("error", repo)
    local = read_local_state(repo, timeout=timeout)
    if isinstance(local, str):
        return PullRefusal("error", local)
    refusal = _state_refusal(local)
    if refusal is not None:
        return refusal
    status = local.porcelain
    if status.detached:
        return PullRefusal.of("detached")
    if status.head is None or status.branch is None:
        return PullRefusal.of("error/no-commits", branch=status.branch)
    if status.upstream is None:
        return PullRefusal.of("no-upstream", branch=status.branch)
    if status.upstream_gone:
        return PullRefusal.of("upstream-gone", upstream=status.upstream)
    refs = run_git(
        ["rev-parse", "HEAD", "@{upstream}", "--symbolic-full-name", "@{upstream}"],
        repo,
        timeout=timeout,
    )
    if not refs.ok:
        return PullRefusal("error", refs.error_text)
    head, target, upstream_ref = refs.stdout.decode("utf-8", "surrogateescape").split("\n")[:3]
    base = run_git(["merge-base", head, target], repo, timeout=timeout)
    if not base.ok:
        if base.returncode == 1:
            return PullRefusal.of("diverged/unrelated", upstream=status.upstream)
        return PullRefusal("error", base.error_text)
    merge_base = base.stdout.decode("ascii").strip()
    files = _incoming_files(repo, merge_base, target, timeout)
    if isinstance(files, str):
        return PullRefusal("error", files)
    return _Plan(
        repo=repo,
        local=local,
        branch=status.branch,
        upstream=status.upstream,
        upstream_ref=upstream_ref,
        head=head,
        target=target,
        base=merge_base,
        ahead=status.ahead or 0,
        behind=status.behind or 0,
        files=files,
    )


def _incoming_files(
    repo: RepoPaths, base: str, target: str, timeout: float
) -> tuple[IncomingFile, ...] | str:
    """The files changed from the merge base to the upstream, renames found."""
    args = ["diff-tree", "-r", "-z", "--name-status", "--find-renames", base, target]
    diff = run_git(args, repo, timeout=timeout)
    if not diff.ok:
        return diff.error_text
    fields = iter(os.fsdecode(field) for field in diff.stdout.split(b"\0"))
    files: list[IncomingFile] = []
    for status in fields:
        if not status:
            continue
        letter = status[0]
        path = next(fields, "")
        if letter in "RC":  # a score, then the source and the destination
            files.append(IncomingFile(next(fields, ""), letter, orig_path=path))
        else:
            files.append(IncomingFile(path, letter))
    return tuple(files)


# --- checks -----------------------------------------------------------------------------------


def _refusal(plan: _Plan, mode: PullMode, timeout: float) -> PullRefusal | None:
    """The first reason the pull must not happen, cheapest checks first; None when safe."""
    if plan.behind == 0:
        return PullRefusal.of("not-behind", branch=plan.branch, upstream=plan.upstream)
    return (
        _history_refusal(plan, mode, timeout)
        or _changes_refusal(plan, mode)
        or _overwrite_refusal(plan, timeout)
    )


def _state_refusal(local: LocalState) -> PullRefusal | None:
    """Refuse while a merge, rebase, ... is in progress or files are conflicted."""
    # Before anything else: a rebase in progress also detaches HEAD.
    operation = local.git_dir.operation
    if operation is not None:
        return PullRefusal.of("operation", operation=operation)
    conflicted = local.conflicted
    if conflicted:
        return PullRefusal.of(
            "conflicts", conflicted, files=plural(len(conflicted), "file"), shown=shown(conflicted)
        )
    return None


def _history_refusal(plan: _Plan, mode: PullMode, timeout: float) -> PullRefusal | None:
    """Refuse a pull that would bring back rewritten commits, or that `mode` cannot do."""
    if plan.ahead == 0:
        return None  # HEAD is all upstream's: nothing of it can be resurrected or replayed
    dropped = _dropped_by_upstream(plan, timeout)
    if dropped is not None:
        return PullRefusal.of("force-pushed", upstream=plan.upstream, dropped=dropped[:7])
    if mode == "ff-only":
        return PullRefusal.of(
            "diverged",
            ahead=plural(plan.ahead, "local commit"),
            upstream=plan.upstream,
            behind=plan.behind,
        )
    if mode == "rebase":
        # A rebase flattens local merges, silently dropping any change made in the merge itself.
        merges = count_merges(plan.repo, plan.target, plan.head, timeout=timeout)
        if isinstance(merges, str):
            return PullRefusal("error", merges)
        if merges:
            return PullRefusal.of("local-merges", merges=plural(merges, "local merge commit"))
    return None


def _dropped_by_upstream(plan: _Plan, timeout: float) -> str | None:
    """A commit of HEAD that the upstream once had and no longer has (it was rewritten).

    The fork point is the newest commit of HEAD that the remote-tracking ref ever pointed at
    (its reflog); if the upstream no longer contains it, someone rewrote published history.
    Without a reflog there is no telling, and None is returned.
    """
    fork = run_git(
        ["merge-base", "--fork-point", plan.upstream_ref, plan.head], plan.repo, timeout=timeout
    )
    if not fork.ok:
        return None
    point = fork.stdout.decode("ascii").strip()
    contained = run_git(
        ["merge-base", "--is-ancestor", point, plan.target], plan.repo, timeout=timeout
    )
    return point if contained.returncode == 1 else None


def _changes_refusal(plan: _Plan, mode: PullMode) -> PullRefusal | None:
    """Refuse when uncommitted changes meet the pull (see the module docstring)."""
    touched = sorted(set(plan.local.changed) & plan.touched)
    if touched:
        return PullRefusal.of(
            "dirty", touched, files=plural(len(touched), "file"), shown=shown(touched)
        )
    partly = plan.local.partly_staged
    if mode != "ff-only" and partly:
        return PullRefusal.of(
            "dirty/partly-staged",
            partly,
            files=plural(len(partly), "file"),
            mode=mode,
            shown=shown(partly),
        )
    return None


def _overwrite_refusal(plan: _Plan, timeout: float) -> PullRefusal | None:
    blockers = find_overwritten(plan.repo, plan.head, plan.target, timeout=timeout)
    if isinstance(blockers, str):
        return PullRefusal("error", blockers)
    if not blockers:
        return None
    return PullRefusal.of(
        "would-overwrite", blockers, files=plural(len(blockers), "file"), shown=shown(blockers)
    )


def _effects(plan: _Plan, mode: PullMode) -> tuple[str, ...]:
    """What the pull does to the branch and to local changes, one plain sentence each."""
    incoming = plural(plan.behind, "incoming commit")
    if plan.ahead == 0:
        history = f"fast-forward {plan.branch} by {incoming} to {plan.upstream}"
        if mode == "merge":
            history += " (a merge commit instead if merge.ff is false)"
    elif mode == "rebase":
        outgoing = plural(plan.ahead, "outgoing commit")
        history = f"rebase: {outgoing} replayed on top of {incoming}"
    elif mode == "merge":
        outgoing = plural(plan.ahead, "outgoing commit")
        history = f"merge: a merge commit joins {outgoing} and {incoming}"
    else:
        history = f"cannot fast-forward: {plural(plan.ahead, 'outgoing commit')}"
    changed = len(plan.local.changed)
    if changed == 0:
        local = "no uncommitted changes to tracked files"
    elif mode == "ff-only":
        local = f"{plural(changed, 'local change')}: not touched by the pull, kept as is"
    else:
        local = (
            f"{plural(changed, 'local change')}: stashed during the {mode} and re-applied "
            "after it (staged edits come back unstaged)"
        )
    return history, local, "untracked and ignored files are not touched"


# --- doing -------------------------------------------------------------------------------------


def _fast_forward(plan: _Plan, timeout: float) -> PullResult | PullRefusal:
    # --no-autostash: a user's merge.autoStash must not stash what is carried over as it is.
    args = ["merge", "--ff-only", "--no-autostash", "--no-overwrite-ignore", "--quiet"]
    merged = run_git([*args, plan.target], plan.repo, timeout=timeout, background=False)
    if not merged.ok:
        return _moved_anyway(plan, "ff-only", merged, timeout)
    return _done(plan, "ff-only", timeout)


def _rebase(plan: _Plan, timeout: float) -> PullResult | PullRefusal:
    run = run_rebase(plan.repo, plan.target, timeout=timeout)
    if run.result.ok:
        kept = added_stash(plan.repo, run.stash_before, timeout=timeout)
        return _done(plan, "rebase", timeout, stash_kept=kept)
    if not run.stopped:
        kept = added_stash(plan.repo, run.stash_before, timeout=timeout)
        return _moved_anyway(plan, "rebase", run.result, timeout, stash_kept=kept)
    return _stopped(plan, "rebase", run.result, timeout)


def _merge(plan: _Plan, timeout: float) -> PullResult | PullRefusal:
    stash_before = rev_parse(plan.repo, "refs/stash", timeout=timeout)
    # The sha, not the ref, so the commits merged are the ones checked; the message is the one
    # `git merge origin/main` writes. --no-edit and no --ff/--no-ff: the user's config decides.
    kind = "remote-tracking branch" if plan.upstream_ref.startswith("refs/remotes/") else "branch"
    message = f"Merge {kind} '{plan.upstream}'"
    args = ["merge", "--no-edit", "--autostash", "--no-overwrite-ignore", "-m", message]
    merged = run_git([*args, plan.target], plan.repo, timeout=timeout, background=False)
    if merged.ok:
        kept = added_stash(plan.repo, stash_before, timeout=timeout)
        return _done(plan, "merge", timeout, stash_kept=kept)
    in_progress = read_git_dir_state(plan.repo.git_dir).operation == "merge"
    if head_moved(plan.repo, plan.head, timeout=timeout) is not None:
        # The merge commit was made, and git was stopped after it (a post-merge hook).
        if in_progress:
            forget_finished(plan.repo, "merge", timeout=timeout)
        kept = added_stash(plan.repo, stash_before, timeout=timeout)
        return _done(plan, "merge", timeout, kept, trouble=after_move(merged))
    if not in_progress:
        return PullRefusal("error", merged.error_text)
    return _stopped(plan, "merge", merged, timeout)


def _moved_anyway(
    plan: _Plan, mode: PullMode, failed: GitResult, timeout: float, stash_kept: str | None = None
) -> PullResult | PullRefusal:
    """A git call that failed or timed out: refused if HEAD did not move, else the pull that
    happened, saying what went wrong after it (a hook that failed or outlived the timeout)."""
    if head_moved(plan.repo, plan.head, timeout=timeout) is None:
        return PullRefusal("error", failed.error_text)
    return _done(plan, mode, timeout, stash_kept, trouble=after_move(failed))


def _done(
    plan: _Plan,
    mode: PullMode,
    timeout: float,
    stash_kept: str | None = None,
    *,
    trouble: str | None = None,
) -> PullResult:
    new_head = rev_parse(plan.repo, "HEAD", timeout=timeout) or plan.target
    message = f"{plan.branch}: {plan.head[:7]}..{new_head[:7]} ({mode} from {plan.upstream})"
    if trouble:
        message += f"; {trouble}"
    if stash_kept:
        message += f"; your local changes did not re-apply cleanly and are kept in {stash_kept}"
    return PullResult(
        mode=mode,
        branch=plan.branch,
        upstream=plan.upstream,
        old_head=plan.head,
        new_head=new_head,
        stash_kept=stash_kept,
        # --keep, not --hard: it refuses rather than discard local changes. The branch's
        # reflog (`<branch>@{1}`) holds the same commit.
        undo=f"git reset --keep {plan.head}",
        message=message,
    )


def _stopped(
    plan: _Plan, operation: Literal["merge", "rebase"], result: GitResult, timeout: float
) -> PullResult:
    """A merge or rebase left in progress for the conflict panel, with its conflicted files."""
    local = read_local_state(plan.repo, timeout=timeout)
    conflicts = local.conflicted if isinstance(local, LocalState) else ()
    if conflicts:
        files = plural(len(conflicts), "conflicted file")
        message = f"{operation} stopped on {files}: {shown(conflicts)}"
    else:
        message = f"{operation} stopped: {result.error_text}"
    autostash = "MERGE_AUTOSTASH" if operation == "merge" else "rebase-merge/autostash"
    if (plan.repo.git_dir / autostash).exists():
        message += (
            f"; your local changes are set aside by git and come back when the {operation} "
            "is finished or aborted"
        )
    return PullResult(
        mode=operation,  # the mode that stops half-way is the operation it leaves
        branch=plan.branch,
        upstream=plan.upstream,
        old_head=plan.head,
        new_head=rev_parse(plan.repo, "HEAD", timeout=timeout) or plan.head,
        conflicts=conflicts,
        operation=operation,
        undo=f"git {operation} --abort",
        message=message,
    )
