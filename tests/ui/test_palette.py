"""The command palette: every action of the screen it is opened on, one theme picker with our
themes first, and none of Textual's own commands that do nothing useful here."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.pull import PullScreen
from tests.ui.conftest import RepoSet, all_read, make_app, table, until

TEXTUAL_INTERNALS = {"Keys", "Maximize", "Minimize", "Screenshot"}


def palette_open(app: GitwatchApp) -> bool:
    return (
        isinstance(app.screen, CommandPalette)
        and app.screen.query(CommandList).first(CommandList).option_count > 0
    )


def shown_commands(app: GitwatchApp) -> list[str]:
    """The commands the open palette lists (their names, the first line of each option)."""
    listing = app.screen.query_one(CommandList)
    return [
        str(listing.get_option_at_index(i).prompt).split("\n")[0].strip()
        for i in range(listing.option_count)
    ]


async def open_palette(pilot: Pilot[object], app: GitwatchApp, expected: set[str]) -> list[str]:
    """Open the palette; the commands it lists once `expected` are all in (hits arrive in
    batches: what one provider yields comes together)."""
    await pilot.press("ctrl+p")
    await until(pilot, lambda: palette_open(app) and expected <= set(shown_commands(app)))
    return shown_commands(app)


async def pick(pilot: Pilot[object], app: GitwatchApp, typed: str, first: str) -> None:
    """Type `typed` into the open palette, and press enter once `first` heads the list."""
    await pilot.press(*typed)
    await until(pilot, lambda: palette_open(app) and shown_commands(app)[:1] == [first])
    await pilot.press("enter")


async def test_the_palette_lists_every_dashboard_key_and_no_textual_internals(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        described = {b.description for b in DashboardScreen.BINDINGS if b.description}
        names = await open_palette(pilot, app, described | {"Theme"})
        assert "Theme" in names and "Quit" in names
        assert not TEXTUAL_INTERNALS & set(names)


async def test_a_panel_s_palette_lists_the_panel_s_keys(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).get_row_index("web"))
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PullScreen))
        panel = {b.description for b in PullScreen.BINDINGS if b.description}
        assert panel
        names = await open_palette(pilot, app, panel | {"Theme"})
        assert "Fetch all" not in names  # the dashboard's keys do not work here


async def test_one_theme_picker_with_ours_first(repo_set: RepoSet, tmp_path: Path) -> None:
    app = make_app(repo_set.config, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_palette(pilot, app, {"Theme"})
        await pick(pilot, app, "Theme", "Theme")
        await until(pilot, lambda: palette_open(app) and "textual-dark" in shown_commands(app))
        names = shown_commands(app)
        ours = [name for name in names if name.startswith("gitwatch")]
        assert names[: len(ours)] == ours and len(ours) >= 2
        assert "textual-dark" in names[len(ours) :]
        await pick(pilot, app, "light", "gitwatch-light")
        await until(pilot, lambda: app.theme == "gitwatch-light")
