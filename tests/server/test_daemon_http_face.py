"""The daemon's HTTP face as a real process: what it says at start, what it never prints, and
how it holds up when the process runs out of file descriptors."""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, make_remote_and_clone, push_from_elsewhere
from tests.server.test_daemon import SECRET, Daemon, run_daemon_process, write_config


def test_a_port_clash_is_found_before_the_engine_reads_any_repo(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        config = write_config(tmp_path, {"repo": clone}, listen=f"127.0.0.1:{port}")
        code, records = run_daemon_process(
            tmp_path, "--config", str(config), env={"HOOK_SECRET": SECRET}
        )
    assert code == 75
    assert [record["event"] for record in records] == ["server-error"], records
    assert str(port) in records[0]["message"]


def test_listening_beyond_loopback_is_warned_at_start(tmp_path: Path) -> None:
    daemon = Daemon(write_config(tmp_path, {}, listen="0.0.0.0:0"), tmp_path)
    try:
        warning = daemon.wait_event("log-line", level="warning")
        assert "beyond loopback" in warning["message"] and "0.0.0.0:" in warning["message"]
        daemon.wait_event("daemon-started")
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
    finally:
        daemon.close()
    # On loopback (the default) nothing is said.
    quiet = Daemon(write_config(tmp_path, {}), tmp_path)
    try:
        quiet.wait_event("daemon-started")
        quiet.proc.send_signal(signal.SIGTERM)
        assert quiet.proc.wait(10) == 0
        assert not [r for r in quiet.drain() if "loopback" in r.get("message", "")]
    finally:
        quiet.close()


@pytest.mark.parametrize(
    ("pasted", "words"),
    [
        ("gh-W3bh00k+s3cr3t/v4lue=", "is not a valid environment variable name"),
        ("ghp_R4nd0mT0kenV4lue1234", "is not set"),  # a valid name: never set, never shown
    ],
)
def test_a_secret_pasted_in_place_of_the_variable_name_is_never_printed(
    tmp_path: Path, pasted: str, words: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"repos: []\nserver:\n  github: {{secret_env: '{pasted}'}}\n")
    code, records = run_daemon_process(tmp_path, "--config", str(config))
    assert code == 78
    text = json.dumps(records)
    assert words in text and pasted not in text and pasted[3:15] not in text


# -- out of file descriptors ---------------------------------------------------------------------

FD_LIMIT = 256
HELD_ELSEWHERE = 170  # descriptors the daemon inherits and keeps: something else holds them


class LimitedDaemon(Daemon):
    """A daemon started with a low open-file limit, most of it taken before it starts."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self._held = [os.open(os.devnull, os.O_RDONLY) for _ in range(HELD_ELSEWHERE)]

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gitwatch_tui", "daemon", "--config", str(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=tmp_path, preexec_fn=limit, pass_fds=self._held,
            env={**os.environ, "GITWATCH_TUI_CONFIG": "", "HOOK_SECRET": SECRET,
                 "XDG_STATE_HOME": str(tmp_path / "state")},
        )  # fmt: skip
        for fd in self._held:
            os.close(fd)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


@contextmanager
def idle_connections(url: str, count: int) -> Iterator[list[socket.socket]]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with ExitStack() as stack:
        opened = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection((host, int(port)), timeout=5))
            opened.append(sock)
        yield opened


def fetched_ok(records: list[dict[str, Any]], after: str) -> int:
    return sum(
        1
        for r in records
        if r["event"] == "sync-finished" and r["ok"] and r["action"] == "fetch" and r["ts"] > after
    )


def test_out_of_descriptors_the_server_backs_off_logs_once_and_the_engine_keeps_syncing(
    tmp_path: Path,
) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "busy")
    config = write_config(tmp_path, {"busy": clone})
    config.write_text(config.read_text().replace("poll_interval: 1h", "poll_interval: 1s"))
    daemon = LimitedDaemon(config, tmp_path)
    try:
        base_url = daemon.wait_event("daemon-started")["listen"]
        with idle_connections(base_url, 100):
            out = daemon.wait_event("log-line", within=10.0, level="warning")
            while "cannot accept a connection" not in out["message"]:
                out = daemon.wait_event("log-line", within=10.0, level="warning")
            push_from_elsewhere(remote, tmp_path)
            pushed = git(remote, "rev-parse", "main")
            # An attack that lasts: the engine goes on polling through it, and brings the push.
            polls = 0
            while polls < 2 or git(clone, "rev-parse", "origin/main") != pushed:
                daemon.wait_event("sync-finished", within=20.0, ok=True, action="fetch")
                polls += 1
            records = daemon.drain()
            # The server still answers (an idle connection makes room for this one).
            with urllib.request.urlopen(base_url + "/healthz", timeout=10) as response:
                assert response.status == 200
        assert fetched_ok(records, after=out["ts"]) >= 2, [r["event"] for r in records]
        assert git(clone, "rev-parse", "origin/main") == git(remote, "rev-parse", "main")
        lines = [r for r in records if "cannot accept" in r.get("message", "")]
        assert lines == [out]  # one line in the whole attack
        assert not [r for r in records if r["level"] == "error"], records
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
    finally:
        daemon.close()
