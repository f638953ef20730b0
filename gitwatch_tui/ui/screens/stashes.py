"""`S`: one repo's stashes (message, branch, age, files), the selected one's patch, and
apply / pop / drop. Nothing here loses a stash: a drop asks first and says how to put it back,
and an apply or pop that conflicts keeps the stash and opens the conflict panel."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from gitwatch_tui.core.results import (
    StashDropped,
    StashEntry,
    StashError,
    StashList,
    StashOutcome,
    undo_drop_command,
)
from gitwatch_tui.ui.diff_view import diff_text
from gitwatch_tui.ui.repo_view import ago
from gitwatch_tui.ui.screens.change_panel import ChangePanel, in_turn
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.widgets.footer import Footer

MAX_DIFF_LINES = 4000  # a bigger patch is cut (colouring it all would stall the panel)
_STATUS_WORDS = {"M": "modified", "A": "added", "D": "deleted", "T": "type changed"}


def short_message(entry: StashEntry) -> str:
    """The message without the "On main: " / "WIP on main: " prefix the branch column shows."""
    message = entry.message
    if entry.branch is not None:
        for prefix in (f"On {entry.branch}: ", f"WIP on {entry.branch}: "):
            if message.startswith(prefix):
                rest = message[len(prefix) :]
                return f"WIP {rest}" if prefix.startswith("WIP") else rest
    return message


class StashScreen(ChangePanel):
    """The stash list of repo `name`; a change goes through the engine, then the list is read
    again."""

    MESSAGE_ID = "stash-message"
    DEFAULT_CSS = """
    StashScreen #stash-title {
        height: 1;
        background: $panel;
    }
    StashScreen #stash-list {
        height: auto;
        max-height: 40%;
        border: none;
    }
    StashScreen #stash-empty {
        height: 1fr;
        content-align: center middle;
        color: $repo-muted;
        display: none;
    }
    StashScreen.-empty #stash-empty {
        display: block;
    }
    StashScreen.-empty #stash-list, StashScreen.-empty #stash-below {
        display: none;
    }
    StashScreen #stash-below {
        height: 1fr;
        border-top: solid $primary 50%;
        layout: vertical;
    }
    StashScreen.-wide #stash-below {
        layout: horizontal;
    }
    StashScreen #stash-files {
        height: auto;
        max-height: 3;
        padding: 0 1;
    }
    StashScreen.-wide #stash-files {
        width: 34;
        height: 1fr;
        max-height: 100%;
        border-right: solid $primary 30%;
        overflow-y: auto;
    }
    StashScreen #stash-diff {
        height: 1fr;
        padding: 0 1;
    }
    StashScreen:focus-within #stash-below:focus-within {
        border-top: solid $accent;
    }
    StashScreen #stash-message {
        height: auto;
        max-height: 4;
        padding: 0 1;
        background: $panel;
        display: none;
    }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("a", "apply", "Apply"),
        Binding("p", "pop", "Pop"),
        Binding("d", "drop", "Drop"),
        Binding("tab,shift+tab", "toggle_focus", "List/diff"),
        Binding("j", "move(1)", "Next stash / scroll down", show=False),
        Binding("k", "move(-1)", "Previous stash / scroll up", show=False),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entries: tuple[StashEntry, ...] = ()
        self.error: str | None = None
        self.loaded = False
        self.diffs: dict[str, str | StashError] = {}  # by stash sha (a sha never changes)
        self._shown_sha: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="stash-title")
        table: DataTable[Text] = DataTable(id="stash-list", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(f"No stashes in {self.repo}", id="stash-empty")
        with Horizontal(id="stash-below"):
            yield Static(id="stash-files")
            with VerticalScroll(id="stash-diff"):
                yield Static(id="stash-patch")
        yield Static(id="stash-message")
        yield Footer()

    def on_mount(self) -> None:
        self._fit_width()
        self.query_one("#stash-list").focus()
        self._draw_title()
        self._load()

    def on_resize(self) -> None:
        if self._fit_width():
            self._fill_table()
            self._show_selected()

    # -- reading ------------------------------------------------------------------------------

    def _load(self, keep: str | None = None) -> None:
        self.reading = True
        self._read(keep)

    @work(group="stash-read", exclusive=True)
    async def _read(self, keep: str | None = None) -> None:
        if self.repo not in self.gw_app.engine.specs:
            listing = StashList(error="it is no longer watched")
        else:
            listing = await self.gw_app.engine.read_stashes(self.repo)
        self.entries, self.error, self.loaded = listing.entries, listing.error, True
        table = self.query_one("#stash-list", DataTable)
        at = table.cursor_row
        self._fill_table()
        shas = [e.sha for e in self.entries]
        if keep in shas:
            at = shas.index(keep)
        if self.entries:
            table.move_cursor(row=min(max(at, 0), len(self.entries) - 1))
        self.set_class(not self.entries, "-empty")
        if self.error is not None:
            self.query_one("#stash-empty", Static).update(
                Text(f"Could not read the stashes of {self.repo}: {self.error}", "bold")
            )
        self._draw_title()
        self._show_selected()
        self._read_done()

    def _fill_table(self) -> None:
        table: DataTable[Text] = self.query_one("#stash-list", DataTable)
        p = self.gw_app.palette()
        now = self.gw_app.clock()
        table.clear(columns=True)
        room = self.size.width - 4
        widths = {"ref": 10, "branch": 14, "when": 8, "files": 8}
        message_width = max(12, room - sum(widths.values()) - 2 * len(widths))
        table.add_column("Stash", key="ref", width=widths["ref"])
        table.add_column("Message", key="message", width=message_width)
        table.add_column("Branch", key="branch", width=widths["branch"])
        table.add_column("Made", key="when", width=widths["when"])
        table.add_column("Files", key="files", width=widths["files"])
        for entry in self.entries:
            files = len(entry.files)
            table.add_row(
                Text(entry.ref, p["repo-stash"]),
                _cell(short_message(entry)),
                _cell(entry.branch or "—", "" if entry.branch else p["repo-muted"]),
                _cell(ago(entry.time, now)),
                _cell(f"{files} file{'s' if files != 1 else ''}"),
                key=entry.sha,
            )

    def _selected(self) -> StashEntry | None:
        table = self.query_one("#stash-list", DataTable)
        if not self.entries or not 0 <= table.cursor_row < len(self.entries):
            return None
        return self.entries[table.cursor_row]

    @on(DataTable.RowHighlighted, "#stash-list")
    def _highlighted(self) -> None:
        self._show_selected()

    @on(DataTable.RowSelected, "#stash-list")
    def _selected_row(self) -> None:
        self.query_one("#stash-diff").focus()  # enter: read the patch

    def _show_selected(self) -> None:
        entry = self._selected()
        self._draw_files(entry)
        if entry is None:
            self._shown_sha = None
            self.query_one("#stash-patch", Static).update("")
            return
        if entry.sha in self.diffs:
            self._draw_diff(entry)
        else:
            self.query_one("#stash-patch", Static).update(
                Text("reading the patch …", self.gw_app.palette()["repo-muted"])
            )
            self._read_diff(entry)

    @work(group="stash-diff", exclusive=True)
    async def _read_diff(self, entry: StashEntry) -> None:
        if self.repo not in self.gw_app.engine.specs:
            return
        self.diffs[entry.sha] = await self.gw_app.engine.stash_diff(self.repo, entry.sha)
        selected = self._selected()
        if selected is not None and selected.sha == entry.sha:
            self._draw_diff(entry)

    # -- drawing ------------------------------------------------------------------------------

    def _draw_title(self) -> None:
        p = self.gw_app.palette()
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Stashes ", "bold reverse")
        title.append(f" {self.repo}", "bold")
        if self.loaded and self.error is None:
            count = len(self.entries)
            title.append(f" · {count} stash{'es' if count != 1 else ''}", p["repo-stash"])
        elif not self.loaded:
            title.append(" · reading …", p["repo-muted"])
        if self.busy:
            title.append(f" · ⠿ {self.busy}", p["repo-busy"])
        self.query_one("#stash-title", Static).update(title)

    def _draw_files(self, entry: StashEntry | None) -> None:
        files = self.query_one("#stash-files", Static)
        if entry is None:
            files.update("")
            return
        p = self.gw_app.palette()
        wide = self.has_class("-wide")
        text = Text(no_wrap=not wide, overflow="ellipsis")
        count = len(entry.files)
        text.append(f"{entry.ref} · {count} file{'s' if count != 1 else ''}", "bold")
        text.append("\n" if wide else ": ")
        for i, change in enumerate(entry.files):
            if i and not wide:
                text.append("  ")
            letter, colour = ("?", p["repo-untracked"]) if change.untracked else (
                change.status, p["repo-unstaged"]
            )  # fmt: skip
            text.append(f"{letter} ", colour)
            text.append(change.path)
            if wide:
                word = "untracked" if change.untracked else _STATUS_WORDS.get(change.status, "")
                text.append(f"  {word}\n", p["repo-muted"])
        files.update(text)

    def _draw_diff(self, entry: StashEntry) -> None:
        patch = self.query_one("#stash-patch", Static)
        diff = self.diffs[entry.sha]
        p = self.gw_app.palette()
        if isinstance(diff, StashError):
            patch.update(Text(f"Could not show {entry.ref}: {diff.message}", p["repo-error"]))
            return
        lines = diff.splitlines()
        shown = "\n".join(lines[:MAX_DIFF_LINES])
        coloured = diff_text(shown or "(an empty patch)", p)
        if len(lines) > MAX_DIFF_LINES:
            more = len(lines) - MAX_DIFF_LINES
            note = Text(
                f"\n… {more} more lines: git stash show -p --include-untracked {entry.sha[:10]}",
                p["repo-muted"],
            )
            from rich.console import Group

            patch.update(Group(coloured, note))
        else:
            patch.update(coloured)
        if self._shown_sha != entry.sha:
            self._shown_sha = entry.sha
            self.query_one("#stash-diff", VerticalScroll).scroll_home(animate=False)

    # -- actions ------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.focused is self.query_one("#stash-diff"):
            self.query_one("#stash-list").focus()
        else:
            self.app.pop_screen()

    def action_toggle_focus(self) -> None:
        if not self.entries:
            return
        diff = self.query_one("#stash-diff")
        target = self.query_one("#stash-list") if self.focused is diff else diff
        target.focus()

    def action_move(self, step: int) -> None:
        diff = self.query_one("#stash-diff", VerticalScroll)
        if self.focused is diff:
            diff.scroll_relative(y=step, animate=False)
        else:
            table = self.query_one("#stash-list", DataTable)
            table.move_cursor(row=max(0, table.cursor_row + step))

    @in_turn
    def action_reload(self) -> None:
        entry = self._selected()
        self._load(entry.sha if entry else None)

    @in_turn
    def action_apply(self) -> None:
        self._apply(pop=False)

    @in_turn
    def action_pop(self) -> None:
        self._apply(pop=True)

    def _apply(self, *, pop: bool) -> None:
        entry = self._ready()
        if entry is None:
            return
        verb = "popping" if pop else "applying"
        # The sha, not stash@{N}: an index shifts when a stash is added meanwhile.
        engine = self.gw_app.engine
        self._run(
            f"{verb} {entry.ref}",
            lambda: engine.apply_stash(self.repo, entry.sha, pop=pop),
            lambda outcome: self._applied(entry, outcome),
        )

    def _applied(self, entry: StashEntry, outcome: StashOutcome) -> None:
        if outcome.conflicts:
            # The stash is kept (core never drops a stash that conflicted): say so where it
            # stays visible, and hand over to the conflict panel.
            self.notify(
                f"{outcome.message}. Resolve the conflicts; the stash is still in the list.",
                title=f"{self.repo}: stash conflicts",
                severity="warning",
                timeout=10,
            )
            self.app.pop_screen()
            self.gw_app.open_conflicts(self.repo)
            return
        if outcome.ok:
            self.say(outcome.message, "ok")
        else:
            self.say(f"Nothing changed: {outcome.message}", "error")
        self._load(entry.sha)

    @in_turn
    def action_drop(self) -> None:
        entry = self._ready()
        if entry is None:
            return
        count = len(entry.files)
        body = (
            f"{entry.ref}  {entry.message}\n"
            f"{count} file{'s' if count != 1 else ''}, made "
            f"{ago(entry.time, self.gw_app.clock())}.\n\n"
            "It leaves the stash list; until git prunes it, this puts it back:\n"
            f"  {undo_drop_command(entry.sha, entry.message)}"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                engine = self.gw_app.engine
                self._run(
                    f"dropping {entry.ref}",
                    lambda: engine.drop_stash(self.repo, entry.ref, expected_sha=entry.sha),
                    self._dropped,
                )
            else:
                self.say("Drop cancelled; nothing changed.")

        confirm = ConfirmScreen(f"Drop {entry.ref}?", body, yes="Drop", danger=True)
        self.app.push_screen(confirm, answered)

    def _dropped(self, result: StashDropped | StashError) -> None:
        if isinstance(result, StashError):
            self.say(f"Not dropped: {result.message}", "error")
        else:
            self.say(f"Dropped {result.ref} ({result.sha[:10]}). To undo: {result.undo}", "ok")
        self._load()

    # -- running changes ----------------------------------------------------------------------

    def _ready(self) -> StashEntry | None:
        """The selected stash, when a change may start now."""
        if not self._idle():
            return None
        entry = self._selected()
        if entry is None:
            self.say(f"No stashes in {self.repo}." if self.loaded else "Still reading …")
        return entry


def _cell(text: str, style: str = "") -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")
