"""`python -m gitwatch_tui.ui.screenshots [FOLDER]`: the README's screenshots, taken by the app
itself from the demo sandbox, one SVG per scene."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.git import resolve_git_dir
from gitwatch_tui.core.ops import fetch
from gitwatch_tui.demo import create_sandbox
from gitwatch_tui.ui.app import GitwatchApp, build_app
from gitwatch_tui.ui.screens.dashboard import DashboardScreen

Scene = Callable[[Pilot[int]], Awaitable[None]]


def age_fetches(config: Config, now: float) -> None:
    """Fetch every demo repo once (a real fetch from its local remote), then date each fetch
    a few minutes to days back, so the Fetched column reads like a real one (git writes
    FETCH_HEAD even when the fetch fails, so the unreachable repo gets a date too)."""
    ages = (120, 540, 3 * 3600, 25 * 60, 2 * 86400, 60, 15 * 60, 7 * 3600, 400, 90, 30, 5000)
    for spec, age in zip(config.repos, ages * 2, strict=False):
        fetch(spec, timeout=10)  # the unreachable and the broken repo fail: their rows say so
        git_dir = resolve_git_dir(spec.path)
        fetch_head = git_dir / "FETCH_HEAD" if git_dir else None
        if fetch_head is not None and fetch_head.exists():
            os.utime(fetch_head, (now - age, now - age))


async def wait_until_read(pilot: Pilot[int], within: float = 20.0) -> None:
    """Until every row has its first status."""
    app = pilot.app
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        screen = next((s for s in app.screen_stack if isinstance(s, DashboardScreen)), None)
        rows = screen.rows.values() if screen is not None and screen.started else ()
        if rows and all(row.status is not None for row in rows):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


def _select(name: str) -> Scene:
    async def run(pilot: Pilot[int]) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, DashboardScreen)
        from gitwatch_tui.ui.widgets.repo_table import RepoTable

        table = screen.query_one(RepoTable)
        table.move_cursor(row=table.order.index(name))
        await pilot.pause()

    return run


def _keys(*keys: str, wait: float = 0.3) -> Scene:
    async def run(pilot: Pilot[int]) -> None:
        await pilot.press(*keys)
        await pilot.pause(wait)

    return run


def _theme(name: str) -> Scene:
    async def run(pilot: Pilot[int]) -> None:
        pilot.app.theme = name
        await pilot.pause(0.2)

    return run


# name → (terminal size, steps after the rows are read)
SCENES: dict[str, tuple[tuple[int, int], list[Scene]]] = {
    "dashboard": ((120, 35), []),
    "dashboard-80x24": ((80, 24), []),
    "details": ((120, 35), [_select("conflict-me"), _keys("enter", wait=1.0)]),
    "help": ((120, 35), [_keys("question_mark")]),
    "filter": ((120, 35), [_keys("slash", *"behind")]),
    "fetching": ((120, 35), [_keys("F", wait=0.4)]),
    "palette": ((120, 35), [_keys("ctrl+p", *"theme", wait=0.6)]),
    "theme-light": ((120, 35), [_theme("gitwatch-light")]),
    "theme-high-contrast": ((120, 35), [_theme("gitwatch-high-contrast")]),
}


async def take(folder: Path, sandbox: Path, only: set[str] | None = None) -> list[Path]:
    """Take every scene's screenshot into `folder`; returns the files written."""
    config = create_sandbox(sandbox / "demo")
    # Nothing polls on its own while a scene is set up: what is shown is what the scene did.
    config = replace(config, defaults=replace(config.defaults, poll_interval=86400))
    age_fetches(config, time.time())
    written = []
    for name, (size, steps) in SCENES.items():
        if only and name not in only:
            continue
        app: GitwatchApp = build_app(
            config,
            state_dir=sandbox / f"state-{name}",
            watch_files=False,
            theme="gitwatch-dark",
            where="the demo sandbox",
        )
        async with app.run_test(size=size) as pilot:
            await wait_until_read(pilot)
            for step in steps:
                await step(pilot)
            path = folder / f"{name}.svg"
            app.save_screenshot(filename=path.name, path=str(folder))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "screenshots").absolute()
    folder.mkdir(parents=True, exist_ok=True)
    only = set(argv[1:]) or None
    # The sandbox's paths would show in the details screen: show them under a home of `~`.
    with tempfile.TemporaryDirectory(prefix="gitwatch-shots-") as temp:
        os.environ["HOME"] = temp
        for path in asyncio.run(take(folder, Path(temp), only)):
            print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
