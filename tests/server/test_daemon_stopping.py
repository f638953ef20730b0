"""Stopping means stopping: the real daemon, SIGTERM'd mid-work and at every moment of its
start-up.

After the signal no new work starts (no fetch queued for a slot, no auto-sync after a fetch
that ends in the grace period, no reload), the work under way gets the grace period, and the
daemon exits 0 with its `daemon-stopping` and `daemon-stopped` lines, leaving no git behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import commit_file, git
from tests.processes import kill_marked, marked, new_marker, wait_until
from tests.remotes import slow_remote
from tests.server.test_daemon import SECRET, Daemon, post_hook, served_repo

FETCH_DELAY = 3.0  # the remote answers each fetch this late: a fetch is under way this long


def daemon_config(tmp_path: Path, clones: dict[str, Path], grace: str = "30s") -> Path:
    lines = ["defaults: {poll_interval: 24h, fetch_timeout: 60s, fetch_concurrency: 2}"]
    lines += ["repos:"] + [
        f"  - {{path: '{path}', name: {name}, auto_sync: ff-only}}" for name, path in clones.items()
    ]
    lines += ["server:", "  listen: '127.0.0.1:0'", f"  shutdown_grace: {grace}",
              "  generic: {secret_env: HOOK_SECRET}"]  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_after_sigterm_no_fetch_or_auto_sync_starts_and_no_head_moves(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    # Six clones one commit behind, auto-sync on, two fetches at a time: a webhook for all six
    # leaves two fetches under way (held by the slow remote) and four queued for a slot.
    remotes, clones, port = {}, {}, 0
    for index in range(6):
        name = f"stop{index}"
        remotes[name], clones[name], port = served_repo(git_daemon, tmp_path, name)
        seed = tmp_path / f"{name}-seed"
        commit_file(seed, "more.txt", "x\n")
        git(seed, "push", "-q", str(remotes[name]), "HEAD:main")
    heads = {name: git(clone, "rev-parse", "HEAD") for name, clone in clones.items()}
    env = new_marker()
    with slow_remote(port, FETCH_DELAY) as remote:
        urls = []
        for name, clone in clones.items():
            urls.append(f"git://127.0.0.1:{remote.port}/{name}.git")
            git(clone, "remote", "set-url", "origin", urls[-1])
        daemon = Daemon(daemon_config(tmp_path, clones), tmp_path, env=env)
        try:
            base_url = daemon.wait_event("daemon-started")["listen"]
            post_hook(base_url, urls)  # type: ignore[arg-type]
            wait_until(lambda: len(remote.accepted) == 2, what="two fetches under way")
            daemon.proc.send_signal(signal.SIGTERM)
            daemon.wait_event("daemon-stopping", signal="SIGTERM")
            daemon.wait_event("daemon-stopped", within=FETCH_DELAY + 20)
            assert daemon.proc.wait(10) == 0
            records = daemon.drain()
        finally:
            daemon.close()
            kill_marked(env)
    assert len(remote.accepted) == 2, "a queued fetch started after the stop"
    finished = [r for r in records if r["event"] == "sync-finished"]
    assert [(r["action"], r["ok"]) for r in finished] == [("fetch", True)] * 2, finished
    fetched = {r["repo"] for r in finished}
    for name, clone in clones.items():
        assert git(clone, "rev-parse", "HEAD") == heads[name], f"{name}'s HEAD moved"
        tip = git(remotes[name], "rev-parse", "main")
        # The fetches under way finished in the grace; the queued ones never started.
        assert (git(clone, "rev-parse", "origin/main") == tip) == (name in fetched)


# The daemon's first imports map `_json` (the command line imports json): a signal from then
# on came before its loop, whose handlers the old daemon installed half a second later.
STARTUP_DELAYS = (0.0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0, 1.6)


def _mapped(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def test_sigterm_at_any_moment_of_the_start_up_is_a_clean_stop(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    clones = {f"up{i}": served_repo(git_daemon, tmp_path, f"up{i}")[1] for i in range(3)}
    config = daemon_config(tmp_path, clones, grace="5s")
    env = new_marker()
    for delay in STARTUP_DELAYS:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitwatch_tui", "daemon", "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=tmp_path,
            env={**os.environ, **env, "GITWATCH_TUI_CONFIG": "", "HOOK_SECRET": SECRET,
                 "XDG_STATE_HOME": str(tmp_path / "state"),
                 "PYTHONPATH": str(Path(__file__).parents[2])},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not _mapped(proc.pid, "/_json.") and proc.poll() is None:
                assert time.monotonic() < deadline, "the daemon never started its imports"
                time.sleep(0.001)
            time.sleep(delay)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait(10)
        records: list[dict[str, Any]] = [json.loads(line) for line in stderr.splitlines()]
        kinds = [record["event"] for record in records]
        assert proc.returncode == 0, (delay, proc.returncode, kinds)
        # Statuses of a first sweep under way may still come in (reads, not new work).
        assert kinds[-1] == "daemon-stopped" and "daemon-stopping" in kinds, (delay, kinds)
        assert records[kinds.index("daemon-stopping")]["signal"] == "SIGTERM"
        assert "sync-finished" not in kinds
        wait_until(lambda: not marked(env), within=10, what=f"nothing left after {delay} s")
    kill_marked(env)
