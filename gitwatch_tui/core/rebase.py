"""`git rebase --autostash` onto a commit, told apart from a rebase that was done when git was
stopped; shared by the automatic sync and the pull panel's rebase."""

from __future__ import annotations

from dataclasses import dataclass

from gitwatch_tui.core.git import GitResult, RepoPaths, run_git
from gitwatch_tui.core.local_state import forget_finished, rev_parse
from gitwatch_tui.core.status import read_git_dir_state


@dataclass(frozen=True, slots=True)
class RebaseRun:
    """What `git rebase --autostash` did; `stopped` means a rebase is left in progress."""

    result: GitResult
    stopped: bool
    stash_before: str | None  # refs/stash before the rebase, to tell whether git added one


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


def _on_a_branch(repo: RepoPaths) -> bool:
    try:
        head = (repo.git_dir / "HEAD").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return head.startswith("ref: ")
