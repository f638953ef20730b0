"""Run anywhere (`!`): type a shell command (or pick a saved one), run it in the picked repos,
and watch a line per repo: running or its exit code, how long, its last lines. Enter on a repo
shows its whole output; escape cancels every command still running (their process groups
end), and closing the screen does too. The running itself is the engine's (`run_command`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from gitwatch_tui.core.config import SavedCommand
from gitwatch_tui.engine.engine import UnknownRepo
from gitwatch_tui.engine.run_anywhere import CommandRun, RepoRun
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.widgets.footer import Footer

_MARKS: dict[str, tuple[str, str]] = {  # phase -> symbol, palette key
    "queued": ("·", "repo-muted"),
    "running": ("⠿", "repo-busy"),
    "ok": ("✓", "repo-clean"),
    "failed": ("✗", "repo-error"),
    "cancelled": ("⊘", "repo-behind"),
}


def state_words(run: RepoRun) -> tuple[str, str]:
    """The mark's kind and the words of a repo's state: queued, running, exit 0, ..."""
    if run.phase == "done":
        if run.exit_code is not None and run.exit_code < 0:
            return "failed", f"killed by signal {-run.exit_code}"
        return ("ok" if run.exit_code == 0 else "failed"), f"exit {run.exit_code}"
    if run.phase == "failed":
        return "failed", "not started"
    return run.phase, run.phase


def seconds(duration: float | None) -> str:
    """Whole seconds, as a person reads a run's time ("<1s" for the quick ones)."""
    if duration is None:
        return ""
    return "<1s" if duration < 1 else f"{duration:.0f}s"


class RunScreen(HostedScreen):
    """One command over `names`, a line per repo filled in as each runs and ends."""

    BINDINGS = [
        Binding("escape", "cancel_or_close", "Cancel / back"),
        Binding("enter", "show_output", "A repo's whole output"),
    ]
    DEFAULT_CSS = """
    RunScreen #run-title { height: 1; padding: 0 1; background: $panel; }
    RunScreen #run-command { margin: 0 0; }
    RunScreen #run-saved { height: auto; max-height: 8; border: none; }
    RunScreen #run-results { height: 1fr; }
    """

    def __init__(
        self, names: Sequence[str], saved: Sequence[SavedCommand] = (), command: str = ""
    ) -> None:
        super().__init__()
        self.names = list(names)
        self.saved = list(saved)
        self.command = command
        self.command_run: CommandRun | None = None
        self._worker: Worker[None] | None = None
        self._started: dict[str, float] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="run-title")
        runs = [c.run for c in self.saved]
        yield Input(
            self.command,
            placeholder="a shell command to run in each repo, e.g. git status -s",
            suggester=SuggestFromList(runs) if runs else None,
            id="run-command",
        )
        yield OptionList(
            *(Option(Text.assemble((c.name, "bold"), "  ", c.run), id=c.name) for c in self.saved),
            id="run-saved",
        )
        yield DataTable(id="run-results", cursor_type="row", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("repo", key="repo")
        table.add_column("state", key="state")
        table.add_column("time", key="time")
        table.add_column("last lines", key="last")
        self.query_one("#run-saved").display = bool(self.saved)
        table.display = False
        self._update_title()
        self.set_interval(0.5, self._tick)
        if self.command:
            self._start(self.command)
        else:
            self.query_one(Input).focus()

    # -- starting and cancelling --------------------------------------------------------------

    @on(Input.Submitted, "#run-command")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._start(event.value.strip())

    @on(OptionList.OptionSelected, "#run-saved")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        chosen = next(c for c in self.saved if c.name == event.option.id)
        self.query_one(Input).value = chosen.run
        self._start(chosen.run)

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_running

    def _start(self, command: str) -> None:
        """Run `command` in every repo of the screen (not while a run is going on)."""
        if self.running:
            self.notify("Still running: escape cancels it first", timeout=3)
            return
        try:
            run = self.gw_app.engine.run_command(self.names, command, self._progress)
        except UnknownRepo as gone:  # the config changed since the screen opened
            self.notify(f"{gone.name} is no longer watched: nothing run", severity="error")
            return
        self.command, self.command_run = command, run
        self._started.clear()
        table = self.query_one(DataTable)
        table.clear()
        for name in self.names:
            table.add_row(Text(name), *self._cells(RepoRun(name)), key=name)
        table.display = True
        self.query_one("#run-saved").display = False
        table.focus()
        work = self._run_all(run)
        self._worker = self.run_worker(work, group="run", exit_on_error=False)
        self._update_title()

    async def _run_all(self, run: CommandRun) -> None:
        results = await run.run()
        for result in results:  # the refresh shows what the command changed in each repo
            self.run_worker(self.gw_app.engine.refresh(result.repo), group="refresh")
        self._update_title()

    def action_cancel_or_close(self) -> None:
        """Escape: cancel every command still running; with none running, close."""
        if self.running and self._worker is not None:
            if self._worker.is_cancelled:  # a second escape: the groups are being ended
                self.notify("Still ending the commands (SIGKILL comes after 2 s)", timeout=3)
                return
            self._worker.cancel()
            self.notify("Cancelled: every command still running is being ended", timeout=3)
            return
        self.app.pop_screen()

    # -- progress -----------------------------------------------------------------------------

    def _progress(self, run: RepoRun) -> None:
        if not self.is_attached:  # closed: the run's last words (cancelled) go nowhere
            return
        if run.phase == "running":
            self._started.setdefault(run.repo, time.monotonic())
        table = self.query_one(DataTable)
        if run.repo not in table.rows:
            return
        state, clock, last = self._cells(run)
        table.update_cell(run.repo, "state", state)
        table.update_cell(run.repo, "time", clock)
        table.update_cell(run.repo, "last", last, update_width=True)
        self._update_title()

    def _tick(self) -> None:
        """The running repos' time goes on between their lines of output."""
        if self.command_run is None:
            return
        table = self.query_one(DataTable)
        for name, run in self.command_run.runs.items():
            if run.phase == "running" and name in table.rows:
                table.update_cell(name, "time", self._elapsed(run))

    def _elapsed(self, run: RepoRun) -> str:
        if run.phase == "running" and run.repo in self._started:
            return seconds(time.monotonic() - self._started[run.repo])
        return seconds(run.duration)

    def _cells(self, run: RepoRun) -> tuple[Text, str, Text]:
        palette = self.gw_app.palette()
        kind, words = state_words(run)
        mark, key = _MARKS[kind]
        state = Text.assemble((f"{mark} {words}", palette.get(key, "")))
        lines = run.error or " ⏎ ".join(run.last_lines)
        if run.cut:
            lines += f"  (output cut: {run.cut:,} bytes not kept)"
        return state, self._elapsed(run), Text(lines, no_wrap=True, overflow="ellipsis")

    def _update_title(self) -> None:
        count = len(self.names)
        text = Text.assemble((f" Run · {count} repo{'s' if count != 1 else ''} ", "bold reverse"))
        if self.command_run is None:
            text.append("  type a command, enter runs it · esc closes")
        else:
            kinds = [state_words(r)[0] for r in self.command_run.runs.values()]
            parts = [f"{kinds.count(k)} {k}" for k in _MARKS if kinds.count(k)]
            text.append("  " + " · ".join(parts))
        self.query_one("#run-title", Static).update(text)

    # -- one repo's whole output --------------------------------------------------------------

    def action_show_output(self) -> None:
        table = self.query_one(DataTable)
        if self.command_run is None or not table.display or not self.names:
            return
        name = self.names[table.cursor_row]
        self.app.push_screen(OutputScreen(name, self.command_run))

    @on(DataTable.RowSelected, "#run-results")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_output()


class OutputScreen(ModalScreen[None]):
    """A repo's whole output as kept (the cap said where it cut), scrollable; it grows while
    the command still runs."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    OutputScreen { align: center middle; }
    OutputScreen > VerticalScroll {
        width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, name: str, run: CommandRun) -> None:
        super().__init__()
        self.repo = name
        self._run = run
        self._shown = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"{self.repo} · $ {self._run.command}"
            box.border_subtitle = "esc back"
            yield Static(id="run-output", markup=False)

    def on_mount(self) -> None:
        self._refresh_output()
        self.set_interval(0.5, self._refresh_output)

    def _refresh_output(self) -> None:
        text = self._run.output(self.repo)
        run = self._run.runs[self.repo]
        _, words = state_words(run)
        shown = text or "(no output)"
        if run.phase != "running":
            shown += ("" if shown.endswith("\n") else "\n") + f"── {words}"
        if shown != self._shown:
            self._shown = shown
            self.query_one("#run-output", Static).update(Text(shown))
