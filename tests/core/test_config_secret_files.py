"""`secret_file` and its kin in the config: where a relative path leads, and errors by line that
never quote what was written (it may be a pasted secret)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitwatch_tui.core.config import EmailTarget, WebhookTarget, load_config
from gitwatch_tui.core.errors import ConfigError
from gitwatch_tui.core.models import PipelineStep
from gitwatch_tui.core.secrets import SecretSource

PASTED = "ghp_Xy7pAstedT0ken"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})
    found = [
        f"{p.location.line}:{p.location.column}: {p.message}" if p.location else p.message
        for p in info.value.problems
    ]
    assert not any(PASTED in problem for problem in found), found
    return found


SERVER = """\
    server:
      github:  {secret_file: /run/secrets/github}
      gitlab:  {token_file: gitlab-token}
      gitea:   {secret_file: ~/gitea}
      generic: {secret_env: HOOK_SECRET}
    """


def test_webhook_secrets_from_files_next_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SERVER), {"HOME": "/home/ops"})
    assert config.server.secret_sources() == (
        ("generic", SecretSource(env="HOOK_SECRET")),
        ("github", SecretSource(file=Path("/run/secrets/github"))),
        ("gitlab", SecretSource(file=tmp_path / "gitlab-token")),
        ("gitea", SecretSource(file=Path("/home/ops/gitea"))),
    )
    assert config.server.secret_env("generic") == "HOOK_SECRET"


def test_a_relative_path_is_in_the_credentials_directory_when_systemd_sets_one(
    tmp_path: Path,
) -> None:
    env = {"CREDENTIALS_DIRECTORY": "/run/credentials/gitwatch.service", "HOME": "/home/ops"}
    config = load_config(write(tmp_path, SERVER), env)
    files = dict(config.server.secret_files)
    assert files["gitlab"] == Path("/run/credentials/gitwatch.service/gitlab-token")
    assert files["github"] == Path("/run/secrets/github")  # an absolute path as it is
    assert files["gitea"] == Path("/home/ops/gitea")


def test_notify_login_and_webhook_url_from_files(tmp_path: Path) -> None:
    text = """\
        notify:
          webhook: {url_file: slack-url, retries: 1}
          email:
            host: smtp.example.com
            username_env: SMTP_USER
            password_file: /run/secrets/smtp
            from: gitwatch@example.com
            to: ops@example.com
        """
    notify = load_config(write(tmp_path, text), {}).notify
    assert notify.webhook == WebhookTarget(url_file=tmp_path / "slack-url", retries=1)
    assert notify.email is not None
    assert notify.email.login_sources() == (
        SecretSource(env="SMTP_USER"),
        SecretSource(file=Path("/run/secrets/smtp")),
    )
    no_login = EmailTarget(host="h", sender="a@b", to=("c@d",))
    assert no_login.login_sources() == (None, None)


def test_step_secrets_from_the_environment_and_from_files_in_config_order(
    tmp_path: Path,
) -> None:
    text = """\
        repos:
          - path: app
            pipeline:
              - name: deploy
                run: ./deploy.sh
                secrets:
                  - API_TOKEN
                  - {name: DEPLOY_KEY, file: deploy-key}
                  - KUBE_TOKEN
                  - {name: DB_PASSWORD, file: /run/secrets/db}
        """
    env = {"CREDENTIALS_DIRECTORY": "/run/credentials/gw"}
    [step] = load_config(write(tmp_path, text), env).repos[0].pipeline
    assert step.secret_names == ("API_TOKEN", "DEPLOY_KEY", "KUBE_TOKEN", "DB_PASSWORD")
    assert step.secret_sources() == (
        ("API_TOKEN", SecretSource(env="API_TOKEN")),
        ("DEPLOY_KEY", SecretSource(file=Path("/run/credentials/gw/deploy-key"))),
        ("KUBE_TOKEN", SecretSource(env="KUBE_TOKEN")),
        ("DB_PASSWORD", SecretSource(file=Path("/run/secrets/db"))),
    )


def test_a_step_declares_file_secrets_among_its_secrets() -> None:
    with pytest.raises(ValueError):
        PipelineStep("x", run=("true",), secret_files=(("KEY", Path("/k")),))


def test_errors_say_where_and_what_never_the_value(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""\
        server:
          github: {{secret_env: GH, secret_file: gh}}
          gitlab: {{token_file: [{PASTED}]}}
          gitea: {{token_file: x}}
          generic: {{secret_file: "{PASTED}\\0"}}
        notify:
          webhook: {{url: "https://hooks.example/x", url_file: u}}
          email:
            host: h
            from: a@b.c
            to: d@e.f
            password_env: P
            password_file: {{{PASTED}: 1}}
        repos:
          - path: app
            pipeline:
              - name: a
                run: x
                env: {{KEY: v}}
                secrets: [{{name: KEY, file: k}}]
              - name: b
                run: x
                secrets: [TOKEN, {{name: TOKEN, file: t}}]
              - name: c
                run: x
                secrets: [{{name: OTHER}}, {{file: f}}, {PASTED}-x]
        """,
    )
    assert found == [
        "2:11: server.github: give either secret_env or secret_file, not both",
        "3:24: token_file: expected a file path, got a list",
        "4:11: unknown key 'token_file' in server.gitea; valid keys: secret_env, secret_file",
        "4:10: missing required key 'secret_env' in server.gitea (or 'secret_file')",
        "5:26: secret_file: is not a file path (it holds a NUL character)",
        "7:12: notify.webhook: give either url or url_file, not both",
        "13:20: password_file: expected a file path, got a mapping",
        "9:5: notify.email: give either password_env or password_file, not both",
        "17:9: step 'a': KEY both in env and in secrets",
        "21:9: step 'b': TOKEN named twice in secrets",
        "26:19: missing required key 'file' in a step secret",
        "26:34: missing required key 'name' in a step secret",
        "26:45: secrets: is not a valid environment variable name",
    ]


def test_a_webhook_needs_a_url_or_a_url_file(tmp_path: Path) -> None:
    found = problems(tmp_path, "notify: {webhook: {retries: 1}}\n")
    assert found == ["1:19: missing required key 'url' in notify.webhook (or 'url_file')"]
