"""The `server:` section: typed values, defaults, and file:line:column errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.config import DEFAULT_LISTEN, RateLimit, ServerSettings, parse_listen
from gitwatch_tui.core.config_file import load_config
from tests.core.configs import problems, write


def test_full_server_section(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """\
            server:
              listen: "0.0.0.0:9000"
              max_body: 512KiB
              rate: {requests: 20, per: 2s}
              unauthenticated_rate: {requests: 5, per: 1m}
              trusted_proxies: [127.0.0.1, "10.0.0.0/8", "::1", 192.168.1.7/24]
              header_timeout: 5s
              body_timeout: 20s
              keepalive_timeout: 30s
              max_connections: 100
              shutdown_grace: 5s
              github: {secret_env: GH_SECRET}
              gitlab: {token_env: GL_TOKEN}
              gitea: {secret_env: GITEA_SECRET}
              generic: {secret_env: HOOK_SECRET}
            """,
        ),
        {},  # the variables need not be set to read the config: the server reads them
    )
    server = config.server
    assert server.listen == "0.0.0.0:9000"
    assert server.max_body == 512 * 1024
    assert server.rate == RateLimit(requests=20, per=2.0)
    assert server.unauthenticated_rate == RateLimit(requests=5, per=60.0)
    assert server.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128", "192.168.1.0/24")
    assert (server.header_timeout, server.body_timeout, server.keepalive_timeout) == (5, 20, 30)
    assert server.max_connections == 100
    assert server.shutdown_grace == 5.0
    assert server.secret_env("github") == "GH_SECRET"
    assert server.secret_env("gitlab") == "GL_TOKEN"
    assert server.secret_env("gitea") == "GITEA_SECRET"
    assert server.secret_env("generic") == "HOOK_SECRET"


@pytest.mark.parametrize("text", ["theme: x\n", "server:\n", "server: {}\n"])
def test_defaults_bind_loopback_with_every_provider_off(tmp_path: Path, text: str) -> None:
    server = load_config(write(tmp_path, text), {}).server
    assert server == ServerSettings()
    assert server.listen == DEFAULT_LISTEN == "127.0.0.1:8787"
    assert server.max_body == 1_048_576 and server.rate == RateLimit(50, 1.0)
    assert all(server.secret_env(p) is None for p in ("github", "gitlab", "gitea", "generic"))


def test_listen_off_means_no_server(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "server: {listen: off}\n"), {}).server.listen is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {listen: 'localhost'}", "1:18: listen: invalid address 'localhost'; use"),
        ("server: {listen: ':8787'}", "1:18: listen: invalid address ':8787': the host is missing"),
        ("server: {listen: '1.2.3.4:70000'}", "1:18: listen: invalid port in '1.2.3.4:70000'"),
        ("server: {max_body: 10}", "1:20: max_body: must be at least 1KiB, got '10'"),
        ("server: {max_body: 1.5M}", "1:20: max_body: invalid size '1.5M'; use bytes, or a number"),
        ("server: {rate: {requests: 0}}", "1:27: requests: must be at least 1, got 0"),
        ("server: {rate: {per: -1s}}", "1:22: per: must be greater than 0"),
        ("server: {rate: 5}", "1:16: server.rate: expected a mapping, got '5'"),
        ("server: {github: {secret_env: 'not a name'}}", "1:31: secret_env: is not a valid env"),
        (
            "server: {gitlab: {secret_env: X}}",
            "1:19: unknown key 'secret_env' in server.gitlab; valid",
        ),
        ("server: {gitea: {}}", "1:17: missing required key 'secret_env' in server.gitea"),
        ("server: {githb: {secret_env: X}}", "1:10: unknown key 'githb' in server; did you mean"),
        ("server: {shutdown_grace: 0}", "1:26: shutdown_grace: must be greater than 0"),
        (
            "server: {trusted_proxies: [proxy.lan]}",
            "1:27: trusted_proxies: 'proxy.lan' is not an IP",
        ),
        ("server: {max_connections: 0}", "1:27: max_connections: must be at least 1, got 0"),
        ("server: {header_timeout: 0}", "1:26: header_timeout: must be greater than 0"),
        (
            "server: {unauthenticated_rate: {per: 0}}",
            "1:38: per: must be greater than 0",
        ),
        ("server: [1]", "1:9: server: expected a mapping, got a list"),
    ],
)
def test_errors_name_the_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text + "\n")
    assert found[0].startswith(expected), found


def test_every_server_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
    server:
      listen: nowhere
      rate: {requests: x}
      github: {secret_env: 1bad}
    """
    found = problems(tmp_path, text)
    assert [p.split(":")[0] for p in found] == ["2", "3", "4"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1:8787", ("127.0.0.1", 8787)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("8787", ("127.0.0.1", 8787)),
    ],
)
def test_parse_listen(raw: str, expected: tuple[str, int]) -> None:
    assert parse_listen(raw) == expected


@pytest.mark.parametrize("raw", ["", "host", ":80", "::1:80", "[::1]80", "h:x", "h:65536"])
def test_parse_listen_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(raw)


SECRET = "gh-W3bh00k+s3cr3t/v4lue="


@pytest.mark.parametrize(
    "text",
    [
        f"server: {{github: {{secret_env: '{SECRET}'}}}}\n",
        f"server: {{gitlab: {{token_env: '{SECRET}'}}}}\n",
        f"notify: {{email: {{host: h, from: a@b.c, to: [d@e.f], username_env: '{SECRET}'}}}}\n",
        f"notify: {{email: {{host: h, from: a@b.c, to: [d@e.f], password_env: '{SECRET}'}}}}\n",
        "repos:\n  - path: app\n    pipeline:\n"
        f"      - {{name: a, run: [x], secrets: ['{SECRET}']}}\n",
    ],
    ids=["secret_env", "token_env", "username_env", "password_env", "step-secrets"],
)
def test_a_secret_pasted_where_a_variable_name_goes_is_never_quoted(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "app").mkdir()
    found = problems(tmp_path, text)
    [problem] = found
    assert problem.endswith("_env: is not a valid environment variable name") or problem.endswith(
        "secrets: is not a valid environment variable name"
    )
    assert not any(SECRET[3:12] in problem for problem in found)
