"""`q` while git hangs: the app leaves at once (not when the git call's timeout runs out) and
no git process it started is left, by pid (the helpers a fetch starts included)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitwatch_tui.core.config_file import load_config
from tests.conftest import git, make_remote_and_clone
from tests.processes import MARKER, blocking_repo, kill_marked, marked, new_marker
from tests.ui.conftest import dashboard, make_app, until

QUICK = 5.0  # seconds: the hanging call's timeout is ten minutes, the target is one second


def config_file(tmp_path: Path, repos: list[Path], loops: int = 2) -> Path:
    timeouts = "status_timeout: 10m, fetch_timeout: 10m"
    lines = [f"defaults: {{poll_interval: 1h, {timeouts}, status_concurrency: {loops}}}"]
    lines.append("repos:")
    lines += [f"  - {{path: '{repo}', name: {repo.name}}}" for repo in repos]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (not gone, not a zombie waiting to be reaped)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            running.append(pid)
    return running


@pytest.mark.parametrize("hang", ["status", "statuses", "fetch"])
async def test_q_while_git_hangs_quits_at_once_and_leaves_no_git(
    hang: str, tmp_path: Path, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = new_marker()
    monkeypatch.setenv(MARKER, env[MARKER])  # every git the engine starts carries it
    repos = [make_remote_and_clone(tmp_path / "repos", "fine")[1]]
    if hang == "status":
        repos.append(blocking_repo(tmp_path / "repos" / "stuck"))  # status reads a FIFO
    elif hang == "statuses":  # a sweep of many chunks, each of which would hang in turn
        repos += [blocking_repo(tmp_path / "repos" / f"stuck{i:02}") for i in range(12)]
    else:
        hung = make_remote_and_clone(tmp_path / "repos", "stuck")[1]
        git(hung, "remote", "set-url", "origin", silent_server)
        repos.append(hung)
    config = load_config(config_file(tmp_path, repos, loops=1 if hang == "statuses" else 2))
    app = make_app(config, tmp_path)
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            await until(pilot, lambda: dashboard(app).started)
            if hang == "fetch":
                await until(pilot, lambda: app.engine.statuses.keys() == {"fine", "stuck"})
                await pilot.press("F")
            command = " fetch" if hang == "fetch" else " status"
            await until(pilot, lambda: marked(env, program="git", args=command), within=15)
            started = marked(env)  # git and what it started (a fetch's remote helper)
            pressed = time.monotonic()
            await pilot.press("q")
            await until(pilot, lambda: app.return_code is not None, within=QUICK)
        took = time.monotonic() - pressed
        assert took < QUICK
        assert app.return_code == 0
        assert alive(started) == []
        assert marked(env) == []
    finally:
        kill_marked(env)
