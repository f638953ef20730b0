"""The real daemon keeps its secrets from what it starts: a pipeline step reads no process's
environment holding one, and git (and the hooks of a trusted repo) never get them."""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_remote_and_clone, push_from_elsewhere
from tests.processes import kill_marked, new_marker, wait_until
from tests.server.test_daemon import Daemon

ROOT = os.geteuid() == 0
# Root may read any process's memory (CAP_SYS_PTRACE). Run as root, the daemon drops its
# capabilities: it and its steps stand for a daemon run by a user, the case the daemon guards.
WRAPPER = ("setpriv", "--bounding-set=-all", "--inh-caps=-all") if ROOT else ()


@pytest.mark.skipif(ROOT and shutil.which("setpriv") is None, reason="needs setpriv as root")
def test_no_process_a_step_can_read_holds_the_daemons_secrets(tmp_path: Path) -> None:
    secret = uuid.uuid4().hex
    remote, clone = make_remote_and_clone(tmp_path, "app")
    push_from_elsewhere(remote, tmp_path)  # the daemon's first poll pulls it: the step runs
    hook_env = tmp_path / "hook-env.txt"
    hook = clone / ".git" / "hooks" / "post-merge"
    hook.write_text(f"#!/bin/sh\nenv > {hook_env}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    found = tmp_path / "found.txt"
    probe = (
        "for f in /proc/[0-9]*/environ; do cat $f 2>/dev/null; done"
        f" | tr '\\0' '\\n' | grep -c {secret} > {found}; true"
    )
    config = tmp_path / "config.yaml"
    repo = {
        "path": str(clone), "name": "app", "auto_sync": "ff-only",
        "trust": True,  # its post-merge hook runs in the background: it is a git child
        "pipeline": [{"name": "probe", "run": probe}],
    }  # fmt: skip
    server = {"listen": "127.0.0.1:0", "generic": {"secret_env": "HOOK_SECRET"}}
    document = {"defaults": {"poll_interval": "1s"}, "repos": [repo], "server": server}
    config.write_text(yaml.safe_dump(document))
    env = {**new_marker(), "HOOK_SECRET": secret}
    daemon = Daemon(config, tmp_path, env=env, wrapper=WRAPPER)
    try:
        daemon.wait_event("daemon-started")
        wait_until(lambda: found.exists() and found.read_text().strip(), what="the probe ran")
        assert found.read_text().strip() == "0", "a step read a process holding the secret"
        assert hook_env.exists() and secret not in hook_env.read_text()
    finally:
        daemon.close()
        kill_marked(env)


def test_a_reload_that_names_a_secret_still_inherited_says_to_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from gitwatch_tui.core.config_file import load_config
    from gitwatch_tui.engine.events import ConfigReloaded
    from gitwatch_tui.server.daemon import JsonLog, _secrets_still_inherited

    (tmp_path / "app").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "repos: [{path: app}]\nserver: {generic: {secret_env: NEW_SECRET}}\n"
        "notify: {email: {host: localhost, from: a@b.c, to: d@e.f, password_env: GONE}}\n"
    )
    monkeypatch.setenv("NEW_SECRET", "value-never-logged")
    monkeypatch.delenv("GONE", raising=False)
    stream = io.StringIO()
    log = JsonLog(stream)
    _secrets_still_inherited(ConfigReloaded(load_config(config, {})), log)
    log.close()
    [record] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (record["level"], record["event"]) == ("warning", "secrets-inherited")
    assert record["variables"] == ["NEW_SECRET"]  # not GONE: it is in no environment
    assert "value-never-logged" not in stream.getvalue()
    assert os.environ["NEW_SECRET"] == "value-never-logged"  # left alone, as said
