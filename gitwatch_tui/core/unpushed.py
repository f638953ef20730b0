"""Unpushed work on every local branch, not only HEAD's: one `git for-each-ref` whose
`%(upstream:track)` says how far each branch is ahead of and behind its upstream.

It is read only where asked for (the details screen, `status --json --branches`): the status
of the hot path stays one git call per repo.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import BranchTracking
from gitwatch_tui.core.status import locate_repo

BRANCHES_ARGS = (
    "for-each-ref",
    "--format=%(HEAD)%00%(refname)%00%(upstream:short)%00%(upstream:track,nobracket)",
    "refs/heads",
)


def read_branches(repo: RepoPaths, *, timeout: float) -> tuple[BranchTracking, ...] | str:
    """Every local branch with its upstream and ahead/behind counts, or git's error."""
    result = run_git(BRANCHES_ARGS, repo, timeout=timeout)
    if not result.ok:
        return result.error_text
    return parse_branches(result.stdout)


def parse_branches(stdout: bytes) -> tuple[BranchTracking, ...]:
    """The branches of `BRANCHES_ARGS`' output, in git's (name) order."""
    branches = []
    for line in stdout.decode("utf-8", "surrogateescape").splitlines():
        fields = line.split("\0")
        if len(fields) != 4:
            continue
        head, ref, upstream, track = fields
        gone = bool(upstream) and track == "gone"
        living = bool(upstream) and not gone
        branches.append(
            BranchTracking(
                name=ref.removeprefix("refs/heads/"),
                upstream=upstream or None,
                ahead=_count("ahead", track) if living else None,
                behind=_count("behind", track) if living else None,
                upstream_gone=gone,
                current=head == "*",
            )
        )
    return tuple(branches)


def unpushed_only(branches: tuple[BranchTracking, ...]) -> tuple[BranchTracking, ...]:
    """The branches with commits their upstream has not."""
    return tuple(branch for branch in branches if branch.unpushed)


def _count(word: str, track: str) -> int:
    found = re.search(rf"{word} (\d+)", track)
    return int(found[1]) if found else 0


def read_all_branches(
    specs: Sequence[RepoSpec], *, jobs: int, timeout: float
) -> dict[str, tuple[BranchTracking, ...] | str]:
    """`read_branches` of every repo, `jobs` at a time, by repo name (an error as text)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(spec: RepoSpec) -> tuple[BranchTracking, ...] | str:
        located = locate_repo(spec)
        return located if isinstance(located, str) else read_branches(located, timeout=timeout)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(zip((s.name for s in specs), pool.map(one, specs), strict=True))
