"""Run anywhere on real repos: exit codes, the output cap, the concurrency bound, and a cancel
that ends every process a command started (children in the background too)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.config import Config
from gitwatch_tui.engine.engine import Engine, UnknownRepo
from gitwatch_tui.engine.run_anywhere import CommandRun, OutputBuffer, RepoRun
from tests.conftest import commit_file, git
from tests.processes import marked, new_marker


def make_repos(tmp_path: Path, count: int) -> list[tuple[str, Path]]:
    repos = []
    for n in range(count):
        path = tmp_path / f"repo{n}"
        path.mkdir()
        git(path, "init", "-q")
        commit_file(path, "a.txt", f"{n}\n")
        repos.append((f"repo{n}", path))
    return repos


def environ(**extra: str) -> dict[str, str]:
    return {**os.environ, **new_marker(), **extra}


async def wait_for(predicate: object, within: float = 15.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def pid_in(path: Path) -> int | None:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


def alive(pid: int) -> bool:
    """Running, not a zombie (a zombie's parent, here maybe PID 1, has yet to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def test_each_repo_runs_the_command_in_its_folder_with_its_own_exit_code(
    tmp_path: Path,
) -> None:
    repos = make_repos(tmp_path, 3)
    git(repos[1][1], "checkout", "-q", "-b", "feature")
    command = 'git branch --show-current; pwd; [ "$(basename "$PWD")" != repo2 ] || exit 3'
    run = CommandRun(command, repos, concurrency=2, env=environ())
    results = {r.repo: r for r in await run.run()}
    assert [results[n].exit_code for n, _ in repos] == [0, 0, 3]
    assert [results[n].phase for n, _ in repos] == ["done"] * 3
    assert results["repo1"].last_lines == ("feature", str(repos[1][1]))
    assert run.output("repo0") == f"main\n{repos[0][1]}\n"
    assert results["repo0"].ok and not results["repo2"].ok


async def test_nothing_can_prompt_stdin_is_empty_and_there_is_no_terminal(
    tmp_path: Path,
) -> None:
    repos = make_repos(tmp_path, 1)
    command = "cat; read answer || echo no-input; tty || true; echo $GIT_TERMINAL_PROMPT"
    run = CommandRun(command, repos, concurrency=1, env=environ())
    [result] = await asyncio.wait_for(run.run(), 30)
    assert run.output("repo0") == "no-input\nnot a tty\n0\n"
    assert result.exit_code == 0


async def test_stderr_comes_with_stdout_in_order(tmp_path: Path) -> None:
    repos = make_repos(tmp_path, 1)
    run = CommandRun("echo one; echo two >&2; echo three", repos, concurrency=1, env=environ())
    await run.run()
    assert run.output("repo0") == "one\ntwo\nthree\n"


async def test_output_past_the_cap_is_cut_and_the_cut_said(tmp_path: Path) -> None:
    repos = make_repos(tmp_path, 1)
    command = "seq 1 100000"  # 588,895 bytes
    run = CommandRun(command, repos, concurrency=1, env=environ(), cap=1000)
    [result] = await run.run()
    assert result.cut == 588_895 - 1000
    text = run.output("repo0")
    assert text.startswith("1\n2\n3\n")
    assert f"… {588_895 - 1000:,} bytes not kept (output cap 1,000)" in text
    assert text.endswith("99999\n100000\n")
    assert result.last_lines == ("99998", "99999", "100000")


def test_the_buffer_keeps_a_progress_bars_last_state_and_an_endless_lines_end() -> None:
    buffer = OutputBuffer(cap=10)
    buffer.add(b"step 1\nloading 10%\rloading 90%\r")
    buffer.add(b"loading 100%\n")
    assert buffer.last_lines() == ("step 1", "loading 100%")
    buffer.add(b"x" * 100_000)
    assert buffer.last_lines(1) == ("x" * 4096,)


async def test_at_most_the_concurrency_run_at_once(tmp_path: Path) -> None:
    repos = make_repos(tmp_path, 6)
    journal = tmp_path / "journal"
    # Each command notes its start and end in one shared file (appends are atomic).
    command = f"echo start >> {journal}; sleep 0.3; echo end >> {journal}"
    seen: list[RepoRun] = []
    run = CommandRun(command, repos, concurrency=2, env=environ(), on_progress=seen.append)
    results = await run.run()
    assert all(r.ok for r in results)
    running, most = 0, 0
    for line in journal.read_text().split():
        running += 1 if line == "start" else -1
        most = max(most, running)
    assert most == 2
    # The snapshots agree: never more than two repos running.
    phases: dict[str, str] = {}
    peak = 0
    for snapshot in seen:
        phases[snapshot.repo] = snapshot.phase
        peak = max(peak, sum(phase == "running" for phase in phases.values()))
    assert peak == 2


async def test_cancel_ends_a_hung_command_and_its_background_children(tmp_path: Path) -> None:
    repos = make_repos(tmp_path, 3)
    env = environ()
    # The shell starts a child in the background, notes both pids, then hangs itself.
    command = "sleep 300 & echo $! > child.pid; echo $$ > shell.pid; sleep 300"
    seen: list[RepoRun] = []
    run = CommandRun(command, repos, concurrency=2, env=env, on_progress=seen.append)
    task = asyncio.create_task(run.run())
    await wait_for(lambda: all(pid_in(p / "child.pid") for _, p in repos[:2]))
    pids = [pid for _, p in repos[:2] for pid in (pid_in(p / "child.pid"), pid_in(p / "shell.pid"))]
    assert all(pid is not None and alive(pid) for pid in pids)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    took = time.monotonic() - started
    assert not [pid for pid in pids if pid is not None and alive(pid)]
    assert marked(env, program="sleep") == []
    assert {n: r.phase for n, r in run.runs.items()} == {
        "repo0": "cancelled",
        "repo1": "cancelled",
        "repo2": "cancelled",  # still queued: never started
    }
    assert not (repos[2][1] / "shell.pid").exists()
    assert took < 1.5  # SIGTERM was enough: no wait for the 2 s grace


async def test_a_child_that_ignores_sigterm_gets_sigkill_after_the_grace(tmp_path: Path) -> None:
    repos = make_repos(tmp_path, 1)
    env = environ()
    command = "trap '' TERM; sleep 300 & echo $! > child.pid; wait"
    run = CommandRun(command, repos, concurrency=1, env=env, kill_grace=0.5)
    task = asyncio.create_task(run.run())
    await wait_for(lambda: pid_in(repos[0][1] / "child.pid"))
    child = pid_in(repos[0][1] / "child.pid")
    assert child is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(child)
    assert marked(env, program="sleep") == []


async def test_what_a_finished_command_left_running_is_ended(tmp_path: Path) -> None:
    repos = make_repos(tmp_path, 1)
    env = environ()
    run = CommandRun("sleep 300 & echo started", repos, concurrency=1, env=env)
    [result] = await asyncio.wait_for(run.run(), 15)
    assert (result.phase, result.exit_code, result.last_lines) == ("done", 0, ("started",))
    assert marked(env, program="sleep") == []


async def test_a_missing_folder_is_a_failure_of_that_repo_alone(tmp_path: Path) -> None:
    repos = [*make_repos(tmp_path, 1), ("gone", tmp_path / "gone")]
    results = await CommandRun("true", repos, concurrency=2, env=environ()).run()
    assert results[0].ok
    assert results[1].phase == "failed" and "cannot start in" in (results[1].error or "")


async def test_the_engine_runs_a_command_in_the_named_repos_at_its_configured_concurrency(
    tmp_path: Path,
) -> None:
    from gitwatch_tui.core.models import RepoSpec

    repos = make_repos(tmp_path, 2)
    specs = tuple(RepoSpec(path=path, name=name) for name, path in repos)
    config = Config(repos=specs, repos_listed=True, run_concurrency=1)
    engine = Engine(config, state_dir=tmp_path / "state", watch_files=False, keep_history=False)
    async with engine:
        run = engine.run_command(["repo1", "repo0"], "basename $PWD")
        results = await run.run()
        assert [(r.repo, r.last_lines) for r in results] == [
            ("repo1", ("repo1",)),
            ("repo0", ("repo0",)),
        ]
        assert run._slots._value == 1  # the config's run_concurrency
        with pytest.raises(UnknownRepo):
            engine.run_command(["nope"], "true")


async def test_a_progress_callback_that_fails_ends_every_command_and_is_raised(
    tmp_path: Path,
) -> None:
    repos = make_repos(tmp_path, 2)
    env = environ()

    def fails_for_repo0(run: RepoRun) -> None:
        if run.repo == "repo0" and run.phase == "done":
            raise RuntimeError("the screen went away")

    command = '[ "$(basename $PWD)" = repo0 ] || sleep 300'
    run = CommandRun(command, repos, concurrency=2, env=env, on_progress=fails_for_repo0)
    with pytest.raises(RuntimeError, match="the screen went away"):
        await asyncio.wait_for(run.run(), 20)
    assert marked(env, program="sleep") == []
    assert run.runs["repo1"].phase == "cancelled"
