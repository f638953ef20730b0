"""The log screen (`l`) and the pipeline state in a repo's row, from a real pipeline run."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from textual.widgets import RichLog, Static

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import PipelineStep, RepoSpec, RepoStatus
from gitwatch_tui.engine.events import PipelineStateChanged, SyncState
from gitwatch_tui.ui.repo_view import RepoRow, state_label
from gitwatch_tui.ui.screens.log import LogScreen
from tests.conftest import git
from tests.ui.conftest import RepoSet, all_read, make_app, row_text, table, until


def log_lines(screen: LogScreen) -> str:
    return "\n".join(strip.text for strip in screen.query_one(RichLog).lines)


async def test_a_pull_runs_the_pipeline_its_output_is_in_the_log(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    steps = (
        PipelineStep("build", run=("sh", "-c", "echo building $TARGET")),
        PipelineStep("test", run=("sh", "-c", "echo tests broke >&2; exit 3")),
    )
    env_steps = (replace(steps[0], env=(("TARGET", "site"),)), steps[1])
    config = repo_set.config
    repos = tuple(
        replace(spec, pipeline=env_steps) if spec.name == "web" else spec for spec in config.repos
    )
    app = make_app(replace(config, repos=repos), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        table(app).move_cursor(row=table(app).order.index("web"))
        await app.engine.pull("web")  # web is behind: HEAD moves, the pipeline runs
        await until(pilot, lambda: "pipeline failed at test" in row_text(app, "web"), 15)
        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LogScreen) and screen.repo == "web"
        await until(pilot, lambda: "tests broke" in log_lines(screen))
        text = log_lines(screen)
        assert "[build] building site" in text
        await pilot.pause()
        assert not screen.query_one(RichLog).show_vertical_scrollbar  # no empty strip
        await pilot.press("a")  # every repo's lines
        assert screen.show_all
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)


def test_pipeline_states_in_the_row() -> None:
    synced = RepoStatus("web", "/web", branch="main", head="abc", upstream="origin/main")
    base = RepoRow("web", None, replace(synced, ahead=0, behind=0), SyncState("web"))
    running = PipelineStateChanged("web", "r1", "running", step="test", index=2, total=3)
    assert state_label(replace(base, pipeline=running), 0.0)[0].endswith("pipeline · test 2/3")
    failed = PipelineStateChanged("web", "r1", "failed", failed=("test",))
    assert state_label(replace(base, pipeline=failed), 0.0) == (
        "✗ pipeline failed at test",
        "repo-error",
    )
    timed_out = PipelineStateChanged("web", "r1", "timeout", step="deploy")
    assert (
        state_label(replace(base, pipeline=timed_out), 0.0)[0] == "✗ pipeline timed out at deploy"
    )


async def test_the_log_says_what_went_wrong_with_fetches_once_each(tmp_path: Path) -> None:
    """Thirty repos whose remote is gone: the log has one line each, fetch after fetch (it
    once said "0 lines"), and the Fetched column says the fetch failed."""
    specs = []
    for i in range(30):
        repo = tmp_path / f"unreachable-{i:02d}"
        git(tmp_path, "init", "-q", str(repo))
        git(repo, "remote", "add", "origin", str(tmp_path / "gone" / f"{i}.git"))
        specs.append(RepoSpec(path=repo, name=repo.name, group="far"))
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    app = make_app(Config(defaults=defaults, repos=tuple(specs)), tmp_path, clock=time.time)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app))
        for _ in range(2):  # the second round fails the same way: nothing new to say
            await app.engine.fetch_all()
        await pilot.press("l")  # on the group row: every repo's lines
        screen = app.screen
        assert isinstance(screen, LogScreen) and screen.show_all
        text = log_lines(screen)
        assert text.count("fetch failed: ") == 30, text
        assert all(f"✗ unreachable-{i:02d} fetch failed: " in text for i in range(30))
        assert "30 lines" in str(screen.query_one("#log-title", Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: all("✗ " in row_text(app, s.name) for s in specs))
