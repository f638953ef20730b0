"""Nothing the tool starts outlives it: its git process groups end when it is SIGKILLed.

The program under test is a real process running real git from worker threads, as the engine
does; every process it starts carries the test's marker in its environment (tests.processes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, make_remote_and_clone
from tests.processes import blocking_repo, kill_marked, marked, new_marker, wait_until

# Three git calls that never end on their own, each from a pool thread: a status blocked on a
# FIFO, the same in a shell loop (a status sweep), and a fetch whose remote never answers
# (git and its remote helper).
BUSY_TOOL = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from gitwatch_tui.core.git import RepoPaths, run_git, run_many
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.remotes import fetch

blocked, looped, hung = (Path(arg) for arg in sys.argv[1:])
pool = ThreadPoolExecutor(3)
pool.submit(run_git, ["status"], RepoPaths.of(blocked), timeout=600)
pool.submit(lambda: list(run_many([RepoPaths.of(looped)], ["status"], jobs=1, timeout=600)))
pool.submit(fetch, RepoSpec(hung, "hung"), timeout=600)
time.sleep(600)
"""


def statuses(env: dict[str, str]) -> list[int]:
    return marked(env, program="git", args=" status")


def test_git_of_a_sigkilled_process_ends_with_it(tmp_path: Path, silent_server: str) -> None:
    _, hung = make_remote_and_clone(tmp_path, "hung")
    git(hung, "remote", "set-url", "origin", silent_server)
    repos = [blocking_repo(tmp_path / "blocked"), blocking_repo(tmp_path / "looped"), hung]
    env = new_marker()
    tool = subprocess.Popen(
        [sys.executable, "-c", BUSY_TOOL, *map(str, repos)],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).parents[2])},
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(statuses(env)) == 2, what="two blocked statuses")
        wait_until(lambda: marked(env, program="git-remote-http"), what="a hung remote helper")
        tool.send_signal(signal.SIGKILL)
        assert tool.wait(10) == -signal.SIGKILL
        wait_until(lambda: not marked(env), within=10, what="every git process gone")
    finally:
        tool.kill()
        tool.wait(10)
        kill_marked(env)


# Two groups of our own, the keeper killed between them: a new keeper learns both.
KEEPER_KILLED = """
import os, signal, subprocess, sys, time
from gitwatch_tui.core import lifetime

def group():
    return subprocess.Popen(["sleep", "600"], start_new_session=True).pid

lifetime.keep_group(group())
os.kill(lifetime._keeper[0], signal.SIGKILL)
os.waitpid(lifetime._keeper[0], 0)
lifetime.keep_group(group())
print("ready", flush=True)
time.sleep(600)
"""


def test_a_killed_keeper_is_replaced_and_told_every_group() -> None:
    env = new_marker()
    tool = subprocess.Popen(
        [sys.executable, "-c", KEEPER_KILLED],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).parents[2])},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert tool.stdout is not None and tool.stdout.readline() == "ready\n"
        assert len(marked(env, program="sleep")) == 2
        tool.send_signal(signal.SIGKILL)
        tool.wait(10)
        wait_until(lambda: not marked(env), within=10, what="both groups gone")
    finally:
        tool.kill()
        tool.wait(10)
        assert tool.stdout is not None
        tool.stdout.close()
        kill_marked(env)
