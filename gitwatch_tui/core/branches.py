"""Branches made, deleted and renamed from the switch panel, each with its way back.

Names are checked by git itself (`git check-ref-format --branch`). A delete never takes the
branch HEAD is on, and says first which commits it would drop: those no other branch, remote
branch or tag has. A branch with such commits is deleted only when asked a second time
(`drop_unmerged`); its commit and upstream are in the result, so it can be made again.
"""

from __future__ import annotations

from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.local_state import rev_parse
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import (
    BranchDeletePreview,
    BranchRefusal,
    BranchResult,
    CommitInfo,
    plural,
)
from gitwatch_tui.core.status import locate_work_tree

_MAX_DROPPED = 20  # commits listed in a delete's preview; the rest are counted
_LOG_FORMAT = "--format=%h%x00%s%x00%an%x00%at"


def create_branch(
    spec: RepoSpec, name: str, *, start: str | None = None, switch: bool = False, timeout: float
) -> BranchResult | BranchRefusal:
    """Make branch `name` at `start` (a branch, remote branch or commit; HEAD when None).

    From a remote branch (`origin/x`) the new branch tracks it. `switch` (only from HEAD, so
    no file changes) switches to it too.
    """
    repo = locate_work_tree(spec, bare="work tree")
    if isinstance(repo, str):
        return BranchRefusal("error", repo)
    refused = _refuse_name(repo, name, timeout)
    if refused is not None:
        return refused
    sha = rev_parse(repo, f"{start or 'HEAD'}^{{commit}}", timeout=timeout)
    if sha is None:
        return BranchRefusal.of("not-found", name=start or "HEAD")
    if switch:
        return _create_and_switch(repo, name, sha, timeout)
    remote = start is not None and _is_remote_branch(repo, start, timeout)
    args = ["branch", "--track" if remote else "--no-track", "--", name, start or sha]
    made = run_git(args, repo, timeout=timeout, background=False)
    if not made.ok:
        return BranchRefusal("error", made.error_text)
    tracking = f", tracking {start}" if remote else ""
    message = f"created {name} at {sha[:7]} from {start or 'HEAD'}{tracking}"
    return BranchResult("create", name, sha, message, undo=f"git branch -d -- {name}")


def _create_and_switch(
    repo: RepoPaths, name: str, sha: str, timeout: float
) -> BranchResult | BranchRefusal:
    previous = _current_branch(repo, timeout)
    args = ["switch", "--no-guess", "--quiet", f"--create={name}", sha]
    made = run_git(args, repo, timeout=timeout, background=False)
    if not made.ok and rev_parse(repo, f"refs/heads/{name}", timeout=timeout) is None:
        return BranchRefusal("error", made.error_text)
    back = f"git switch -- {previous}" if previous else f"git switch --detach {sha}"
    return BranchResult(
        "create", name, sha, f"created {name} at {sha[:7]} and switched to it",
        previous_branch=previous, previous_head=sha, switched=True,
        undo=f"{back}; git branch -d -- {name}",
    )  # fmt: skip


def preview_delete(spec: RepoSpec, name: str, *, timeout: float) -> BranchDeletePreview:
    """What deleting `name` would drop, or why it may not be deleted."""
    repo = locate_work_tree(spec, bare="work tree")
    if isinstance(repo, str):
        return BranchDeletePreview(name, "", None, False, refusal=BranchRefusal("error", repo))
    fields = _branch_fields(repo, name, timeout)
    if fields is None:
        missing = BranchRefusal.of("not-found", name=name)
        return BranchDeletePreview(name, "", None, False, refusal=missing)
    sha, head, upstream, track, worktree = fields
    preview = BranchDeletePreview(name, sha, upstream or None, track == "[gone]")
    refusal = _refuse_delete(name, head, worktree)
    if refusal is not None:
        return _with_refusal(preview, refusal)
    dropped = _dropped(repo, name, sha, timeout)
    if isinstance(dropped, str):
        return _with_refusal(preview, BranchRefusal("error", dropped))
    commits, total = dropped
    return BranchDeletePreview(name, sha, preview.upstream, preview.upstream_gone, commits, total)


def delete_branch(
    spec: RepoSpec, name: str, *, expected_sha: str, drop_unmerged: bool = False, timeout: float
) -> BranchResult | BranchRefusal:
    """Delete `name` if it is still at `expected_sha`; with commits only it has, only when
    `drop_unmerged` (the second confirm). The result says how to make it again."""
    preview = preview_delete(spec, name, timeout=timeout)
    if preview.refusal is not None:
        return preview.refusal
    if preview.sha != expected_sha:
        return BranchRefusal.of("moved", name=name, sha=preview.sha[:7])
    if not preview.merged and not drop_unmerged:
        commits = plural(preview.dropped_total, "commit")
        return BranchRefusal.of("unmerged", name=name, commits=commits)
    repo = locate_work_tree(spec, bare="work tree")
    assert isinstance(repo, RepoPaths)  # the preview found it
    upstream_config = _upstream_config(repo, name, timeout)
    deleted = run_git(["branch", "-D", "--", name], repo, timeout=timeout, background=False)
    if not deleted.ok:
        return BranchRefusal("error", deleted.error_text)
    dropped = f"; it had {plural(preview.dropped_total, 'commit')} on no other branch"
    message = f"deleted {name} (was {preview.sha[:7]}){dropped if not preview.merged else ''}"
    return BranchResult(
        "delete", name, preview.sha, message, upstream=preview.upstream,
        upstream_config=upstream_config, undo=f"git branch -- {name} {preview.sha}",
    )  # fmt: skip


def rename_branch(
    spec: RepoSpec, old: str, new: str, *, timeout: float
) -> BranchResult | BranchRefusal:
    """Rename branch `old` to `new` (its upstream and reflog go along); never over a branch."""
    repo = locate_work_tree(spec, bare="work tree")
    if isinstance(repo, str):
        return BranchRefusal("error", repo)
    sha = rev_parse(repo, f"refs/heads/{old}", timeout=timeout)
    if sha is None:
        return BranchRefusal.of("not-found", name=old)
    refused = _refuse_name(repo, new, timeout)
    if refused is not None:
        return refused
    # -m, not -M: git refuses to overwrite a branch that appeared meanwhile.
    renamed = run_git(["branch", "-m", "--", old, new], repo, timeout=timeout, background=False)
    if not renamed.ok:
        return BranchRefusal("error", renamed.error_text)
    return BranchResult(
        "rename", new, sha, f"renamed {old} to {new}", old_name=old,
        undo=f"git branch -m -- {new} {old}",
    )  # fmt: skip


def valid_branch_name(spec: RepoSpec, name: str, *, timeout: float) -> str | None:
    """Why `name` cannot be a branch name (git's words), or None when it can."""
    repo = locate_work_tree(spec, bare="work tree")
    if isinstance(repo, str):
        return repo
    refused = _refuse_name(repo, name, timeout)
    return refused.message if refused is not None else None


# --- helpers -----------------------------------------------------------------------------------


def _refuse_name(repo: RepoPaths, name: str, timeout: float) -> BranchRefusal | None:
    """Refuse a name git would not take as a branch, or one that exists."""
    checked = run_git(["check-ref-format", "--branch", name], repo, timeout=timeout)
    # check-ref-format expands @{-1} and the like: the name must be itself.
    expanded = checked.stdout.decode("utf-8", "surrogateescape").strip()
    if not checked.ok or expanded != name or name.startswith("-"):
        why = "git's check-ref-format refuses it"
        return BranchRefusal.of("invalid-name", name=name, why=why)
    if rev_parse(repo, f"refs/heads/{name}", timeout=timeout) is not None:
        return BranchRefusal.of("exists", name=name)
    return None


def _is_remote_branch(repo: RepoPaths, start: str, timeout: float) -> bool:
    return rev_parse(repo, f"refs/remotes/{start}", timeout=timeout) is not None


def _upstream_config(repo: RepoPaths, name: str, timeout: float) -> tuple[str, str] | None:
    """The branch's `branch.<name>.remote` and `.merge`, to set them again on an undo."""
    values = []
    for key in ("remote", "merge"):
        read = run_git(["config", "--get", f"branch.{name}.{key}"], repo, timeout=timeout)
        values.append(read.stdout.decode("utf-8", "surrogateescape").strip() if read.ok else "")
    return (values[0], values[1]) if all(values) else None


def _current_branch(repo: RepoPaths, timeout: float) -> str | None:
    head = run_git(["symbolic-ref", "-q", "--short", "HEAD"], repo, timeout=timeout)
    return head.stdout.decode("utf-8", "surrogateescape").strip() or None if head.ok else None


def _branch_fields(
    repo: RepoPaths, name: str, timeout: float
) -> tuple[str, str, str, str, str] | None:
    """(sha, "*" when HEAD is on it, upstream, "[gone]" or its track, worktree path)."""
    fmt = "%(objectname)%00%(HEAD)%00%(upstream:short)%00%(upstream:track)%00%(worktreepath)"
    listed = run_git(
        ["for-each-ref", f"--format={fmt}", f"refs/heads/{name}"], repo, timeout=timeout
    )
    lines = listed.stdout.decode("utf-8", "surrogateescape").splitlines() if listed.ok else []
    for line in lines:
        fields = line.split("\0")
        if len(fields) == 5:
            return fields[0], fields[1], fields[2], fields[3], fields[4]
    return None


def _refuse_delete(name: str, head: str, worktree: str) -> BranchRefusal | None:
    if head == "*":
        return BranchRefusal.of("current", name=name)
    if worktree:
        return BranchRefusal.of("worktree", name=name, where=worktree)
    return None


def _with_refusal(preview: BranchDeletePreview, refusal: BranchRefusal) -> BranchDeletePreview:
    return BranchDeletePreview(
        preview.branch, preview.sha, preview.upstream, preview.upstream_gone, refusal=refusal
    )


def _dropped(
    repo: RepoPaths, name: str, sha: str, timeout: float
) -> tuple[tuple[CommitInfo, ...], int] | str:
    """The commits only `name` has (none of the other branches, remote branches or tags)."""
    others = ["--not", f"--exclude={name}", "--branches", "--remotes", "--tags"]
    counted = run_git(["rev-list", "--count", sha, *others], repo, timeout=timeout)
    if not counted.ok:
        return counted.error_text
    total = int(counted.stdout.strip() or 0)
    if not total:
        return (), 0
    args = ["log", "-z", f"-n{_MAX_DROPPED}", _LOG_FORMAT, sha, *others, "--"]
    logged = run_git(args, repo, timeout=timeout)
    if not logged.ok:
        return logged.error_text
    fields = logged.stdout.decode("utf-8", "replace").replace("\n", "\0").split("\0")
    commits = [
        CommitInfo(fields[i], fields[i + 1], fields[i + 2], float(fields[i + 3] or 0))
        for i in range(0, len(fields) - 3, 4)
    ]
    return tuple(commits), total
