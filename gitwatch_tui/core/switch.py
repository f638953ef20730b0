"""Branches: the list for the switch panel, a switch that never loses work, stash-and-switch.

git refuses a switch that would overwrite local changes or untracked files, but it replaces
IGNORED files silently; so the files in the way are listed before every switch (the check
auto-sync uses) and git runs with `--no-overwrite-ignore` besides. Never `--force`, never
`--discard-changes`: local changes that do not meet the switch are carried over by git.

Stash-and-switch names its stash `gitwatch: on <source> before switching to <target>`. That
message is the only record of which branch a stash belongs to: it survives restarts, needs no
state file, and plain `git stash list` shows it too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitwatch_tui.core.git import GitResult, RepoPaths, run_git
from gitwatch_tui.core.local_state import (
    LocalState,
    after_move,
    find_overwritten,
    read_local_state,
    rev_parse,
    shown,
)
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.remotes import read_remote_config
from gitwatch_tui.core.results import (
    BranchList,
    LocalBranch,
    RemoteBranch,
    StashRef,
    SwitchRefusal,
    SwitchResult,
    plural,
)
from gitwatch_tui.core.stash import apply_stash
from gitwatch_tui.core.status import locate_work_tree

# One call for every local and remote branch, newest commit first. %(upstream:track) counts
# ahead/behind in the same walk; subjects have their line breaks folded, so lines are records.
_REF_FIELDS = (
    "%(refname)",
    "%(objectname)",
    "%(HEAD)",
    "%(upstream)",
    "%(upstream:short)",
    "%(upstream:track,nobracket)",
    "%(committerdate:unix)",
    "%(symref)",
    "%(worktreepath)",
    "%(contents:subject)",
)
_REF_ARGS = (
    "for-each-ref",
    "--sort=-committerdate",
    "--format=" + "%00".join(_REF_FIELDS),
    "refs/heads",
    "refs/remotes",
)
_STASH_ARGS = (
    "log", "-g", "-z", "--ignore-missing", "--no-show-signature",
    "--format=%H%x00%gd%x00%ct%x00%gs", "refs/stash", "--",
)  # fmt: skip
_STASH_MESSAGE = "gitwatch: on {source} before switching to {target}"
# Branch names hold no ASCII space, so the two names are read back unambiguously.
_STASH_PATTERN = re.compile(
    r"gitwatch: on (?:detached HEAD [0-9a-f]+|(?P<source>[^ ]+)) "
    r"before switching to (?P<target>[^ ]+)$"
)


@dataclass(frozen=True, slots=True)
class _Target:
    branch: str  # the local branch to be on
    sha: str
    start: str | None  # full remote ref when a tracking branch is to be created


@dataclass(frozen=True, slots=True)
class _Refs:
    local: tuple[LocalBranch, ...]
    remotes: tuple[RemoteBranch, ...]
    tracked: dict[str, str]  # full upstream ref -> the first local branch tracking it


@dataclass(frozen=True, slots=True)
class _Context:
    """Everything read before a switch."""

    repo: RepoPaths
    local: LocalState
    branch: str | None
    head: str | None
    target: _Target


def list_branches(spec: RepoSpec, *, timeout: float) -> BranchList:
    """Local and remote-only branches with ahead/behind and last commit; errors are data."""
    repo = locate_work_tree(spec, bare="work tree to switch")
    if isinstance(repo, str):
        return BranchList(None, False, None, error=repo)
    refs = _read_refs(repo, timeout)
    if isinstance(refs, str):
        return BranchList(None, False, None, error=refs)
    current, detached_head = _read_head(repo.git_dir)
    remote_only = tuple(r for r in refs.remotes if _ref_of(r) not in refs.tracked)
    return BranchList(current, current is None, detached_head, refs.local, remote_only)


def switch_branch(spec: RepoSpec, name: str, *, timeout: float) -> SwitchResult | SwitchRefusal:
    """Switch to a local branch, or to a remote one through a new tracking branch.

    Args:
        name: `feature` (a local branch, or the one remote that has it), `origin/feature`.
        timeout: for each git call.
    """
    context = _prepare(spec, name, timeout)
    if isinstance(context, SwitchRefusal):
        return context
    refusal = _in_the_way_refusal(context, timeout)
    if refusal is not None:
        return refusal
    switched = _run_switch(context, timeout)
    if not switched.ok and not _landed(context):
        return SwitchRefusal("error", switched.error_text)
    return _switched(context, context.local.changed, None, timeout, failed=switched)


def stash_and_switch(
    spec: RepoSpec, target: str, *, timeout: float
) -> SwitchResult | SwitchRefusal:
    """Stash every local change, untracked files included, then switch to `target`.

    The stash message names the branch left (see the module docstring). If the switch fails,
    the stash is re-applied so the user is back where they started; the refusal says so.
    """
    context = _prepare(spec, target, timeout)
    if isinstance(context, SwitchRefusal):
        return context
    obstacles = _obstacles(context, timeout)
    if isinstance(obstacles, SwitchRefusal):
        return obstacles
    if obstacles[1]:
        return _ignored_refusal(context, obstacles[1])
    stash = _push_stash(context, timeout)
    if isinstance(stash, SwitchRefusal):
        return stash
    switched = _run_switch(context, timeout)
    if not switched.ok and not _landed(context):
        return _restore_after_failure(spec, context, stash, switched, timeout)
    return _switched(context, (), stash, timeout, failed=switched)


def stash_for_branch(spec: RepoSpec, branch: str, *, timeout: float) -> StashRef | None:
    """The newest stash that stash-and-switch made when leaving `branch`, or None."""
    repo = locate_work_tree(spec, bare="work tree to switch")
    if isinstance(repo, str):
        return None
    return _stash_left_on(repo, branch, timeout)


# --- reading -----------------------------------------------------------------------------------


def _read_refs(repo: RepoPaths, timeout: float) -> _Refs | str:
    """Every branch from one for-each-ref; remote names from the (cached) config."""
    listed = run_git(_REF_ARGS, repo, timeout=timeout)
    if not listed.ok:
        return listed.error_text
    config = read_remote_config(repo, timeout=timeout)
    remotes = config.remotes if not isinstance(config, str) else ()
    local: list[LocalBranch] = []
    remote: list[RemoteBranch] = []
    tracked: dict[str, str] = {}
    for line in listed.stdout.split(b"\n"):
        fields = line.decode("utf-8", "surrogateescape").split("\0", len(_REF_FIELDS) - 1)
        if len(fields) != len(_REF_FIELDS):
            continue
        refname, upstream, symref = fields[0], fields[3], fields[7]
        if refname.startswith("refs/heads/"):
            branch = _local_branch(fields)
            local.append(branch)
            if upstream:
                tracked.setdefault(upstream, branch.name)
        elif not symref:  # `origin/HEAD` points at a branch listed anyway
            remote.append(_remote_branch(fields, remotes))
    return _Refs(tuple(local), tuple(remote), tracked)


def _local_branch(fields: list[str]) -> LocalBranch:
    refname, sha, head, _, upstream, track, when, _, worktree, subject = fields
    ahead = behind = None
    if upstream and track != "gone":
        ahead_match = re.search(r"ahead (\d+)", track)
        behind_match = re.search(r"behind (\d+)", track)
        ahead = int(ahead_match[1]) if ahead_match else 0
        behind = int(behind_match[1]) if behind_match else 0
    return LocalBranch(
        name=refname.removeprefix("refs/heads/"),
        sha=sha,
        upstream=upstream or None,
        upstream_gone=track == "gone",
        ahead=ahead,
        behind=behind,
        time=_float(when),
        subject=subject,
        current=head == "*",
        worktree=worktree if worktree and head != "*" else None,
    )


def _remote_branch(fields: list[str], remotes: tuple[str, ...]) -> RemoteBranch:
    refname, sha, when, subject = fields[0], fields[1], fields[6], fields[9]
    name = refname.removeprefix("refs/remotes/")
    # A remote's name may hold a slash: the longest configured name that fits wins.
    fits = [r for r in remotes if name.startswith(f"{r}/")]
    remote = max(fits, key=len) if fits else name.partition("/")[0]
    return RemoteBranch(name, remote, name[len(remote) + 1 :], sha, _float(when), subject)


def _ref_of(branch: RemoteBranch) -> str:
    return f"refs/remotes/{branch.name}"


def _read_head(git_dir: Path) -> tuple[str | None, str | None]:
    """(current branch, None) or (None, detached sha), from the HEAD file without git."""
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8", errors="surrogateescape").strip()
    except OSError:
        return None, None
    if text.startswith("ref: refs/heads/"):
        return text.removeprefix("ref: refs/heads/"), None
    return None, text or None


def _resolve(refs: _Refs, name: str) -> _Target | SwitchRefusal:
    """Which local branch `name` means, and whether it must be created from a remote one."""
    name = name.removeprefix("refs/heads/").removeprefix("refs/remotes/")
    local = {branch.name: branch for branch in refs.local}
    if name in local:
        return _Target(name, local[name].sha, None)
    remote = {branch.name: branch for branch in refs.remotes}
    if name in remote:
        return _tracking_target(refs, remote[name], local)
    candidates = [branch for branch in refs.remotes if branch.branch == name]
    if len(candidates) == 1:
        return _tracking_target(refs, candidates[0], local)
    if candidates:
        names = [branch.name for branch in candidates]
        remotes = plural(len(names), "remote")
        return SwitchRefusal.of("ambiguous", branch=name, remotes=remotes, shown=shown(names))
    return SwitchRefusal.of("not-found", branch=name)


def _tracking_target(
    refs: _Refs, remote: RemoteBranch, local: dict[str, LocalBranch]
) -> _Target | SwitchRefusal:
    tracking = refs.tracked.get(_ref_of(remote))
    if tracking is not None:  # a local branch follows it already: go there
        return _Target(tracking, local[tracking].sha, None)
    if remote.branch in local:
        return SwitchRefusal.of("name-taken", branch=remote.branch, remote=remote.name)
    return _Target(remote.branch, remote.sha, _ref_of(remote))


def _stashes(repo: RepoPaths, timeout: float) -> list[StashRef]:
    """The stashes stash-and-switch made, newest first (others are skipped)."""
    listed = run_git(_STASH_ARGS, repo, timeout=timeout)
    if not listed.ok:
        return []
    fields = [field.decode("utf-8", "surrogateescape") for field in listed.stdout.split(b"\0")]
    stashes = []
    for i in range(0, len(fields) - 3, 4):
        sha, ref, when, message = fields[i : i + 4]
        match = _STASH_PATTERN.search(message)
        if match:
            stashes.append(
                StashRef(ref, sha, match["source"], match["target"], message, _float(when))
            )
    return stashes


def _stash_left_on(repo: RepoPaths, branch: str, timeout: float) -> StashRef | None:
    return next((s for s in _stashes(repo, timeout) if s.source == branch), None)


# --- checks -----------------------------------------------------------------------------------


def _prepare(spec: RepoSpec, name: str, timeout: float) -> _Context | SwitchRefusal:
    """Read the repo and the target; refuse what no switch may do now."""
    repo = locate_work_tree(spec, bare="work tree to switch")
    if isinstance(repo, str):
        return SwitchRefusal("error", repo)
    local = read_local_state(repo, timeout=timeout)
    if isinstance(local, str):
        return SwitchRefusal("error", local)
    operation = local.git_dir.operation
    if operation is not None:
        return SwitchRefusal.of("operation", operation=operation)
    if local.conflicted:
        conflicted = local.conflicted
        files = plural(len(conflicted), "file")
        return SwitchRefusal.of("conflicts", conflicted, files=files, shown=shown(conflicted))
    refs = _read_refs(repo, timeout)
    if isinstance(refs, str):
        return SwitchRefusal("error", refs)
    target = _resolve(refs, name)
    if isinstance(target, SwitchRefusal):
        return target
    status = local.porcelain
    branch = None if status.detached else status.branch
    if target.start is None and target.branch == branch:
        return SwitchRefusal.of("already-on", branch=branch)
    return _Context(repo, local, branch, status.head, target)


def _in_the_way_refusal(context: _Context, timeout: float) -> SwitchRefusal | None:
    """Refuse when local changes or untracked or ignored files meet the switch."""
    obstacles = _obstacles(context, timeout)
    if isinstance(obstacles, SwitchRefusal):
        return obstacles
    untracked, ignored = obstacles
    if ignored:
        return _ignored_refusal(context, ignored)
    changed = _changed_paths(context, timeout)
    if isinstance(changed, SwitchRefusal):
        return changed
    blocked = sorted((set(context.local.changed) & changed) | set(untracked))
    if not blocked:
        return None
    return SwitchRefusal.of(
        "would-overwrite",
        blocked,
        branch=context.target.branch,
        files=plural(len(blocked), "file"),
        shown=shown(blocked),
    )


def _ignored_refusal(context: _Context, ignored: tuple[str, ...]) -> SwitchRefusal:
    return SwitchRefusal.of(
        "ignored-in-the-way",
        ignored,
        branch=context.target.branch,
        files=plural(len(ignored), "file"),
        shown=shown(ignored),
    )


def _obstacles(
    context: _Context, timeout: float
) -> tuple[tuple[str, ...], tuple[str, ...]] | SwitchRefusal:
    """The (untracked, ignored) files where the target puts one of its own."""
    repo = context.repo
    head = context.head or _empty_tree(repo, timeout)
    found = find_overwritten(repo, head, context.target.sha, timeout=timeout)
    if isinstance(found, str):
        return SwitchRefusal("error", found)
    if not found:
        return (), ()
    specs = [f":(literal){path}" for path in found]
    args = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--", *specs]
    listed = run_git(args, repo, timeout=timeout)
    if not listed.ok:
        return SwitchRefusal("error", listed.error_text)
    ignored = {os.fsdecode(path) for path in listed.stdout.split(b"\0") if path}
    return tuple(p for p in found if p not in ignored), tuple(p for p in found if p in ignored)


def _changed_paths(context: _Context, timeout: float) -> set[str] | SwitchRefusal:
    """The paths that differ between HEAD and the target."""
    head = context.head or _empty_tree(context.repo, timeout)
    args = ["diff-tree", "-r", "-z", "--no-renames", "--name-only", head, context.target.sha]
    diff = run_git(args, context.repo, timeout=timeout)
    if not diff.ok:
        return SwitchRefusal("error", diff.error_text)
    return {os.fsdecode(path) for path in diff.stdout.split(b"\0") if path}


def _empty_tree(repo: RepoPaths, timeout: float) -> str:
    """The empty tree's name in this repo's hash (a branch without commits has only that)."""
    hashed = run_git(["hash-object", "-t", "tree", "--stdin"], repo, timeout=timeout)
    return hashed.stdout.decode("ascii").strip()


# --- doing -------------------------------------------------------------------------------------


def _run_switch(context: _Context, timeout: float) -> GitResult:
    target = context.target
    # --no-guess: only the branch resolved here, never one git guesses from a remote.
    args = ["switch", "--no-guess", "--no-overwrite-ignore", "--quiet"]
    if target.start is None:
        args += ["--", target.branch]
    else:
        args += ["--track", f"--create={target.branch}", "--", target.start]
    return run_git(args, context.repo, timeout=timeout, background=False)


def _landed(context: _Context) -> bool:
    """After a `git switch` that failed or timed out: is HEAD on the target all the same? git
    switches before it runs the post-checkout hook, which may fail or outlive the timeout."""
    return _read_head(context.repo.git_dir)[0] == context.target.branch


def _push_stash(context: _Context, timeout: float) -> StashRef | None | SwitchRefusal:
    """Stash everything but ignored files; None when there was nothing to stash."""
    repo = context.repo
    source = context.branch or f"detached HEAD {(context.head or '')[:12]}"
    message = _STASH_MESSAGE.format(source=source, target=context.target.branch)
    before = rev_parse(repo, "refs/stash", timeout=timeout)
    args = ["stash", "push", "--include-untracked", "--quiet", "-m", message]
    pushed = run_git(args, repo, timeout=timeout, background=False)
    after = rev_parse(repo, "refs/stash", timeout=timeout)
    if not pushed.ok:
        kept = f"; a stash was made: {after}" if after != before else ""
        return SwitchRefusal("error", f"stashing failed: {pushed.error_text}{kept}")
    if after == before:
        return None  # nothing to stash: ignored files only, or none at all
    made = next((s for s in _stashes(repo, timeout) if s.sha == after), None)
    return made or StashRef("stash@{0}", after or "", context.branch, context.target.branch, "", 0)


def _restore_after_failure(
    spec: RepoSpec, context: _Context, stash: StashRef | None, switched: GitResult, timeout: float
) -> SwitchRefusal:
    """The switch failed after the stash: put the changes back and say where the user is."""
    failed = f"switching to {context.target.branch} failed: {switched.error_text}"
    if stash is None:
        return SwitchRefusal("error", failed)
    outcome = apply_stash(spec, stash.sha, pop=True, timeout=timeout)
    if outcome.ok:
        return SwitchRefusal.of("error/restored", error=failed)
    return SwitchRefusal.of(
        "error/stash-kept",
        outcome.conflicts,
        error=failed,
        why=outcome.message,
        stash=f"{stash.ref} ({stash.sha[:10]})",
    )


def _switched(
    context: _Context,
    carried: tuple[str, ...],
    stash: StashRef | None,
    timeout: float,
    *,
    failed: GitResult | None = None,
) -> SwitchResult:
    """The switch done; `failed` is the `git switch` that reported a failure after switching."""
    target = context.target
    head = rev_parse(context.repo, "HEAD", timeout=timeout) or target.sha
    offer = _stash_left_on(context.repo, target.branch, timeout)
    if context.branch is not None:
        undo = f"git switch -- {context.branch}"
    else:
        undo = f"git switch --detach {context.head}"
    message = f"switched to {target.branch}"
    if target.start is not None:
        message += f" (new branch tracking {target.start.removeprefix('refs/remotes/')})"
    if failed is not None and not failed.ok:
        message += f"; {after_move(failed)}"
    if carried:
        message += f"; {plural(len(carried), 'local change')} came along"
    if stash is not None:
        message += f"; your changes are in {stash.ref} ({stash.sha[:10]})"
        undo += f"; git stash apply --index {stash.sha}"
    if offer is not None:
        message += f"; {offer.ref} holds the changes you left on {target.branch}"
    return SwitchResult(
        branch=target.branch,
        head=head,
        previous_branch=context.branch,
        previous_head=context.head,
        created_from=target.start.removeprefix("refs/remotes/") if target.start else None,
        carried=carried,
        stash=stash,
        offer_stash=offer,
        undo=undo,
        message=message,
    )


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
