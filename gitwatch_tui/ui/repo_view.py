"""What the repo table shows, as plain functions: cells, filter, sort order, group folding.

Nothing here touches a widget, so the rules are tested without running an app. The table
widget only diffs what these functions produce against what it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import PipelineStateChanged, SyncState
from gitwatch_tui.engine.repo_state import (
    TROUBLE,
    StateWord,
    ago,
    fetched,
    first_line,
    repo_state,
    soon,
    until,
)

__all__ = ["ago", "first_line", "until"]  # the words' helpers, used from here by the screens

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
GROUP_PREFIX = "group:"


@dataclass(frozen=True, slots=True)
class RepoRow:
    """One repo as the dashboard knows it: its latest status (None until first read) and the
    engine's network state."""

    name: str
    group: str | None
    status: RepoStatus | None
    state: SyncState
    selected: bool = False  # picked with space for a bulk action
    pipeline: PipelineStateChanged | None = None  # the latest post-sync pipeline run


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the table. In COLUMNS `width` is the least it gets; in the columns a table
    has laid out (`RepoTable.columns_shown`, what `repo_cells` is given) it is its width."""

    key: str
    label: str
    width: int
    wide_only: bool = False  # dropped below WIDE_LAYOUT columns
    grow: int = 0  # its share of the room left once every column has what it wants


COLUMNS: tuple[Column, ...] = (
    Column("repo", "Repo", 10, grow=1),
    Column("branch", "Branch", 12, grow=1),
    Column("upstream", "Upstream", 8, wide_only=True),
    Column("sync", "↑↓", 6),
    Column("changes", "Changes", 9),
    Column("stash", "Stash", 5, wide_only=True),
    Column("fetched", "Fetched", 7),
    Column("state", "State", 15, grow=2),
)
WIDE_LAYOUT = 110
SORTABLE = tuple(c.key for c in COLUMNS)
# What the State column wants: the usual long states whole (`⊘ circuit open · retry in 4m`),
# or in a narrow layout their short forms (`⊘ open 4m`, `✗ not a repo`).
STATE_WIDTH, SHORT_STATE_WIDTH = 28, 15
BRANCH_WIDTH = 26  # `feature/` and a name of a few words
NAME_WIDTH_CAP = 40  # a longer repo name is cut rather than squeezing everything else
GROUP_LABEL_EXTRA = 2  # a group row's "▾ " before its name (its size is in the next cell)


def columns_for(width: int) -> tuple[Column, ...]:
    """The columns that fit a terminal `width` cells wide: below WIDE_LAYOUT, upstream and
    stash give way (the upstream shows in the details, the stash count in Changes)."""
    return tuple(c for c in COLUMNS if width >= WIDE_LAYOUT or not c.wide_only)


def wanted_widths(columns: tuple[Column, ...], keys: Iterable[str]) -> dict[str, int]:
    """What the growing columns want before any of them gets more, most wanted first: the
    State column its usual states whole, the Repo column its longest name (of the rows
    `keys`), the Branch column a long branch name. Repo padding comes last."""
    wide = any(c.wide_only for c in columns)
    names = [
        len(key.removeprefix(GROUP_PREFIX)) + GROUP_LABEL_EXTRA
        if key.startswith(GROUP_PREFIX)
        else len(key)
        for key in keys
    ]
    return {
        "state": STATE_WIDTH if wide else SHORT_STATE_WIDTH,
        "repo": min(max(names, default=0), NAME_WIDTH_CAP),
        "branch": BRANCH_WIDTH,
    }


def column_widths(
    columns: tuple[Column, ...], room: int, wants: Mapping[str, int] | None = None
) -> tuple[int, ...]:
    """Each column's width when `room` cells are there for content: every column gets its
    least; then, in the order of `wants`, a column grows to what it wants while room is
    left; what is left after that is shared by `grow` weight."""
    widths = {c.key: c.width for c in columns}
    spare = room - sum(widths.values())
    for key, want in (wants or {}).items():
        if key in widths and spare > 0:
            more = min(spare, max(0, want - widths[key]))
            widths[key] += more
            spare -= more
    if spare > 0:
        shares = sum(c.grow for c in columns) or 1
        for c in columns:
            widths[c.key] += spare * c.grow // shares
        # What integer division left over goes to the last growing column (the state).
        last = next(c.key for c in reversed(columns) if c.grow)
        widths[last] += room - sum(widths.values())
    return tuple(widths[c.key] for c in columns)


# -- the cells --------------------------------------------------------------------------------


def _cell(text: str = "", style: str = "") -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")


def _join(parts: Iterable[tuple[str, str]]) -> Text:
    cell = _cell()
    for i, (text, style) in enumerate(parts):
        if i:
            cell.append(" ")
        cell.append(text, style)
    return cell


# The theme colour of each state word.
STATE_STYLE: dict[StateWord, str] = {
    "error": "repo-error", "conflict": "repo-conflict", "pipeline-failed": "repo-error",
    "circuit-open": "repo-error", "failing": "repo-error", "bare": "repo-muted",
    "empty": "repo-muted", "upstream-gone": "repo-error", "diverged": "repo-behind",
    "behind": "repo-behind", "ahead": "repo-ahead", "dirty": "repo-unstaged",
    "stale-submodules": "repo-behind", "detached": "repo-muted", "no-remote": "repo-muted",
    "no-upstream": "repo-muted", "in-sync": "repo-clean", "unknown": "repo-muted",
}  # fmt: skip


def state_label(row: RepoRow, now: float, frame: int = 0, width: int = 0) -> tuple[str, str]:
    """The State column: (text, palette key). The repo's state (`repo_state` decides it), or,
    unless that is an error or a conflict, what the engine is doing with the repo right now.
    With a `width`, the longest form that fits it (the full one, else a shorter one)."""
    state = repo_state(row.status, row.state, now, pipeline=row.pipeline)
    doing = None if state.word in ("error", "conflict") else _activity(row, frame)
    labels, style_key = doing or (state.labels, STATE_STYLE[state.word])
    if doing is None and (as_of := stale_since(row)) is not None:
        labels = _stale_labels(labels, as_of, now)
    if not width:
        return labels[0], style_key
    calm = doing is None and state.word not in (*TROUBLE, "conflict", "unknown")
    calm = calm and stale_since(row) is None
    if calm and (when := next_poll(row, now)) is not None:
        labels = (f"{labels[0]} · next poll in {soon(when, now)}", *labels)
    return next((label for label in labels if len(label) <= width), labels[-1]), style_key


def stale_since(row: RepoRow) -> float | None:
    """When the row's status was read, if it comes from the last run's snapshot and has not
    been read again yet (the dashboard opens on it); else None."""
    return row.status.as_of if row.status is not None else None


def _stale_labels(labels: tuple[str, ...], as_of: float, now: float) -> tuple[str, ...]:
    """The state as the snapshot knew it, said to be that old (`✓ in sync · from 3m ago`)."""
    old = ago(as_of, now)
    aged = (f"{labels[0]} · from {old}", *(f"{label} · {old}" for label in labels))
    return (*aged, *labels)  # too narrow for the age: the faint row still says it is old


def next_poll(row: RepoRow, now: float) -> float | None:
    """When the engine polls the repo next (Unix time), while it waits for that; else None
    (a poll under way, or a retry, which the state says)."""
    when = row.state.next_attempt
    if row.state.phase != "idle" or when is None or when <= now:
        return None
    return when


def next_poll_text(row: RepoRow, now: float) -> str:
    """The details pane's "Next poll": `in 3m`, or what the repo is doing instead."""
    if (when := next_poll(row, now)) is not None:
        return f"in {soon(when, now)}"
    phase, when = row.state.phase, row.state.next_attempt
    if phase in ("backoff", "circuit-open") and when is not None and when > now:
        return f"retry in {soon(when, now)}"
    if phase != "idle":
        return phase  # fetching, syncing: the poll is under way
    return "due now" if when is not None else "not planned yet"


def clock_words(row: RepoRow, now: float) -> tuple[str, str, str]:
    """What a repo row says that changes with the clock alone ("3m ago", "next poll in 2m"):
    the row is drawn again when these read differently."""
    when = next_poll(row, now)
    fetch = fetched(row.status, now, short=True) if row.status is not None else ""
    as_of = stale_since(row)
    stale = ago(as_of, now) if as_of is not None else ""
    return fetch, soon(when, now) if when is not None else "", stale


def _activity(row: RepoRow, frame: int) -> tuple[tuple[str, ...], str] | None:
    """A fetch, clone or sync under way, a pipeline step running, another process's lock;
    each in full and short."""
    spinner = SPINNER[frame % len(SPINNER)]
    if row.state.phase in ("fetching", "cloning", "syncing"):
        return (f"{spinner} {row.state.phase}",), "repo-busy"
    if (run := row.pipeline) is not None and run.state == "running":
        if not run.step:
            return (f"{spinner} pipeline · starting", f"{spinner} pipeline"), "repo-busy"
        steps = f"{run.index}/{run.total}"
        labels = (f"{spinner} pipeline · {run.step} {steps}", f"{spinner} pipeline {steps}")
        return labels, "repo-busy"
    if row.state.phase == "busy":
        return ("⧗ locked by another process", "⧗ locked"), "repo-busy"
    return None


def rebase_label(status: RepoStatus) -> str | None:
    """`(rebasing 1/3)` after the branch a rebase is rebasing (HEAD is detached meanwhile, but
    the repo is not on a detached HEAD); None when no rebase of a branch is under way."""
    if status.operation != "rebase" or status.rebase_branch is None:
        return None
    step = f" {status.rebase_step[0]}/{status.rebase_step[1]}" if status.rebase_step else ""
    return f"(rebasing{step})"


def short_upstream(status: RepoStatus) -> str:
    """`origin` when the upstream is the same-named branch on that remote, else in full."""
    upstream = status.upstream or ""
    remote, _, branch = upstream.partition("/")
    return remote if branch and branch == status.branch else upstream


def repo_cells(
    row: RepoRow, palette: Mapping[str, str], now: float, frame: int, columns: Sequence[Column]
) -> list[Text]:
    """The cells of a repo row, in the order of `columns` (the State cell fits its width)."""
    s, p = row.status, palette
    keys = [c.key for c in columns]
    wide = "stash" in keys
    cells: dict[str, Text] = {}
    name = Text(no_wrap=True, overflow="ellipsis", end="")
    if row.selected:
        name.append("● ", f"bold {p['repo-ahead']}")
    name.append(row.name)
    if s is not None and s.error and s.head is None:
        name.stylize(f"bold {p['repo-error']}")
    cells["repo"] = name
    widths = {c.key: c.width for c in columns}
    label, style_key = state_label(row, now, frame, widths.get("state", 0))
    cells["state"] = _cell(label, p[style_key])
    if s is None or (s.error and s.head is None):
        for key in keys:
            cells.setdefault(key, _cell())
        return [cells[key] for key in keys]
    if (rebasing := rebase_label(s)) is not None:
        cells["branch"] = _join([(s.rebase_branch or "", ""), (rebasing, p["repo-conflict"])])
    elif s.detached:
        cells["branch"] = _cell(f"({s.branch or 'detached'})", f"italic {p['repo-behind']}")
    else:
        cells["branch"] = _cell(s.branch or "")
    if s.upstream is None:
        cells["upstream"] = _cell("—", p["repo-muted"])
    elif s.upstream_gone:
        cells["upstream"] = _join([(short_upstream(s), ""), ("gone", p["repo-error"])])
    else:
        cells["upstream"] = _cell(short_upstream(s))
    sync = []
    if s.ahead:
        sync.append((f"↑{s.ahead}", p["repo-ahead"]))
    if s.behind:
        sync.append((f"↓{s.behind}", f"bold {p['repo-behind']}"))
    cells["sync"] = (
        _join(sync) if sync else _cell("—" if s.upstream is None else "", p["repo-muted"])
    )
    changes = []
    if s.conflicted:
        changes.append((f"!{s.conflicted}", f"bold {p['repo-conflict']}"))
    if s.staged:
        changes.append((f"+{s.staged}", p["repo-staged"]))
    if s.unstaged:
        changes.append((f"~{s.unstaged}", p["repo-unstaged"]))
    if s.untracked:
        changes.append((f"?{s.untracked}", p["repo-untracked"]))
    if s.stash and not wide:
        changes.append((f"${s.stash}", p["repo-stash"]))
    cells["changes"] = _join(changes)
    cells["stash"] = _cell(str(s.stash) if s.stash else "", p["repo-stash"])
    when = fetched(s, now, short=True)
    style = "repo-error" if s.last_fetch_failed else "repo-muted" if s.last_fetch is None else ""
    cells["fetched"] = _cell(when, p[style] if style else "")
    if s.as_of is not None:  # not read since the last run: the whole row is faint
        for cell in cells.values():
            cell.stylize("dim")
    return [cells[key] for key in keys]


def group_cells(
    group: str,
    summary: GroupTotals,
    folded: bool,
    palette: Mapping[str, str],
    columns: Iterable[Column],
) -> list[Text]:
    """A group's header row: its name, how many of its repos are shown (`1 of 4 repos` under
    a filter), and how many of those need attention or have unpushed commits, in words
    (`2 behind · 1 dirty · 1 ahead`): arrows with a number are commits, in repo rows only.
    `summary` comes from `group_totals`."""
    p = palette
    keys = [c.key for c in columns]
    size, totals = summary.size, summary.shown
    cells = {key: _cell() for key in keys}
    cells["repo"] = _cell(f"{'▸' if folded else '▾'} {group}", f"bold {p['repo-group']}")
    noun = "repo" if size == 1 else "repos"
    count = f"{totals.repos} of {size}" if totals.repos != size else f"{size}"
    cells["branch"] = _cell(f"{count} {noun}", p["repo-muted"])
    counts = [
        (f"{count} {word}", p[key])
        for count, word, key in (
            (totals.errors, "in error", "repo-error"),
            (totals.behind, "behind", "repo-behind"),
            (totals.dirty, "dirty", "repo-unstaged"),
            # Unpushed work, last: a narrow column cuts it before uncommitted work.
            (totals.ahead, "ahead", "repo-ahead"),
        )
        if count
    ]
    state = _cell()
    for i, (text, style) in enumerate(counts):
        state.append(" · " if i else "")
        state.append(text, style)
    cells["state"] = state
    return [cells[key] for key in keys]


# -- totals -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    repos: int = 0
    read: int = 0
    behind: int = 0
    ahead: int = 0
    dirty: int = 0
    errors: int = 0
    busy: int = 0
    stale: int = 0  # shown from the last run's snapshot, not read again yet

    @classmethod
    def of(cls, rows: Iterable[RepoRow]) -> Totals:
        sums = [0] * len(_TOTALS_FIELDS)
        for row in rows:
            for i, count in enumerate(row_counts(row)):
                sums[i] += count
        return cls(*sums)


def row_counts(row: RepoRow) -> tuple[int, ...]:
    """What one row adds to each of the `Totals` figures, in their order."""
    s, state = row.status, row.state
    busy = state.phase in ("fetching", "cloning", "syncing")
    if s is None:
        return (1, 0, 0, 0, 0, has_error(row), busy, 0)
    return (1, 1, bool(s.behind), bool(s.ahead), s.dirty, has_error(row), busy, s.as_of is not None)


_TOTALS_FIELDS = Totals.__dataclass_fields__


class RunningTotals:
    """`Totals` kept row by row: a change to one row of N costs O(1), where `Totals.of`
    reads all N (at 10,000 repos that was most of each update's time on the loop)."""

    def __init__(self) -> None:
        self._sums = [0] * len(_TOTALS_FIELDS)
        self._counted: dict[str, tuple[int, ...]] = {}

    def put(self, name: str, row: RepoRow) -> None:
        """Count `row` in place of what was counted for the repo `name` before."""
        counts = row_counts(row)
        before = self._counted.get(name)
        if counts == before:
            return  # most updates change what a row shows, not what it counts for
        self._counted[name] = counts
        if before is None:  # one list made at once: 10,000 rows come at once from the snapshot
            self._sums = [total + count for total, count in zip(self._sums, counts, strict=True)]
        else:
            self._sums = [
                total + count - old
                for total, count, old in zip(self._sums, counts, before, strict=True)
            ]

    def add_new(self, rows: Mapping[str, RepoRow]) -> None:
        """Count rows of repos not counted yet, summed column by column in one pass."""
        counts = {name: row_counts(row) for name, row in rows.items()}
        if counts:
            self._counted.update(counts)
            columns = zip(*counts.values(), strict=True)
            self._sums = [total + sum(c) for total, c in zip(self._sums, columns, strict=True)]

    def drop(self, name: str) -> None:
        """Stop counting the repo `name` (nothing if it was not counted)."""
        counts = self._counted.pop(name, None)
        if counts is not None:
            self._add(counts, -1)

    @property
    def totals(self) -> Totals:
        return Totals(*self._sums)

    def __len__(self) -> int:
        return len(self._counted)  # how many repos are counted

    def _add(self, counts: tuple[int, ...], sign: int) -> None:
        for i, count in enumerate(counts):
            self._sums[i] += sign * count


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """A group's size and the totals of those of its repos the filter shows."""

    size: int
    shown: Totals


def group_totals(
    rows: Iterable[RepoRow], query: RepoFilter | None = None
) -> dict[str, GroupTotals]:
    """Every group's header figures in one pass over the rows (each row is matched once), so
    a frame with many groups costs O(repos), not O(repos x groups)."""
    members: dict[str, list[RepoRow]] = {}
    for row in rows:
        if row.group is not None:
            members.setdefault(row.group, []).append(row)
    return {
        group: GroupTotals(len(mine), Totals.of(r for r in mine if not query or query.matches(r)))
        for group, mine in members.items()
    }


# -- filter -----------------------------------------------------------------------------------


def has_error(r: RepoRow) -> bool:
    """Cannot be read, upstream gone, or fetches failing (backing off, circuit open, or the
    last attempt on record failed)."""
    s = r.status
    return bool(
        (s is not None and (s.error or s.upstream_gone or s.last_fetch_failed is not None))
        or r.state.phase in ("backoff", "circuit-open")
    )


def _s(test: Callable[[RepoStatus], Any]) -> Callable[[RepoRow], bool]:
    return lambda r: r.status is not None and bool(test(r.status))


STATE_WORDS: dict[str, Callable[[RepoRow], bool]] = {
    "behind": _s(lambda s: s.behind),
    "ahead": _s(lambda s: s.ahead),
    "diverged": _s(lambda s: s.ahead and s.behind),
    "dirty": _s(lambda s: s.dirty),
    "clean": _s(lambda s: not s.dirty and not s.error),
    "staged": _s(lambda s: s.staged),
    "unstaged": _s(lambda s: s.unstaged),
    "untracked": _s(lambda s: s.untracked),
    "conflict": _s(lambda s: s.conflicted or s.operation),
    "stash": _s(lambda s: s.stash),
    "detached": _s(lambda s: s.detached),
    "no-upstream": _s(lambda s: s.upstream is None and not s.error),
    "synced": _s(lambda s: s.upstream and not (s.ahead or s.behind or s.dirty or s.error)),
    "error": has_error,
    "fetching": lambda r: r.state.phase in ("fetching", "cloning", "syncing"),
    "backoff": lambda r: r.state.phase in ("backoff", "circuit-open"),
}


@dataclass(frozen=True, slots=True)
class RepoFilter:
    """`/` filter: words all of which must match. A word is a state (`behind`, `dirty`,
    `error`, ... see STATE_WORDS), `group:NAME`, or text found in the name, branch or group;
    a leading `!` negates it."""

    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, query: str) -> RepoFilter:
        return cls(tuple(word.lower() for word in query.split()))

    def __bool__(self) -> bool:
        return bool(self.words)

    def matches(self, row: RepoRow) -> bool:
        return all(self._word(row, word) for word in self.words)

    @staticmethod
    def _word(row: RepoRow, word: str) -> bool:
        if word.startswith("!") and len(word) > 1:
            return not RepoFilter._word(row, word[1:])
        test = STATE_WORDS.get(word)
        if test is not None:
            return test(row)
        if word.startswith("group:"):
            return (row.group or "").lower() == word.removeprefix("group:")
        s = row.status
        branches = (s.branch, s.rebase_branch) if s is not None else ()
        return any(word in (text or "").lower() for text in (row.name, row.group, *branches))


# -- order ------------------------------------------------------------------------------------


def _sort_value(column: str, row: RepoRow) -> Any:
    s = row.status
    if column == "repo" or s is None:
        return ()
    if column == "branch":
        return (s.rebase_branch or s.branch or "").lower()
    if column == "upstream":
        return (s.upstream or "").lower()
    if column == "sync":
        return (-(s.behind or 0), -(s.ahead or 0))
    if column == "changes":
        return -(s.conflicted * 1000 + s.staged + s.unstaged + s.untracked)
    if column == "stash":
        return -s.stash
    if column == "fetched":
        return -(s.last_fetch or 0.0)
    if column == "state":
        # The most pressing first, in the order `repo_state` decides by.
        return repo_state(s, row.state, 0.0, pipeline=row.pipeline).rank
    raise ValueError(f"unknown column {column!r}")


def ordered_keys(
    rows: Mapping[str, RepoRow],
    *,
    query: RepoFilter = RepoFilter(),
    sort: str = "repo",
    reverse: bool = False,
    folded: frozenset[str] = frozenset(),
) -> list[str]:
    """The row keys to show, top to bottom: repos without a group first, then one header
    row per group (`group:NAME`) followed by its repos unless the group is folded. Repos
    are ordered by the `sort` column (name breaks ties); a filter hides what does not
    match, and a group with no match at all."""
    matching = [row for row in rows.values() if not query or query.matches(row)]
    matching.sort(key=lambda row: row.name.lower(), reverse=reverse and sort == "repo")
    if sort != "repo":
        matching.sort(key=lambda row: _sort_value(sort, row), reverse=reverse)
    by_group: dict[str, list[str]] = {}
    keys: list[str] = []
    for row in matching:
        if row.group is None:
            keys.append(row.name)
        else:
            by_group.setdefault(row.group, []).append(row.name)
    for group in sorted(by_group, key=str.lower):
        keys.append(GROUP_PREFIX + group)
        if group not in folded:
            keys.extend(by_group[group])
    return keys
