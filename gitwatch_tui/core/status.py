"""Repository status: one `git status --porcelain=v2` per repo, parsed by a pure function.

What porcelain v2 does not say (an operation in progress, a stale lock, whether there is a
remote at all, a branch whose ref is garbage) is read from the git dir, never guessed and never
with another git process. The last fetch is not read here: git touches FETCH_HEAD when a fetch
fails too, so only a record of the fetch's outcome can tell (see `RepoStatus`).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gitwatch_tui.core.git import RepoPaths, looks_bare, resolve_git_dir, run_many
from gitwatch_tui.core.models import Operation, RepoSpec, RepoStatus

STATUS_ARGS = ("status", "--porcelain=v2", "--branch", "--show-stash", "-z")
# An index.lock older than this is no longer a git command at work but a crashed one's leftover,
# and it makes every git command in that repo fail.
STALE_LOCK_SECONDS = 30.0

# Marker files of the git dir, in the order that wins when several exist: a rebase stops with
# its own conflict state, a cherry-pick sequence with CHERRY_PICK_HEAD, and so on.
_OPERATION_MARKERS: tuple[tuple[str, Operation], ...] = (
    ("rebase-merge", "rebase"),
    ("rebase-apply", "rebase"),
    ("MERGE_HEAD", "merge"),
    ("CHERRY_PICK_HEAD", "cherry-pick"),
    ("REVERT_HEAD", "revert"),
    ("BISECT_LOG", "bisect"),
)


@dataclass(frozen=True, slots=True)
class PorcelainStatus:
    """What one `git status --porcelain=v2 --branch --show-stash -z` reports."""

    head: str | None = None
    branch: str | None = None
    detached: bool = False
    upstream: str | None = None
    upstream_gone: bool = False
    ahead: int | None = None
    behind: int | None = None
    staged: int = 0
    unstaged: int = 0
    untracked: int = 0
    conflicted: int = 0
    stash: int = 0
    stale_submodules: int = 0


@dataclass(frozen=True, slots=True)
class GitDirState:
    """What the git dir itself tells: operation in progress, a stale lock."""

    operation: Operation | None = None
    stale_lock_age: float | None = None
    conflicts_listed: int = 0  # files git listed as conflicted when the operation stopped
    rebase_branch: str | None = None  # the branch a rebase is rebasing (HEAD is detached)
    rebase_step: tuple[int, int] | None = None  # which of how many commits it is at


def parse_porcelain_v2(data: bytes) -> PorcelainStatus:
    """Parse NUL-separated porcelain v2 output (with `--branch --show-stash`)."""
    fields: dict[str, object] = {}
    staged = unstaged = untracked = conflicted = stale_submodules = 0
    records = data.split(b"\0")
    skip_next = False
    for record in records:
        if skip_next:  # the original path of a rename/copy entry is its own NUL field
            skip_next = False
            continue
        if not record:
            continue
        kind = record[:2]
        if kind == b"# ":
            key, _, value = record[2:].decode("utf-8", errors="surrogateescape").partition(" ")
            _parse_header(key, value, fields)
        elif kind in (b"1 ", b"2 "):
            x, y = chr(record[2]), chr(record[3])
            staged += x != "."
            if y != "." and _only_moved_submodule(record):
                stale_submodules += 1
            else:
                unstaged += y != "."
            skip_next = kind == b"2 "
        elif kind == b"u ":
            conflicted += 1
        elif kind == b"? ":
            untracked += 1
    upstream = fields.get("upstream")
    has_ab = "ahead" in fields
    # A branch without commits has no ahead/behind either: its upstream is not "gone" for
    # that (a clone of an empty remote has an upstream that does not exist yet).
    born = fields.get("head") is not None
    return PorcelainStatus(
        head=fields.get("head"),  # type: ignore[arg-type]
        branch=fields.get("branch"),  # type: ignore[arg-type]
        detached=bool(fields.get("detached", False)),
        upstream=upstream,  # type: ignore[arg-type]
        # An upstream that is configured but has no ahead/behind line no longer exists.
        upstream_gone=upstream is not None and not has_ab and born,
        ahead=fields.get("ahead"),  # type: ignore[arg-type]
        behind=fields.get("behind"),  # type: ignore[arg-type]
        staged=staged,
        unstaged=unstaged,
        untracked=untracked,
        conflicted=conflicted,
        stash=int(fields.get("stash", 0)),  # type: ignore[call-overload]
        stale_submodules=stale_submodules,
    )


def _only_moved_submodule(record: bytes) -> bool:
    """A submodule whose checkout is at another commit than the one recorded (`SC..`), with no
    changes of its own: git lists it as modified, but nothing in it was edited. Typically a
    pull moved the recorded commit and `git submodule update` has not run since."""
    sub = record[5:9]
    return sub[:2] == b"SC" and sub[2:] == b".."


def _parse_header(key: str, value: str, fields: dict[str, object]) -> None:
    if key == "branch.oid":
        fields["head"] = None if value == "(initial)" else value
    elif key == "branch.head":
        if value == "(detached)":
            fields["detached"] = True
        else:
            fields["branch"] = value
    elif key == "branch.upstream":
        fields["upstream"] = value
    elif key == "branch.ab":
        ahead, _, behind = value.partition(" ")
        fields["ahead"] = int(ahead.lstrip("+"))
        fields["behind"] = int(behind.lstrip("-"))
    elif key == "stash":
        fields["stash"] = int(value)


def read_git_dir_state(git_dir: Path, now: float | None = None) -> GitDirState:
    """One scandir of the git dir: operation in progress, stale index.lock."""
    operation: Operation | None = None
    lock_age = None
    entries: dict[str, os.DirEntry[str]] = {}
    try:
        with os.scandir(git_dir) as it:
            entries = {entry.name: entry for entry in it}
    except OSError:
        return GitDirState()
    for name, op in _OPERATION_MARKERS:
        if name in entries:
            operation = op
            if name == "rebase-apply" and os.path.exists(os.path.join(git_dir, name, "applying")):
                operation = "am"
            break
    now = time.time() if now is None else now
    try:
        if "index.lock" in entries:
            age = now - entries["index.lock"].stat().st_mtime
            lock_age = age if age >= STALE_LOCK_SECONDS else None
    except OSError:  # removed between scandir and stat: a lock that just went away
        pass
    # Only read when there is an operation: MERGE_MSG is then the one it stopped with.
    listed = len(merge_msg_conflicts(git_dir)) if operation and "MERGE_MSG" in entries else 0
    branch, step = _rebase_progress(git_dir, entries) if operation == "rebase" else (None, None)
    return GitDirState(operation, lock_age, listed, branch, step)


# Where each rebase backend keeps its step files: (folder, this step, last step).
_REBASE_STEPS = (("rebase-merge", "msgnum", "end"), ("rebase-apply", "next", "last"))


def _rebase_progress(
    git_dir: Path, entries: Mapping[str, object]
) -> tuple[str | None, tuple[int, int] | None]:
    """The branch a rebase is rebasing and its step, from the files git keeps for it."""
    for folder, this, last in _REBASE_STEPS:
        if folder in entries:
            where = git_dir / folder
            head_name = _read_text(where / "head-name") or ""
            branch = (
                head_name.removeprefix("refs/heads/") if head_name.startswith("refs/") else None
            )
            step, steps = _read_int(where / this), _read_int(where / last)
            return branch, (step, steps) if step is not None and steps else None
    return None, None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    return int(text) if text is not None and text.isdigit() else None


def common_dir(git_dir: Path) -> Path:
    """Where a git dir's shared parts (config, refs) live: a worktree's main git dir."""
    try:  # `open`, not pathlib: this runs for many repos in every sweep
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as pointer:
            common = pointer.read().strip()
    except OSError:
        return git_dir
    return git_dir / common


_REMOTE_SECTION = re.compile(rb'^\s*\[\s*remote\s+"', re.MULTILINE | re.IGNORECASE)
_INCLUDE_SECTION = re.compile(rb"^\s*\[\s*include", re.MULTILINE | re.IGNORECASE)


def has_no_remote(git_dir: Path) -> bool:
    """True when the repo's own config defines no remote (and includes no other file that
    might). Read from the file, not with `git config`, to cost no process per status."""
    try:
        with open(os.path.join(common_dir(git_dir), "config"), "rb") as config:
            text = config.read()
    except OSError:
        return False  # cannot tell: say nothing rather than something false
    return not _REMOTE_SECTION.search(text) and not _INCLUDE_SECTION.search(text)


_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def broken_head_ref(git_dir: Path) -> str | None:
    """Why HEAD's branch cannot be read, when its ref file holds no commit id; else None.

    git reads such a branch as one without commits (every file then shows as staged) and says
    nothing, so this is checked whenever status reports no commit.
    """
    head = _read_text(git_dir / "HEAD")
    if head is None or not head.startswith("ref: "):
        return None
    ref = head.removeprefix("ref: ")
    held = _read_text(common_dir(git_dir) / ref)
    if held is None or _OBJECT_ID.fullmatch(held) or held.startswith("ref: "):
        return None  # no loose ref (unborn, or packed), or a sound one
    shown = held[:40] + ("…" if len(held) > 40 else "")
    return f"broken branch: {ref} holds {shown!r}, not a commit id (git reads it as empty)"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def merge_msg_conflicts(git_dir: Path) -> set[str]:
    """The paths git listed under "# Conflicts:" in MERGE_MSG when the operation stopped."""
    try:
        text = (git_dir / "MERGE_MSG").read_bytes().decode("utf-8", errors="surrogateescape")
    except OSError:
        return set()
    paths: set[str] = set()
    comment: str | None = None
    for line in text.splitlines():
        if comment is None:
            if line[1:].strip() == "Conflicts:":
                comment = line[:1]  # core.commentChar may not be "#"
        elif line.startswith(comment + "\t"):
            paths.add(line[2:])
        elif line.strip() != comment:
            break
    return paths


def status_from(
    spec: RepoSpec,
    porcelain: PorcelainStatus,
    state: GitDirState,
    error: str | None = None,
    *,
    no_remote: bool = False,
    bare: bool = False,
) -> RepoStatus:
    """Combine the parsed output and the git dir state into the snapshot the app shows."""
    if state.stale_lock_age is not None and error is None:
        error = (
            f"stale index.lock ({state.stale_lock_age:.0f}s old): a git command crashed or "
            "is stuck; git commands in this repo fail until it is gone"
        )
    branch = porcelain.branch
    if porcelain.detached and porcelain.head:
        branch = porcelain.head[:7]
    return RepoStatus(
        name=spec.name,
        path=str(spec.path),
        group=spec.group,
        branch=branch,
        detached=porcelain.detached,
        head=porcelain.head,
        upstream=porcelain.upstream,
        upstream_gone=porcelain.upstream_gone,
        ahead=porcelain.ahead,
        behind=porcelain.behind,
        staged=porcelain.staged,
        unstaged=porcelain.unstaged,
        untracked=porcelain.untracked,
        conflicted=porcelain.conflicted,
        conflicts_total=max(state.conflicts_listed, porcelain.conflicted),
        stash=porcelain.stash,
        operation=state.operation,
        error=error,
        bare=bare,
        no_remote=no_remote,
        stale_submodules=porcelain.stale_submodules,
        rebase_branch=state.rebase_branch,
        rebase_step=state.rebase_step,
    )


def error_status(spec: RepoSpec, error: str) -> RepoStatus:
    """A row for a repo that could not be read at all."""
    return RepoStatus(name=spec.name, path=str(spec.path), group=spec.group, error=error)


def locate_repo(spec: RepoSpec) -> RepoPaths | str:
    """Where the repo's git dir is, or why it cannot be read, found without starting git."""
    if not spec.path.is_dir():
        if not spec.path.exists():
            return "path does not exist" + (" (not cloned yet)" if spec.url else "")
        return "path is not a folder"
    if spec.bare:
        return RepoPaths.of(spec.path, bare=True, trusted=spec.trust)
    git_dir = resolve_git_dir(spec.path)
    if git_dir is None:
        if looks_bare(spec.path):  # named without `bare`: it is one all the same
            return RepoPaths.of(spec.path, bare=True, trusted=spec.trust)
        return "not a git repository (no .git here)"
    return RepoPaths(git_dir=git_dir, work_tree=spec.path, trusted=spec.trust)


def locate_work_tree(spec: RepoSpec, *, bare: str = "work tree") -> RepoPaths | str:
    """`locate_repo` for the actions the user starts (pull, switch, stash, conflicts): a bare
    repo is refused with "a bare repository has no <bare>". git behaves as it does for the
    user, whether or not the repo is trusted: its own hooks and filters run."""
    located = locate_repo(spec)
    if isinstance(located, RepoPaths) and located.work_tree is None:
        return f"a bare repository has no {bare}"
    return replace(located, trusted=True) if isinstance(located, RepoPaths) else located


def _bare_status(spec: RepoSpec, git_dir: Path) -> RepoStatus:
    """A bare repo has no work tree: its branch and commit come from the git dir alone."""
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError as exc:
        return error_status(spec, f"cannot read HEAD: {exc.strerror}")
    symbolic = head.startswith("ref: ")
    porcelain = PorcelainStatus(
        branch=head.removeprefix("ref: refs/heads/") if symbolic else None,
        detached=not symbolic,
        head=_resolve_ref(git_dir, head.removeprefix("ref: ")) if symbolic else head,
    )
    error = broken_head_ref(git_dir) if porcelain.head is None else None
    no_remote = has_no_remote(git_dir)
    return status_from(
        spec, porcelain, read_git_dir_state(git_dir), error, no_remote=no_remote, bare=True
    )


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    """A branch's commit from its loose ref file or packed-refs; None when it has none."""
    loose = _read_text(git_dir / ref)
    if loose is not None:
        return loose if _OBJECT_ID.fullmatch(loose) else None
    packed = _read_text(git_dir / "packed-refs") or ""
    for line in packed.splitlines():
        sha, _, name = line.partition(" ")
        if name == ref and _OBJECT_ID.fullmatch(sha):
            return sha
    return None


def collect_statuses(
    specs: Sequence[RepoSpec],
    *,
    jobs: int,
    timeout: float,
    on_status: Callable[[RepoStatus], None] | None = None,
    located: Sequence[RepoPaths | str] | None = None,
) -> list[RepoStatus]:
    """Status of every repo, in the order given. One git process per readable work tree.

    Args:
        jobs: how many git processes run at once (status is CPU-bound: the number of cores).
        timeout: per repo; a repo that takes longer gets an error row.
        on_status: called with each status as it arrives (progress).
        located: `locate_repo` of each spec, when the caller has it already.
    """
    if located is None:
        located = [locate_repo(spec) for spec in specs]
    results: list[RepoStatus | None] = [None] * len(specs)

    def publish(index: int, status: RepoStatus) -> None:
        results[index] = status
        if on_status is not None:
            on_status(status)

    runnable: list[int] = []
    paths: list[RepoPaths] = []
    for index, (spec, where) in enumerate(zip(specs, located, strict=True)):
        if isinstance(where, str):
            publish(index, error_status(spec, where))
        elif where.work_tree is None:
            publish(index, _bare_status(spec, where.git_dir))
        else:
            runnable.append(index)
            paths.append(where)
    for position, result in run_many(paths, STATUS_ARGS, jobs=jobs, timeout=timeout):
        spec = specs[runnable[position]]
        if result.ok:
            status = _work_tree_status(spec, result.stdout, paths[position].git_dir)
        else:
            status = error_status(spec, result.error_text)
        publish(runnable[position], status)
    return [status for status in results if status is not None]


def _work_tree_status(spec: RepoSpec, output: bytes, git_dir: Path) -> RepoStatus:
    porcelain = parse_porcelain_v2(output)
    broken = broken_head_ref(git_dir) if porcelain.head is None else None
    if broken is not None:  # git's reading (a new repo, every file staged) would be a lie
        return error_status(spec, broken)
    state = read_git_dir_state(git_dir)
    # Only asked when the branch tracks nothing: a branch with an upstream has its answer, and
    # the config file is not read for every repo at every sweep.
    no_remote = porcelain.upstream is None and has_no_remote(git_dir)
    return status_from(spec, porcelain, state, no_remote=no_remote)


def with_error(status: RepoStatus, error: str) -> RepoStatus:
    """The same snapshot with an error added (a failed fetch keeps the counts it had)."""
    combined = f"{status.error}; {error}" if status.error else error
    return replace(status, error=combined)
