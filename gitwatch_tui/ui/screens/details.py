"""One repo in full: where it stands, incoming and outgoing commits, the last error word for
word, what the engine did to it lately, and its changed files with the selected one's diff.

The diff is read by the engine in its thread (`Engine.file_diff`), one file at a time as the
cursor stops on it, so the keys answer at once whatever the file's size."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gitwatch_tui.core.results import CommitInfo, FileChange, Patch, RepoDetails
from gitwatch_tui.engine.history import HistoryEntry
from gitwatch_tui.ui.diff_view import patch_view
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.messages import EngineUpdate, FollowsEngine
from gitwatch_tui.ui.repo_view import RepoRow, ago, next_poll_text, rebase_label, state_label
from gitwatch_tui.ui.widgets.footer import Footer
from gitwatch_tui.ui.widgets.patch_lines import PatchLines

_KIND_LABELS = {
    "conflicted": "Conflicted",
    "staged": "Staged",
    "unstaged": "Not staged",
    "untracked": "Untracked",
}
_KIND_COLOURS = {
    "conflicted": "repo-conflict",
    "staged": "repo-staged",
    "unstaged": "repo-unstaged",
    "untracked": "repo-untracked",
}


_MAX_FILES = 200  # per kind: a tree with thousands of changes lists the first ones


class DetailScreen(FollowsEngine, HostedScreen):
    """The selected repo's details; kept current while events for it arrive."""

    DEFAULT_CSS = """
    DetailScreen #detail-body { height: 1fr; }
    DetailScreen.-changes #detail-body { height: auto; max-height: 40%; }
    DetailScreen #detail-changes { display: none; height: 1fr; border-top: solid $primary 50%; }
    DetailScreen.-changes #detail-changes { display: block; }
    DetailScreen #detail-file-list {
        width: 40%; max-width: 50; height: 1fr; border: none;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    DetailScreen #detail-diff { height: 1fr; padding: 0 1; }
    DetailScreen #detail-changes:focus-within { border-top: solid $accent; }
    """

    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("f", "fetch", "Fetch"),
        Binding("tab,shift+tab", "toggle_focus", "Files/diff"),
        Binding("L", "commit_log", "Commits"),
        Binding("j,down", "scroll(1)", "Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, name: str, row: RepoRow, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.repo = name
        self.row = row
        self.details: RepoDetails | None = None
        self.history: list[HistoryEntry] = []
        self._clock = clock
        # The diffs read since the files were last read, by (kind, path).
        self.diffs: dict[tuple[str, str], Patch] = {}
        self._shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-sync", classes="detail-section")
            yield Static(id="detail-files", classes="detail-section")
            yield Static(id="detail-error", classes="detail-section")
            yield Static(id="detail-history", classes="detail-section")
        with Horizontal(id="detail-changes"):
            yield OptionList(id="detail-file-list")
            yield PatchLines(id="detail-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()
        self._draw()
        self._load()

    def _load(self) -> None:
        self.run_worker(self._read(), group="details", exclusive=True)

    async def _read(self) -> None:
        engine = self.gw_app.engine
        if self.repo not in engine.specs:
            return
        self.details = await engine.details(self.repo)
        self.history = await engine.recent_history(self.repo, limit=12)
        self._draw()
        self._fill_files()

    def on_engine_update(self, message: EngineUpdate) -> None:
        touched = False
        if self.repo in message.statuses:
            self.row = replace(self.row, status=message.statuses[self.repo])
            touched = True
        if self.repo in message.states:
            self.row = replace(self.row, state=message.states[self.repo])
            touched = True
        if any(f.repo == self.repo for f in message.finished):
            touched = True
        if touched:
            self._draw()
            self._load()

    # -- actions ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.run_worker(self._refresh(), group="refresh")

    async def _refresh(self) -> None:
        await self.gw_app.engine.refresh(self.repo)
        self._load()

    def action_fetch(self) -> None:
        self.run_worker(self._fetch(), group="fetch")

    async def _fetch(self) -> None:
        result = await self.gw_app.engine.fetch(self.repo)
        if not result.ok and result.error:
            self.notify(result.error.strip(), title="Fetch failed", severity="error")

    def action_scroll(self, lines: int) -> None:
        files = self.query_one("#detail-file-list", OptionList)
        if self.focused is files:
            files.action_cursor_down() if lines > 0 else files.action_cursor_up()
            return
        diff = self.query_one("#detail-diff", PatchLines)
        pane = diff if self.focused is diff else self.query_one("#detail-body", VerticalScroll)
        pane.scroll_relative(y=lines, animate=False)

    def action_back(self) -> None:
        if self.focused is self.query_one("#detail-diff"):
            self.query_one("#detail-file-list").focus()
        else:
            self.app.pop_screen()

    def action_toggle_focus(self) -> None:
        """The body, the file list and the diff in turn (the last two only with changes)."""
        order = ["#detail-body"]
        if self.has_class("-changes"):
            order += ["#detail-file-list", "#detail-diff"]
        at = next((i for i, q in enumerate(order) if self.focused is self.query_one(q)), -1)
        self.query_one(order[(at + 1) % len(order)]).focus()

    def action_commit_log(self) -> None:
        from gitwatch_tui.ui.screens.commit_log import CommitLogScreen

        if self.repo in self.gw_app.engine.specs:
            self.app.push_screen(CommitLogScreen(self.repo))

    def action_help(self) -> None:
        self.gw_app.show_help()

    # -- drawing ------------------------------------------------------------------------------

    def _draw(self) -> None:
        p = self.gw_app.palette()
        now = self._clock()
        row, s = self.row, self.row.status
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f" {row.name} ", "bold reverse")
        if row.group:
            title.append(f"  {row.group}", p["repo-group"])
        if s is not None:
            title.append(f"  {_display_path(s.path)}", p["repo-muted"])
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#detail-sync", Static).update(self._sync_section(p, now))
        self.query_one("#detail-files", Static).update(self._files_section(p))
        error = self.query_one("#detail-error", Static)
        error.update(self._error_section(p))
        error.display = bool(error.content)
        self.query_one("#detail-history", Static).update(self._history_section(p, now))

    def _sync_section(self, p: dict[str, str], now: float) -> Group:
        s, d = self.row.status, self.details
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold")
        facts.add_column()
        if s is None:
            facts.add_row("Status", Text("… reading", p["repo-muted"]))
            return Group(facts)
        branch = f"({s.branch}) detached HEAD" if s.detached else (s.branch or "—")
        if (rebasing := rebase_label(s)) is not None:  # not a detached HEAD: on its way back
            branch = f"{s.rebase_branch} {rebasing}"
        facts.add_row("Branch", branch)
        upstream = Text(s.upstream or "none", "" if s.upstream else p["repo-muted"])
        if s.upstream_gone:
            upstream.append("  gone from the remote", p["repo-error"])
        facts.add_row("Upstream", upstream)
        label, key = state_label(self.row, now)
        facts.add_row("State", Text(label, p[key]))
        last_fetch = Text(ago(s.last_fetch, now))
        if s.last_fetch_failed is not None:  # the attempts since the last success failed
            last_fetch = Text(f"failed {ago(s.last_fetch_failed, now)}", p["repo-error"])
            last_fetch.append(f" (last success: {ago(s.last_fetch, now)})", p["repo-muted"])
        facts.add_row("Last fetch", last_fetch)
        facts.add_row("Next poll", next_poll_text(self.row, now))
        if s.stash:
            facts.add_row("Stashes", Text(str(s.stash), p["repo-stash"]))
        if s.operation:
            facts.add_row("In progress", Text(s.operation, p["repo-conflict"]))
        parts: list[RenderableType] = [facts]
        if d is not None and d.upstream:
            parts.append(_commits("Incoming", d.incoming, d.incoming_total, p["repo-behind"], p))
            parts.append(_commits("Outgoing", d.outgoing, d.outgoing_total, p["repo-ahead"], p))
        if d is not None and (unpushed := _unpushed_branches(d, p)) is not None:
            parts.append(unpushed)
        elif d is None and s.upstream:
            parts.append(Text("\nreading commits …", p["repo-muted"]))
        return Group(*parts)

    def _files_section(self, p: dict[str, str]) -> Text:
        """What stands instead of the file list: why there is none."""
        d = self.details
        if d is None:
            return Text("")
        if d.error:
            return Text(f"\nCould not read the changes: {d.error}", p["repo-error"])
        if not d.files:
            return Text("\nChanged files: none, the working tree is clean", p["repo-muted"])
        return Text("")

    # -- the changed files and the selected one's diff ------------------------------------------

    def _fill_files(self) -> None:
        """The file list by kind, each with its letter; the cursor stays on its file."""
        d, p = self.details, self.gw_app.palette()
        files = d.files if d is not None and not d.error else ()
        self.set_class(bool(files), "-changes")
        self.query_one("#detail-files", Static).display = not files
        listing = self.query_one("#detail-file-list", OptionList)
        kept = self._selected_change()
        self.diffs.clear()
        options: list[Option] = []
        for kind, label in _KIND_LABELS.items():
            of_kind = [f for f in files if f.kind == kind]
            if of_kind:
                heading = Text(f"{label} ({len(of_kind)})", f"bold {p[_KIND_COLOURS[kind]]}")
                options.append(Option(heading, disabled=True))
                options += [_file_option(f, p) for f in of_kind[:_MAX_FILES]]
            if len(of_kind) > _MAX_FILES:
                more = Text(f"  … and {len(of_kind) - _MAX_FILES} more", p["repo-muted"])
                options.append(Option(more, disabled=True))
        listing.set_options(options)
        ids = [o.id for o in options]
        wanted = _option_id(kept) if kept is not None else None
        first = next((i for i, o in enumerate(options) if not o.disabled), None)
        listing.highlighted = ids.index(wanted) if wanted and wanted in ids else first
        if files and self.focused is self.query_one("#detail-body") and kept is None:
            listing.focus()  # the first read: the files are what one came for
        self._show_selected()

    def _selected_change(self) -> FileChange | None:
        listing = self.query_one("#detail-file-list", OptionList)
        option = listing.highlighted_option
        if option is None or option.id is None or self.details is None:
            return None
        return next((f for f in self.details.files if _option_id(f) == option.id), None)

    @on(OptionList.OptionHighlighted, "#detail-file-list")
    def _highlighted(self) -> None:
        self._show_selected()

    @on(OptionList.OptionSelected, "#detail-file-list")
    def _chosen(self) -> None:
        self.query_one("#detail-diff").focus()  # enter: read the diff

    def _show_selected(self) -> None:
        change = self._selected_change()
        if change is None:
            self._shown = None
            self.query_one("#detail-diff", PatchLines).show(Text())
            return
        key = (change.kind, change.path)
        if key in self.diffs:
            self._draw_diff(change)
            return
        if key != self._shown:  # read again after a change: the old diff stays until then
            muted = self.gw_app.palette()["repo-muted"]
            self.query_one("#detail-diff", PatchLines).show(Text("reading the diff …", muted))
        self._read_diff(change)

    @work(group="detail-diff", exclusive=True)
    async def _read_diff(self, change: FileChange) -> None:
        if self.repo not in self.gw_app.engine.specs:
            return
        patch = await self.gw_app.engine.file_diff(self.repo, change)
        self.diffs[(change.kind, change.path)] = patch
        if self._selected_change() == change:
            self._draw_diff(change)

    def _draw_diff(self, change: FileChange) -> None:
        p = self.gw_app.palette()
        heading = Text(no_wrap=True, overflow="ellipsis")
        heading.append(change.path, "bold")
        heading.append(f"  {_KIND_LABELS[change.kind].lower()}", p[_KIND_COLOURS[change.kind]])
        view = patch_view(
            self.diffs[(change.kind, change.path)],
            p,
            heading=heading,
        )
        key = (change.kind, change.path)
        self.query_one("#detail-diff", PatchLines).show(view, keep_scroll=self._shown == key)
        self._shown = key

    def _error_section(self, p: dict[str, str]) -> Text:
        s, state = self.row.status, self.row.state
        errors = []
        if s is not None and s.error:
            errors.append(("Status", s.error))
        if state.last_error and state.failures:
            errors.append((f"Fetch (failed {state.failures}×)", state.last_error))
        if not errors:
            return Text("")
        text = Text()
        for what, message in errors:
            text.append(f"\nLast error — {what}\n", f"bold {p['repo-error']}")
            text.append(message.strip() + "\n")
        return text

    def _history_section(self, p: dict[str, str], now: float) -> Group | Text:
        if not self.history:
            return Text("\nSync history: nothing recorded yet", p["repo-muted"])
        table = Table.grid(padding=(0, 2))
        for _ in range(4):
            table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for entry in self.history:
            when = datetime.fromtimestamp(entry.time).strftime("%Y-%m-%d %H:%M")
            mark = Text("✓", p["repo-clean"]) if entry.ok else Text("✗", p["repo-error"])
            change = ""
            if entry.old_head and entry.new_head and entry.old_head != entry.new_head:
                change = f"{entry.old_head[:8]}..{entry.new_head[:8]}"
            note = entry.error.strip().splitlines()[-1] if entry.error else entry.detail or change
            table.add_row(when, mark, entry.action, f"{entry.duration:.1f}s", note)
        return Group(Text("\nSync history", "bold"), table)


def _option_id(change: FileChange) -> str:
    return f"{change.kind}\0{change.path}"


def _file_option(change: FileChange, p: dict[str, str]) -> Option:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{change.code:>2} ", p[_KIND_COLOURS[change.kind]])
    if change.orig_path:
        line.append(f"{change.orig_path} → ")
    line.append(change.path)
    if change.conflict:
        line.append(f"  ({change.conflict})", p["repo-conflict"])
    return Option(line, id=_option_id(change))


def _commits(
    title: str, commits: tuple[CommitInfo, ...], total: int, colour: str, p: dict[str, str]
) -> Group | Text:
    if not total:
        return Text(f"\n{title}: none", p["repo-muted"])
    table = Table.grid(padding=(0, 1))
    table.add_column(style=colour, no_wrap=True)
    table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column(style=p["repo-muted"], no_wrap=True)
    for commit in commits:
        table.add_row(commit.sha, commit.subject, commit.author)
    heading = Text(f"\n{title} ({total})", f"bold {colour}")
    if total > len(commits):
        return Group(heading, table, Text(f"  … and {total - len(commits)} more", p["repo-muted"]))
    return Group(heading, table)


def _unpushed_branches(d: RepoDetails, p: dict[str, str]) -> Text | None:
    """The other local branches with commits their upstream has not (HEAD's are listed as
    Outgoing already); None when there is none."""
    others = [branch for branch in d.unpushed if not branch.current]
    if not others:
        return None
    text = Text(f"\nUnpushed branches ({len(others)})", f"bold {p['repo-ahead']}")
    for branch in others:
        text.append(f"\n  {branch.name}  ")
        text.append(f"↑{branch.ahead}", p["repo-ahead"])
        text.append(f" not on {branch.upstream}", p["repo-muted"])
    return text


def _display_path(path: str) -> str:
    """The path with the home folder as `~`, as a shell prompt shows it."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path
