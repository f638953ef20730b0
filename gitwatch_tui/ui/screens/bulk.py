"""One action on many repos (the selected ones): fetch, pull (ff-only) or switch, with a line
of result per repo as each one ends. A repo where the action is unsafe is skipped with the
reason its own refusal gives; nothing is forced. Enter on a repo opens its own panel, where the
other ways (rebase, merge, stash and switch) are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static

from gitwatch_tui.core.results import (
    PullRefusal,
    PullResult,
    PushRefusal,
    PushResult,
    SwitchRefusal,
    SwitchResult,
)
from gitwatch_tui.engine.events import NO_REMOTE, SyncFinished
from gitwatch_tui.engine.locks import RepoBusy
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.repo_view import first_line
from gitwatch_tui.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from gitwatch_tui.engine.engine import Engine

Outcome = Literal["done", "skipped", "failed"]
_MARKS: dict[str, tuple[str, str]] = {  # outcome -> symbol, palette key
    "running": ("⠿", "repo-busy"),
    "done": ("✓", "repo-clean"),
    "skipped": ("⊘", "repo-behind"),
    "failed": ("✗", "repo-error"),
}


@dataclass(frozen=True, slots=True)
class BulkResult:
    repo: str
    outcome: Outcome
    text: str


Run = Callable[[str], Awaitable[BulkResult]]
OpenPanel = Callable[[str], Screen[None]]  # the one-repo panel of the action, for enter


def fetch_one(engine: Engine) -> Run:
    async def run(name: str) -> BulkResult:
        return fetched(await engine.fetch(name))

    return run


def pull_one(engine: Engine) -> Run:
    async def run(name: str) -> BulkResult:
        return pulled(name, await engine.pull(name, "ff-only"))

    return run


def switch_one(engine: Engine, branch: str) -> Run:
    async def run(name: str) -> BulkResult:
        try:
            result = await engine.switch(name, branch)
        except RepoBusy as busy:
            return BulkResult(name, "skipped", str(busy))
        return switched(name, result)

    return run


def fetched(finished: SyncFinished) -> BulkResult:
    if finished.detail == NO_REMOTE:
        return BulkResult(finished.repo, "skipped", "no remote: nothing to fetch")
    if finished.ok:
        return BulkResult(finished.repo, "done", "fetched")
    return BulkResult(finished.repo, "failed", first_line(finished.error or "fetch failed"))


def pulled(name: str, result: PullResult | PullRefusal | SyncFinished) -> BulkResult:
    """A pull's end in words: moved old..new, skipped for the reason it was refused, or
    failed (the fetch before it, or git itself)."""
    if isinstance(result, SyncFinished) and result.detail == NO_REMOTE:
        return BulkResult(name, "skipped", "no remote: nothing to pull")
    if isinstance(result, SyncFinished):  # the fetch before it
        return BulkResult(name, "failed", first_line(result.error or "failed"))
    if isinstance(result, PullRefusal):
        if result.reason == "not-behind":
            return BulkResult(name, "skipped", "already up to date")
        outcome: Outcome = "failed" if result.reason == "error" else "skipped"
        return BulkResult(name, outcome, first_line(result.message or result.reason))
    if not result.ok:
        return BulkResult(name, "failed", first_line(result.message or "failed"))
    return BulkResult(name, "done", f"fast-forwarded {result.old_head[:8]}..{result.new_head[:8]}")


def switched(name: str, result: SwitchResult | SwitchRefusal) -> BulkResult:
    if isinstance(result, SwitchRefusal):
        paths = f" ({', '.join(result.paths[:3])}{' …' if len(result.paths) > 3 else ''})"
        listed = paths if result.paths else ""
        return BulkResult(name, "skipped", first_line(result.message) + listed)
    return BulkResult(name, "done", f"on {result.branch} at {result.head[:8]}")


def push_one(engine: Engine) -> Run:
    async def run(name: str) -> BulkResult:
        try:
            result = await engine.push(name)
        except RepoBusy as busy:
            return BulkResult(name, "skipped", str(busy))
        return pushed(name, result)

    return run


def pushed(name: str, result: PushResult | PushRefusal) -> BulkResult:
    """A push's end in words: sent old..new, skipped for the reason it was refused (behind,
    diverged, no upstream: its panel offers the next step), or failed (auth, a hook, git)."""
    if isinstance(result, PushResult):
        old = result.old_sha[:8] if result.old_sha else "new"
        return BulkResult(name, "done", f"pushed {old}..{result.new_sha[:8]}")
    if result.reason == "up-to-date":
        return BulkResult(name, "skipped", "nothing to push")
    outcome: Outcome = "failed" if result.reason in ("error", "auth", "hook") else "skipped"
    return BulkResult(name, outcome, first_line(result.message or result.reason))


class BulkScreen(HostedScreen):
    """Results of one action over many repos, filled in as each repo's action ends."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "open_panel", "Open panel"),
    ]
    DEFAULT_CSS = """
    BulkScreen #bulk-title { height: 1; padding: 0 1; background: $panel; }
    BulkScreen #bulk-results { height: 1fr; }
    """

    def __init__(
        self, title: str, names: Sequence[str], run: Run, panel: OpenPanel | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.names = list(names)
        self.results: dict[str, BulkResult] = {}
        self._run = run
        self._panel = panel

    def compose(self) -> ComposeResult:
        yield Static(id="bulk-title")
        yield DataTable(id="bulk-results", cursor_type="row", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("repo", key="repo")
        table.add_column("result", key="result")
        palette = self.gw_app.palette()
        for name in self.names:
            table.add_row(Text(name), self._cell("running", "…", palette), key=name)
        self._update_title()
        for name in self.names:
            self.run_worker(self._one(name), group="bulk")

    async def _one(self, name: str) -> None:
        try:
            result = await self._run(name)
        except Exception as exc:  # one repo's surprise must not hide the others' results
            result = BulkResult(name, "failed", first_line(str(exc)) or type(exc).__name__)
        self.results[name] = result
        palette = self.gw_app.palette()
        text = result.text
        if result.outcome == "skipped" and self._panel is not None:
            text += " · enter opens its panel"
        cell = self._cell(result.outcome, text, palette)
        self.query_one(DataTable).update_cell(name, "result", cell, update_width=True)
        self._update_title()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_panel":
            return self._panel is not None
        return True

    def action_open_panel(self) -> None:
        """Enter: the repo under the cursor in the action's own panel."""
        table = self.query_one(DataTable)
        if self._panel is None or not self.names:
            return
        name = self.names[table.cursor_row]
        self.app.push_screen(self._panel(name))

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_panel()

    @staticmethod
    def _cell(outcome: str, text: str, palette: dict[str, str]) -> Text:
        mark, key = _MARKS[outcome]
        return Text.assemble((f"{mark} ", palette.get(key, "")), text)

    def _update_title(self) -> None:
        counts = {kind: 0 for kind in ("done", "skipped", "failed")}
        for result in self.results.values():
            counts[result.outcome] += 1
        running = len(self.names) - len(self.results)
        parts = [f"{n} {kind}" for kind, n in counts.items()]
        if running:
            parts.append(f"{running} running")
        text = Text.assemble((f" {self.title_text} ", "bold reverse"), "  " + " · ".join(parts))
        self.query_one("#bulk-title", Static).update(text)


class BranchNameScreen(ModalScreen[str | None]):
    """Asks for the branch a bulk switch goes to (enter accepts, esc cancels)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    BranchNameScreen { align: center middle; }
    BranchNameScreen > Vertical {
        width: 60; height: auto; border: round $accent; padding: 0 1; background: $surface;
    }
    """

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Switch {self.count} repos to branch"
            box.border_subtitle = "enter switches · esc cancels"
            yield Input(placeholder="branch name, e.g. main", id="branch-name")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
