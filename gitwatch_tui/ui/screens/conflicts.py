"""`c`, and after a pull, merge or stash re-apply that stopped on conflicts: the conflicted
files, each text hunk as ours / base / theirs, and the ways out.

Lower-case keys act on the current hunk (o ours, t theirs, b both), upper-case ones on the
whole file (O, T, B: also the way for binary and deleted-on-one-side files). Every change
goes through the engine, so it is logged with the command that brings the conflict back.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from gitwatch_tui.core.results import (
    ConflictEntry,
    ConflictFile,
    ConflictHunk,
    ConflictState,
    OperationOutcome,
    ResolveOutcome,
    Side,
    plural,
)
from gitwatch_tui.ui.handoff import edit
from gitwatch_tui.ui.screens.change_panel import ChangePanel, in_turn
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from pygments.lexer import Lexer


THREE_COLUMNS = 78  # hunk pane width from which base sits between ours and theirs
_LAST = 1 << 30  # "the last hunk", clamped once the file is read

# What `A` restores, in the words of each operation's --abort.
ABORT_WORDS = {
    "merge": "git merge --abort: HEAD, the index and the files go back to how they were before "
    "the merge started (git keeps changes you had made before it).",
    "rebase": "git rebase --abort: the branch goes back to the commit it was on before the "
    "rebase started; commits already replayed leave it (they stay in the reflog).",
    "cherry-pick": "git cherry-pick --abort: HEAD and the files go back to how they were before "
    "the cherry-pick started.",
    "revert": "git revert --abort: HEAD and the files go back to how they were before the "
    "revert started.",
    "am": "git am --abort: the branch goes back to where it was before the patches.",
}
STASH_ABORT_WORDS = (
    "The files the stash changed go back to HEAD, and the untracked files it restored are "
    "removed (unless changed since). The stash stays in the stash list."
)

_SIDE_HELP = {
    "DU": "We deleted this file; they changed it. O keeps it deleted, T keeps their version.",
    "UD": "They deleted this file; we changed it. O keeps our version, T deletes it.",
    "AU": "Only we have this file (its other name was taken on their side). "
    "O keeps it, T removes it.",
    "UA": "Only they have this file (its other name was taken on our side). "
    "O removes it, T keeps it.",
    "DD": "Both sides deleted or renamed this file. O or T removes it.",
}


def lexer_for(path: str) -> Lexer | None:
    """The Pygments lexer for a file name (by name only: guessing from the text misleads)."""
    from pygments.lexers import get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        return get_lexer_for_filename(path)
    except ClassNotFound:
        return None


def kind_words(entry: ConflictEntry) -> str:
    return f"{entry.kind}, binary" if entry.binary else entry.kind


class ConflictScreen(ChangePanel):
    """The conflict in repo `name`: re-read after every change made from here."""

    MESSAGE_ID = "conflict-message"
    DEFAULT_CSS = """
    ConflictScreen #conflict-title {
        height: 1;
        background: $panel;
    }
    ConflictScreen #conflict-main {
        height: 1fr;
        layout: vertical;
    }
    ConflictScreen.-wide #conflict-main {
        layout: horizontal;
    }
    ConflictScreen #conflict-files {
        height: auto;
        max-height: 6;
        border: none;
        border-bottom: solid $primary 40%;
        padding: 0;
    }
    ConflictScreen.-wide #conflict-files {
        width: 30;
        height: 1fr;
        max-height: 100%;
        border-bottom: none;
        border-right: solid $primary 40%;
    }
    ConflictScreen #conflict-files:focus {
        border-bottom: solid $accent;
    }
    ConflictScreen.-wide #conflict-files:focus {
        border-bottom: none;
        border-right: solid $accent;
    }
    ConflictScreen #conflict-right {
        height: 1fr;
    }
    ConflictScreen #conflict-head {
        height: auto;
        padding: 0 1;
    }
    ConflictScreen #conflict-hunks {
        height: 1fr;
        padding: 0 1;
    }
    ConflictScreen .hunk {
        height: auto;
        border: round $foreground 30%;
        border-title-color: $foreground 60%;
        padding: 0 1;
    }
    ConflictScreen .hunk.-current {
        border: heavy $accent;
        border-title-color: $accent;
        border-title-style: bold;
    }
    ConflictScreen #conflict-message {
        height: auto;
        max-height: 4;
        padding: 0 1;
        background: $panel;
        display: none;
    }
    ConflictScreen #conflict-keys {
        height: 1;
        padding: 0 1;
        color: $repo-muted;
    }
    """

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("o", "take('ours')", "Ours"),
        Binding("t", "take('theirs')", "Theirs"),
        Binding("b", "take('both')", "Both"),
        Binding("a", "mark_resolved", "Resolved"),
        Binding("C", "continue", "Continue"),
        Binding("A", "abort", "Abort"),
        Binding("O", "take_file('ours')", "Whole file: ours", show=False),
        Binding("T", "take_file('theirs')", "Whole file: theirs", show=False),
        Binding("B", "take_file('both')", "Whole file: both", show=False),
        Binding("j,n", "hunk(1)", "Next hunk", show=False),
        Binding("k,N", "hunk(-1)", "Previous hunk", show=False),
        Binding("e", "edit", "Edit in your editor", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]
    KEYS_LINE = "n/N j/k hunk · O/T/B whole file · e $EDITOR · ↑↓ file · r reload"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.state: ConflictState | None = None
        self.file: ConflictFile | None = None
        self.path: str | None = None
        self.hunk = 0
        self._lexer: tuple[str, Lexer | None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="conflict-title")
        with Container(id="conflict-main"):
            yield OptionList(id="conflict-files")
            with Vertical(id="conflict-right"):
                yield Static(id="conflict-head")
                yield VerticalScroll(id="conflict-hunks")
        yield Static(id="conflict-message")
        yield Static(self.KEYS_LINE, id="conflict-keys")
        yield Footer()

    def on_mount(self) -> None:
        self._fit_width()
        self.query_one("#conflict-files").focus()
        self._draw_title()
        self._load()

    def on_resize(self) -> None:
        if self._fit_width():
            self._fill_files()
        self.call_after_refresh(self._redraw_hunks)

    # -- reading ------------------------------------------------------------------------------

    def _load(self, path: str | None = None, hunk: int = 0) -> None:
        """Read the conflict and the file `path` (None: the first one still conflicted)."""
        self.reading = True
        self._read(path, hunk)

    @work(group="conflict-read", exclusive=True)
    async def _read(self, path: str | None, hunk: int) -> None:
        engine = self.gw_app.engine
        if self.repo not in engine.specs:
            state = ConflictState(error=f"{self.repo} is no longer watched")
        else:
            state = await engine.read_conflicts(self.repo)
        unresolved = [e.path for e in state.files]
        if path is None or (path not in unresolved and path not in state.resolved_paths):
            path = next(iter(unresolved or state.resolved_paths), None)
        file = None
        if path in unresolved:
            file = await engine.conflict_hunks(self.repo, path)
        self.state, self.path, self.file = state, path, file
        count = len(file.hunks) if file is not None else 0
        self.hunk = min(max(hunk, 0), max(count - 1, 0))
        self._draw_title()
        self._fill_files()
        await self._draw_file()
        self._read_done()

    def _entry(self, path: str | None) -> ConflictEntry | None:
        if self.state is None:
            return None
        return next((e for e in self.state.files if e.path == path), None)

    # -- drawing ------------------------------------------------------------------------------

    def _draw_title(self) -> None:
        p = self.gw_app.palette()
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Conflicts ", "bold reverse")
        title.append(f" {self.repo}", "bold")
        state = self.state
        if state is None:
            title.append(" · reading …", p["repo-muted"])
        elif state.error is not None:
            title.append(f" · ✗ {state.error}", p["repo-error"])
        elif not state.active:
            title.append(" · no conflict in progress", p["repo-clean"])
        else:
            verb = state.label.removesuffix(f" {state.resolved}/{state.total}")
            done = state.resolved == state.total
            title.append(f" · ⚠ {verb}", p["repo-conflict"])
            title.append(
                f" · {state.resolved}/{state.total} resolved", p["repo-clean"] if done else ""
            )
            if state.stash is not None:
                title.append(f" · stash {state.stash[:10]} kept", p["repo-stash"])
        if self.busy:
            title.append(f" · ⠿ {self.busy}", p["repo-busy"])
        self.query_one("#conflict-title", Static).update(title)

    def _fill_files(self) -> None:
        files = self.query_one("#conflict-files", OptionList)
        state = self.state
        if state is None:
            return
        p = self.gw_app.palette()
        wide = self.has_class("-wide")
        options = []
        for entry in state.files:
            prompt = Text(no_wrap=True, overflow="ellipsis")
            prompt.append("✗ ", p["repo-conflict"])
            prompt.append(entry.path)
            prompt.append("\n  " if wide else "  ", "")
            prompt.append(kind_words(entry), p["repo-muted"])
            options.append(Option(prompt, id=entry.path))
        for path in state.resolved_paths:
            prompt = Text(no_wrap=True, overflow="ellipsis")
            prompt.append("✓ ", p["repo-clean"])
            prompt.append(path)
            prompt.append("\n  " if wide else "  ")
            prompt.append("resolved", p["repo-clean"])
            options.append(Option(prompt, id=path))
        with files.prevent(OptionList.OptionHighlighted):
            files.set_options(options)
            if self.path is not None:
                files.highlighted = files.get_option_index(self.path)
        files.display = bool(options)

    async def _draw_file(self) -> None:
        """The head line and the hunks of the selected file (or what to do with it)."""
        p = self.gw_app.palette()
        pane = self.query_one("#conflict-hunks", VerticalScroll)
        await pane.remove_children()
        self._draw_head()
        state, file, entry = self.state, self.file, self._entry(self.path)
        if state is None or state.error is not None or self.path is None:
            return
        if entry is None or file is None:
            await pane.mount(Static(self._next_step_text(), classes="note"))
        elif file.error is not None:
            await pane.mount(Static(Text(file.error, p["repo-error"]), classes="note"))
        elif file.hunks:
            await pane.mount_all(Static(classes="hunk") for _ in file.hunks)
            self._redraw_hunks()
        else:
            await pane.mount(Static(self._whole_file_text(entry, file), classes="note"))

    def _draw_head(self) -> None:
        """The file's name, kind, "hunk N/M" and which branch each side is."""
        p = self.gw_app.palette()
        head = self.query_one("#conflict-head", Static)
        state, file, path = self.state, self.file, self.path
        if state is None:
            head.update("")
            return
        if state.error is not None:
            head.update(Text(f"Could not read the conflict: {state.error}", p["repo-error"]))
            return
        if path is None:
            head.update(Text(f"No conflict in progress in {self.repo}.", p["repo-clean"]))
            return
        entry = self._entry(path)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(path, "bold")
        if entry is None or file is None:
            line.append("  ✓ resolved (staged)", p["repo-clean"])
            head.update(line)
            return
        line.append(f"  {kind_words(entry)}", p["repo-conflict"])
        if not file.hunks:
            head.update(line)  # no hunks: the file's markers named no sides
            return
        line.append(f" · hunk {self.hunk + 1}/{len(file.hunks)}")
        head.update(Group(line, self._sides_line(file)))

    def _sides_line(self, file: ConflictFile) -> Text:
        p = self.gw_app.palette()
        text = Text(no_wrap=True, overflow="ellipsis")
        # The keys keep git's names (o, t); the words say who each side is.
        text.append("o", f"bold {p['repo-ahead']}")
        text.append(f" = {side_words(file.ours_role, file.ours_label)}   ")
        text.append("t", f"bold {p['repo-behind']}")
        text.append(f" = {side_words(file.theirs_role, file.theirs_label)}")
        return text

    def _whole_file_text(self, entry: ConflictEntry, file: ConflictFile) -> Text:
        p = self.gw_app.palette()
        text = Text()
        if entry.binary or file.binary:
            text.append("A binary file: no hunks to compare.\n", "bold")
            text.append("O takes our version, T theirs, for the whole file.")
        elif entry.code in _SIDE_HELP:
            text.append(_SIDE_HELP[entry.code])
        else:
            text.append("No conflict markers left in this file.\n", p["repo-clean"])
            text.append("a marks it resolved; e opens it in your editor first.")
        return text

    def _next_step_text(self) -> Text:
        p = self.gw_app.palette()
        state = self.state
        if state is not None and not state.files:
            what = state.operation or ("stash apply" if state.stash else "")
            return Text(
                f"Every file is resolved. C continues the {what or 'operation'}, A aborts it.",
                p["repo-clean"],
            )
        return Text("Pick a file still conflicted (✗) with ↑ ↓.", p["repo-muted"])

    def _redraw_hunks(self) -> None:
        file = self.file
        pane = self.query_one("#conflict-hunks", VerticalScroll)
        widgets = list(pane.query(".hunk").results(Static))
        if file is None or len(widgets) != len(file.hunks):
            return
        width = pane.scrollable_content_region.width - 4  # the hunk's border and padding
        for position, (widget, hunk) in enumerate(zip(widgets, file.hunks, strict=True)):
            current = position == self.hunk
            widget.set_class(current, "-current")
            mark = "▶ " if current else ""
            widget.border_title = f"{mark}hunk {position + 1}/{len(file.hunks)} · line {hunk.line}"
            widget.update(self._hunk_view(file, hunk, width))
        self._scroll_to_current()

    def _scroll_to_current(self) -> None:
        pane = self.query_one("#conflict-hunks", VerticalScroll)
        widgets = list(pane.query(".hunk").results(Static))
        if 0 <= self.hunk < len(widgets):
            target = widgets[self.hunk]
            self.call_after_refresh(pane.scroll_to_widget, target, animate=False, top=True)

    def _hunk_view(self, file: ConflictFile, hunk: ConflictHunk, width: int) -> RenderableType:
        p = self.gw_app.palette()
        ours_title = side_words(file.ours_role, file.ours_label, " · ")
        theirs_title = side_words(file.theirs_role, file.theirs_label, " · ")
        ours = (Text(ours_title, f"bold {p['repo-ahead']}"), hunk.ours)
        theirs = (Text(theirs_title, f"bold {p['repo-behind']}"), hunk.theirs)
        base_title = Text(hunk.base_label or "base", f"bold {p['repo-muted']}")
        if hunk.base is None:
            base_title.append(" (unknown)", p["repo-muted"])
        base = (base_title, hunk.base)
        if width >= THREE_COLUMNS:
            return self._sides_table([ours, base, theirs])
        parts: list[RenderableType] = [self._sides_table([ours, theirs])]
        if hunk.base is not None:
            parts.append(self._sides_table([base]))
        return Group(*parts)

    def _sides_table(self, columns: list[tuple[Text, tuple[str, ...] | None]]) -> Table:
        table = Table(
            box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False, padding=(0, 1)
        )
        for title, _ in columns:
            table.add_column(title, ratio=1, overflow="fold")
        table.add_row(*(self._code(lines) for _, lines in columns))
        return table

    def _code(self, lines: tuple[str, ...] | None) -> RenderableType:
        p = self.gw_app.palette()
        if lines is None:
            return Text("(not known)", f"italic {p['repo-muted']}")
        if not lines:
            return Text("(nothing)", f"italic {p['repo-muted']}")
        path = self.path or ""
        if self._lexer is None or self._lexer[0] != path:
            self._lexer = (path, lexer_for(path))
        lexer = self._lexer[1]
        pane = self.query_one("#conflict-hunks")
        return Syntax(
            "".join(lines).rstrip("\n"),
            lexer if lexer is not None else "text",
            theme="ansi_dark" if self.app.current_theme.dark else "ansi_light",
            # The pane's own colour: a theme's background would draw boxes behind the text.
            background_color=pane.background_colors[1].hex,
            word_wrap=True,
        )

    # -- moving -------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#conflict-files")
    def _file_picked(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None and event.option.id != self.path:
            self._load(event.option.id, 0)

    @in_turn
    def action_hunk(self, step: int) -> None:
        """Next / previous hunk; past the file's last (first) hunk, the next (previous) file
        still conflicted."""
        count = len(self.file.hunks) if self.file is not None else 0
        target = self.hunk + step
        if 0 <= target < count:
            self.hunk = target
            self._redraw_hunks()
            self._draw_head()
            return
        if self.state is None:
            return
        paths = [e.path for e in self.state.files]
        if self.path in paths:
            at = paths.index(self.path) + step
            if 0 <= at < len(paths):
                self._load(paths[at], 0 if step > 0 else _LAST)

    @in_turn
    def action_reload(self) -> None:
        self._load(self.path, self.hunk)

    # -- resolving ----------------------------------------------------------------------------

    def _conflicted_file(self) -> tuple[str, ConflictFile] | None:
        """The selected file when it is still conflicted and nothing is running."""
        if not self._idle():
            return None
        if self.path is None or self.state is None:
            self.say("No conflicted file here.")
            return None
        if self.file is None:
            self.say(f"{self.path} is resolved already.")
            return None
        return self.path, self.file

    @in_turn
    def action_take(self, side: Side) -> None:
        picked = self._conflicted_file()
        if picked is None:
            return
        path, file = picked
        if not file.hunks:
            self.say(
                f"{path} has no conflict hunks to pick from: O or T takes a side for the whole "
                "file.",
                "error",
            )
            return
        hunk = file.hunks[self.hunk]
        number, position = self.hunk + 1, self.hunk
        engine = self.gw_app.engine
        self._run(
            f"taking {side} for hunk {number}",
            lambda: engine.resolve_hunks(
                self.repo, path, {hunk.index: side}, expected_fingerprint=file.fingerprint
            ),
            lambda outcome: self._resolved(outcome, f"hunk {number}: took {side}", path, position),
        )

    @in_turn
    def action_take_file(self, side: Side) -> None:
        picked = self._conflicted_file()
        if picked is None:
            return
        path, _ = picked
        engine = self.gw_app.engine
        self._run(
            f"taking {side} for {path}",
            lambda: engine.resolve(self.repo, path, side),
            lambda outcome: self._resolved(outcome, f"{path}: took {side}", None, 0),
        )

    def _resolved(
        self, outcome: ResolveOutcome, done: str, path: str | None, position: int
    ) -> None:
        if not outcome.ok:
            self.say(f"Nothing changed: {outcome.message}", "error")
            self._load(self.path, self.hunk)
            return
        message = done
        if path is not None and not outcome.remaining_hunks:
            # The file's last hunk: it is marked resolved with no `a` of its own (marking
            # refuses a file with markers left, so nothing unresolved is staged).
            self.say(f"{message}; no conflict left in {path}", "ok")
            engine = self.gw_app.engine
            self._run(
                f"marking {path} resolved",
                lambda: engine.mark_resolved(self.repo, [path]),
                partial(self._marked, path),
            )
            return
        if path is not None:
            message += f"; {plural(outcome.remaining_hunks, 'hunk')} left"
        else:
            message += ", staged"
        if outcome.undo:
            message += f" · undo: {outcome.undo}"
        self.say(message, "ok")
        # The hunks after the resolved one move up: the same position is the next hunk.
        self._load(path, position)

    @in_turn
    def action_mark_resolved(self) -> None:
        picked = self._conflicted_file()
        if picked is None:
            return
        path, file = picked
        if file.hunks:
            count = len(file.hunks)
            self.say(
                f"Not marked: {path} still has {count} conflict hunk{'s' if count != 1 else ''} "
                "with <<<<<<< markers. Take a side (o/t/b, O/T/B) or edit it (e) first.",
                "error",
            )
            return
        engine = self.gw_app.engine
        self._run(
            f"marking {path} resolved",
            lambda: engine.mark_resolved(self.repo, [path]),
            partial(self._marked, path),
        )

    def _marked(self, path: str, outcome: ResolveOutcome) -> None:
        if outcome.ok:
            undo = f" · undo: {outcome.undo}" if outcome.undo else ""
            self.say(f"{path} marked resolved{undo}", "ok")
            self._load(None)  # on to the next file still conflicted
        else:
            self.say(f"Not marked: {outcome.message}", "error")
            self._load(path, self.hunk)

    @in_turn
    def action_edit(self) -> None:
        picked = self._conflicted_file()
        if picked is None:
            return
        path, file = picked
        if file.binary or (file.entry is not None and file.entry.binary):
            self.say(f"{path} is binary: O or T takes a side for the whole file.", "error")
            return
        spec = self.gw_app.engine.specs.get(self.repo)
        if spec is None:  # removed from the watch list while the panel was open
            self.say(f"{self.repo} is no longer watched.", "error")
            return
        full = spec.path / path
        if not full.is_file():
            self.say(f"{path} is not in the working tree: O or T decides it.", "error")
            return
        # The editor in git's order, as every `e` of the app finds it (ui.handoff).
        problem = edit(self.app, spec, full)
        if problem is not None:
            self.say(f"{problem}; or edit {path} elsewhere and press r.", "error")
            return
        self.say(f"Back from the editor: {path} read again.")
        self._load(path, self.hunk)

    # -- continue and abort -------------------------------------------------------------------

    @in_turn
    def action_continue(self) -> None:
        if not self._idle():
            return
        state = self.state
        if state is None:
            return
        if state.files:
            names = ", ".join(e.path for e in state.files[:3])
            more = " …" if len(state.files) > 3 else ""
            self.say(
                f"Not yet: {len(state.files)} file{'s' if len(state.files) != 1 else ''} still "
                f"conflicted ({names}{more}). Resolve each and mark it with a.",
                "error",
            )
            return
        engine = self.gw_app.engine
        what = state.operation or "stash apply"
        self._run(
            f"continuing the {what}",
            lambda: engine.continue_operation(self.repo),
            partial(self._finished, "continued"),
        )

    @in_turn
    def action_abort(self) -> None:
        if not self._idle():
            return
        state = self.state
        if state is None or not state.active:
            self.say("No conflict in progress: nothing to abort.")
            return
        what: str
        if state.operation is not None:
            what = state.operation
            body = ABORT_WORDS.get(what, f"git {what} --abort.")
        elif state.stash is not None:
            what, body = "stash apply", STASH_ABORT_WORDS
        else:
            self.say(
                "These conflicts come from no merge, rebase, cherry-pick or stash apply made "
                "here, so there is nothing to abort: resolve the files one by one.",
                "error",
            )
            return
        if state.resolved:
            body += (
                f"\n\nThe {plural(state.resolved, 'file')} resolved so far lose their resolution."
            )

        def answered(yes: bool | None) -> None:
            if not yes:
                self.say("Abort cancelled; nothing changed.")
                return
            engine = self.gw_app.engine
            self._run(
                f"aborting the {what}",
                lambda: engine.abort_operation(self.repo),
                partial(self._finished, "aborted"),
            )

        confirm = ConfirmScreen(f"Abort the {what}?", body, yes="Abort", danger=True)
        self.app.push_screen(confirm, answered)

    def _finished(self, verb: str, outcome: OperationOutcome) -> None:
        if not outcome.ok and outcome.conflicts:
            # A rebase (or a series of picks) went on and stopped on the next commit.
            self.say(f"{outcome.message}: the next step conflicts too, resolve it the same way.")
            self._load(None)
            return
        if not outcome.ok:
            self.say(f"Not {verb}: {outcome.message}", "error")
            self._load(self.path, self.hunk)
            return
        moved = ""
        if outcome.old_head and outcome.new_head and outcome.old_head != outcome.new_head:
            moved = f" · {outcome.old_head[:8]}..{outcome.new_head[:8]}"
        self.app.notify(f"{outcome.message}{moved}", title=self.repo, timeout=8)
        if self.is_current:
            self.app.pop_screen()


def side_words(role: str, label: str, between: str = " ") -> str:
    """A side as the panel names it: "ours main", "upstream origin/main", "the stash"."""
    return f"{role}{between}{label}" if label else role
