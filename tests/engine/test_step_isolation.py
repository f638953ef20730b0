"""A pipeline step cannot outlive its run, reach the daemon's secrets or hide what it printed:
real step processes under their real supervisor."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.models import PipelineStep, RepoSpec
from tests.conftest import process_ends
from tests.engine.test_pipeline import ENV, runner_for, sh
from tests.processes import kill_marked, marked, new_marker, wait_until

ROOT = os.geteuid() == 0


def pids_in(path: Path) -> list[int]:
    return [int(word) for word in path.read_text().split()]


def read(path: str | Path) -> str:
    return Path(path).read_text()


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- every descendant ends with its step -------------------------------------------------------


async def test_a_child_that_left_the_session_ends_with_the_step(repo: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # One in a new session (`setsid`), one orphaned by a double fork into a new session: both
    # left the step's process group, where ending the group alone did not reach them.
    script = (
        f"setsid sleep 300 & echo $! >> {pids}; "
        f"(setsid sh -c 'sleep 300 & echo $! >> {pids}' &); "
        f"while [ $(wc -l < {pids}) -lt 2 ]; do sleep 0.01; done"
    )
    spec = RepoSpec(repo, "app", pipeline=(PipelineStep("escape", run=sh(script)),))
    runner, _ = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok", final
    escaped = pids_in(pids)
    assert len(escaped) == 2
    for pid in escaped:
        assert process_ends(pid, within=5.0), f"{pid} outlived its step"


async def test_a_timeout_ends_children_in_other_sessions_too(repo: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # Deaf to SIGTERM: only the SIGKILL after the grace ends them.
    # "started" once both are written: the timeout never comes before (a loaded machine).
    script = (
        f"trap '' TERM; setsid sh -c 'trap \"\" TERM; echo $$ >> {pids}; sleep 300' & "
        f"until [ -s {pids} ]; do sleep 0.01; done; echo $$ >> {pids}; echo started; wait"
    )
    step = PipelineStep("hang", run=sh(script), timeout=3.0)
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, host = runner_for(tmp_path, spec)
    started = time.monotonic()
    final = await runner.run(spec)
    assert final is not None and final.state == "timeout", final
    assert time.monotonic() - started < 10
    assert "started" in host.lines("hang")
    assert len(pids_in(pids)) == 2
    for pid in pids_in(pids):
        assert process_ends(pid, within=5.0), f"{pid} outlived its step"


DAEMON = """
import asyncio, sys
from pathlib import Path
from gitwatch_tui.core.models import PipelineStep, RepoSpec
from gitwatch_tui.engine.pipeline import PipelineRunner
from tests.engine.test_pipeline import Host

async def main():
    repo, state, script = sys.argv[1:]
    spec = RepoSpec(Path(repo), "app", pipeline=(PipelineStep("s", run=("sh", "-c", script)),))
    runner = PipelineRunner(Host(spec), Path(state))
    await runner.run(spec)

asyncio.run(main())
"""


def test_a_killed_daemon_takes_its_steps_with_it(repo: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"setsid sleep 300 & echo $! >> {pids}; sleep 300 & echo $! >> {pids}; wait"
    env = {**os.environ, **new_marker(), "PYTHONPATH": os.getcwd()}
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(repo), str(tmp_path / "state"), script], env=env
    )
    try:
        wait_until(lambda: pids.exists() and len(pids_in(pids)) == 2, what="the step's children")
        daemon.kill()  # no chance to clean up
        daemon.wait()
        for pid in pids_in(pids):
            assert process_ends(pid, within=10.0), f"{pid} outlived the daemon"
    finally:
        daemon.kill()
        daemon.wait()
        for pid in pids_in(pids) if pids.exists() else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        kill_marked(env)
    assert marked(env, program="sleep") == []


async def test_a_program_that_cannot_start_says_why(repo: Path, tmp_path: Path) -> None:
    step = PipelineStep("nope", run=("no-such-program-here", "x"))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, _ = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "failed"
    assert final.error == "step nope: cannot start no-such-program-here: No such file or directory"


async def test_a_step_ends_with_the_status_or_signal_its_process_ended_with(
    repo: Path, tmp_path: Path
) -> None:
    steps = (
        PipelineStep("exit", run=sh("exit 3"), on_failure="continue"),
        PipelineStep("killed", run=sh("kill -KILL $$"), on_failure="continue"),
    )
    spec = RepoSpec(repo, "app", pipeline=steps)
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.failed == ("exit", "killed")
    assert any("exit failed: exit status 3" in line for line in host.lines())
    assert any("killed failed: killed by SIGKILL" in line for line in host.lines())


# -- secrets and the run log -------------------------------------------------------------------


async def test_secret_values_are_masked_in_events_and_the_run_log(
    repo: Path, tmp_path: Path
) -> None:
    environ = {**ENV, "API_TOKEN": "tok-12345", "PEM": "line-one-secret\nline-two-secret"}
    script = (
        'echo "token=$API_TOKEN"; echo "url=https://x:${API_TOKEN}@host"; printf "%s\\n" "$PEM"; '
        # An endless line with the secret just where a long line is cut.
        'head -c 15995 /dev/zero | tr "\\0" a; printf "%s" "$API_TOKEN"; '
        'head -c 100000 /dev/zero | tr "\\0" b; echo'
    )
    step = PipelineStep("leak", run=sh(script), secrets=("API_TOKEN", "PEM"))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, host = runner_for(tmp_path, spec, environ=environ)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok" and final.log_path
    lines = host.lines("leak")
    assert lines[1:5] == ["token=***", "url=https://x:***@host", "***", "***"]
    log = read(final.log_path)
    for text in ("\n".join(lines), log):
        assert "tok-1" not in text and "secret" not in text
    assert "token=***" in log


async def test_run_logs_are_readable_by_their_owner_only(repo: Path, tmp_path: Path) -> None:
    spec = RepoSpec(repo, "app", pipeline=(PipelineStep("echo", run=("echo", "hi")),))
    runner, _ = runner_for(tmp_path, spec)
    (tmp_path / "state" / "runs" / "app").mkdir(parents=True, mode=0o755)  # an older version's
    final = await runner.run(spec)
    assert final is not None and final.log_path
    log = Path(final.log_path)
    assert mode(log) == 0o600
    assert mode(log.parent) == mode(log.parent.parent) == 0o700


async def test_an_endless_line_is_cut_and_the_cut_is_marked(repo: Path, tmp_path: Path) -> None:
    # 100 MB without a newline: what is kept is small, and says how much was not.
    step = PipelineStep("flood", run=sh("head -c 100000000 /dev/zero | tr '\\0' x; echo; echo end"))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok" and final.log_path
    cut = host.lines("flood")[1]
    assert cut.startswith("x" * 4000) and cut.endswith(" [line cut: 99996000 more bytes not kept]")
    assert host.lines("flood")[2] == "end"
    assert len(read(final.log_path)) < 10_000


async def test_output_past_the_log_cap_is_counted_in_the_log(repo: Path, tmp_path: Path) -> None:
    step = PipelineStep("chatty", run=sh("seq 1 5000"))
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, _ = runner_for(tmp_path, spec)
    runner._log_cap = 1000  # bytes of output per run log
    final = await runner.run(spec)
    assert final is not None and final.state == "ok" and final.log_path
    log = read(final.log_path)
    kept = [line for line in log.splitlines() if not line.startswith("#")]
    assert kept == [str(n) for n in range(1, len(kept) + 1)] and 100 < len(kept) < 300
    assert f"# {5000 - len(kept)} more lines of output not kept (log cap)" in log
    assert log.rstrip().splitlines()[-1].startswith("# ok")  # the runner's own lines all there


# -- run_as ------------------------------------------------------------------------------------


@pytest.mark.skipif(not ROOT, reason="only root can start a step as another user")
async def test_run_as_starts_the_step_as_that_user(repo: Path, tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    step = PipelineStep("who", run=sh('id -u; id -g; echo "$HOME"'), run_as="nobody")
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok", final
    assert host.lines("who")[1:4] == [str(nobody.pw_uid), str(nobody.pw_gid), nobody.pw_dir]


@pytest.mark.skipif(not ROOT, reason="only root can start a step as another user")
async def test_a_step_run_as_another_user_cannot_read_the_daemon(
    repo: Path, tmp_path: Path
) -> None:
    # Whatever the daemon's environment holds, a step as `nobody` reads no process of ours.
    probe = f"echo read $(cat /proc/$PPID/environ /proc/{os.getpid()}/environ 2>/dev/null | wc -c)"
    step = PipelineStep("probe", run=sh(probe), run_as="nobody")
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, host = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "ok", (final, host.lines())
    assert host.lines("probe")[1] == "read 0"


async def test_run_as_an_unknown_user_fails_the_step(repo: Path, tmp_path: Path) -> None:
    step = PipelineStep("who", run=("id",), run_as="no-such-user-here")
    spec = RepoSpec(repo, "app", pipeline=(step,))
    runner, _ = runner_for(tmp_path, spec)
    final = await runner.run(spec)
    assert final is not None and final.state == "failed"
    assert final.error == "step who: run_as: there is no user no-such-user-here"
