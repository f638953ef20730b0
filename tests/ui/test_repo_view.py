"""The table's rules as plain functions: state labels, filter words, order, column widths."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import SyncState
from gitwatch_tui.ui.repo_view import (
    COLUMNS,
    STATE_WORDS,
    Column,
    RepoFilter,
    RepoRow,
    Totals,
    ago,
    clock_words,
    column_widths,
    columns_for,
    first_line,
    group_cells,
    group_totals,
    next_poll_text,
    ordered_keys,
    repo_cells,
    short_upstream,
    state_label,
    until,
    wanted_widths,
)
from gitwatch_tui.ui.themes import REPO_VARIABLES

NOW = 1_000_000.0


def row(name: str, group: str | None = None, phase: str = "idle", **fields: object) -> RepoRow:
    status = RepoStatus(name=name, path=f"/r/{name}", group=group, **fields)  # type: ignore[arg-type]
    state = SyncState(repo=name, phase=phase)  # type: ignore[arg-type]
    return RepoRow(name, group, status, state)


SYNCED = {"branch": "main", "head": "abc", "upstream": "origin/main", "ahead": 0, "behind": 0}


def test_ago_and_until() -> None:
    assert ago(None, NOW) == "never"
    assert ago(NOW - 5, NOW) == "5s ago"
    assert ago(NOW - 180, NOW) == "3m ago"
    assert ago(NOW - 7200, NOW) == "2h ago"
    assert ago(NOW - 3 * 86400, NOW) == "3d ago"
    assert ago(NOW + 50, NOW) == "0s ago"  # a clock skew never shows "-50s"
    assert until(NOW + 75, NOW) == "1m15s"
    assert until(NOW + 9, NOW) == "9s"


@pytest.mark.parametrize(
    ("fields", "phase", "label"),
    [
        ({**SYNCED}, "idle", "✓ in sync"),
        ({**SYNCED, "behind": 2}, "idle", "↓ behind"),
        ({**SYNCED, "ahead": 1, "behind": 2}, "idle", "⇅ diverged"),
        ({**SYNCED, "ahead": 1}, "idle", "↑ ahead"),
        ({**SYNCED, "untracked": 1}, "idle", "● dirty"),
        ({**SYNCED, "upstream": None}, "idle", "· no upstream"),
        ({**SYNCED, "upstream_gone": True}, "idle", "✗ upstream gone"),
        (
            {**SYNCED, "operation": "merge", "conflicted": 3, "conflicts_total": 5},
            "idle",
            "⚠ merging 2/5",
        ),
        ({**SYNCED, "operation": "rebase"}, "idle", "⚠ rebasing"),
        ({**SYNCED, "conflicted": 2}, "idle", "⚠ 2 conflicts"),
        ({**SYNCED, "behind": 2}, "fetching", "⠋ fetching"),
        ({"error": "fatal: not a git repository"}, "idle", "✗ not a git repository"),
        ({"error": "fatal: not a git repository"}, "fetching", "✗ not a git repository"),
    ],
)
def test_state_label_says_the_most_pressing_thing(
    fields: dict[str, object], phase: str, label: str
) -> None:
    assert state_label(row("r", phase=phase, **fields), NOW)[0] == label


def test_backoff_and_circuit_labels_count_down() -> None:
    base = row("r", **SYNCED)
    backoff = RepoRow("r", None, base.status, SyncState("r", "backoff", 3, NOW + 90, "boom"))
    assert state_label(backoff, NOW)[0] == "↻ retry in 2m · 3×"
    circuit = RepoRow(
        "r", None, base.status, SyncState("r", "circuit-open", 5, NOW + 30, "x", True, True)
    )
    assert state_label(circuit, NOW) == ("⊘ auth failed · retry in 30s", "repo-error")


def test_first_line_picks_gits_fatal_line() -> None:
    assert first_line("warning: x\nfatal: repository not found\n") == "repository not found"
    assert first_line("\n\n  plain words \n") == "plain words"
    assert first_line("") == ""


def test_short_upstream() -> None:
    assert short_upstream(RepoStatus("r", "/r", branch="main", upstream="origin/main")) == "origin"
    other = RepoStatus("r", "/r", branch="main", upstream="origin/release")
    assert short_upstream(other) == "origin/release"


def test_cells_in_narrow_and_wide_layouts() -> None:
    r = row("api", **{**SYNCED, "ahead": 1, "behind": 2, "staged": 1, "unstaged": 2, "untracked": 3,
                      "conflicted": 1, "stash": 2, "last_fetch": NOW - 120})  # fmt: skip
    narrow = [str(c) for c in repo_cells(r, REPO_VARIABLES, NOW, 0, columns_for(80))]
    assert narrow == ["api", "main", "↑1 ↓2", "!1 +1 ~2 ?3 $2", "2m ago", "⚠ 1 conflict"]
    wide = [str(c) for c in repo_cells(r, REPO_VARIABLES, NOW, 0, columns_for(120))]
    assert wide == ["api", "main", "origin", "↑1 ↓2", "!1 +1 ~2 ?3", "2", "2m ago", "⚠ 1 conflict"]
    detached = row("d", branch="abc1234", detached=True, head="abc1234")
    assert str(repo_cells(detached, REPO_VARIABLES, NOW, 0, COLUMNS)[1]) == "(abc1234)"


def test_a_rebase_shows_its_branch_and_step_not_a_detached_head() -> None:
    fields = {"branch": "80e2862", "detached": True, "head": "80e2862", "operation": "rebase"}
    rebasing = row("r", **fields, rebase_branch="main", rebase_step=(1, 3))
    assert str(repo_cells(rebasing, REPO_VARIABLES, NOW, 0, COLUMNS)[1]) == "main (rebasing 1/3)"
    assert RepoFilter.parse("main").matches(rebasing)
    # A rebase of a detached HEAD has no branch to show.
    detached = row("r", **fields)
    assert str(repo_cells(detached, REPO_VARIABLES, NOW, 0, COLUMNS)[1]) == "(80e2862)"


def test_fetched_is_the_last_success_and_a_failure_since_says_so() -> None:
    def cell(**fields: object) -> str:
        cells = repo_cells(row("r", **{**SYNCED, **fields}), REPO_VARIABLES, NOW, 0, COLUMNS)
        return str(cells[[c.key for c in COLUMNS].index("fetched")])

    assert cell() == "never"
    assert cell(last_fetch=NOW - 3600) == "1h ago"
    assert cell(last_fetch=NOW - 3600, last_fetch_failed=NOW - 120) == "✗ 2m"
    assert cell(last_fetch_failed=NOW - 5) == "✗ 5s"


def test_column_widths_fill_the_room_and_never_go_below_the_least() -> None:
    for width in (60, 80, 100, 120, 200):
        columns = columns_for(width)
        room = width - 2 * len(columns) - 1
        widths = column_widths(columns, room)
        assert all(w >= c.width for w, c in zip(widths, columns, strict=True))
        if room >= sum(c.width for c in columns):
            assert sum(widths) == room


def laid_out(width: int, names: list[str]) -> tuple[Column, ...]:
    """The columns as the table lays them out at `width` (1 cell of padding each side)."""
    columns = columns_for(width)
    room = width - 2 * len(columns) - 1
    widths = column_widths(columns, room, wanted_widths(columns, names))
    return tuple(replace(c, width=w) for c, w in zip(columns, widths, strict=True))


DEMO_NAMES = ["group:apps", "admin-panel", "offsite-backup", "deploy-scripts", "ui-kit"]


def test_state_and_branch_get_room_before_repo_padding() -> None:
    wide = {c.key: c.width for c in laid_out(120, DEMO_NAMES)}
    assert (wide["state"], wide["branch"], wide["repo"]) == (28, 26, 14)
    narrow = {c.key: c.width for c in laid_out(80, DEMO_NAMES)}
    assert (narrow["state"], narrow["repo"]) == (15, 14) and narrow["branch"] >= 12
    # Room beyond what every column wants is shared; names never get more than the longest.
    roomy = {c.key: c.width for c in laid_out(200, ["a-very-long-repository-name-indeed"])}
    assert roomy["repo"] >= 34 and roomy["state"] > 28 and roomy["branch"] > 26
    # A long name is whole before the branch column grows past its least.
    long_name = {c.key: c.width for c in laid_out(130, ["platform-infrastructure-terraform"])}
    assert (long_name["state"], long_name["repo"], long_name["branch"]) == (28, 33, 17)


def test_the_state_column_shows_the_longest_form_that_fits() -> None:
    circuit = SyncState("r", "circuit-open", 5, NOW + 235, "x", False, True)
    states = {
        "open": RepoRow("open", None, row("open", **SYNCED).status, circuit),
        "broken": row("broken", error="not a git repository (no .git here)"),
    }

    def state_cells(width: int) -> list[str]:
        columns = laid_out(width, list(states))
        return [str(repo_cells(r, REPO_VARIABLES, NOW, 0, columns)[-1]) for r in states.values()]

    assert state_cells(120) == ["⊘ circuit open · retry in 4m", "✗ not a git repository"]
    assert state_cells(80) == ["⊘ open 4m", "✗ not a repo"]
    assert state_label(states["broken"], NOW)[0] == "✗ not a git repository (no .git here)"


FLEET = {
    r.name: r
    for r in (
        row("api", "backend", **SYNCED),
        row("db", "backend", **{**SYNCED, "behind": 3}),
        row("web", "frontend", **{**SYNCED, "unstaged": 2}),
        row("docs", "frontend", **{**SYNCED, "ahead": 1, "behind": 1}),
        row("cli", None, **{**SYNCED, "stash": 1}),
        row("old", None, error="fatal: not a git repository"),
        row("feature-x", None, **{**SYNCED, "branch": "feature/x-login", "upstream": None}),
    )
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("behind", {"db", "docs"}),
        ("dirty", {"web"}),
        ("error", {"old"}),
        ("diverged", {"docs"}),
        ("stash", {"cli"}),
        ("no-upstream", {"feature-x"}),
        ("synced", {"api", "cli"}),
        ("login", {"feature-x"}),  # a branch name
        ("BACK", {"api", "db"}),  # a group name, any case
        ("group:frontend", {"web", "docs"}),
        ("behind !group:frontend", {"db"}),
        ("!clean", {"web", "old"}),
        ("d behind", {"db", "docs"}),
        ("nothing-matches", set()),
        ("", set(FLEET)),
    ],
)
def test_filter_words(query: str, expected: set[str]) -> None:
    f = RepoFilter.parse(query)
    assert {name for name, r in FLEET.items() if not f or f.matches(r)} == expected


def test_every_state_word_matches_something_in_a_varied_fleet() -> None:
    fleet = {
        **FLEET,
        "busy": row("busy", phase="fetching", **SYNCED),
        "wait": row("wait", phase="backoff", **SYNCED),
        "mid": row("mid", **{**SYNCED, "operation": "rebase", "staged": 1, "conflicted": 1}),
        "det": row("det", branch="abc", detached=True, head="abc"),
        "new": row("new", **{**SYNCED, "untracked": 1}),
    }
    for word in STATE_WORDS:
        assert any(RepoFilter.parse(word).matches(r) for r in fleet.values()), word


def test_order_groups_sort_and_fold() -> None:
    assert ordered_keys(FLEET) == [
        "cli", "feature-x", "old",
        "group:backend", "api", "db",
        "group:frontend", "docs", "web",
    ]  # fmt: skip
    assert ordered_keys(FLEET, sort="repo", reverse=True)[:3] == ["old", "feature-x", "cli"]
    by_sync = ordered_keys(FLEET, sort="sync")
    assert by_sync[by_sync.index("group:backend") + 1] == "db"  # most behind first
    by_state = ordered_keys(FLEET, sort="state")
    assert by_state[0] == "old"  # trouble first
    assert ordered_keys(FLEET, folded=frozenset({"backend"})) == [
        "cli", "feature-x", "old", "group:backend", "group:frontend", "docs", "web",
    ]  # fmt: skip
    # A filter hides groups with no match at all.
    assert ordered_keys(FLEET, query=RepoFilter.parse("dirty")) == ["group:frontend", "web"]


def test_totals() -> None:
    totals = Totals.of(FLEET.values())
    assert (totals.repos, totals.behind, totals.dirty, totals.errors) == (7, 2, 1, 1)
    unread = RepoRow("x", None, None, SyncState("x"))
    assert Totals.of([unread]).read == 0


def test_running_totals_match_the_totals_of_every_row_as_rows_change() -> None:
    from gitwatch_tui.ui.repo_rows import RepoRows

    rows = RepoRows()
    for name, fleet_row in FLEET.items():
        rows[name] = fleet_row
    assert rows.totals == Totals.of(FLEET.values())
    rows["web"] = replace(FLEET["web"], status=None)  # read again: unread now
    rows["cli"] = replace(FLEET["cli"], state=SyncState("cli", phase="fetching"))
    rows["new"] = row("new", error="fatal: not a git repository", as_of=NOW)
    del rows["docs"]
    rows.pop("missing", None)  # not there: nothing counted twice or dropped
    assert rows.totals == Totals.of(rows.values())
    assert rows.totals.busy == 1 and rows.totals.stale == 1


def test_running_group_figures_match_one_pass_over_the_rows_as_rows_change() -> None:
    from gitwatch_tui.ui.repo_rows import RepoRows

    rows = RepoRows()
    for name, fleet_row in FLEET.items():
        rows[name] = fleet_row
    assert rows.group_totals() == group_totals(rows.values())
    rows["cli"] = replace(FLEET["cli"], group="backend")  # joins a group
    rows["web"] = replace(FLEET["web"], group="tools")  # moves to a new one
    rows["db"] = replace(FLEET["db"], status=None)
    del rows["docs"]  # frontend's last member: the group is gone
    assert rows.group_totals() == group_totals(rows.values())
    assert "frontend" not in rows.group_totals() and rows.group_totals()["backend"].size == 3


def test_rows_added_at_once_are_counted_as_rows_put_one_by_one() -> None:
    from gitwatch_tui.ui.repo_rows import RepoRows

    one_by_one, at_once = RepoRows(), RepoRows()
    first = dict(list(FLEET.items())[:3])
    for name, fleet_row in FLEET.items():
        one_by_one[name] = replace(fleet_row, selected=name == "web")
    at_once.add_new({n: replace(r, selected=n == "web") for n, r in first.items()})
    # The rest, with one already there (put as a change, not counted twice).
    rest = {n: replace(r, selected=n == "web") for n, r in FLEET.items() if n not in first}
    at_once.add_new({**rest, "web": one_by_one["web"]})
    assert at_once.totals == one_by_one.totals == Totals.of(FLEET.values())
    assert at_once.group_totals() == one_by_one.group_totals()
    assert at_once.picked == one_by_one.picked == {"web"} and dict(at_once) == dict(one_by_one)


def test_rows_know_which_are_picked_as_they_are_put_and_removed() -> None:
    from gitwatch_tui.ui.repo_rows import RepoRows

    rows = RepoRows()
    for name, fleet_row in FLEET.items():
        rows[name] = replace(fleet_row, selected=name in ("web", "cli"))
    assert rows.picked == {"web", "cli"}
    rows["web"] = replace(rows["web"], selected=False)
    del rows["cli"]
    rows["docs"] = replace(rows["docs"], selected=True)
    assert rows.picked == {"docs"} == {n for n, r in rows.items() if r.selected}


def test_a_group_row_counts_repos_in_words_and_follows_the_filter() -> None:
    frontend = [r for r in FLEET.values() if r.group == "frontend"]  # web dirty, docs diverged

    def cells(query: str) -> list[str]:
        summary = group_totals(frontend, RepoFilter.parse(query))["frontend"]
        return [
            str(cell) for cell in group_cells("frontend", summary, False, REPO_VARIABLES, COLUMNS)
        ]

    everything = cells("")
    assert everything[:2] == ["▾ frontend", "2 repos"]
    assert everything[-1] == "1 behind · 1 dirty · 1 ahead"  # ahead: unpushed work
    assert not any("↓" in cell or "↑" in cell for cell in everything)  # arrows are commits
    assert cells("dirty")[1] == "1 of 2 repos" and cells("dirty")[-1] == "1 dirty"


class CountingFilter(RepoFilter):
    """A filter that notes the rows it is asked about (in a class list: the dataclass is
    frozen)."""

    asked: ClassVar[list[str]] = []

    def matches(self, row: RepoRow) -> bool:
        self.asked.append(row.name)
        return super().matches(row)


def test_every_groups_figures_come_from_one_pass_over_the_rows() -> None:
    groups, per_group = 40, 25
    rows = [
        row(f"r{g}-{i}", group=f"g{g}", **({"behind": 1} if i % 5 == 0 else {}))
        for g in range(groups)
        for i in range(per_group)
    ] + [row("loose")]
    query = CountingFilter(("r",))
    CountingFilter.asked.clear()
    figures = group_totals(rows, query)
    assert sorted(query.asked) == sorted(r.name for r in rows if r.group)  # each row once
    assert len(figures) == groups
    assert figures["g7"].size == per_group and figures["g7"].shown.behind == per_group // 5
    assert group_totals(rows)["g7"] == figures["g7"]  # no filter: every member is shown


def test_an_idle_repo_says_its_next_poll_when_the_column_has_room() -> None:
    status = row("r", **SYNCED).status
    idle = RepoRow("r", None, status, SyncState("r", next_attempt=NOW + 150))
    assert state_label(idle, NOW, width=28)[0] == "✓ in sync · next poll in 3m"
    assert state_label(idle, NOW, width=15)[0] == "✓ in sync"
    assert state_label(idle, NOW)[0] == "✓ in sync"  # the details say it in a line of their own
    assert next_poll_text(idle, NOW) == "in 3m"
    fetching = replace(idle, state=replace(idle.state, phase="fetching"))
    assert state_label(fetching, NOW, width=28)[0] == "⠋ fetching"
    assert next_poll_text(fetching, NOW) == "fetching"
    backoff = replace(idle, state=SyncState("r", "backoff", 2, NOW + 30, "boom"))
    assert state_label(backoff, NOW, width=28)[0] == "↻ retry in 30s · 2×"  # said once
    assert next_poll_text(backoff, NOW) == "retry in 30s"
    # The row is drawn again when the countdown reads differently, not every second.
    assert clock_words(idle, NOW) == clock_words(idle, NOW + 20)
    assert clock_words(idle, NOW) != clock_words(idle, NOW + 40)
