"""The main screen: a header line of totals, the repo table, a filter line and the keys."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Input, Static

from gitwatch_tui.engine.events import NO_REMOTE, SyncState
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.messages import EngineStarted, EngineUpdate, FollowsEngine
from gitwatch_tui.ui.repo_rows import RepoRows
from gitwatch_tui.ui.repo_view import (
    GROUP_PREFIX,
    SORTABLE,
    Column,
    GroupTotals,
    RepoFilter,
    RepoRow,
    Totals,
    ago,
    clock_words,
    group_cells,
    group_totals,
    ordered_keys,
    repo_cells,
)
from gitwatch_tui.ui.widgets.footer import Footer
from gitwatch_tui.ui.widgets.repo_table import RepoTable

if TYPE_CHECKING:
    from gitwatch_tui.ui.screens.bulk import OpenPanel, Run

COLUMN_NAMES = {
    "repo": "name",
    "branch": "branch",
    "upstream": "upstream",
    "sync": "ahead/behind",
    "changes": "changes",
    "stash": "stash",
    "fetched": "last fetch",
    "state": "state",
}
_BUSY = ("fetching", "cloning", "syncing")
_TICK = 0.25  # spinner frame, while some repo shows a spinner
_CLOCK_TICK = 1.0  # "3m ago", "next poll in 2m": re-read this often, on the rows in view


class DashboardScreen(FollowsEngine, HostedScreen):
    """Every watched repo at a glance. Attributes down (rows to the table), messages up
    (a selected row), commands out (engine methods run as workers)."""

    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("f", "fetch", "Fetch"),
        Binding("F", "fetch_all", "Fetch all", show=False),
        Binding("enter", "details", "Details"),
        Binding("space", "select", "Select", show=False),
        Binding("a", "select_shown", "Select all shown", show=False),
        Binding("p", "pull", "Pull"),
        Binding("P", "push", "Push", show=False),
        Binding("b", "switch", "Branch"),
        Binding("s", "stash_switch", "Stash & switch", show=False),
        Binding("S", "stashes", "Stashes", show=False),
        Binding("l", "log", "Events", show=False),
        Binding("L", "commit_log", "Commits", show=False),
        Binding("c", "conflicts", "Conflicts", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort", "Sort", show=False),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
        Binding("z", "fold", "Fold group", show=False),
        Binding("Z", "fold_all", "Fold all groups", show=False),
        Binding("u", "undo", "Undo last change", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "clear_filter", "Clear selection / filter", show=False),
        # Before the folder box's own ctrl+d (delete right); only where nothing is shown.
        Binding("ctrl+d", "demo", "", show=False, priority=True),  # said in the empty state
        # -- hand-off, editor, run anywhere --
        Binding("t", "handoff", "Hand off", show=False),
        Binding("e", "edit", "Editor", show=False),
        Binding("exclamation_mark", "run_anywhere", "Run anywhere", show=False),
    ]

    def __init__(self, *, where: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.rows = RepoRows()  # keeps the header's totals as rows change
        self.query_text = ""
        self.sort_column = "repo"
        self.sort_reverse = False
        self.folded: frozenset[str] = frozenset()
        self.started = False
        self.last_full_refresh: float | None = None
        self.palette: dict[str, str] = {}
        self._where = where
        self._clock = clock
        self._frame = 0
        self._last_tick = clock()
        self._spinning: set[str] = set()  # the rows with a spinner (a fetch, a pipeline run)
        self._summary_shown = Text()
        self._filter = RepoFilter()
        self._groups: dict[str, GroupTotals] | None = None  # made once per redraw, when drawn

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        yield RepoTable(self._cells_for, id="repos")
        with Middle(id="empty"), Center():
            yield Static(id="empty-text")
            yield Input(placeholder="a folder to scan, e.g. ~/src", id="pick-folder")
        yield Input(placeholder="filter: name, branch, or behind / dirty / error …", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.palette = self.gw_app.palette()
        self.watch(self.app, "theme", self._theme_changed, init=False)
        # Nothing wakes for nothing: the spinner's timer runs only while a row spins.
        self._spinner = self.set_interval(_TICK, self._spin, pause=True)
        self.set_interval(_CLOCK_TICK, self._tick)
        self._redraw()

    # -- engine updates -----------------------------------------------------------------------

    def on_engine_started(self, message: EngineStarted) -> None:
        self.started = True
        for name, group in message.names.items():
            if name not in self.rows:
                self.rows[name] = RepoRow(name, group, None, SyncState(repo=name))
        self._redraw()

    def on_engine_update(self, message: EngineUpdate) -> None:
        changed = set(message.statuses) | set(message.states) | set(message.pipelines)
        new: dict[str, RepoRow] = {}  # counted at once: the snapshot's rows come 10,000 at once
        for name, status in message.statuses.items():
            row = self.rows.get(name)
            if row is None:
                new[name] = RepoRow(name, status.group, status, SyncState(repo=name))
            else:
                self.rows[name] = replace(row, status=status)
        self.rows.add_new(new)
        for name, state in message.states.items():
            if name in self.rows:
                self.rows[name] = replace(self.rows[name], state=state)
        for name, pipeline in message.pipelines.items():
            if name in self.rows:
                self.rows[name] = replace(self.rows[name], pipeline=pipeline)
        for name in message.removed:
            self.rows.pop(name, None)
        for finished in message.finished:
            if finished.automatic and finished.ok and finished.new_head:
                self.notify(f"{finished.repo}: fast-forwarded to {finished.new_head[:8]}")
        for reloaded in message.reloaded:
            self.gw_app.config_reloaded(reloaded.config)
            self.notify("Config reloaded", timeout=3)
        # Engine warnings (a bad config edit, file watching degraded, history off) are toasts;
        # a burst of them is summed up rather than stacked over the table.
        notable = [log for log in message.logs if log.level != "info"]
        for log in notable[:3]:
            severity: SeverityLevel = "error" if log.level == "error" else "warning"
            self.notify(log.message, title=log.repo or "", severity=severity, timeout=8)
        if len(notable) > 3:
            self.notify(f"… and {len(notable) - 3} more warnings", severity="warning")
        # The order can only move when rows went, a filter is on, or the sort is by a value.
        moved = bool(message.removed) or bool(self._filter) or self.sort_column != "repo"
        self._redraw(changed, structure=moved)
        # A spinner follows a row's network state and pipeline, never its status.
        self._follow_spinners(set(message.states) | set(message.pipelines) | message.removed)

    def _theme_changed(self) -> None:
        self.palette = self.gw_app.palette()
        self._redraw(None)

    def _follow_spinners(self, names: set[str]) -> None:
        """Keep the set of spinning rows up to date; the spinner's timer runs while it has any."""
        for name in names:
            row = self.rows.get(name)
            if row is not None and _spins(row):
                self._spinning.add(name)
            else:
                self._spinning.discard(name)
        if self._spinning:
            self._spinner.resume()
        else:
            self._spinner.pause()

    def _spin(self) -> None:
        """Move the spinners of the rows in view."""
        self._frame += 1
        table = self.query_one(RepoTable)
        due = self._spinning.intersection(table.keys_on_screen())
        if due:
            table.update_rows(due)

    def _tick(self) -> None:
        """Once a second, re-draw the rows in view whose "3m ago", "retry in 20s" or "next poll
        in 2m" now reads differently (re-reading every row's would cost a few % at 1,000)."""
        now, before = self._clock(), self._last_tick
        self._last_tick = now
        table = self.query_one(RepoTable)
        due = {
            name
            for name in table.keys_on_screen()
            if (row := self.rows.get(name)) is not None
            and (row.state.phase != "idle" or clock_words(row, now) != clock_words(row, before))
        }
        if self.last_full_refresh is not None:  # "refreshed 3m ago"
            self._update_summary()
        if due:
            table.update_rows(due)

    # -- drawing ------------------------------------------------------------------------------

    def _order(self) -> list[str]:
        return ordered_keys(
            self.rows,
            query=self._filter,
            sort=self.sort_column,
            reverse=self.sort_reverse,
            folded=self.folded,
        )

    def _cells_for(self, key: str, columns: Sequence[Column]) -> list[Text]:
        if key.startswith(GROUP_PREFIX):
            group = key.removeprefix(GROUP_PREFIX)
            if self._groups is None:  # every group's figures at once, not a pass per group
                self._groups = self._group_figures()
            summary = self._groups.get(group, GroupTotals(0, Totals()))
            return group_cells(group, summary, group in self.folded, self.palette, columns)
        return repo_cells(self.rows[key], self.palette, self._clock(), self._frame, columns)

    def _group_figures(self) -> dict[str, GroupTotals]:
        """Kept as rows change; with a filter on, counted in one pass over the rows (the
        order is made again at each update then anyway)."""
        if self._filter:
            return group_totals(self.rows.values(), self._filter)
        return self.rows.group_totals()

    def _redraw(self, changed: set[str] | None = None, *, structure: bool = True) -> None:
        """Bring the table in line with the rows: changed cells in place, and the order
        re-computed when something that decides it may have moved."""
        table = self.query_one(RepoTable)
        self._groups = None  # rows, filter or folding may have moved: figures made anew
        if not table.order:
            changed = None  # the first rows (10,000 at once from the snapshot): all are new
        if changed is not None:
            # A group's header sums its members: it changes with them.
            changed = changed | {
                GROUP_PREFIX + group
                for n in changed
                if n in self.rows and (group := self.rows[n].group)
            }
        if structure or changed is None or not table.shows(changed):
            table.sync(self._order(), changed)
        else:  # the same rows in the same order: only the changed ones are looked at
            table.update_rows(changed)
        self._update_summary()
        self._update_empty_state(table)

    def _update_summary(self) -> None:
        p, now = self.palette, self._clock()
        totals = self.rows.totals
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" gitwatch ", "bold reverse")
        text.append(f" {totals.repos} repo{'s' if totals.repos != 1 else ''}", "bold")
        if self.started and totals.read < totals.repos:
            text.append(f" · scanning {totals.read}/{totals.repos}", p.get("repo-busy", ""))
        elif totals.stale:  # opened on the last run's statuses: re-reading them
            fresh = totals.repos - totals.stale
            text.append(f" · refreshing {fresh}/{totals.repos}", p.get("repo-busy", ""))
        for count, word, key in (
            (totals.behind, "behind", "repo-behind"),
            (totals.ahead, "ahead", "repo-ahead"),
            (totals.dirty, "dirty", "repo-unstaged"),
            (totals.errors, "in error", "repo-error"),
            (totals.busy, "fetching", "repo-busy"),
        ):
            if count or word in ("behind", "dirty", "in error"):
                text.append(" · ")
                text.append(f"{count} {word}", p.get(key, "") if count else "")
        # Over the inotify budget (known once started: the engine is made after the first frame).
        if self.started and (polled := len(self.gw_app.engine.unwatched_trees())):
            text.append(f" · {polled} trees polled", p.get("repo-muted", ""))
        if self.last_full_refresh is not None:
            text.append(f" · refreshed {ago(self.last_full_refresh, now)}", p.get("repo-muted", ""))
        if selected := len(self.selection):
            text.append(f"  {selected} selected", f"bold {p.get('repo-ahead', '')}")
        if self._filter:
            text.append(f"  filter: {self.query_text}", "bold")
        if self.sort_column != "repo" or self.sort_reverse:
            arrow = "▼" if self.sort_reverse else "▲"
            text.append(f"  sort: {COLUMN_NAMES[self.sort_column]} {arrow}", "italic")
        if text != self._summary_shown:
            # layout=False: one line of text never changes the layout; a full layout pass
            # per update was a measurable cost with 1,000 rows.
            self._summary_shown = text
            self.query_one("#summary", Static).update(text, layout=False)

    def _update_empty_state(self, table: RepoTable) -> None:
        empty = self.query_one("#empty")
        message = None
        if not self.started and not self.rows:  # the last run's rows are shown meanwhile
            message = "Reading the watch list …"
        elif not self.rows:
            message = (
                f"No git repositories found under {self._where}.\n\n"
                "  • type a folder that holds repositories below, then enter\n"
                "    (it is remembered: the next start opens it, from anywhere)\n"
                "  • or press ctrl+d for the demo: 13 repos in every state, in a sandbox\n"
                "  • or list repos in a config file (see the README, Configuration)\n\n"
                "Press ctrl+c or escape then q to quit, ? for help."
            )
        elif not table.order:
            message = f"No repo matches “{self.query_text}”.\n\nPress escape to clear the filter."
        empty.display = message is not None
        table.display = message is None
        if message is not None:
            self.query_one("#empty-text", Static).update(message)
        picker = self.query_one("#pick-folder", Input)
        picking = self.started and not self.rows
        if picking and not picker.display:
            picker.focus()
        picker.display = picking

    @on(Input.Submitted, "#pick-folder")
    def _folder_picked(self, submitted: Input.Submitted) -> None:
        folder = Path(submitted.value.strip() or ".").expanduser().absolute()
        if not folder.is_dir():
            self.notify(f"{folder} is not a folder", severity="error", timeout=4)
            return
        self._scan(folder)

    @work(exclusive=True, group="pick-folder")
    async def _scan(self, folder: Path) -> None:
        from gitwatch_tui.core.starting_folders import remember_folders

        self._where = str(folder)
        for warning in await self.gw_app.engine.scan_folders([folder]):
            self.notify(warning, severity="warning")
        remember_folders(self.gw_app.state_dir, [folder])
        self._redraw()

    def action_demo(self) -> None:
        self.gw_app.open_demo()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "demo":
            return self.started and not self.rows  # offered where there is nothing to show
        return True

    # -- actions ------------------------------------------------------------------------------

    def _selected_repos(self) -> list[str]:
        """The repo under the cursor, or every repo of the group under it."""
        key = self.query_one(RepoTable).selected_key
        if key is None:
            return []
        if key.startswith(GROUP_PREFIX):
            group = key.removeprefix(GROUP_PREFIX)
            return sorted(n for n, r in self.rows.items() if r.group == group)
        return [key]

    def action_refresh(self) -> None:
        self.notify("Refreshing every repo's status …", timeout=2)
        self.run_worker(self._refresh_all(), group="refresh", exclusive=True)

    async def _refresh_all(self) -> None:
        await self.gw_app.engine.refresh_all()
        self.last_full_refresh = self._clock()
        self._update_summary()

    def action_fetch(self) -> None:
        if self.selection:
            from gitwatch_tui.ui.screens.bulk import fetch_one

            self._bulk("Fetch", fetch_one(self.gw_app.engine))
            return
        names = self._selected_repos()
        for name in names:
            self.run_worker(self._fetch(name), group=f"fetch {name}")

    def action_fetch_all(self) -> None:
        names = sorted(n for n in self.rows if n in self.gw_app.engine.specs)
        self.notify(f"Fetching {len(names)} repos …", timeout=2)
        # One worker, a few fetches started at a time: a worker per repo was 10,000 workers,
        # whose messages held up the keys (q included) and whose cancelling slowed the quit.
        self.run_worker(self._fetch_all(names), group="fetch-all")

    async def _fetch_all(self, names: list[str]) -> None:
        from gitwatch_tui.engine.limiter import each_in_turn

        quietly = partial(self._fetch, quiet_without_remote=True)
        await each_in_turn(names, quietly, self.gw_app.engine.fetch_lanes)

    async def _fetch(self, name: str, *, quiet_without_remote: bool = False) -> None:
        result = await self.gw_app.engine.fetch(name)
        if result.ok or not result.error:
            return
        if result.detail == NO_REMOTE:
            # A local-only repo has nothing to fetch: `F` skips it; `f` on it says so.
            if not quiet_without_remote:
                self.notify(f"{name} has no remote: nothing to fetch", timeout=4)
            return
        self.notify(result.error.strip(), title=f"{name}: fetch failed", severity="error")

    def action_details(self) -> None:
        key = self.query_one(RepoTable).selected_key
        if key is None:
            return
        if key.startswith(GROUP_PREFIX):
            self.action_fold()
            return
        from gitwatch_tui.ui.screens.details import DetailScreen

        self.app.push_screen(DetailScreen(key, self.rows[key], clock=self._clock))

    def _selected_repo(self) -> str | None:
        """The repo under the cursor (a panel works on one repo; not on a group row)."""
        key = self.query_one(RepoTable).selected_key
        if key is None or key.startswith(GROUP_PREFIX) or key not in self.gw_app.engine.specs:
            if key is not None and key.startswith(GROUP_PREFIX):
                self.notify("Pick a repo row: this one is a group", timeout=3)
            return None
        return key

    def action_pull(self) -> None:
        from gitwatch_tui.ui.screens.bulk import pull_one
        from gitwatch_tui.ui.screens.pull import PullScreen

        key = self.query_one(RepoTable).selected_key
        if self.selection:
            self._bulk("Pull (ff-only)", pull_one(self.gw_app.engine), PullScreen)
        elif key is not None and key.startswith(GROUP_PREFIX):
            # A group row: its repos, as if picked and bulk pulled.
            group = key.removeprefix(GROUP_PREFIX)
            names = self._selected_repos()
            title = f"Pull (ff-only) · {group}"
            self._bulk(title, pull_one(self.gw_app.engine), PullScreen, names)
        elif (name := self._selected_repo()) is not None:
            self.app.push_screen(PullScreen(name))

    # -- push --

    def action_push(self) -> None:
        """The picked repos or the group under the cursor in bulk; one repo in its panel."""
        from gitwatch_tui.ui.screens.bulk import push_one
        from gitwatch_tui.ui.screens.push import PushScreen

        key = self.query_one(RepoTable).selected_key
        if self.selection:
            self._bulk("Push", push_one(self.gw_app.engine), PushScreen)
        elif key is not None and key.startswith(GROUP_PREFIX):
            title = f"Push · {key.removeprefix(GROUP_PREFIX)}"
            self._bulk(title, push_one(self.gw_app.engine), PushScreen, self._selected_repos())
        elif (name := self._selected_repo()) is not None:
            self.app.push_screen(PushScreen(name))

    def action_switch(self, stash: bool = False) -> None:
        if self.selection and not stash:
            from gitwatch_tui.ui.screens.bulk import BranchNameScreen

            self.app.push_screen(BranchNameScreen(len(self.selection)), self._bulk_switch)
        elif (name := self._selected_repo()) is not None:
            from gitwatch_tui.ui.screens.switch import SwitchScreen

            self.app.push_screen(SwitchScreen(name, stash=stash))

    def _bulk_switch(self, branch: str | None) -> None:
        if branch:
            from gitwatch_tui.ui.screens.bulk import switch_one
            from gitwatch_tui.ui.screens.switch import SwitchScreen

            self._bulk(f"Switch to {branch}", switch_one(self.gw_app.engine, branch), SwitchScreen)

    def _bulk(
        self,
        title: str,
        run: Run,
        panel: OpenPanel | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        # The bulk and panel screens are imported when first used: with the git operations
        # behind them they are a tenth of the start-up imports.
        from gitwatch_tui.ui.screens.bulk import BulkScreen

        names = sorted(self.selection) if names is None else list(names)
        self.app.push_screen(BulkScreen(f"{title} · {len(names)} repos", names, run, panel))

    @property
    def selection(self) -> set[str]:
        return self.rows.picked

    def action_select(self) -> None:
        """Pick the repo under the cursor (or a whole group) for a bulk action."""
        names = [n for n in self._selected_repos() if n in self.rows]
        self._set_selected(names, not all(self.rows[n].selected for n in names))
        self.query_one(RepoTable).action_cursor_down()

    def action_select_shown(self) -> None:
        """Pick every repo the filter matches (in folded groups too); again to drop them."""
        shown = [n for n, row in self.rows.items() if not self._filter or self._filter.matches(row)]
        self._set_selected(shown, not all(self.rows[n].selected for n in shown))

    def _set_selected(self, names: Sequence[str], selected: bool) -> None:
        changed = {n for n in names if self.rows[n].selected != selected}
        for name in changed:
            self.rows[name] = replace(self.rows[name], selected=selected)
        self._redraw(changed, structure=False)

    def action_stash_switch(self) -> None:
        self.action_switch(stash=True)

    def action_stashes(self) -> None:
        if (name := self._selected_repo()) is None:
            return
        status = self.rows[name].status
        if status is not None and not status.error and not status.stash:
            self.notify(f"{name} has no stashes", timeout=3)
            return
        from gitwatch_tui.ui.screens.stashes import StashScreen

        self.app.push_screen(StashScreen(name))

    def action_log(self) -> None:
        """The log: the repo under the cursor's lines, or every repo's from a group row."""
        from gitwatch_tui.ui.screens.log import LogScreen

        key = self.query_one(RepoTable).selected_key
        self.app.push_screen(LogScreen(key if key in self.rows else None))

    # -- commit log --

    def action_commit_log(self) -> None:
        """The selected repo's commit graph (HEAD and its upstream)."""
        if (name := self._selected_repo()) is None:
            return
        from gitwatch_tui.ui.screens.commit_log import CommitLogScreen

        self.app.push_screen(CommitLogScreen(name))

    def action_conflicts(self) -> None:
        if (name := self._selected_repo()) is None:
            return
        status = self.rows[name].status
        if status is not None and not status.error and not (status.conflicted or status.operation):
            self.notify(f"{name} has no conflict in progress", timeout=3)
            return
        self.gw_app.open_conflicts(name)

    @on(DataTable.RowSelected)
    def _row_clicked(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self._filter = RepoFilter.parse(self.query_text)
        self._redraw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.query_one(RepoTable).focus()

    def action_clear_filter(self) -> None:
        """Escape: the filter goes first, then the selection (picks survive a new filter)."""
        box = self.query_one("#filter", Input)
        if not box.value and self.selection:
            self._set_selected(sorted(self.selection), False)
            return
        box.value = ""
        box.display = False
        self.query_one(RepoTable).focus()

    def action_sort(self, column: str | None = None) -> None:
        """Sort by `column`, or by the next column in turn."""
        table = self.query_one(RepoTable)
        shown = [c.key for c in table.columns_shown] or list(SORTABLE)
        if column is None:
            at = shown.index(self.sort_column) if self.sort_column in shown else -1
            column = shown[(at + 1) % len(shown)]
        self.sort_column, self.sort_reverse = column, False
        table.set_sort(column, self.sort_reverse)
        self._redraw()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.query_one(RepoTable).set_sort(self.sort_column, self.sort_reverse)
        self._redraw()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column == self.sort_column:
            self.action_reverse_sort()
        else:
            self.action_sort(column)

    def action_fold(self) -> None:
        key = self.query_one(RepoTable).selected_key
        if key is None:
            return
        group = key.removeprefix(GROUP_PREFIX) if key.startswith(GROUP_PREFIX) else None
        if group is None and key in self.rows:
            group = self.rows[key].group
        if group is None:
            return
        self.folded = self.folded ^ {group}
        self._redraw()
        # The cursor goes to the group's header, which is what was folded.
        table = self.query_one(RepoTable)
        if GROUP_PREFIX + group in table.order:
            table.move_cursor(row=table.order.index(GROUP_PREFIX + group))

    def action_fold_all(self) -> None:
        groups = {r.group for r in self.rows.values() if r.group}
        self.folded = frozenset() if self.folded >= groups else frozenset(groups)
        self._redraw()

    # -- undo ---------------------------------------------------------------------------------

    def action_undo(self) -> None:
        """Go back from the last change gitwatch made to the selected repo, after a confirm."""
        if (name := self._selected_repo()) is not None:
            from gitwatch_tui.ui.screens.undo import confirm_and_undo

            self.run_worker(confirm_and_undo(self.gw_app, self.app, name), group="undo")

    def action_help(self) -> None:
        self.gw_app.show_help()

    async def action_quit(self) -> None:
        await self.gw_app.shut_down()

    # -- hand-off, editor, run anywhere -------------------------------------------------------

    def action_handoff(self) -> None:
        """Suspend and open the first installed tool of `handoff:` (else the shell) in the
        selected repo; its row is read again on return."""
        from gitwatch_tui.core.handoff import handoff_argv
        from gitwatch_tui.ui.handoff import hand_over

        if (name := self._selected_repo()) is None:
            return
        argv = handoff_argv(self.gw_app.engine.config.handoff, os.environ)
        outcome = hand_over(self.app, argv, self.gw_app.engine.specs[name].path)
        self._back_from(name, outcome if isinstance(outcome, str) else None)

    def action_edit(self) -> None:
        """Open the selected repo's folder in the editor (git's order); row read on return."""
        from gitwatch_tui.ui.handoff import edit

        if (name := self._selected_repo()) is None:
            return
        spec = self.gw_app.engine.specs[name]
        self._back_from(name, edit(self.app, spec, spec.path))

    def _back_from(self, name: str, problem: str | None) -> None:
        if problem is not None:
            self.notify(problem, title=name, severity="warning", timeout=6)
            return
        self.run_worker(self.gw_app.engine.refresh(name), group=f"refresh {name}")

    def action_run_anywhere(self, command: str = "") -> None:
        """A command in the picked repos, else the selected repo or group row's repos."""
        from gitwatch_tui.ui.screens.run import RunScreen

        names = sorted(self.selection) or [
            n for n in self._selected_repos() if n in self.gw_app.engine.specs
        ]
        if not names:
            self.notify("No repo to run in: pick some, or move to a repo row", timeout=3)
            return
        saved = self.gw_app.engine.config.commands
        self.app.push_screen(RunScreen(names, saved, command))


def _spins(row: RepoRow) -> bool:
    """Whether the row shows a spinner: a fetch, clone or sync, or a pipeline step running."""
    pipeline = row.pipeline
    return row.state.phase in _BUSY or (pipeline is not None and pipeline.state == "running")
