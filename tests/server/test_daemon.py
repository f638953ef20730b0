"""`gitwatch-tui daemon` as a real process: JSON logs, clean stops, exit codes.

Remotes that misbehave on purpose, on 127.0.0.1: one that never answers (a fetch that only
ends when killed) and a proxy that holds each connection a while before passing it to a real
`git daemon` (a fetch that ends well, but late).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, SyncFinished
from gitwatch_tui.engine.history import History
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.remotes import slow_remote
from tests.server.conftest import wait_for

SECRET = "daemon-hook-secret"


def served_repo(daemon: tuple[str, Path], base: Path, name: str) -> tuple[Path, Path, int]:
    """A bare repo served by `git daemon`, a clone, and the daemon's port."""
    url, served = daemon
    seed = base / f"{name}-seed"
    seed.mkdir(parents=True)
    git(seed, "init", "-q")
    commit_file(seed, "README.md", f"{name}\n")
    remote = served / f"{name}.git"
    git(base, "clone", "-q", "--bare", str(seed), str(remote))
    clone = base / name
    git(base, "clone", "-q", f"{url}/{name}.git", str(clone))
    return remote, clone, int(url.rsplit(":", 1)[1])


# -- the engine's own graceful stop -------------------------------------------------------------


async def test_stop_with_grace_lets_a_fetch_under_way_finish(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    remote, clone, port = served_repo(git_daemon, tmp_path, "late")
    commit_file(tmp_path / "late-seed", "more.txt", "x\n")
    git(tmp_path / "late-seed", "push", "-q", str(remote), "HEAD:main")
    with slow_remote(port, delay=1.0) as proxy:
        git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{proxy.port}/late.git")
        config = Config(defaults=Defaults(poll_interval=3600.0), repos=(RepoSpec(clone, "late"),))
        engine = Engine(config, state_dir=tmp_path / "state", watch_files=False)
        events: list[Event] = []
        engine.subscribe(events.append)
        await engine.start()
        fetch = engine.fetch("late")
        task = asyncio.ensure_future(fetch)
        await wait_for(lambda: engine.states["late"].phase == "fetching")
        started = time.monotonic()
        await engine.stop(grace=10.0)
        took = time.monotonic() - started
        assert task.done() and task.result().ok, task.result()
        assert 0.5 < took < 8.0, took
        assert [e.ok for e in events if isinstance(e, SyncFinished)] == [True]
        assert git(clone, "rev-parse", "origin/main") == git(remote, "rev-parse", "main")


async def test_stop_with_grace_ends_a_hung_fetch_when_the_grace_is_over(
    silent_server: str, tmp_path: Path
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "hung")
    port = silent_server.rsplit(":", 1)[1].split("/")[0]
    git(clone, "remote", "set-url", "origin", f"git://127.0.0.1:{port}/hung.git")
    config = Config(defaults=Defaults(poll_interval=3600.0, fetch_timeout=60.0),
                    repos=(RepoSpec(clone, "hung"),))  # fmt: skip
    engine = Engine(config, state_dir=tmp_path / "state", watch_files=False)
    await engine.start()
    task = asyncio.ensure_future(engine.fetch("hung"))
    await wait_for(lambda: engine.states["hung"].phase == "fetching")
    await wait_for(lambda: _git_processes_for(str(clone)))  # git is waiting on the remote
    started = time.monotonic()
    await engine.stop(grace=0.5)
    took = time.monotonic() - started
    assert task.cancelled()
    assert 0.4 < took < 4.0, took
    assert not _git_processes_for(str(clone))


def _git_processes_for(needle: str) -> list[int]:
    """Live processes whose command line mentions `needle` (git is pinned to its repo's path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


# -- the daemon as a process --------------------------------------------------------------------


class Daemon:
    """A running `gitwatch-tui daemon`, its stderr read line by line as JSON."""

    def __init__(
        self,
        config: Path,
        tmp_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        wrapper: Sequence[str] = (),  # a program the daemon is started through
    ):
        self.proc = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "gitwatch_tui", "daemon", "--config", str(config),
             *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=tmp_path,
            env={**os.environ, "GITWATCH_TUI_CONFIG": "", "HOOK_SECRET": SECRET,
                 "XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})},
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            self.lines.put(json.loads(line))  # every line must be JSON

    def wait_event(self, kind: str, within: float = 20.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            try:
                record = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {kind} event; saw {self.raw}") from None
            self.seen.append(record)
            if record["event"] == kind and all(record.get(k) == v for k, v in fields.items()):
                return record

    def drain(self) -> list[dict[str, Any]]:
        while True:
            try:
                self.seen.append(self.lines.get(timeout=0.5))
            except queue.Empty:
                return self.seen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def write_config(tmp_path: Path, repos: dict[str, Path], grace: str = "5s", **extra: str) -> Path:
    lines = [
        "defaults: {poll_interval: 1h, fetch_timeout: 60s}",
        "repos:" if repos else "repos: []",
    ]
    lines += [f"  - {{path: '{path}', name: {name}}}" for name, path in repos.items()]
    lines += ["server:", f"  listen: '{extra.get('listen', '127.0.0.1:0')}'",
              f"  shutdown_grace: {grace}", "  generic: {secret_env: HOOK_SECRET}"]  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def post_hook(base_url: str, repository: str) -> dict[str, Any]:
    request = urllib.request.Request(
        base_url + "/hooks/generic",
        data=json.dumps({"repository": repository}).encode(),
        headers={"X-Gitwatch-Token": SECRET, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return dict(json.load(response))


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_daemon_logs_json_and_stops_on_sigterm_mid_fetch_within_the_grace(
    silent_server: str, tmp_path: Path
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "hung")
    port = silent_server.rsplit(":", 1)[1].split("/")[0]
    hung_url = f"git://127.0.0.1:{port}/hung.git"
    git(clone, "remote", "set-url", "origin", hung_url)
    daemon = Daemon(write_config(tmp_path, {"hung": clone}, grace="1s"), tmp_path)
    try:
        started = daemon.wait_event("daemon-started")
        assert started["level"] == "info" and started["repos"] == 1 and "ts" in started
        base_url = started["listen"]
        assert base_url.startswith("http://127.0.0.1:")
        daemon.proc.send_signal(signal.SIGHUP)  # reloads the config, keeps running
        daemon.wait_event("config-reloaded")
        assert post_hook(base_url, hung_url)["repos"] == ["hung"]
        deadline = time.monotonic() + 10
        while get_json(base_url + "/api/repos/hung")["sync"]["phase"] != "fetching":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        while not _git_processes_for(str(clone)):  # git starts, then hangs on the remote
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stopping = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
        took = time.monotonic() - stopping
        assert 0.8 < took < 5.0, took  # the 1 s grace, then the git process is ended
        records = daemon.drain()
        assert [r["event"] for r in records][-2:] == ["daemon-stopping", "daemon-stopped"]
        assert records[-2]["signal"] == "SIGTERM"
        assert any(r["event"] == "log-line" and "fetching hung" in r["message"] for r in records)
        assert not _git_processes_for(str(clone))
        assert SECRET not in "".join(daemon.raw)
    finally:
        daemon.close()


def test_daemon_lets_a_fetch_under_way_finish_on_sigint(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    remote, clone, port = served_repo(git_daemon, tmp_path, "slow")
    commit_file(tmp_path / "slow-seed", "more.txt", "x\n")
    git(tmp_path / "slow-seed", "push", "-q", str(remote), "HEAD:main")
    with slow_remote(port, delay=1.5) as proxy:
        slow_url = f"git://127.0.0.1:{proxy.port}/slow.git"
        git(clone, "remote", "set-url", "origin", slow_url)
        daemon = Daemon(write_config(tmp_path, {"slow": clone}, grace="20s"), tmp_path)
        try:
            base_url = daemon.wait_event("daemon-started")["listen"]
            post_hook(base_url, slow_url)
            time.sleep(0.3)
            daemon.proc.send_signal(signal.SIGINT)
            daemon.wait_event("daemon-stopping", signal="SIGINT")
            finished = daemon.wait_event("sync-finished", repo="slow")
            assert finished["ok"] is True and finished["level"] == "info"
            daemon.wait_event("daemon-stopped")
            assert daemon.proc.wait(10) == 0
        finally:
            daemon.close()
    assert git(clone, "rev-parse", "origin/main") == git(remote, "rev-parse", "main")
    history = History(tmp_path / "state" / "gitwatch-tui" / "history.sqlite3")
    try:  # written before the exit
        assert [(e.action, e.ok) for e in history.recent("slow")] == [("fetch", True)]
    finally:
        history.close()


def run_daemon_process(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, list[dict[str, Any]]]:
    result = subprocess.run(
        [sys.executable, "-m", "gitwatch_tui", "daemon", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=60,
        env={**os.environ, "GITWATCH_TUI_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
             "XDG_STATE_HOME": str(tmp_path / "state"), **(env or {})},
    )  # fmt: skip
    return result.returncode, [json.loads(line) for line in result.stderr.splitlines()]


def test_bad_config_exits_78_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("defaults:\n  poll_interval: 0\nserver:\n  listen: nowhere\n")
    code, records = run_daemon_process(tmp_path, "--config", str(config))
    assert code == 78
    [record] = records
    assert (record["event"], record["level"]) == ("config-error", "error")
    assert record["problems"][0].startswith(f"{config}:2:18: poll_interval")
    assert record["problems"][1].startswith(f"{config}:4:11: listen")


@pytest.mark.parametrize(
    ("args", "env", "code", "words"),
    [
        ((), {}, 78, "no config file"),
        (("--config", "missing.yaml"), {}, 78, "does not exist"),
        (("--config", "ok.yaml"), {"HOOK_SECRET": ""}, 78, "HOOK_SECRET is empty"),
        (("--config", "ok.yaml", "--listen", "here"), {"HOOK_SECRET": "x"}, 64, "--listen"),
    ],
)
def test_exit_codes_for_what_a_service_manager_cannot_fix_by_restarting(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], code: int, words: str
) -> None:
    write_config(tmp_path, {}).rename(tmp_path / "ok.yaml")
    got, records = run_daemon_process(tmp_path, *args, env=env)
    assert got == code and words in records[-1]["message"], records


def test_port_in_use_exits_75(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        config = write_config(tmp_path, {}, listen=f"127.0.0.1:{port}")
        code, records = run_daemon_process(
            tmp_path, "--config", str(config), env={"HOOK_SECRET": "x"}
        )
    assert code == 75
    assert records[-1]["event"] == "server-error" and str(port) in records[-1]["message"]


# -- what the config must hold, and reloads ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 1),
        ("# repos come later\n", 1),
        ("defaults: {poll_interval: 1h}\nrepos:\n", 2),
        ("scan:\n  - path: empty\n", 1),
    ],
    ids=["empty", "comments-only", "repos-left-blank", "scan-finds-none"],
)
def test_a_config_with_no_repos_is_refused_at_start_with_exit_78(
    tmp_path: Path, text: str, line: int
) -> None:
    (tmp_path / "empty").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(text)
    code, records = run_daemon_process(tmp_path, "--config", str(config))
    assert code == 78, records
    [refused] = [record for record in records if record["event"] == "config-error"]
    assert refused["message"].startswith(f"{config}:{line}:1: no repos to watch")
    assert "repos: []" in refused["message"]
    assert "daemon-started" not in [record["event"] for record in records]


def test_a_config_that_says_repos_empty_starts_with_none(tmp_path: Path) -> None:
    daemon = Daemon(write_config(tmp_path, {}), tmp_path)
    try:
        assert daemon.wait_event("daemon-started")["repos"] == 0
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
    finally:
        daemon.close()


def init_repo(path: Path) -> None:
    git(path.parent, "init", "-q", path.name)
    commit_file(path, "README.md", f"{path.name}\n")


def test_sighup_rescans_scan_folders_though_the_file_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    init_repo(tmp_path / "src" / "first")
    config = tmp_path / "config.yaml"
    config.write_text(
        "defaults: {poll_interval: 1h}\nscan:\n  - path: src\nserver: {listen: off}\n"
    )
    daemon = Daemon(config, tmp_path)
    try:
        assert daemon.wait_event("daemon-started")["repos"] == 1
        init_repo(tmp_path / "src" / "second")
        # Not a synchronisation: the config watch is set up by now, so a reload on the touch
        # below (a file event whose content is unchanged: none is due) would show.
        time.sleep(1.0)
        os.utime(config)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_event("config-reloaded", added=["second"])
        reloads = [record for record in daemon.drain() if record["event"] == "config-reloaded"]
        assert len(reloads) == 1, reloads
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
    finally:
        daemon.close()
