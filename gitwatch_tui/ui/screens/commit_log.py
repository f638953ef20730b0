"""`L`: one repo's commits as a graph of HEAD and its upstream, the commits not pushed yet (↑)
and not pulled yet (↓) marked; `/` searches (n / N go to the next / previous match), enter
shows a commit's stat and patch below the graph, `m` reads more commits.

Everything is read by the engine in its thread (`Engine.commit_log`, `Engine.show_commit`), so
the keys answer while git works."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from gitwatch_tui.core.results import CommitLog, LogEntry, Patch
from gitwatch_tui.ui.diff_view import patch_view
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.repo_view import ago
from gitwatch_tui.ui.widgets.footer import Footer
from gitwatch_tui.ui.widgets.patch_lines import PatchLines

PAGE = 500  # commits read at a time; `m` reads as many more
_MARKS = {"unpushed": ("↑", "repo-ahead"), "unpulled": ("↓", "repo-behind"), "": (" ", "")}


class CommitLogScreen(HostedScreen):
    """The commit graph of repo `name`, searchable, with the selected commit shown on enter."""

    DEFAULT_CSS = """
    CommitLogScreen #clog-title { height: 1; background: $panel; }
    CommitLogScreen #clog-list {
        height: 1fr; border: none; text-wrap: nowrap; text-overflow: ellipsis;
    }
    CommitLogScreen.-showing #clog-list { height: 40%; }
    CommitLogScreen #clog-list > .option-list--option-disabled { color: $text-muted; }
    CommitLogScreen #clog-show { display: none; height: 1fr; padding: 0 1;
        border-top: solid $primary 50%; }
    CommitLogScreen.-showing #clog-show { display: block; }
    CommitLogScreen #clog-show:focus { border-top: solid $accent; }
    CommitLogScreen #clog-search { display: none; height: 1; border: none; padding: 0 1; }
    CommitLogScreen.-searching #clog-search { display: block; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("q", "app.pop_screen", "Close", show=False),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next match"),
        Binding("N", "next_match(-1)", "Previous match", show=False),
        Binding("tab,shift+tab", "toggle_focus", "Graph/commit"),
        Binding("m", "more", "More commits", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("j", "move(1)", "Next commit / scroll down", show=False),
        Binding("k", "move(-1)", "Previous commit / scroll up", show=False),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.repo = name
        self.commits: CommitLog | None = None
        self.query_text = ""
        self.shown: dict[str, Patch] = {}  # by sha (a commit never changes)
        self._limit = PAGE

    def compose(self) -> ComposeResult:
        yield Static(id="clog-title")
        yield OptionList(id="clog-list")
        yield Input(id="clog-search", placeholder="search sha, subject, author, refs")
        yield PatchLines(id="clog-show")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#clog-list").focus()
        self._draw_title()
        self._load()

    # -- reading ------------------------------------------------------------------------------

    @work(group="clog-read", exclusive=True)
    async def _load(self) -> None:
        if self.repo not in self.gw_app.engine.specs:
            self.commits = CommitLog(error="it is no longer watched")
        else:
            self.commits = await self.gw_app.engine.commit_log(self.repo, limit=self._limit)
        listing = self.query_one("#clog-list", OptionList)
        kept = listing.highlighted_option.id if listing.highlighted_option else None
        listing.set_options(self._options(self.commits))
        ids = [o.id for o in listing.options]
        first = next((i for i, o in enumerate(listing.options) if not o.disabled), None)
        listing.highlighted = ids.index(kept) if kept and kept in ids else first
        self._draw_title()

    def _options(self, log: CommitLog) -> list[Option]:
        p, now = self.gw_app.palette(), self.gw_app.clock()
        if log.error is not None:
            return [
                Option(Text(f"Could not read the log: {log.error}", p["repo-error"]), disabled=True)
            ]
        options = [_entry_option(e, p, now) for e in log.entries]
        if log.more:
            more = f"… more commits: m reads {PAGE} more"
            options.append(Option(Text(more, p["repo-muted"]), disabled=True))
        return options

    @work(group="clog-show", exclusive=True)
    async def _read_commit(self, sha: str) -> None:
        if sha not in self.shown:
            self._draw_commit(sha)  # says it is reading
            if self.repo not in self.gw_app.engine.specs:
                return
            self.shown[sha] = await self.gw_app.engine.show_commit(self.repo, sha)
        self._draw_commit(sha)

    # -- drawing ------------------------------------------------------------------------------

    def _draw_title(self) -> None:
        p, log = self.gw_app.palette(), self.commits
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Commits ", "bold reverse")
        title.append(f" {self.repo}", "bold")
        if log is None:
            title.append(" · reading …", p["repo-muted"])
        elif log.error is None:
            title.append(f" · {log.upstream or 'no upstream'}", p["repo-muted"])
            title.append(f" · ↑{log.unpushed} not pushed", p["repo-ahead"])
            title.append(f" · ↓{log.unpulled} not pulled", p["repo-behind"])
        if self.query_text and log is not None:
            found = len(log.matches(self.query_text))
            title.append(f" · /{self.query_text}: {found} found", p["repo-stash"])
        self.query_one("#clog-title", Static).update(title)

    def _draw_commit(self, sha: str) -> None:
        p = self.gw_app.palette()
        patch = self.query_one("#clog-show", PatchLines)
        if sha not in self.shown:
            patch.show(Text(f"reading {sha[:10]} …", p["repo-muted"]))
            return
        patch.show(patch_view(self.shown[sha], p))

    # -- actions ------------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#clog-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        sha = event.option.id
        if sha is None:
            return
        self.add_class("-showing")
        self._read_commit(sha)

    def action_back(self) -> None:
        if self.has_class("-searching"):
            self._end_search(keep=False)
        elif self.has_class("-showing"):
            self.remove_class("-showing")
            self.query_one("#clog-list").focus()
        else:
            self.app.pop_screen()

    def action_toggle_focus(self) -> None:
        if not self.has_class("-showing"):
            return
        show = self.query_one("#clog-show")
        target = self.query_one("#clog-list") if self.focused is show else show
        target.focus()

    def action_move(self, step: int) -> None:
        show = self.query_one("#clog-show", PatchLines)
        if self.focused is show:
            show.scroll_relative(y=step, animate=False)
            return
        listing = self.query_one("#clog-list", OptionList)
        listing.action_cursor_down() if step > 0 else listing.action_cursor_up()

    def action_more(self) -> None:
        if self.commits is not None and self.commits.more:
            self._limit += PAGE
            self._load()

    def action_reload(self) -> None:
        self.shown.clear()
        self._load()

    def action_search(self) -> None:
        self.add_class("-searching")
        box = self.query_one("#clog-search", Input)
        box.value = self.query_text
        box.focus()

    @on(Input.Changed, "#clog-search")
    def _typed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self._go_to_match(0)  # the first match from the cursor on, as one types

    @on(Input.Submitted, "#clog-search")
    def _submitted(self) -> None:
        self._end_search(keep=True)

    def _end_search(self, *, keep: bool) -> None:
        if not keep:
            self.query_text = ""
        self.remove_class("-searching")
        self.query_one("#clog-list").focus()
        self._draw_title()

    def action_next_match(self, step: int) -> None:
        if not self.query_text:
            self.notify("Nothing to find: / starts a search", timeout=3)
            return
        self._go_to_match(step)

    def _go_to_match(self, step: int) -> None:
        """The cursor to the match `step` away (0: the cursor's line or the next), wrapping."""
        self._draw_title()
        if self.commits is None:
            return
        found = self.commits.matches(self.query_text)
        if not found:
            return
        listing = self.query_one("#clog-list", OptionList)
        at = listing.highlighted if listing.highlighted is not None else -1
        if step < 0:
            before = [i for i in found if i < at]
            listing.highlighted = before[-1] if before else found[-1]
        else:
            after = [i for i in found if (i > at if step else i >= at)]
            listing.highlighted = after[0] if after else found[0]


def _entry_option(entry: LogEntry, p: dict[str, str], now: float) -> Option:
    """One graph line: the drawing, the mark, the sha, the refs, the subject, who and when."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if entry.sha is None:
        line.append(entry.graph, p["repo-muted"])
        return Option(line, disabled=True)
    symbol, colour = _MARKS[entry.mark]
    line.append(entry.graph, p["repo-muted"])
    line.append(f"{symbol} ", p[colour] if colour else "")
    line.append(f"{entry.short} ", p[colour] if colour else p["repo-muted"])
    if entry.refs:
        line.append(f"({entry.refs}) ", f"bold {p['repo-stash']}")
    line.append(entry.subject)
    line.append(f"  {entry.author}, {ago(entry.time, now)}", p["repo-muted"])
    return Option(line, id=entry.sha)
