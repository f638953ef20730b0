"""A pipeline step's secrets from files: real step processes, read from a real config file."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.core.models import RepoSpec
from tests.engine.test_pipeline import ENV, runner_for

DEPLOY_KEY = "k3y-from-file"
API_TOKEN = "t0ken-from-env"


def spec_from_config(tmp_path: Path, run: str, env: dict[str, str]) -> RepoSpec:
    """The repo `app` with one step `deploy` that has a secret from the environment and one
    from the file `deploy-key` (relative: in $CREDENTIALS_DIRECTORY when `env` sets it)."""
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(f"""\
            repos:
              - path: app
                pipeline:
                  - name: deploy
                    run: {run!r}
                    secrets: [API_TOKEN, {{name: DEPLOY_KEY, file: deploy-key}}]
            """)
    )
    [spec] = load_config(config, env).repos
    return spec


async def test_a_step_gets_its_secret_from_a_file_in_the_credentials_directory(
    repo: Path, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "deploy-key").write_text(DEPLOY_KEY + "\n")
    (tmp_path / "deploy-key").write_text("the-wrong-one\n")  # next to the config: not used
    check = f'test "$DEPLOY_KEY" = {DEPLOY_KEY} && test "$API_TOKEN" = {API_TOKEN} && echo got-it'
    spec = spec_from_config(tmp_path, check, {"CREDENTIALS_DIRECTORY": str(credentials)})
    # The daemon's environment holds API_TOKEN, but not DEPLOY_KEY.
    runner, host = runner_for(tmp_path, spec, environ={**ENV, "API_TOKEN": API_TOKEN})
    final = await runner.run(spec)
    assert final is not None and final.state == "ok", final
    assert "got-it" in host.lines("deploy")


async def test_a_step_reads_its_secret_file_at_each_run(repo: Path, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    spec = spec_from_config(tmp_path, f'printf %s "$DEPLOY_KEY" > {seen}', {})
    runner, _ = runner_for(tmp_path, spec, environ={**ENV, "API_TOKEN": API_TOKEN})
    key = tmp_path / "deploy-key"  # relative, no $CREDENTIALS_DIRECTORY: next to the config
    for content in ("first-key\r\n", "rotated-key\n"):
        key.write_text(content, newline="")
        final = await runner.run(spec)
        assert final is not None and final.state == "ok", final
        assert seen.read_text() == content.rstrip()


async def test_a_secret_that_cannot_be_had_fails_the_step_before_it_starts(
    repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    spec = spec_from_config(tmp_path, f"touch {marker}", {})
    key = tmp_path / "deploy-key"
    cases = [
        ({}, "step deploy: secret API_TOKEN is not set"),
        ({"API_TOKEN": ""}, "step deploy: secret API_TOKEN is empty"),
        (
            {"API_TOKEN": API_TOKEN},
            f"step deploy: secret DEPLOY_KEY: file {key} cannot be read: No such file or directory",
        ),
    ]
    for environ, error in cases:
        runner, host = runner_for(tmp_path, spec, environ={**ENV, **environ})
        final = await runner.run(spec)
        assert final is not None and (final.state, final.error) == ("failed", error)
    key.write_text("\n")
    final = await runner.run(spec)
    assert final is not None
    assert final.error == f"step deploy: secret DEPLOY_KEY: file {key} is empty"
    assert not marker.exists()
