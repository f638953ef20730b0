"""The Textual app: a thin bridge between the engine and the screens.

The engine runs on the app's own event loop. Its events are folded into one `EngineUpdate`
per frame (a first sweep of 1,000 repos would otherwise be 1,000 messages), and commands go
back as plain engine method calls from workers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import RenderableType
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.notifications import SeverityLevel
from textual.screen import Screen

from gitwatch_tui.core import early_signals
from gitwatch_tui.core.config import Config
from gitwatch_tui.engine.events import (
    ConfigReloaded,
    Event,
    LogLevel,
    LogLine,
    PipelineStateChanged,
    StatusChanged,
    StatusRemoved,
    SyncFinished,
    SyncStateChanged,
)
from gitwatch_tui.engine.head_start import HeadStart
from gitwatch_tui.engine.state_dir import DASHBOARD_SNAPSHOT, default_state_dir
from gitwatch_tui.engine.sync_log import SyncLog
from gitwatch_tui.ui.collector import CHECK_EVERY as COLLECTOR_CHECK_EVERY
from gitwatch_tui.ui.collector import Collector
from gitwatch_tui.ui.host import Host
from gitwatch_tui.ui.messages import EngineStarted, EngineUpdate, FollowsEngine
from gitwatch_tui.ui.screens.dashboard import COLUMN_NAMES, DashboardScreen
from gitwatch_tui.ui.themes import (
    DEFAULT_THEME,
    REPO_VARIABLES,
    STARTING_THEME,
    ThemeSource,
    requested_theme,
    save_theme_choice,
    theme_choice,
)

if TYPE_CHECKING:
    from gitwatch_tui.engine.engine import Engine

LOG_LINES_KEPT = 5000


class Service(Protocol):
    """What runs next to the engine: the webhook, /metrics and /api server of `--listen`
    (its `url`), the notifier (no `url`), or both."""

    @property
    def url(self) -> str | None: ...

    async def stop(self) -> None: ...


StartServices = Callable[["Engine"], Awaitable[Service]]
_FLUSH_DELAY = 1 / 30  # events are gathered for at most one frame before the UI sees them
# While some repo has no status yet (the first sweep), for longer: each batch costs a frame,
# and the CPU of 30 frames a second is taken from the git processes the user is waiting for.
_SCAN_FLUSH_DELAY = 0.2


def screen_bindings(screen: Screen[object]) -> list[Binding]:
    """The keys a screen class declares (its own and its bases'), the first of each action:
    the actions it offers, whichever widget has the focus (a table's cursor keys are not)."""
    found: dict[str, Binding] = {}
    for cls in type(screen).__mro__:
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", ())):
            found.setdefault(binding.action, binding)
    return list(found.values())


OPEN_DEMO = -1  # what the app returns when the user asked for the demo sandbox (no exit status)
TOAST_CHARS = 140  # a toast's three lines, about; a longer message goes to the log screen
PREPARE_AFTER = 0.5  # seconds after the engine started: the first sweep's rows come first
PREPARE_GAP = 0.05  # between two pieces of preparation: a key pressed meanwhile goes first


def preparation_steps(app: App[Any]) -> list[Callable[[], object]]:
    """What the first `?`, `p`, `b`, `enter`, `S`, `c` and `l` would pay for: their screens'
    modules, and the help laid out at the widths its box will have here."""
    import importlib

    steps: list[Callable[[], object]] = [
        partial(importlib.import_module, f"gitwatch_tui.ui.screens.{name}")
        for name in ("help", "pull", "switch", "details", "stashes", "conflicts", "log", "bulk")
    ]

    def lay_out_help() -> None:
        from gitwatch_tui.ui.screens.help import prepare_help

        prepare_help(app.size.width)

    steps.append(lay_out_help)
    return steps


# What a key does, said longer than its footer label, in the command palette.
PALETTE_HELP = {
    "refresh": "Re-read every repo's status",
    "fetch": "Fetch the selected repo, or every repo of the selected group",
    "fetch_all": "Fetch every repo",
    "details": "Open the selected repo's details",
    "pull": "Pull the selected repo, or the picked repos",
    "push": "Push the selected repo, its group, or the picked repos",
    "switch": "Switch the selected repo to another branch",
    "stash_switch": "Stash the changes and switch branch",
    "stashes": "List, apply, pop or drop the stashes",
    "log": "Every engine event and git error",
    "conflicts": "Resolve the conflicts of a merge, rebase or stash",
    "filter": "Filter by name, branch, group or state",
    "help": "Every key and symbol",
    "fold_all": "Fold or unfold every group",
    "handoff": "Suspend and open lazygit, gitui or tig (the config's handoff), else the shell",
    "edit": "Open the repo's folder in your editor (git's order: GIT_EDITOR, core.editor, …)",
    "run_anywhere": "Run a shell command in the picked repos, a few at a time",
    "undo": "Undo the last change gitwatch made to the selected repo",
}


class GitwatchApp(App[int]):
    """The dashboard. `build_app` makes one for the CLI, the tests and the screenshots."""

    CSS_PATH = "app.tcss"
    TITLE = "gitwatch-tui"
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(
        self,
        config: Config,
        *,
        engine: Engine | None = None,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        watch_files: bool = True,
        where: str | None = None,
        theme: str | None = None,
        head_start: HeadStart | None = None,
        services: StartServices | None = None,
        stop_on_signals: bool = False,
        collector: Collector | None = None,
    ) -> None:
        super().__init__()
        self._collector = collector  # the process's garbage collection, when the app runs it
        if collector is not None:
            collector.pause()
        self.config = config
        self.state_dir = state_dir or default_state_dir()
        self._engine = engine
        self._engine_options: dict[str, Any] = {
            "state_dir": self.state_dir,
            "watch_files": watch_files,
            "head_start": head_start,
            "snapshot": DASHBOARD_SNAPSHOT,
        }
        self.clock = clock
        self._where = where or (str(config.source) if config.source else str(Path.cwd()))
        self._start_services = services
        self._services: Service | None = None
        self._stop_on_signals = stop_on_signals
        self._batch: EngineUpdate | None = None
        self._scanning = False  # some repo had no status read yet at the last event
        self._flushing_soon = False  # a flush is due on the loop's next turn
        # What the log screen (`l`) shows: the latest lines, each with the time it came.
        self.log_lines: deque[tuple[float, LogLine]] = deque(maxlen=LOG_LINES_KEPT)
        self._sync_log = SyncLog()  # what went wrong (or right) with syncing, for that log
        self._unsubscribe: Callable[[], None] | None = None
        self._stopped = False
        self._engine_asked = False  # the engine starts after the dashboard's first frame
        self._preparation: list[Callable[[], object]] | None = preparation_steps(self)
        self.theme_problems: list[str] = []  # told once the dashboard is up
        self._theme_files_read = False
        source: ThemeSource | None = None  # None: the caller named the theme
        if theme is None:
            theme, source = requested_theme(config.theme, self.state_dir)
        if theme == DEFAULT_THEME:
            self.register_theme(STARTING_THEME)  # the theme files are read after the first frame
        else:
            self.read_theme_files()
        if source is None:
            self.theme = theme
        else:
            choice = theme_choice(theme, source, self.available_themes)
            self.theme = choice.name
            if choice.notice:
                self.theme_problems.append(choice.notice)
        self._theme_ready = True

    def read_theme_files(self) -> None:
        """Register the themes of `themes/*.yaml`, once: before the first frame if the theme
        to show is not the built-in default, else right after it, or sooner if a theme list
        or a reloaded config asks for them. A bad file is said in a toast and skipped."""
        if self._theme_files_read:
            return
        self._theme_files_read = True
        from gitwatch_tui.ui.theme_files import load_themes

        themes, problems = load_themes()
        for loaded in themes:
            shown = loaded.name == self.theme and loaded != self.get_theme(loaded.name)
            self.register_theme(loaded)
            if shown:  # the file says otherwise than the built-in copy: the file wins
                self.refresh_css(animate=False)
        if self.is_running:
            self._tell_theme_problems(problems)
        else:
            self.theme_problems.extend(problems)

    def _tell_theme_problems(self, problems: Iterable[str]) -> None:
        for problem in problems:
            self.notify(problem, title="Theme skipped", severity="warning")

    @property
    def engine(self) -> Engine:
        """The engine, made when first asked for: after the first frame, so that its modules
        (a tenth of a second of imports) are not on the way to it."""
        if self._engine is None:
            from gitwatch_tui.engine.engine import Engine

            self._engine = Engine(self.config, **self._engine_options)
        return self._engine

    def get_driver_class(self) -> type[Driver]:
        from textual.drivers.linux_driver import LinuxDriver

        from gitwatch_tui.ui.driver import PromptEscapeDriver

        driver = super().get_driver_class()
        # Only the POSIX input loop is replaced; a driver named in `TEXTUAL_DRIVER` stays.
        return PromptEscapeDriver if driver is LinuxDriver else driver

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(REPO_VARIABLES)

    def palette(self) -> dict[str, str]:
        """The current theme's repo-* colours, for cells drawn as Rich text."""
        variables = self.get_css_variables()
        return {key: variables.get(key, value) for key, value in REPO_VARIABLES.items()}

    def config_reloaded(self, config: Config) -> None:
        """A new config is in force: a changed `theme:` applies now (the last change wins)."""
        old, self.config = self.config.theme, config
        self.read_theme_files()
        if config.theme != old and config.theme in self.available_themes:
            self.theme = config.theme

    def watch_theme(self, theme: str) -> None:
        if getattr(self, "_theme_ready", False):
            save_theme_choice(self.state_dir, theme, self.config.theme)

    # -- life cycle ---------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        # The dashboard is the app's own first screen, not pushed over Textual's blank one:
        # one screen composed, styled and laid out before the first frame, not two (the app's
        # start to its first frame took 130 ms of CPU with two, 70 ms with one).
        return DashboardScreen(where=self._where, clock=self.clock)

    def on_mount(self) -> None:
        if self._stop_on_signals:
            self._take_stop_signals()
        self._tell_theme_problems(self.theme_problems)

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        # A call inside a batch of updates (the first one is) writes nothing.
        written = renderable is not None and not self._batch_count
        super()._display(screen, renderable)
        # The engine starts on the loop's next turn once the dashboard's first frame is out:
        # the table is on screen before the engine's modules are imported. `call_after_refresh`
        # from on_mount ran only when a later event reached the screen (in tmux the terminal's
        # second size report, a third to half a second on). Textual's `_display` and
        # `_batch_count` are private: tests/ui/test_instant_start.py checks the hook.
        if not self._engine_asked and written and isinstance(screen, DashboardScreen):
            self._engine_asked = True
            loop = asyncio.get_running_loop()
            loop.call_soon(lambda: self.run_worker(self._start_engine(), name="engine"))
            loop.call_soon(self.read_theme_files)

    async def _start_engine(self) -> None:
        try:
            if self._stopped:  # a stop signal came first
                return
            self._unsubscribe = self.engine.subscribe(self._on_event)
            await self.engine.start()
            names = {name: spec.group for name, spec in self.engine.specs.items()}
            self._post(EngineStarted(names))
        finally:
            self._start_collector()
        for state in list(self.engine.states.values()):  # the first polls' times, set quietly
            self._on_event(SyncStateChanged(state))
        self.set_timer(PREPARE_AFTER, self._prepare_next)
        if self._start_services is not None:
            try:
                self._services = await self._start_services(self.engine)
            except Exception as exc:  # the dashboard is still useful without its server
                self.notify(str(exc), title="Not serving webhooks", severity="error", timeout=15)
            else:
                url = self._services.url
                if url is not None:
                    self.notify(f"webhooks {url}/hooks/…, metrics {url}/metrics", title="Serving")

    def _start_collector(self) -> None:
        """Freeze what the start made once the dashboard has taken the start's rows (its
        messages before this one), and look now and then whether to collect in full."""
        collector = self._collector
        if collector is None:
            return
        dashboard = next((s for s in self.screen_stack if isinstance(s, DashboardScreen)), self)
        dashboard.call_later(collector.start)
        self.set_interval(COLLECTOR_CHECK_EVERY, collector.check)

    async def on_event(self, event: events.Event) -> None:
        if self._collector is not None and isinstance(event, events.Key):
            self._collector.key_pressed()
        await super().on_event(event)

    def _prepare_next(self) -> None:
        """Do one piece of what the first press of a key would otherwise pay for (a panel's
        module, the help's layout), then schedule the next: one piece at a time, so a key
        pressed meanwhile waits for one piece at most."""
        if self._stopped:
            return
        steps = self._preparation or []
        if steps:
            steps.pop(0)()
        if steps:
            self.set_timer(PREPARE_GAP, self._prepare_next)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast of a few lines at most: a longer message (a command to undo with, git's
        words) goes to the log screen whole, and the toast says where."""
        if len(message) > TOAST_CHARS or message.count("\n") > 1:
            levels: dict[str, LogLevel] = {"error": "error", "warning": "warning"}
            level = levels.get(severity, "info")
            repo = title.split(":", 1)[0] if ":" in title else None
            self.log_lines.append((time.time(), LogLine(level, message, repo)))
            first = message.splitlines()[0] if message.strip() else message
            message = f"{first[: TOAST_CHARS - 30].rstrip()}… (all of it in the log: l)"
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _take_stop_signals(self) -> None:
        """A hang-up (the terminal closed), TERM or INT: the same clean way out as `q`, also
        for one that came before the app could take it (`early_signals`)."""
        loop = asyncio.get_running_loop()
        for sig in early_signals.HELD:
            loop.add_signal_handler(sig, self._stop_signal)
        if early_signals.caught():
            self._stop_signal()

    def _stop_signal(self) -> None:
        # After a frame: a stop while the dashboard is still being put together would leave
        # its half-built screen answering messages with widgets already gone.
        self.call_after_refresh(
            lambda: self.run_worker(self.shut_down(), name="shut-down", group="shut-down")
        )

    async def shut_down(self) -> None:
        """Stop the engine (its git calls are killed) and leave."""
        await self._stop_engine()
        self.exit(0)

    async def _stop_engine(self) -> None:
        if not self._stopped:
            self._stopped = True
            if self._unsubscribe is not None:
                self._unsubscribe()
            if self._services is not None:
                await self._services.stop()
            if self._engine is not None:  # none is made before the first frame
                await self._engine.stop()

    def open_demo(self) -> None:
        """Stop, and have the command line open the demo sandbox (`--demo`) instead."""

        async def leave() -> None:
            await self._stop_engine()
            self.exit(OPEN_DEMO)

        self.run_worker(leave(), name="to-the-demo", group="shut-down")

    def show_help(self) -> None:
        """Push the help screen, built once (it is static) and kept for the next `?`."""
        if not self.is_screen_installed("help"):
            from gitwatch_tui.ui.screens.help import HelpScreen

            self.install_screen(HelpScreen(), name="help")
        if self.screen is not self.get_screen("help"):
            self.push_screen("help")

    def open_conflicts(self, name: str) -> None:
        """The conflict panel for repo `name` (from `c`, or after a pull, merge or stash
        re-apply stopped on conflicts)."""
        from gitwatch_tui.ui.screens.conflicts import ConflictScreen

        self.push_screen(ConflictScreen(name))

    async def action_quit(self) -> None:
        await self.shut_down()

    async def on_unmount(self) -> None:
        await self._stop_engine()  # left by another way than `q` (ctrl+c, an exception)

    # -- the bridge ---------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Called by the engine, on this loop, for every event: fold it into the batch."""
        scanning = self.engine.unread > 0
        if self._batch is None:
            self._batch = EngineUpdate()
            delay = _SCAN_FLUSH_DELAY if scanning else _FLUSH_DELAY
            asyncio.get_running_loop().call_later(delay, self._flush_batch)
        batch = self._batch
        if isinstance(event, StatusChanged):
            batch.statuses[event.status.name] = event.status
            batch.removed.discard(event.status.name)
        elif isinstance(event, SyncStateChanged):
            batch.states[event.state.repo] = event.state
        elif isinstance(event, StatusRemoved):
            batch.removed.add(event.repo)
            batch.statuses.pop(event.repo, None)
            batch.states.pop(event.repo, None)
        elif isinstance(event, SyncFinished):
            batch.finished.append(event)
        elif isinstance(event, LogLine):
            batch.logs.append(event)
        elif isinstance(event, PipelineStateChanged):
            batch.pipelines[event.repo] = event
        elif isinstance(event, ConfigReloaded):
            batch.reloaded.append(event)
        # The log screen's lines: the engine's own, and what syncing did, one per change.
        for line in [event] if isinstance(event, LogLine) else self._sync_log.lines(event):
            batch.log_entries.append(line)
            self.log_lines.append((time.time(), line))
        # A refused config edit (ConfigError) also comes as a LogLine, which is what is shown.
        if self._scanning and not scanning:
            self._flush_batch()  # the sweep's last status: no waiting for the timer
        elif isinstance(event, StatusChanged) and event.status.as_of is not None:
            self._flush_soon()  # the snapshot's rows, all published at once: show them now
        self._scanning = scanning

    def _flush_soon(self) -> None:
        if not self._flushing_soon:
            self._flushing_soon = True
            asyncio.get_running_loop().call_soon(self._flush_batch)

    def _flush_batch(self) -> None:
        self._flushing_soon = False
        batch, self._batch = self._batch, None
        if batch is not None and not self._stopped:
            self._post(batch)

    def _post(self, message: EngineUpdate | EngineStarted) -> None:
        """Deliver to every screen that shows engine state (the dashboard, open details);
        a message is delivered once, so each gets its own copy of the same data."""
        for screen in self.screen_stack:
            if isinstance(screen, FollowsEngine):
                screen.post_message(replace(message))

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action the screen's keys do, by the key's own name (so a new key is in the
        palette by itself), one theme picker, Quit; none of Textual's own (Keys, Maximize,
        Screenshot), which do nothing useful here."""
        yield SystemCommand("Theme", "Pick a theme: ours first, then Textual's", self.pick_theme)
        yield SystemCommand("Quit", "Quit gitwatch-tui (q)", self.action_quit)
        listed = {"quit", "command_palette"}
        for binding in screen_bindings(screen):
            if not binding.description or binding.action in listed:
                continue
            if screen.check_action(binding.action, ()) is False:  # not possible here, now
                continue
            listed.add(binding.action)
            help_text = PALETTE_HELP.get(binding.action, binding.description)
            yield SystemCommand(
                binding.description,
                f"{help_text} ({self.get_key_display(binding)})",
                partial(self.call_later, screen.run_action, binding.action),
            )
        if isinstance(screen, DashboardScreen):
            for column, words in COLUMN_NAMES.items():
                yield SystemCommand(
                    f"Sort by {words}",
                    f"Order the rows by {words} (o cycles, O reverses)",
                    lambda column=column: screen.action_sort(column),
                    discover=False,
                )
        if isinstance(screen, DashboardScreen):  # the saved commands of run anywhere (`!`)
            for saved in self.engine.config.commands:
                yield SystemCommand(
                    f"Run: {saved.name}",
                    f"$ {saved.run} · in the picked repos, else the selected one (!)",
                    partial(screen.action_run_anywhere, saved.run),
                )
        for name in self.theme_names():
            yield SystemCommand(
                f"Theme: {name.removeprefix('gitwatch-')}",
                "Switch to this theme (remembered)",
                partial(setattr, self, "theme", name),
                discover=False,
            )

    def theme_names(self) -> list[str]:
        """Our themes first, then Textual's built-in ones, each part in name order."""
        self.read_theme_files()
        ours = sorted(name for name in self.available_themes if name.startswith("gitwatch"))
        theirs = sorted(name for name in self.available_themes if name not in ours)
        return ours + theirs

    def pick_theme(self) -> None:
        """The theme list, ours first; the choice is remembered (watch_theme)."""
        self.search_commands(
            [(name, partial(setattr, self, "theme", name)) for name in self.theme_names()],
            placeholder="Search for themes…",
        )


if TYPE_CHECKING:
    # The screens take the running app for a Host (ui/host.py): mypy checks here that it is one.
    _checked: type[Host] = GitwatchApp


def build_app(config: Config, **options: Any) -> GitwatchApp:
    """The dashboard app for `config` (the CLI, the tests and the screenshots all use this)."""
    return GitwatchApp(config, **options)
