"""What the detail pane shows for one repository: incoming and outgoing commits, changed files,
and the local branches with unpushed commits (`core.unpushed`).

One `git status --porcelain=v2 --branch -z` gives the files, the upstream and both totals; then
one `git log` per direction that has commits. Everything is NUL-separated (parsed in
`changes`), so paths and subjects may hold any character, and every failure is a field, never
an exception.
"""

from __future__ import annotations

import re
import time

from gitwatch_tui.core.changes import LOG_ARGS, parse_files, parse_log
from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import CommitInfo, FileChange, RepoDetails
from gitwatch_tui.core.status import locate_repo, parse_porcelain_v2
from gitwatch_tui.core.unpushed import read_branches, unpushed_only

_Tracking = tuple[str | None, int | None, int | None]  # upstream, ahead, behind

# Renames are asked for explicitly: a user's `status.renames=false` would otherwise show a
# rename as a deletion plus an addition, with no original path.
DETAILS_STATUS_ARGS = ("status", "--porcelain=v2", "--branch", "-z", "--find-renames")
# A bare repo has no status: its branch's upstream and totals come from its ref.
_BARE_TRACKING_ARGS = (
    "for-each-ref",
    "--points-at=HEAD",
    "--format=%(HEAD)%00%(upstream:short)%00%(upstream:track,nobracket)",
    "refs/heads",
)


def read_details(spec: RepoSpec, *, timeout: float, limit: int = 50) -> RepoDetails:
    """Read one repo's details with background git calls; never raises for git's failures.

    Args:
        timeout: for the whole read, shared by its git calls.
        limit: the most commits listed in each direction; the totals count them all.
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    deadline = time.monotonic() + timeout
    # status.py's own check, so the detail pane and the status row give the same reason.
    located = locate_repo(spec)
    if isinstance(located, str):
        return _failed(located)
    repo = located
    if repo.work_tree is None:
        tracking = _bare_tracking(repo, timeout)
        if isinstance(tracking, str):
            return _failed(tracking)
        upstream, ahead, behind = tracking
        files: tuple[FileChange, ...] = ()
    else:
        result = run_git(DETAILS_STATUS_ARGS, repo, timeout=timeout)
        if not result.ok:
            return _failed(result.error_text)
        porcelain = parse_porcelain_v2(result.stdout)
        upstream, ahead, behind = porcelain.upstream, porcelain.ahead, porcelain.behind
        files = parse_files(result.stdout)
    lists: list[tuple[CommitInfo, ...]] = []
    error = None
    # Totals are None when there is no upstream or it is gone: then there is nothing to list.
    for revisions, total in (("HEAD..@{upstream}", behind), ("@{upstream}..HEAD", ahead)):
        commits: tuple[CommitInfo, ...] = ()
        if total and limit and error is None:
            remaining = max(deadline - time.monotonic(), 0.1)
            args = (*LOG_ARGS, f"--max-count={limit}", revisions, "--")
            log = run_git(args, repo, timeout=remaining)
            if log.ok:
                commits = parse_log(log.stdout)
            else:
                error = log.error_text
        lists.append(commits)
    incoming, outgoing = lists
    # Unpushed work on the other branches too: one more call, here only (not in the polls).
    branches = read_branches(repo, timeout=max(deadline - time.monotonic(), 0.1))
    return RepoDetails(
        upstream, incoming, outgoing, behind or 0, ahead or 0, files, error,
        unpushed=unpushed_only(branches) if isinstance(branches, tuple) else (),
    )  # fmt: skip


def _bare_tracking(repo: RepoPaths, timeout: float) -> _Tracking | str:
    """A bare repo's upstream, ahead and behind; or git's error."""
    result = run_git(_BARE_TRACKING_ARGS, repo, timeout=timeout)
    if not result.ok:
        return result.error_text
    for line in result.stdout.splitlines():
        head, _, rest = line.partition(b"\0")
        if head != b"*":
            continue
        name, _, track = rest.decode("utf-8", errors="surrogateescape").partition("\0")
        if not name or track == "gone":
            return (name or None), None, None
        ahead = re.search(r"ahead (\d+)", track)
        behind = re.search(r"behind (\d+)", track)
        return name, int(ahead[1]) if ahead else 0, int(behind[1]) if behind else 0
    return None, None, None


def _failed(error: str) -> RepoDetails:
    return RepoDetails(None, (), (), 0, 0, (), error)
