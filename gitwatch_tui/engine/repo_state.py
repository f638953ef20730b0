"""A repo's state in one word, decided here once for every face: the dashboard's State column,
`status`, `watch`, `/api` and `/metrics` all call `repo_state`.

The most pressing thing wins. The order, and why:

1. `error`: the repo cannot be read, or git fails in it (a stale index.lock, a branch whose
   ref is garbage); nothing else shown about it can be trusted.
2. `conflict`: a merge, rebase, cherry-pick, revert, am or bisect is in progress, or files are
   conflicted; the user is in the middle of something, and every sync is refused.
3. `pipeline-failed`: the post-sync pipeline failed or timed out; what is checked out is not
   what was deployed.
4. `circuit-open`: its server keeps failing, so no fetch is tried until the cooldown ends.
5. `failing`: its fetches fail (retried with back-off), or the last attempt on record failed.
   With 4 and 5, every word below is as of the last successful fetch.
6. `bare`: a bare repository; no work tree, so nothing below applies.
7. `empty`: no commits yet (also a clone of an empty remote, whose upstream does not exist yet).
8. `upstream-gone`: the branch's upstream was deleted; ahead/behind cannot be counted.
9. `diverged`, 10. `behind`, 11. `ahead`: against the upstream; commits to bring in first,
   since they are what a pull or auto-sync acts on.
12. `dirty`: uncommitted changes (staged, unstaged, untracked).
13. `stale-submodules`: submodules checked out at another commit than the one recorded (a
    pull moved them; `git submodule update` has not run), with no changes of their own.
14. `detached`: HEAD is on no branch.
15. `no-remote`: the branch tracks nothing and the repo has no remote: nothing to fetch.
16. `no-upstream`: the branch tracks nothing.
17. `in-sync`: none of the above.

Each state has a `detail` for people and a `short` one for a narrow table (`⊘ open 4m` for
`⊘ circuit open · retry in 4m`, `✗ not a repo` for `✗ not a git repository`): both are decided
here, so a narrow table and a wide one never disagree.

`unknown` is a repo not read yet. What the engine is doing at the moment (fetching, a pipeline
step running) is activity, not state: the dashboard shows it in place of the word while it
lasts, and no other face does. The words are the values of the `gitwatch_repos{state}` metric:
new ones may be added, existing ones are never renamed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import PipelineStateChanged, SyncState

StateWord = Literal[
    "error",
    "conflict",
    "pipeline-failed",
    "circuit-open",
    "failing",
    "bare",
    "empty",
    "upstream-gone",
    "diverged",
    "behind",
    "ahead",
    "dirty",
    "stale-submodules",
    "detached",
    "no-remote",
    "no-upstream",
    "in-sync",
    "unknown",
]
# Most pressing first (the order `repo_state` decides in); "unknown" last.
STATE_WORDS: tuple[StateWord, ...] = (
    "error", "conflict", "pipeline-failed", "circuit-open", "failing", "bare", "empty",
    "upstream-gone", "diverged", "behind", "ahead", "dirty", "stale-submodules", "detached",
    "no-remote", "no-upstream", "in-sync", "unknown",
)  # fmt: skip
SYMBOLS: dict[StateWord, str] = {
    "error": "✗", "conflict": "⚠", "pipeline-failed": "✗", "circuit-open": "⊘", "failing": "↻",
    "bare": "▪", "empty": "∅", "upstream-gone": "✗", "diverged": "⇅", "behind": "↓",
    "ahead": "↑", "dirty": "●", "stale-submodules": "◐", "detached": "·", "no-remote": "·",
    "no-upstream": "·", "in-sync": "✓", "unknown": "…",
}  # fmt: skip
# The words that mean something is wrong (not merely to be done).
TROUBLE: frozenset[StateWord] = frozenset(
    {"error", "pipeline-failed", "circuit-open", "failing", "upstream-gone"}
)

_DOING = {
    "merge": "merging",
    "rebase": "rebasing",
    "cherry-pick": "cherry-picking",
    "revert": "reverting",
    "am": "applying patches",
    "bisect": "bisecting",
}
# The same verbs for a narrow table, where "cherry-picking 1/2" would be cut.
_DOING_SHORT = {**_DOING, "cherry-pick": "picking", "am": "applying"}
# The usual errors in a word or two; any other error is cut at its first aside.
_SHORT_ERRORS = {
    "not a git repository": "not a repo",
    "path does not exist": "missing",
    "path is not a folder": "not a folder",
    "stale index.lock": "stale lock",
}
# Where an error's aside starts: "(no .git here)", ": refs/heads/x holds …", "; then …".
_ASIDE = re.compile(r" \(|: |; ")


@dataclass(frozen=True, slots=True)
class RepoState:
    """A repo's state: its `word` (stable, for machines), a `detail` for people, and a `short`
    detail for a narrow table (empty: the detail is short already)."""

    word: StateWord
    detail: str
    short: str = ""

    @property
    def label(self) -> str:
        """Symbol and detail, as the table and `status` show it: `↓ behind`, `✗ upstream gone`."""
        return f"{SYMBOLS[self.word]} {self.detail}"

    @property
    def labels(self) -> tuple[str, ...]:
        """The label in full, without its aside, and short: longest first, no repeats. A table
        shows the first that fits its column (`✗ not a git repository (no .git here)`,
        `✗ not a git repository`, `✗ not a repo`)."""
        details = (self.detail, _ASIDE.split(self.detail, maxsplit=1)[0], self.short)
        return tuple(dict.fromkeys(f"{SYMBOLS[self.word]} {d}" for d in details if d))

    @property
    def rank(self) -> int:
        """Its place in the order above: 0 is the most pressing."""
        return STATE_WORDS.index(self.word)


def repo_state(
    status: RepoStatus | None,
    sync: SyncState | None,
    now: float,
    *,
    pipeline: PipelineStateChanged | None = None,
) -> RepoState:
    """The state of a repo from its latest status, its engine sync state (None where there is no
    engine) and its latest pipeline run; `now` (Unix time) dates the next retry."""
    if status is None:
        return RepoState("unknown", "reading")
    return (
        _trouble_first(status)
        or _pipeline_failed(pipeline)
        or _fetch_trouble(status, sync, now)
        or _standing(status)
    )


def _trouble_first(status: RepoStatus) -> RepoState | None:
    if status.error:
        detail = first_line(status.error)
        return RepoState("error", detail, _short_error(detail))
    if status.operation:
        verb = _DOING.get(status.operation, status.operation)
        short = _DOING_SHORT.get(status.operation, status.operation)
        if status.conflicts_total:
            done = f" {status.conflicts_total - status.conflicted}/{status.conflicts_total}"
            return RepoState("conflict", verb + done, short + done)
        return RepoState("conflict", verb, short)
    if status.conflicted:  # e.g. a stash that re-applied with conflicts
        plural = "s" if status.conflicted != 1 else ""
        return RepoState("conflict", f"{status.conflicted} conflict{plural}")
    return None


def _pipeline_failed(run: PipelineStateChanged | None) -> RepoState | None:
    if run is None or run.state not in ("failed", "timeout"):
        return None
    what = "timed out" if run.state == "timeout" else "failed"
    failed_step = run.failed[-1] if run.failed else run.step
    where = f" at {failed_step}" if failed_step else ""
    return RepoState("pipeline-failed", f"pipeline {what}{where}", "pipeline")


def _fetch_trouble(status: RepoStatus, sync: SyncState | None, now: float) -> RepoState | None:
    """An open circuit, or fetches failing: by the engine's count, or as the fetch record
    says (the last attempt failed; known before the engine has tried again)."""
    if sync is not None and (sync.circuit_open or sync.phase == "circuit-open"):
        return _circuit_open(sync, now)
    engine_says = sync is not None and (sync.failures > 0 or sync.phase == "backoff")
    if not engine_says and status.last_fetch_failed is None:
        return None
    if sync is not None and engine_says and sync.next_attempt is not None:
        retry = f"retry in {soon(sync.next_attempt, now)}"
        return RepoState("failing", f"{retry} · {sync.failures}×", retry)
    if sync is not None and sync.last_error:  # `status --fetch`: its own fetch just failed
        return RepoState("failing", f"fetch failed: {first_line(sync.last_error)}")
    when = status.last_fetch_failed
    if when is None:
        return RepoState("failing", "fetch failed")
    return RepoState("failing", f"fetch failed {_age(when, now)} ago", f"failed {_age(when, now)}")


def _circuit_open(sync: SyncState, now: float) -> RepoState:
    """`circuit open · retry in 4m` (short: `open 4m`), or `auth failed` for a refused login."""
    reason, short = ("auth failed", "auth failed") if sync.auth_failed else ("circuit open", "open")
    if not sync.next_attempt:
        return RepoState("circuit-open", reason, short)
    when = soon(sync.next_attempt, now)
    short = short if sync.auth_failed else f"{short} {when}"
    return RepoState("circuit-open", f"{reason} · retry in {when}", short)


def _short_error(detail: str) -> str:
    """An error for a narrow table: a usual one in a word or two, another without its aside."""
    clause = _ASIDE.split(detail, maxsplit=1)[0]
    return _SHORT_ERRORS.get(clause, clause)


def _standing(s: RepoStatus) -> RepoState:
    """How a readable repo stands, once nothing is wrong with it or its fetches."""
    if s.bare:
        return RepoState("bare", "bare repo" if s.head else "bare repo, no commits yet", "bare")
    if s.head is None and not s.detached:
        return RepoState("empty", "empty, no commits yet", "empty")
    if s.upstream_gone:
        return RepoState("upstream-gone", "upstream gone")
    if s.ahead and s.behind:
        return RepoState("diverged", "diverged")
    if s.behind:
        return RepoState("behind", "behind")
    if s.ahead:
        return RepoState("ahead", "ahead")
    if s.dirty:
        return RepoState("dirty", "dirty")
    if s.stale_submodules:
        return RepoState("stale-submodules", "stale submodules", "submodules")
    if s.detached:
        return RepoState("detached", "detached")
    if s.upstream is None and s.no_remote:
        return RepoState("no-remote", "no remote")
    if s.upstream is None:
        return RepoState("no-upstream", "no upstream")
    return RepoState("in-sync", "in sync")


# -- words for times and errors, shared by the faces ---------------------------------------------


def first_line(text: str) -> str:
    """The line of an error that says what went wrong: git's `fatal:`/`error:` line (prefix
    dropped), else the first non-empty line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [""])[0].removeprefix("fatal: ").removeprefix("error: ")


def ago(when: float | None, now: float) -> str:
    """ "3m ago" style, or "never"."""
    if when is None:
        return "never"
    return f"{_age(when, now)} ago"


def until(when: float | None, now: float) -> str:
    """ "in 2m" style for a retry time."""
    if when is None:
        return ""
    seconds = max(0, math.ceil(when - now))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def soon(when: float, now: float) -> str:
    """ "4m" style for a countdown in a table: whole minutes (rounded up) from a minute on,
    seconds below, hours and minutes from an hour on."""
    seconds = max(0, math.ceil(when - now))
    if seconds >= 3600:
        return until(when, now)
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)}m"
    return f"{seconds}s"


def fetched(status: RepoStatus, now: float, *, short: bool = False) -> str:
    """What "Fetched" says: the last successful fetch ("3m ago", "never"), or the failed
    attempt after it ("failed 2m ago"; `short`, for the dashboard's column: "✗ 2m")."""
    failed = status.last_fetch_failed
    if failed is not None:
        return f"✗ {_age(failed, now)}" if short else f"failed {_age(failed, now)} ago"
    return ago(status.last_fetch, now)


def _age(when: float, now: float) -> str:
    seconds = max(0, int(now - when))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
