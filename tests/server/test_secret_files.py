"""Webhook secrets from files: a real server checking real signed deliveries, and a real daemon
started as systemd starts it (`LoadCredential=` sets $CREDENTIALS_DIRECTORY)."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gitwatch_tui.core.config import ServerSettings
from gitwatch_tui.server.app import ServerConfigError, read_secrets
from tests.server.conftest import (
    SECRETS,
    close_world,
    github_headers,
    github_push,
    open_world,
    push,
    sign,
)
from tests.server.test_daemon import SECRET, Daemon, post_hook, run_daemon_process, write_config

GH_FROM_FILE = "gh-s3cret-from-file"
GL_FROM_FILE = "gl-t0ken-from-file"


async def test_signed_deliveries_are_checked_against_secrets_read_from_files(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "github").write_text(GH_FROM_FILE + "\n")
    (secrets / "gitlab").write_text(GL_FROM_FILE + "\r\n", newline="")
    files = (("github", secrets / "github"), ("gitlab", secrets / "gitlab"))
    world = await open_world(tmp_path, secret_envs=(), secret_files=files)
    try:
        push(world.remotes["alpha"], world.base)
        body = json.dumps(github_push("https://github.com/Owner/Alpha.git")).encode()
        from_env = github_headers(body)  # signed with the variable's secret: not configured
        status, _ = await world.post("github", body, from_env)
        assert status == 401
        signed = {**from_env, "X-Hub-Signature-256": "sha256=" + sign(GH_FROM_FILE, body)}
        status, answer = await world.post("github", body, signed)
        assert (status, answer["repos"]) == (202, ["alpha"])
        await world.settle()
        assert world.fetched() == ["alpha"]
        gitlab = {"object_kind": "push", "ref": "refs/heads/main",
                  "project": {"git_ssh_url": "git@forge.example:team/gamma.git"}}  # fmt: skip
        for token, expected in ((SECRETS["GL_TOKEN"], 401), (GL_FROM_FILE, 202)):
            headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token}
            status, _ = await world.post("gitlab", gitlab, headers)
            assert status == expected
        await world.settle()
    finally:
        await close_world(world)


def test_a_secret_file_that_cannot_be_read_stops_the_server_naming_the_file(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nope"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    cases = [
        (missing, f"server.github: file {missing} cannot be read: No such file or directory"),
        (empty, f"server.github: file {empty} is empty"),
        (tmp_path, f"server.github: file {tmp_path} is not a regular file"),
    ]
    for path, message in cases:
        settings = ServerSettings(secret_files=(("github", path),))
        with pytest.raises(ServerConfigError) as info:
            read_secrets(settings, {})
        assert str(info.value) == message


def credentials_config(tmp_path: Path, secret_file: str) -> Path:
    config = write_config(tmp_path, {})
    text = config.read_text().replace(
        "{secret_env: HOOK_SECRET}", f"{{secret_file: {secret_file}}}"
    )
    config.write_text(text)
    return config


def test_the_daemon_reads_its_webhook_secret_from_the_credentials_directory(
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "hook-secret").write_text(SECRET + "\n")
    config = credentials_config(tmp_path, "hook-secret")
    env = {"CREDENTIALS_DIRECTORY": str(credentials), "HOOK_SECRET": "not-this-one"}
    daemon = Daemon(config, tmp_path, env=env)
    try:
        base_url = daemon.wait_event("daemon-started")["listen"]
        post_hook(base_url, "https://example.invalid/nobody/none.git")  # asserts 202
        request = urllib.request.Request(
            base_url + "/hooks/generic", data=b"{}",
            headers={"X-Gitwatch-Token": "not-this-one", "Content-Type": "application/json"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        refused.value.close()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(10) == 0
        assert SECRET not in "".join(daemon.raw)
    finally:
        daemon.close()


def test_the_daemon_exits_78_naming_a_secret_file_it_cannot_read(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    config = credentials_config(tmp_path, "hook-secret")
    code, records = run_daemon_process(
        tmp_path, "--config", str(config), env={"CREDENTIALS_DIRECTORY": str(credentials)}
    )
    missing = credentials / "hook-secret"
    assert code == 78, records
    assert records[-1]["event"] == "config-error"
    assert records[-1]["message"] == (
        f"{config}: server.generic: file {missing} cannot be read: No such file or directory"
    )
