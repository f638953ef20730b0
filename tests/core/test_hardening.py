"""Which variables the daemon keeps from its children, and taking them out."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.config import load_config
from gitwatch_tui.core.hardening import secret_variables, withhold


def test_every_secret_the_config_reads_from_the_environment_is_named(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(
        "repos:\n"
        "  - path: app\n"
        "    pipeline:\n"
        "      - name: deploy\n"
        "        run: ./deploy\n"
        "        secrets: [API_TOKEN, {name: DEPLOY_KEY, file: deploy-key}]\n"
        "server:\n"
        "  github: {secret_env: GITHUB_SECRET}\n"
        "  gitlab: {token_file: gitlab-token}\n"
        "notify:\n"
        "  email: {host: localhost, from: a@b.c, to: d@e.f,\n"
        "          username_env: SMTP_USER, password_env: SMTP_PASSWORD}\n"
    )
    names = secret_variables(load_config(config, {}))
    # DEPLOY_KEY and the GitLab token come from files: there is nothing to take out for them.
    assert names == {"API_TOKEN", "GITHUB_SECRET", "SMTP_USER", "SMTP_PASSWORD"}


def test_withheld_variables_leave_the_environment_and_the_rest_stays() -> None:
    environ = {"PATH": "/bin", "API_TOKEN": "x", "HOME": "/root"}
    withhold({"API_TOKEN", "NOT_SET"}, environ)
    assert environ == {"PATH": "/bin", "HOME": "/root"}
