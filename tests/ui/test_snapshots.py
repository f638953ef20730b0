"""Snapshot tests of the main screens at 80x24 and 120x35, over the demo sandbox.

Plain `def` tests (snap_compare runs its own loop). Everything that could vary is fixed: the
theme, the clock, the fetch times, no polling, and the home folder the details path is
shown under. Look at `snapshot_report.html` before `--snapshot-update`.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.demo import create_sandbox
from gitwatch_tui.engine import engine as engine_module
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.ui.app import GitwatchApp, build_app
from gitwatch_tui.ui.screenshots import age_fetches, wait_until_read
from tests.ui.conftest import until

NOW = 1_763_700_000.0  # a fixed "now" for every "3m ago"
SIZES = [(80, 24), (120, 35)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Path]]:
    root = tmp_path_factory.mktemp("snap")
    config = create_sandbox(root / "demo")
    age_fetches(config, NOW, root / "fetched")  # each app's state dir starts from this one
    # Nothing polls on its own during a snapshot.
    yield replace(config, defaults=replace(config.defaults, poll_interval=86400)), root


class _SceneTime:
    """The engine's wall clock in a snapshot: the scene's NOW, as the app's clock says, so
    that "next poll in …" is the same in every run."""

    monotonic = staticmethod(time.monotonic)

    @staticmethod
    def time() -> float:
        return NOW


@pytest.fixture(autouse=True)
def home(demo: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(demo[1]))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    monkeypatch.setattr(engine_module, "time", _SceneTime)


def app_for(
    config: Config, tmp_path: Path, theme: str = "gitwatch-dark", fetched: Path | None = None
) -> GitwatchApp:
    """The app, on a state dir of its own holding the fetch record in `fetched`."""
    if fetched is not None:
        shutil.copytree(fetched, tmp_path / "state")
    state_dir = tmp_path / "state"
    # A seeded jitter: the first polls are planned at the same times in every run.
    engine = Engine(config, state_dir=state_dir, watch_files=False, rng=random.Random(18))
    return build_app(
        config,
        engine=engine,
        state_dir=state_dir,
        watch_files=False,
        theme=theme,
        clock=lambda: NOW,
        where="~/src",
    )


def demo_app(
    demo: tuple[Config, Path], tmp_path: Path, theme: str = "gitwatch-dark"
) -> GitwatchApp:
    return app_for(demo[0], tmp_path, theme, demo[1] / "fetched")


async def ready(pilot: Pilot[int]) -> None:
    await wait_until_read(pilot)
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False


def _select(name: str):  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot[int]) -> None:
        await ready(pilot)
        from gitwatch_tui.ui.widgets.repo_table import RepoTable

        table = pilot.app.screen.query_one(RepoTable)
        table.move_cursor(row=table.order.index(name))
        await pilot.pause()

    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, demo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(demo_app(demo, tmp_path), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_details(snap_compare, demo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[int]) -> None:
        await _select("conflict-me")(pilot)
        await pilot.press("enter")
        screen = pilot.app.screen
        for _ in range(100):
            if getattr(screen, "details", None) is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.1)

    app = demo_app(demo, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def _until(pilot: Pilot[int], ready: Callable[[], object]) -> None:
    """The shared wait (it fails when the state never comes, rather than snapping whatever is
    there), with room for a loaded machine, then a moment for the frame to be drawn."""
    await until(pilot, ready, within=30)
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_details_with_a_diff(snap_compare, demo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[int]) -> None:
        await _select("mobile-api")(pilot)
        await pilot.press("enter")
        screen = pilot.app.screen
        await _until(pilot, lambda: getattr(screen, "diffs", None))

    app = demo_app(demo, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_commit_log(snap_compare, demo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[int]) -> None:
        await _select("auth-lib")(pilot)
        await pilot.press("L")
        screen = pilot.app.screen
        await _until(pilot, lambda: getattr(screen, "commits", None))
        if size == (120, 35):  # the newest commit shown below the graph
            await pilot.press("enter")
            await _until(pilot, lambda: getattr(screen, "shown", None))

    app = demo_app(demo, tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, demo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    app = demo_app(demo, tmp_path)
    assert snap_compare(app, press=["question_mark"], terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_filter(snap_compare, demo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    app = demo_app(demo, tmp_path)
    keys = ["slash", *"behind"]
    assert snap_compare(app, press=keys, terminal_size=size, run_before=ready)


def test_sorted_by_state_with_a_group_folded(snap_compare, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = demo_app(demo, tmp_path)
    keys = [*"ooooo", "z"]  # state is the 6th column at 80 wide; z folds the apps group
    assert snap_compare(app, press=keys, terminal_size=(80, 24), run_before=_select("storefront"))


@pytest.mark.parametrize("theme", ["gitwatch-light", "gitwatch-high-contrast"])
def test_themes(snap_compare, demo, tmp_path, theme) -> None:  # type: ignore[no-untyped-def]
    app = demo_app(demo, tmp_path, theme)
    assert snap_compare(app, terminal_size=(120, 35), run_before=ready)


def test_empty_state(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = app_for(Config(defaults=Defaults()), tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: pilot.pause(0.5))
