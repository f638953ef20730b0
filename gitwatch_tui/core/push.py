"""Push on the user's request: the current branch to its upstream, never forced by default.

A push is refused, with nothing sent, when it could not be a fast-forward of the remote branch
(behind or diverged: pull first), when HEAD is detached and when there is nothing to push. A
branch without an upstream is pushed with `-u` to the remote the user's config names (the
branch's pushRemote, remote.pushDefault), else the only remote, else origin; with several
remotes and none of those, the user picks. Forcing is only ever `--force-with-lease` on the
remote sha the user saw (`force_lease`), so a remote that moved since is never overwritten.

It is the user's own action: their pre-push hook runs (no `--no-verify`), as in a shell. The
git runner never lets git prompt: a remote that wants credentials fails, and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitwatch_tui.core.changes import LOG_ARGS, parse_log
from gitwatch_tui.core.git import GitResult, RepoPaths, condense_stderr, run_git
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import (
    CommitInfo,
    PushPreview,
    PushRefusal,
    PushResult,
    plural,
)
from gitwatch_tui.core.status import locate_work_tree

# The current branch and its upstream in one call; `push:remotename` is the branch's
# pushRemote or remote.pushDefault (empty for a branch without upstream otherwise).
_FIELDS = (
    "%(objectname)",
    "%(upstream)",
    "%(upstream:short)",
    "%(upstream:track,nobracket)",
    "%(upstream:remotename)",
    "%(upstream:remoteref)",
    "%(push:remotename)",
)
# What git (or ssh, or a credential helper) says when the remote wants credentials.
_AUTH_FAILURE = re.compile(
    r"terminal prompts disabled|could not read (Username|Password)|Authentication failed"
    r"|Permission denied \(|HTTP Basic: Access denied|requested URL returned error: (401|403)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The branch, its head, its upstream (if any) and where a push would go."""

    repo: RepoPaths
    branch: str
    head: str
    upstream: str | None  # short name
    upstream_sha: str | None
    gone: bool
    ahead: int
    behind: int
    remote: str | None  # the upstream's remote, else the one -u would use (None: ask)
    remote_ref: str  # the branch on the remote
    remotes: tuple[str, ...]


def preview_push(spec: RepoSpec, *, timeout: float, limit: int = 50) -> PushPreview:
    """What pushing the current branch would send, or why it would be refused. Changes nothing.

    Args:
        timeout: for each git call.
        limit: the most commits listed each way; the totals count them all.
    """
    plan = _read_plan(spec, timeout)
    if isinstance(plan, PushRefusal):
        return PushPreview(None, None, None, None, None, (), (), 0, (), 0, plan)
    outgoing, overwritten = _commits(plan, limit, timeout)
    return PushPreview(
        branch=plan.branch,
        head=plan.head,
        upstream=plan.upstream,
        upstream_sha=plan.upstream_sha,
        remote=plan.remote,
        remotes=plan.remotes,
        outgoing=outgoing,
        outgoing_total=plan.ahead,
        overwritten=overwritten,
        overwritten_total=plan.behind,
        refusal=_refusal(plan, set_upstream=False, force_lease=None),
    )


def push(
    spec: RepoSpec,
    *,
    timeout: float,
    set_upstream: str | None = None,
    force_lease: str | None = None,
) -> PushResult | PushRefusal:
    """Push the current branch, after checking everything again.

    Args:
        timeout: for each git call.
        set_upstream: for a branch without a (living) upstream: the remote to `push -u` to.
        force_lease: the remote sha the user saw and agreed to overwrite; the push is then
            `--force-with-lease` on it, refused as "stale" when the remote moved since.
    """
    plan = _read_plan(spec, timeout, remote=set_upstream)
    if isinstance(plan, PushRefusal):
        return plan
    refusal = _refusal(plan, set_upstream=set_upstream is not None, force_lease=force_lease)
    if refusal is not None:
        return refusal
    return _run_push(plan, set_upstream is not None, force_lease, timeout)


# --- reading -----------------------------------------------------------------------------------


def _read_plan(spec: RepoSpec, timeout: float, remote: str | None = None) -> _Plan | PushRefusal:
    """The branch and its upstream; `remote` (asked for -u) overrides the one chosen."""
    repo = locate_work_tree(spec, bare="branch checked out to push")
    if isinstance(repo, str):
        return PushRefusal("error", repo)
    branch = run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], repo, timeout=timeout)
    if branch.returncode == 1:
        return PushRefusal.of("detached")
    if not branch.ok:
        return PushRefusal("error", branch.error_text)
    name = branch.stdout.decode("utf-8", "surrogateescape").strip()
    refs = run_git(
        ["for-each-ref", f"--format={'%00'.join(_FIELDS)}", f"refs/heads/{name}"],
        repo,
        timeout=timeout,
    )
    remotes = run_git(["remote"], repo, timeout=timeout)
    if not refs.ok or not remotes.ok:
        return PushRefusal("error", (refs if not refs.ok else remotes).error_text)
    line = refs.stdout.decode("utf-8", "surrogateescape").strip("\n")
    if not line:
        return PushRefusal.of("error/no-commits", branch=name)
    all_remotes = tuple(remotes.stdout.decode("utf-8", "surrogateescape").split())
    return _plan_of(repo, name, line.split("\0"), all_remotes, remote, timeout)


def _plan_of(
    repo: RepoPaths,
    branch: str,
    fields: list[str],
    remotes: tuple[str, ...],
    asked: str | None,
    timeout: float,
) -> _Plan | PushRefusal:
    head, upstream_ref, upstream, track, up_remote, up_ref, push_remote = fields
    gone = bool(upstream_ref) and track == "gone"
    living = bool(upstream_ref) and not gone
    upstream_sha = None
    if living:
        sha = run_git(["rev-parse", "--verify", "--quiet", upstream_ref], repo, timeout=timeout)
        upstream_sha = sha.stdout.decode("ascii").strip() or None
    ahead = re.search(r"ahead (\d+)", track)
    behind = re.search(r"behind (\d+)", track)
    return _Plan(
        repo=repo,
        branch=branch,
        head=head,
        upstream=upstream or None,
        upstream_sha=upstream_sha,
        gone=gone,
        # Without an upstream every commit is new to the remote: "ahead" is not counted.
        ahead=int(ahead[1]) if ahead else 0,
        behind=int(behind[1]) if behind else 0,
        # A gone upstream is made again where it was, unless the user picked another remote.
        remote=(up_remote if living else asked or up_remote or _push_remote(push_remote, remotes)),
        remote_ref=up_ref or f"refs/heads/{branch}",
        remotes=remotes,
    )


def _push_remote(configured: str, remotes: tuple[str, ...]) -> str | None:
    """Where `push -u` goes: the configured push remote, the only remote, origin; else ask."""
    if configured:
        return configured
    if len(remotes) == 1:
        return remotes[0]
    return "origin" if "origin" in remotes else None


def _commits(
    plan: _Plan, limit: int, timeout: float
) -> tuple[tuple[CommitInfo, ...], tuple[CommitInfo, ...]]:
    """The commits to push and the remote's commits a force would drop, newest first."""
    lists: list[tuple[CommitInfo, ...]] = []
    for total, revisions in (
        (plan.ahead, f"{plan.upstream_sha}..{plan.head}"),
        (plan.behind, f"{plan.head}..{plan.upstream_sha}"),
    ):
        commits: tuple[CommitInfo, ...] = ()
        if total and limit > 0 and plan.upstream_sha:
            log = run_git([*LOG_ARGS, f"--max-count={limit}", revisions, "--"], plan.repo,
                          timeout=timeout)  # fmt: skip
            commits = parse_log(log.stdout) if log.ok else ()
        lists.append(commits)
    return lists[0], lists[1]


# --- checks -----------------------------------------------------------------------------------


def _refusal(plan: _Plan, *, set_upstream: bool, force_lease: str | None) -> PushRefusal | None:
    """The first reason the push must not happen; None when it may go."""
    if plan.upstream is None or plan.gone:
        return None if set_upstream else _upstream_refusal(plan)
    facts = {
        "branch": plan.branch,
        "upstream": plan.upstream,
        "ahead": plural(plan.ahead, "commit"),
        "behind": plural(plan.behind, "commit"),
        "up": str(plan.ahead),
        "down": str(plan.behind),
    }
    if force_lease is not None:
        if force_lease != plan.upstream_sha:
            return _stale(plan, force_lease, plan.upstream_sha)
        if plan.ahead and plan.behind:
            return None
    if plan.ahead and plan.behind:
        return PushRefusal.of("diverged", **facts)
    if plan.behind:
        return PushRefusal.of("behind", **facts)
    if not plan.ahead:
        return PushRefusal.of("up-to-date", **facts)
    return None


def _upstream_refusal(plan: _Plan) -> PushRefusal:
    if not plan.remotes:
        return PushRefusal("error", f"this repo has no remote to push {plan.branch} to; "
                           "add one with git remote add")  # fmt: skip
    if plan.remote is None:
        return PushRefusal.of("pick-remote", branch=plan.branch, remotes=", ".join(plan.remotes))
    key = "upstream-gone" if plan.gone else "no-upstream"
    return PushRefusal.of(key, branch=plan.branch, remote=plan.remote, upstream=plan.upstream)


def _stale(plan: _Plan, seen: str, now: str | None) -> PushRefusal:
    new = now[:7] if now else "a newer commit"
    return PushRefusal.of("stale", upstream=plan.upstream, old=seen[:7], new=new)


# --- doing -------------------------------------------------------------------------------------


def _run_push(
    plan: _Plan, set_upstream: bool, force_lease: str | None, timeout: float
) -> PushResult | PushRefusal:
    remote = plan.remote
    if remote is None:  # only when set_upstream named none and the config names none
        return _upstream_refusal(plan)
    args = ["push", "--porcelain"]
    if set_upstream:
        args.append("--set-upstream")
    if force_lease is not None:
        args.append(f"--force-with-lease={plan.remote_ref}:{force_lease}")
    args += [remote, f"refs/heads/{plan.branch}:{plan.remote_ref}"]
    pushed = run_git(args, plan.repo, timeout=timeout, background=False)
    line = _ref_line(pushed, plan.remote_ref)
    if pushed.ok and line is not None and line[0] in " +*=":
        return _pushed(plan, remote, set_upstream, forced=force_lease is not None)
    return _failure(plan, pushed, line, force_lease, timeout)


def _ref_line(pushed: GitResult, remote_ref: str) -> tuple[str, str] | None:
    """The (flag, summary) porcelain line of our ref: " " "+" "*" "=" pushed, "!" rejected."""
    for raw in pushed.stdout.decode("utf-8", "surrogateescape").splitlines():
        parts = raw.split("\t")
        if len(parts) >= 3 and parts[1].endswith(f":{remote_ref}"):
            return parts[0], parts[2]
    return None


def _failure(
    plan: _Plan,
    pushed: GitResult,
    line: tuple[str, str] | None,
    force_lease: str | None,
    timeout: float,
) -> PushRefusal:
    """Why git did not push, in the words of the refusal it amounts to."""
    if line is not None and line[0] == "!":
        summary = line[1]
        if "stale info" in summary:
            return _stale(plan, force_lease or "", None)
        if "non-fast-forward" in summary or "fetch first" in summary:
            return PushRefusal.of("behind/rejected", upstream=plan.upstream or plan.remote)
        return PushRefusal("error", f"the remote refused the push: {summary}; "
                           f"{condense_stderr(pushed.stderr)}".rstrip("; "))  # fmt: skip
    if pushed.timed_out:
        return PushRefusal("error", pushed.error_text)
    if _AUTH_FAILURE.search(pushed.stderr):
        return PushRefusal.of("auth", error=pushed.error_text)
    if line is None and _has_pre_push_hook(plan.repo, timeout):
        return PushRefusal.of("hook", output=_hook_output(pushed.stderr))
    return PushRefusal("error", pushed.error_text)


def _has_pre_push_hook(repo: RepoPaths, timeout: float) -> bool:
    """A pre-push hook is where git looks for one (`core.hooksPath` respected)."""
    found = run_git(["rev-parse", "--git-path", "hooks/pre-push"], repo, timeout=timeout)
    if not found.ok:
        return False
    path = found.stdout.decode("utf-8", "surrogateescape").strip()
    hook = (repo.work_tree / path) if repo.work_tree is not None else None
    return hook is not None and hook.is_file()


def _hook_output(stderr: str, most: int = 5) -> str:
    """The hook's own lines: git's "failed to push" and hints left out."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip()
        and not line.startswith(("hint:", "To "))
        and "failed to push some refs" not in line
    ]
    return " / ".join(lines[-most:]) or "no output"


def _pushed(plan: _Plan, remote: str, set_upstream: bool, *, forced: bool) -> PushResult:
    old = plan.upstream_sha if not set_upstream else None
    where = f"{remote}/{plan.remote_ref.removeprefix('refs/heads/')}"
    span = f"{old[:7]}..{plan.head[:7]}" if old else f"new at {plan.head[:7]}"
    message = f"{plan.branch} → {where}: {span}"
    if forced:
        message += f" (forced; {plural(plan.behind, 'remote commit')} dropped)"
    if set_upstream:
        message += f"; {plan.branch} now tracks {where}"
    # Back to the old sha (or no branch), and only if nobody pushed on top since.
    lease = f"--force-with-lease={plan.remote_ref}:{plan.head}"
    undo = f"git push {lease} {remote} {old or ''}:{plan.remote_ref}"
    return PushResult(
        branch=plan.branch,
        remote=remote,
        remote_ref=plan.remote_ref,
        old_sha=old,
        new_sha=plan.head,
        forced=forced,
        set_upstream=set_upstream,
        message=message,
        undo=undo,
    )
