"""`python -m gitwatch_tui.ui.screenshots [FOLDER] [SCENE...]`: the README's screenshots, taken
by the app itself from the demo sandbox, one SVG per scene (all of them, or the ones named);
with `--cast`, `FOLDER/demo.cast` instead, a recording of the real program (ui/cast.py).

Every scene starts from a new sandbox at the same place, so a scene that pulls or fetches
changes nothing another scene shows, and any one scene can be taken alone."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.models import PipelineStep, RepoSpec
from gitwatch_tui.core.remotes import fetch
from gitwatch_tui.core.status import locate_repo
from gitwatch_tui.demo import create_sandbox
from gitwatch_tui.engine.history import HISTORY_FILENAME, History
from gitwatch_tui.ui.app import GitwatchApp, build_app
from gitwatch_tui.ui.cast import Step, record
from gitwatch_tui.ui.screens.bulk import BulkScreen
from gitwatch_tui.ui.screens.commit_log import CommitLogScreen
from gitwatch_tui.ui.screens.conflicts import ConflictScreen
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.details import DetailScreen
from gitwatch_tui.ui.screens.log import LogScreen
from gitwatch_tui.ui.screens.pull import PullScreen
from gitwatch_tui.ui.screens.run import RunScreen
from gitwatch_tui.ui.screens.stashes import StashScreen
from gitwatch_tui.ui.screens.switch import SwitchScreen

Scene = Callable[[Pilot[int]], Awaitable[None]]


class SceneError(RuntimeError):
    """A scene's screen did not reach the state it is shown in (a spinner is no screenshot)."""


def age_fetches(config: Config, now: float, state_dir: Path) -> None:
    """Fetch every demo repo once (a real fetch from its local remote), and keep each outcome
    in `state_dir`'s fetch record dated a few minutes to days back, so the Fetched column reads
    like a real one (the unreachable repo's fetch failed, and says so)."""
    ages = (120, 540, 3 * 3600, 25 * 60, 2 * 86400, 60, 15 * 60, 7 * 3600, 400, 90, 30, 5000)
    with History(state_dir / HISTORY_FILENAME) as history:
        for spec, age in zip(config.repos, ages * 2, strict=False):
            outcome = fetch(spec, timeout=10)  # the unreachable and the broken repo fail
            if not outcome.no_remote:
                ok, error = outcome.error is None, outcome.error
                history.record_fetch(str(spec.path), ok=ok, when=now - age, error=error)


def after_history(config: Config) -> float:
    """A moment three hours after the newest commit of any demo repo: the screenshots' clock.

    The demo's histories have fixed dates (so its commit ids never change); against the real
    clock every age in the panels would read hundreds of days."""
    newest = 0.0
    for spec in config.repos:
        repo = locate_repo(spec)
        if isinstance(repo, str):  # the broken demo repo
            continue
        result = run_git(["log", "-1", "--all", "--format=%ct"], repo, timeout=10)
        if result.ok and result.stdout.strip():
            newest = max(newest, float(result.stdout))
    return newest + 3 * 3600


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


def _until(what: str, ready: Callable[[GitwatchApp], object], within: float = 20.0) -> Scene:
    """Wait until `ready(app)` holds (content read, workers done), then one more paint."""

    async def run(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, GitwatchApp)
        deadline = time.monotonic() + within
        while not ready(app):
            if time.monotonic() > deadline:
                raise SceneError(f"{what}: not ready within {within:g}s")
            await pilot.pause(0.05)
        await pilot.pause(0.1)

    return run


def _on(kind: type[Screen[None]], ready: Callable[[Any], object] = bool) -> Callable[..., bool]:
    """A `_until` check: the top screen is a `kind` and `ready(screen)` holds."""
    return lambda app: isinstance(app.screen, kind) and bool(ready(app.screen))


def _pull_loaded(mode: str) -> Callable[..., bool]:
    """The pull panel shows the preview made after its fetch, for `mode`."""
    return _on(
        PullScreen,
        lambda s: s.loaded and s.preview is not None and s.preview.mode == mode and not s.pulling,
    )


def _clear_toasts(pilot: Pilot[int]) -> Awaitable[None]:
    """Drop the toasts a step left (a pull's "pulled"), which would cover the panel."""
    pilot.app.clear_notifications()
    return pilot.pause()


def _theme(name: str) -> Scene:
    async def run(pilot: Pilot[int]) -> None:
        pilot.app.theme = name
        await pilot.pause(0.2)

    return run


def _with_pipeline(repo: str) -> Callable[[Config], Config]:
    """`repo` gets a pipeline (run after each pull) whose output the log panel shows: what the
    pull changed, and the code compiled. Real commands, so the output is real too."""
    steps = (
        PipelineStep("changes", run=("git", "diff", "--stat", "ORIG_HEAD", "HEAD")),
        PipelineStep("compile", run=("python3", "-m", "compileall", "src")),
        PipelineStep("version", run=("grep", "^version", "pyproject.toml")),
    )

    def change(config: Config) -> Config:
        specs = tuple(
            replace(spec, pipeline=steps) if spec.name == repo else spec for spec in config.repos
        )
        return replace(config, repos=specs)

    return change


def _slow_fetches(*repos: str, seconds: int = 60) -> Callable[[Config], Config]:
    """These repos' fetches take `seconds`: each is trusted to run its own upload-pack, which
    first sleeps (so the fetching scene catches them under way)."""

    def change(config: Config) -> Config:
        specs = []
        for spec in config.repos:
            if spec.name in repos:
                run_git(
                    ["config", "remote.origin.uploadpack", f"sleep {seconds}; git-upload-pack"],
                    locate_or_fail(spec),
                    timeout=10,
                )
                spec = replace(spec, trust=True)
            specs.append(spec)
        return replace(config, repos=tuple(specs))

    return change


def locate_or_fail(spec: RepoSpec) -> RepoPaths:
    repo = locate_repo(spec)
    if isinstance(repo, str):
        raise SceneError(f"{spec.name}: {repo}")
    return repo


def _fetching(app: GitwatchApp) -> bool:
    """Some rows are fetching and the others are done."""
    phases = [state.phase for state in app.engine.states.values()]
    return "fetching" in phases and phases.count("fetching") < len(phases) - 2


def _edit(repo: str, path: str, old: str, new: str) -> Callable[[Config], Config]:
    """An uncommitted change in `repo`: `old` becomes `new` in the file at `path`."""

    def change(config: Config) -> Config:
        spec = next(spec for spec in config.repos if spec.name == repo)
        file = spec.path / path
        text = file.read_text(encoding="utf-8")
        if old not in text:  # the demo changed: say so rather than show a clean repo
            raise SceneError(f"{repo}: {path} has no {old!r} to change")
        file.write_text(text.replace(old, new), encoding="utf-8", newline="\n")
        return config

    return change


# name → (terminal size, steps after the rows are read)
SCENES: dict[str, tuple[tuple[int, int], list[Scene]]] = {
    # The README's first picture, at 100x30: the table fills it (a panel, full screen, fills
    # half of it at most; the cast shows the panels at work).
    "hero": ((100, 30), []),
    "dashboard": ((120, 35), []),
    "dashboard-80x24": ((80, 24), []),
    "details": ((120, 35), [_select("conflict-me"), _keys("enter", wait=1.0)]),
    "help": ((120, 35), [_keys("question_mark")]),
    "filter": ((120, 35), [_keys("slash", *"behind")]),
    # Three repos' fetches are slow: caught under way, while the unreachable one backs off.
    "fetching": ((120, 35), [_keys("F", wait=0), _until("fetching", _fetching)]),
    "palette": ((120, 35), [_keys("ctrl+p", *"theme", wait=0.6)]),
    "theme-light": ((120, 35), [_theme("gitwatch-light")]),
    "theme-high-contrast": ((120, 35), [_theme("gitwatch-high-contrast")]),
    # The panels. auth-lib has diverged: rebase shows what comes in and what is replayed.
    "pull": ((120, 35), [
        _select("auth-lib"), _keys("p", wait=0), _until("pull", _pull_loaded("ff-only")),
        _keys("2", wait=0), _until("pull rebase", _pull_loaded("rebase")),
    ]),
    # dns-manager has a local change to a file main has otherwise: switching to main is
    # refused, with the file, and stash-and-switch (`s`) is offered.
    "switch": ((120, 35), [
        _select("dns-manager"), _keys("b", wait=0),
        _until("switch", _on(SwitchScreen, lambda s: s.listing is not None and s.shown)),
        _keys("enter", wait=0),
        _until("switch refused", _on(SwitchScreen, lambda s: s.offer is not None)),
    ]),
    # The first stash is selected: wait for its patch too, not only the list.
    "stashes": ((120, 35), [
        _select("ui-kit"), _keys("S", wait=0),
        _until("stashes", _on(StashScreen, lambda s: s.entries and s.entries[0].sha in s.diffs)),
    ]),
    # A merge pull of conflict-me stops on its conflict and opens the conflict panel.
    "conflicts": ((120, 35), [
        _select("conflict-me"), _keys("p", wait=0), _until("pull", _pull_loaded("ff-only")),
        _keys("3", wait=0), _until("pull merge", _pull_loaded("merge")), _keys("p", wait=0),
        _until("conflicts", _on(
            ConflictScreen, lambda s: s.file is not None and s.query(".hunk") and not s.busy
        )),
        _clear_toasts,
    ]),
    # Pull admin-panel (behind): its pipeline runs, and the log panel shows the output.
    "log": ((120, 35), [
        _select("admin-panel"), _keys("p", wait=0), _until("pull", _pull_loaded("ff-only")),
        _keys("p", wait=0),
        _until("pipeline", lambda app: (
            (run := app.engine.pipelines.last.get("admin-panel")) and run.state != "running"
        )),
        _clear_toasts, _keys("l", wait=0), _until("log", _on(LogScreen)),
    ]),
    # Every repo picked but offsite-backup (git's error for it is wider than the screen), then
    # a pull (ff-only): each row ends done, skipped or failed.
    "bulk": ((120, 35), [
        _keys("a", wait=0), _select("offsite-backup"), _keys("space", "p", wait=0),
        _until("bulk", _on(BulkScreen, lambda s: len(s.results) == len(s.names))),
    ]),
    # P on the libs group row: the repo ahead is pushed; diverged, detached and those with
    # nothing to push are skipped, each with its reason.
    "push": ((120, 35), [
        _select("group:libs"), _keys("P", wait=0),
        _until("push", _on(BulkScreen, lambda s: len(s.results) == len(s.names))),
    ]),
    # mobile-api has staged, unstaged and untracked files: the first one's diff is read.
    "diffs": ((120, 35), [
        _select("mobile-api"), _keys("enter", wait=0),
        _until("diffs", _on(DetailScreen, lambda s: s.diffs)),
    ]),
    # auth-lib has diverged: its commits not pushed (↑) and not pulled (↓), the newest shown.
    "commits": ((120, 35), [
        _select("auth-lib"), _keys("L", wait=0),
        _until("commits", _on(CommitLogScreen, lambda s: s.commits is not None)),
        _keys("enter", wait=0), _until("commit shown", _on(CommitLogScreen, lambda s: s.shown)),
    ]),
    # Run anywhere over every repo: each line ends with its exit code (the broken repo's 1).
    "run": ((120, 35), [
        _keys("a", "exclamation_mark", wait=0),
        _keys(*"git log -1 --format=%s 2>/dev/null && git status -sb | head -1", "enter", wait=0),
        _until("run", _on(RunScreen, lambda s: s.command_run is not None and not s.running)),
    ]),
}  # fmt: skip
# What a scene changes in its new sandbox before the app starts; each returns the config to use.
SETUPS: dict[str, Callable[[Config], Config]] = {
    "fetching": _slow_fetches("storefront", "mobile-api", "data-models"),
    "switch": _edit("dns-manager", "src/dns_manager/records.py", '"TXT")', '"TXT", "MX")'),
    "log": _with_pipeline("admin-panel"),
}


REAL_CLOCK = {"fetching"}


async def take(folder: Path, sandbox: Path, only: set[str] | None = None) -> list[Path]:
    """Take every scene's screenshot into `folder`; returns the files written."""
    written = []
    for name, (size, steps) in SCENES.items():
        if only and name not in only:
            continue
        demo = sandbox / "demo"
        shutil.rmtree(demo, ignore_errors=True)  # the last scene's, maybe pulled or fetched
        config = create_sandbox(demo)
        # Nothing polls on its own while a scene is set up: what is shown is what the scene did.
        config = replace(config, defaults=replace(config.defaults, poll_interval=86400))
        # The engine's back-off runs on the real clock: a scene that shows it does too.
        now = time.time() if name in REAL_CLOCK else after_history(config)
        age_fetches(config, now, sandbox / f"state-{name}")
        if name in SETUPS:
            config = SETUPS[name](config)
        app: GitwatchApp = build_app(
            config,
            state_dir=sandbox / f"state-{name}",
            watch_files=False,
            theme="gitwatch-dark",
            where="the demo sandbox",
            clock=lambda at=now: at,
        )
        async with app.run_test(size=size) as pilot:
            await wait_until_read(pilot)
            for step in steps:
                await step(pilot)
            # A blinking cursor is on or off by chance: show it on, always.
            for box in app.screen.query(Input):
                box.cursor_blink = False
            await pilot.pause()
            path = folder / f"{name}.svg"
            app.save_screenshot(filename=path.name, path=str(folder))
            written.append(path)
    return written


def _filled(text: str) -> bool:
    return " 13 repos" in text and "scanning" not in text


# The cast: a bulk pull of every repo, then the diverged one pulled by merge, its conflict
# resolved with keys, and the merge concluded.
CAST_STEPS = (
    Step((), _filled, "the dashboard, filled", pause=2.0),
    Step(("a", "p"), lambda text: "1 done" in text, "the bulk pull's results", pause=3.0),
    # The results are in name order: conflict-me, refused (diverged), is the fourth.
    Step(("Down", "Down", "Down", "Enter"), lambda t: " Pull  conflict-me" in t, "its panel"),
    Step(("3",), lambda text: "[merge]" in text, "merge picked", pause=1.5),
    Step(("Enter",), lambda t: "0/1 resolved" in t, "the conflict panel", pause=3.0),
    Step(("t",), lambda text: "1/1 resolved" in text, "theirs taken", pause=2.0),
    Step(("C",), lambda text: "merge continued" in text, "the merge concluded", pause=2.5),
    Step(("Escape",), lambda text: " gitwatch " in text, "the dashboard again", pause=2.5),
)


def main(argv: list[str]) -> int:
    if "--cast" in argv:
        folder = Path(next((a for a in argv if a != "--cast"), "screenshots")).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="gitwatch-shots-") as temp:
            record(folder / "demo.cast", CAST_STEPS, home=Path(temp))
        print(folder / "demo.cast")
        return 0
    folder = Path(argv[0] if argv else "screenshots").absolute()
    only = set(argv[1:]) or None
    unknown = sorted((only or set()) - SCENES.keys())
    if unknown:
        print(f"no such scene: {', '.join(unknown)}; scenes: {', '.join(SCENES)}", file=sys.stderr)
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    # The sandbox's paths would show in the details screen: show them under a home of `~`.
    with tempfile.TemporaryDirectory(prefix="gitwatch-shots-") as temp:
        os.environ["HOME"] = temp
        for path in asyncio.run(take(folder, Path(temp), only)):
            print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
