"""Undo (`u`): going back from the last change gitwatch made to a repo.

`undo_record` turns a change's result into an `UndoRecord` right after it (under the same
lock), reading what the result does not say: the branch HEAD is on, the bytes a resolve
wrote. `preview_undo` says what going back will do, or why not: an undo is refused once the
repo has moved on from the state the change left (HEAD, the branch, the ref). `undo_change`
does it and never discards work: a branch moves back with `git reset --keep` (git refuses,
changing nothing, when a local change is in a file it would change), a switch back is a
plain `git switch` (local changes come along or it refuses), and undoing a stash apply
first stashes what is in the work tree.
"""

from __future__ import annotations

from gitwatch_tui.core.autosync import SyncResult
from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.local_state import read_local_state, rev_parse, shown
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import (
    BranchResult,
    PullResult,
    ResolveOutcome,
    StashDropped,
    StashOutcome,
    SwitchResult,
    UndoPreview,
    UndoRecord,
    UndoRefusal,
    UndoResult,
)
from gitwatch_tui.core.status import locate_work_tree

_UNDO_STASH = "gitwatch: undo of the {action} of {sha}"


# --- the record, right after a change ---------------------------------------------------------


def before_change(spec: RepoSpec, action: str, *, timeout: float) -> dict[str, str]:
    """What `undo_record` needs from before the change: for a resolve, the conflicted files'
    bytes, markers and labels as they are, kept as blobs in the repo (by path)."""
    if action != "resolve":
        return {}
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return {}
    listed = run_git(["ls-files", "-u", "-z"], repo, timeout=timeout)
    records = listed.stdout.split(b"\0") if listed.ok else []
    paths = list(dict.fromkeys(r.partition(b"\t")[2].decode("utf-8", "surrogateescape")
                               for r in records if r))  # fmt: skip
    if not paths:
        return {}
    hashed = run_git(["hash-object", "-w", "--no-filters", "--", *paths], repo, timeout=timeout)
    blobs = hashed.stdout.decode("ascii").split() if hashed.ok else []
    return dict(zip(paths, blobs, strict=False)) if len(blobs) == len(paths) else {}


def changed_anything(result: object) -> bool:
    """Did the change that gave `result` run (not a refusal, not one that failed at once)?
    One that stopped on conflicts did: it left an operation in progress."""
    if isinstance(result, SyncResult):
        return True
    if isinstance(result, PullResult):
        return True  # a pull that stopped on conflicts moved things too
    return bool(getattr(result, "ok", False))


def undo_record(
    spec: RepoSpec,
    action: str,
    result: object,
    *,
    before: dict[str, str] | None = None,
    timeout: float,
) -> UndoRecord | None:
    """How to go back from the change `action` that gave `result` (`before`: what
    `before_change` read); None when it did nothing that `u` undoes (a refusal, a stop on
    conflicts, an undo)."""
    done = isinstance(result, SyncResult) or getattr(result, "ok", False)
    if not done or action == "undo":
        return None
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return None
    if isinstance(result, PullResult) or (isinstance(result, SyncResult) and action == "auto-sync"):
        return _moved_branch(repo, action, result, timeout)
    if isinstance(result, SwitchResult):
        return _switched(action, result)
    if isinstance(result, StashOutcome | StashDropped):
        return _stash_record(repo, action, result, timeout)
    if isinstance(result, ResolveOutcome):
        return _resolved(repo, action, result, before or {}, timeout)
    if isinstance(result, BranchResult):
        return _branch_record(action, result)
    return None


def _moved_branch(
    repo: RepoPaths, action: str, result: PullResult | SyncResult, timeout: float
) -> UndoRecord | None:
    if result.old_head == result.new_head:
        return None
    branch = result.branch if isinstance(result, PullResult) else _head(repo, timeout)[0]
    command = f"git reset --keep {result.old_head}"
    return UndoRecord(
        action, "reset-branch", command, branch=branch, head=result.new_head, back=result.old_head
    )


def _switched(action: str, result: SwitchResult) -> UndoRecord:
    stash = result.stash
    return UndoRecord(
        action, "switch-back", result.undo, branch=result.branch, head=result.head,
        back=result.previous_head, back_branch=result.previous_branch,
        created=result.branch if result.created_from else None,
        stash=stash.sha if stash else None, stash_message=stash.message if stash else None,
    )  # fmt: skip


def _stash_record(
    repo: RepoPaths, action: str, result: StashOutcome | StashDropped, timeout: float
) -> UndoRecord | None:
    if isinstance(result, StashDropped):
        command = result.undo
        return UndoRecord(action, "restore-stash", command, stash=result.sha,
                          stash_message=result.message)  # fmt: skip
    branch, head = _head(repo, timeout)
    if result.kept:  # an apply: the stash is still in the list
        command = "git stash push --include-untracked (what the apply brought)"
        return UndoRecord(action, "unapply-stash", command, branch=branch, head=head,
                          stash=result.sha)  # fmt: skip
    subject = run_git(["log", "-1", "--format=%s", result.sha], repo, timeout=timeout)
    message = subject.stdout.decode("utf-8", "surrogateescape").strip() if subject.ok else ""
    command = f"git stash push --include-untracked; {result.undo or ''}".rstrip("; ")
    return UndoRecord(action, "unpop-stash", command, branch=branch, head=head,
                      stash=result.sha, stash_message=message or None)  # fmt: skip


def _resolved(
    repo: RepoPaths, action: str, result: ResolveOutcome, before: dict[str, str], timeout: float
) -> UndoRecord | None:
    if not result.undo or not result.paths:
        return None
    blobs = _blobs(repo, result.paths, timeout)
    if blobs is None:
        return None
    branch, head = _head(repo, timeout)
    conflicted = tuple(before.get(path, "") for path in result.paths)
    return UndoRecord(action, "unresolve", result.undo, branch=branch, head=head,
                      paths=result.paths, blobs=blobs, conflicted=conflicted)  # fmt: skip


def _branch_record(action: str, result: BranchResult) -> UndoRecord:
    if result.action == "delete":
        remote, merge = result.upstream_config or (None, None)
        return UndoRecord(action, "recreate-branch", result.undo, branch=result.branch,
                          back=result.sha, upstream_remote=remote,
                          upstream_merge=merge)  # fmt: skip
    if result.action == "rename":
        return UndoRecord(action, "rename-back", result.undo, branch=result.branch,
                          head=result.sha, back_branch=result.old_name)  # fmt: skip
    return UndoRecord(
        action, "remove-branch", result.undo, branch=result.branch, head=result.sha,
        back=result.previous_head if result.switched else None,
        back_branch=result.previous_branch if result.switched else None,
    )  # fmt: skip


# --- what it will do, or why not ---------------------------------------------------------------


def preview_undo(spec: RepoSpec, record: UndoRecord, *, timeout: float) -> UndoPreview:
    """The steps undoing `record` takes now, or the refusal (the repo moved on, ...)."""
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return UndoPreview(record, refusal=UndoRefusal.of("error", error=repo))
    refusal = _refusal(repo, record, timeout)
    return UndoPreview(record, _steps(record), refusal)


def _steps(record: UndoRecord) -> tuple[str, ...]:
    r = record
    kind = r.kind
    if kind == "reset-branch":
        return (
            f"move {r.branch} back from {_short(r.head)} to {_short(r.back)}",
            "local changes stay; git refuses (and nothing changes) if one is in a file "
            "this changes",
        )
    if kind == "switch-back":
        to = r.back_branch or f"the commit {_short(r.back)} (detached)"
        steps = [f"switch from {r.branch} back to {to}"]
        if r.created:
            steps.append(f"delete {r.created}, which the switch made (its remote branch stays)")
        if r.stash:
            steps.append(f"re-apply the changes stashed by the switch ({_short(r.stash)})")
        return tuple(steps)
    if kind in ("unapply-stash", "unpop-stash"):
        verb = "apply" if kind == "unapply-stash" else "pop"
        steps = [
            f"undo the stash {verb}: the changes it brought are stashed first (a new stash, "
            "dropped again when it holds exactly what the stash brought)"
        ]
        if kind == "unpop-stash":
            steps.append(f"put the popped stash back ({_short(r.stash)})")
        return tuple(steps)
    if kind == "restore-stash":
        return (f"put the dropped stash back ({_short(r.stash)}: {r.stash_message})",)
    if kind == "unresolve":
        return (f"bring the conflict back in {shown(r.paths)} (markers and all)",)
    if kind == "recreate-branch":
        return (f"re-create branch {r.branch} at {_short(r.back)}",)
    if kind == "rename-back":
        return (f"rename {r.branch} back to {r.back_branch}",)
    steps = []
    if r.back is not None:
        steps.append(f"switch back to {r.back_branch or _short(r.back)}")
    steps.append(f"delete {r.branch} (at {_short(r.head)})")
    return tuple(steps)


def _refusal(repo: RepoPaths, record: UndoRecord, timeout: float) -> UndoRefusal | None:
    """Why going back is not safe now: an operation in progress, or the repo moved on."""
    local = read_local_state(repo, timeout=timeout)
    if isinstance(local, str):
        return UndoRefusal.of("error", error=local)
    operation = local.git_dir.operation
    if operation is not None and record.kind != "unresolve":
        return UndoRefusal.of("operation", operation=operation)
    why = _moved_on(repo, record, timeout)
    if why is not None:
        if why.startswith("!"):
            return UndoRefusal.of("exists", why=why[1:])
        return UndoRefusal.of("moved-on", action=record.action, why=why)
    if record.kind == "switch-back" and record.stash and (local.files or _untracked(repo, timeout)):
        why = "there are local changes, and the stash the switch made is to be re-applied"
        return UndoRefusal.of("dirty", why=why)
    return None


def _moved_on(repo: RepoPaths, record: UndoRecord, timeout: float) -> str | None:
    """How the repo differs from what the change left ("!..." when it is done already)."""
    r = record
    kind = r.kind
    branch, head = _head(repo, timeout)
    if kind in ("reset-branch", "switch-back", "unapply-stash", "unpop-stash", "unresolve"):
        if branch != r.branch:
            return f"HEAD is on {branch or 'no branch'} now, not {r.branch or 'no branch'}"
        if head != r.head:
            return f"HEAD is at {_short(head)} now, not {_short(r.head)}"
    if kind in ("restore-stash", "unpop-stash") and r.stash in _stash_shas(repo, timeout):
        return f"!the stash {_short(r.stash)} is in the stash list already"
    if kind == "switch-back":
        return _switch_back_missing(repo, r, timeout)
    if kind == "unresolve" and _blobs(repo, r.paths, timeout) != r.blobs:
        return f"{shown(r.paths)} changed since it was resolved"
    if kind == "recreate-branch" and _ref(repo, r.branch, timeout) is not None:
        return f"!a branch {r.branch} exists already"
    if kind == "rename-back":
        return _rename_moved(repo, r, timeout)
    if kind == "remove-branch":
        return _created_moved(repo, r, branch, timeout)
    return None


def _switch_back_missing(repo: RepoPaths, r: UndoRecord, timeout: float) -> str | None:
    if r.back_branch is not None and _ref(repo, r.back_branch, timeout) is None:
        return f"the branch {r.back_branch} is gone"
    if r.stash and r.stash not in _stash_shas(repo, timeout):
        return f"the stash {_short(r.stash)} the switch made is no longer in the list"
    return None


def _rename_moved(repo: RepoPaths, r: UndoRecord, timeout: float) -> str | None:
    now = _ref(repo, r.branch, timeout)
    if now != r.head:
        return f"{r.branch} is at {_short(now)} now, not {_short(r.head)}"
    if r.back_branch is not None and _ref(repo, r.back_branch, timeout) is not None:
        return f"a branch {r.back_branch} exists again"
    return None


def _created_moved(
    repo: RepoPaths, r: UndoRecord, branch: str | None, timeout: float
) -> str | None:
    now = _ref(repo, r.branch, timeout)
    if now != r.head:
        return f"{r.branch} is at {_short(now)} now, not {_short(r.head)}"
    if r.back is not None and branch != r.branch:
        return f"HEAD is on {branch or 'no branch'} now, not {r.branch}"
    return None


# --- doing it ----------------------------------------------------------------------------------


def undo_change(spec: RepoSpec, record: UndoRecord, *, timeout: float) -> UndoResult | UndoRefusal:
    """Go back from the change `record` describes, if the repo is still where it left it."""
    repo = locate_work_tree(spec)
    if isinstance(repo, str):
        return UndoRefusal.of("error", error=repo)
    refusal = _refusal(repo, record, timeout)
    if refusal is not None:
        return refusal
    kind = record.kind
    if kind == "reset-branch":
        return _reset_back(repo, record, timeout)
    if kind == "switch-back":
        return _switch_back(spec, repo, record, timeout)
    if kind in ("unapply-stash", "unpop-stash"):
        return _unapply(repo, record, timeout)
    if kind == "restore-stash":
        return _restore_stash(repo, record, timeout)
    if kind == "unresolve":
        return _unresolve(repo, record, timeout)
    if kind == "recreate-branch":
        return _recreate(repo, record, timeout)
    if kind == "rename-back":
        renamed = _write(["branch", "-m", "--", record.branch or "", record.back_branch or ""],
                         repo, timeout)  # fmt: skip
        return renamed or UndoResult(
            record, f"renamed {record.branch} back to {record.back_branch}"
        )
    return _remove_created(repo, record, timeout)


def _reset_back(repo: RepoPaths, r: UndoRecord, timeout: float) -> UndoResult | UndoRefusal:
    # Stale stat data in the index reads as a local change to --keep: refresh it first.
    run_git(["update-index", "-q", "--refresh"], repo, timeout=timeout, background=False)
    reset = run_git(["reset", "--keep", "--quiet", r.back or ""], repo, timeout=timeout,
                    background=False)  # fmt: skip
    if not reset.ok:
        if _head(repo, timeout)[1] == r.head:  # --keep changed nothing
            why = f"git reset --keep refused, for local changes: {reset.error_text}"
            return UndoRefusal.of("dirty", why=why)
        return UndoRefusal.of("error", error=reset.error_text)
    message = f"moved {r.branch} back from {_short(r.head)} to {_short(r.back)} (the {r.action})"
    return UndoResult(r, message, old_head=r.head, new_head=r.back)


def _switch_back(
    spec: RepoSpec, repo: RepoPaths, r: UndoRecord, timeout: float
) -> UndoResult | UndoRefusal:
    args = ["switch", "--no-guess", "--no-overwrite-ignore", "--quiet"]
    args += ["--", r.back_branch] if r.back_branch else ["--detach", r.back or ""]
    switched = run_git(args, repo, timeout=timeout, background=False)
    if not switched.ok and _head(repo, timeout)[1] == r.head:
        return UndoRefusal.of("dirty", why=f"git switch refused: {switched.error_text}")
    message = f"switched back to {r.back_branch or _short(r.back)}"
    if r.created:
        deleted = _write(["branch", "-D", "--", r.created], repo, timeout)
        message += f"; {r.created} kept: {deleted.message}" if deleted else f"; deleted {r.created}"
    if r.stash:
        from gitwatch_tui.core.stash import apply_stash  # with its kin, only when used

        outcome = apply_stash(spec, r.stash, pop=True, timeout=timeout)
        message += f"; {outcome.message}"
    return UndoResult(r, message, old_head=r.head, new_head=_head(repo, timeout)[1])


def _unapply(repo: RepoPaths, r: UndoRecord, timeout: float) -> UndoResult | UndoRefusal:
    before = rev_parse(repo, "refs/stash", timeout=timeout)
    what = "apply" if r.kind == "unapply-stash" else "pop"
    message = _UNDO_STASH.format(action=f"stash {what}", sha=_short(r.stash))
    args = ["stash", "push", "--include-untracked", "--quiet", "-m", message]
    pushed = run_git(args, repo, timeout=timeout, background=False)
    made = rev_parse(repo, "refs/stash", timeout=timeout)
    if not pushed.ok:
        return UndoRefusal.of("error", error=f"stashing failed: {pushed.error_text}")
    kept = made if made != before else None
    said = "the work tree had no changes"
    if kept is not None and _same_changes(repo, kept, r.stash or "", timeout):
        _write(["stash", "drop", "--quiet", "stash@{0}"], repo, timeout)
        kept, said = None, "the work tree is back as it was"
    elif kept is not None:
        said = f"what was in the work tree is in stash@{{0}} ({_short(kept)})"
    if r.kind == "unpop-stash":
        stored = _store(repo, r.stash or "", r.stash_message or "", timeout)
        if stored is not None:
            return stored
        said += f"; the popped stash is back in the list ({_short(r.stash)})"
    return UndoResult(r, f"stash {what} undone: {said}", stash=kept)


def _restore_stash(repo: RepoPaths, r: UndoRecord, timeout: float) -> UndoResult | UndoRefusal:
    stored = _store(repo, r.stash or "", r.stash_message or "", timeout)
    return stored or UndoResult(r, f"the dropped stash is back as stash@{{0}} ({_short(r.stash)})")


def _unresolve(repo: RepoPaths, r: UndoRecord, timeout: float) -> UndoResult | UndoRefusal:
    # checkout -m brings back the index's stages and markers (labelled ours / theirs); the
    # bytes kept before the resolve then put back the file exactly as it was.
    checked = _write(["checkout", "-m", "--", *r.paths], repo, timeout)
    if checked is not None:
        return checked
    assert repo.work_tree is not None  # located as a work tree
    for path, blob in zip(r.paths, r.conflicted, strict=False):
        kept = run_git(["cat-file", "blob", blob], repo, timeout=timeout) if blob else None
        if kept is not None and kept.ok:
            (repo.work_tree / path).write_bytes(kept.stdout)
    return UndoResult(r, f"the conflict is back in {shown(r.paths)}")


def _recreate(repo: RepoPaths, r: UndoRecord, timeout: float) -> UndoResult | UndoRefusal:
    name = r.branch or ""
    made = _write(["branch", "--no-track", "--", name, r.back or ""], repo, timeout)
    if made is not None:
        return made
    message = f"re-created {name} at {_short(r.back)}"
    if r.upstream_remote and r.upstream_merge:
        _write(["config", f"branch.{name}.remote", r.upstream_remote], repo, timeout)
        _write(["config", f"branch.{name}.merge", r.upstream_merge], repo, timeout)
        message += f", its upstream set again ({r.upstream_remote})"
    return UndoResult(r, message)


def _remove_created(repo: RepoPaths, r: UndoRecord, timeout: float) -> UndoResult | UndoRefusal:
    message = ""
    if r.back is not None:
        args = ["switch", "--no-guess", "--no-overwrite-ignore", "--quiet"]
        args += ["--", r.back_branch] if r.back_branch else ["--detach", r.back]
        switched = _write(args, repo, timeout)
        if switched is not None:
            return switched
        message = f"switched back to {r.back_branch or _short(r.back)}; "
    deleted = _write(["branch", "-D", "--", r.branch or ""], repo, timeout)
    return deleted or UndoResult(r, f"{message}deleted {r.branch}")


# --- helpers -----------------------------------------------------------------------------------


def _head(repo: RepoPaths, timeout: float) -> tuple[str | None, str | None]:
    """(the branch HEAD is on or None, its commit)."""
    on = run_git(["symbolic-ref", "-q", "--short", "HEAD"], repo, timeout=timeout)
    branch = on.stdout.decode("utf-8", "surrogateescape").strip() if on.ok else ""
    return branch or None, rev_parse(repo, "HEAD", timeout=timeout)


def _ref(repo: RepoPaths, branch: str | None, timeout: float) -> str | None:
    return rev_parse(repo, f"refs/heads/{branch}", timeout=timeout) if branch else None


def _short(sha: str | None) -> str:
    return sha[:7] if sha else "?"


def _blobs(repo: RepoPaths, paths: tuple[str, ...], timeout: float) -> tuple[str, ...] | None:
    """What each file in the work tree holds now (its blob name); None if one is missing."""
    hashed = run_git(["hash-object", "--no-filters", "--", *paths], repo, timeout=timeout)
    if not hashed.ok:
        return None
    return tuple(hashed.stdout.decode("ascii").split())


def _stash_shas(repo: RepoPaths, timeout: float) -> set[str]:
    listed = run_git(["log", "-g", "--format=%H", "--ignore-missing", "refs/stash", "--"], repo,
                     timeout=timeout)  # fmt: skip
    return set(listed.stdout.decode("ascii").split()) if listed.ok else set()


def _untracked(repo: RepoPaths, timeout: float) -> bool:
    listed = run_git(["ls-files", "-z", "--others", "--exclude-standard"], repo, timeout=timeout)
    return bool(listed.stdout)


def _same_changes(repo: RepoPaths, made: str, stash: str, timeout: float) -> bool:
    """Does the stash just made hold exactly the files of `stash` (tracked and untracked)?"""
    for rev in ("{}^{{tree}}", "{}^3^{{tree}}"):
        if rev_parse(repo, rev.format(made), timeout=timeout) != rev_parse(
            repo, rev.format(stash), timeout=timeout
        ):
            return False
    return True


def _store(repo: RepoPaths, sha: str, message: str, timeout: float) -> UndoRefusal | None:
    args = ["stash", "store", "-m", message or f"gitwatch: restored {sha[:7]}", sha]
    return _write(args, repo, timeout)


def _write(args: list[str], repo: RepoPaths, timeout: float) -> UndoRefusal | None:
    """Run a git command that changes the repo; the refusal with git's words if it failed."""
    done = run_git(args, repo, timeout=timeout, background=False)
    return None if done.ok else UndoRefusal.of("error", error=done.error_text)
