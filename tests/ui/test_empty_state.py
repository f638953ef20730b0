"""With nothing to show, the dashboard offers a folder to scan (remembered) and the demo."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import ScanRoot
from gitwatch_tui.core.starting_folders import remembered_folders
from gitwatch_tui.ui.app import OPEN_DEMO
from tests.conftest import make_remote_and_clone
from tests.ui.conftest import dashboard, make_app, plain, until


def empty_config(folder: Path) -> Config:
    folder.mkdir(exist_ok=True)
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    return Config(defaults=defaults, scan=(ScanRoot(path=folder),))


async def test_a_folder_typed_in_the_empty_dashboard_is_scanned_and_remembered(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("api", "web"):
        _, clone = make_remote_and_clone(tmp_path / "remotes", name)
        clone.rename(work / name)
    app = make_app(empty_config(tmp_path / "nothing-here"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: dashboard(app).started)
        screen = dashboard(app)
        picker = screen.query_one("#pick-folder")
        await until(pilot, lambda: picker.display and picker.has_focus)
        assert "type a folder" in plain(screen.query_one("#empty-text"))
        await pilot.press(*str(work), "enter")
        await until(pilot, lambda: set(screen.rows) == {"api", "web"})
        await until(pilot, lambda: not picker.display)
    assert remembered_folders(app.state_dir) == (work,)


async def test_ctrl_d_in_the_empty_dashboard_leaves_for_the_demo(tmp_path: Path) -> None:
    app = make_app(empty_config(tmp_path / "nothing-here"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: dashboard(app).started)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: app.return_value == OPEN_DEMO)
    assert app.return_value == OPEN_DEMO
