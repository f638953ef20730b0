"""Config loading: typed values, file:line:column errors, and the YAML traps."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path

import pytest

from gitwatch_tui.core.config import Config, Defaults, default_config, refuse_no_repos
from gitwatch_tui.core.config_file import (
    default_config_path,
    load_config,
    parse_config,
    resolve_config_path,
)
from gitwatch_tui.core.errors import ConfigError
from gitwatch_tui.core.models import RepoSpec, ScanRoot, SourceLocation

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A small, explicit environment: a fake HOME with ~/src in it, and one secret."""
    home = tmp_path / "home"
    (home / "src").mkdir(parents=True)
    (tmp_path / "conf" / "scan-here").mkdir(parents=True)
    return {"HOME": str(home), "TOKEN": SECRET, "WORK": str(tmp_path / "work")}


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str | bytes, env: dict[str, str]) -> list[str]:
    """Load a bad config and return its problems as 'line:column: message'."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    for problem in info.value.problems:
        assert problem.location is None or problem.location.file == str(path)
    return [
        f"{p.location.line}:{p.location.column}: {p.message}" if p.location else p.message
        for p in info.value.problems
    ]


FULL = """\
defaults:
  poll_interval: 1h30m
  fetch_timeout: 500ms
  status_timeout: 90
  status_concurrency: 010
  fetch_concurrency: 4
scan:
  - ~/src
  - path: scan-here
    depth: 0
    group: on
    include_bare: YES
    exclude: "*.old"
repos:
  - &base
    path: ./dotfiles
    name: no
    group: on
    remote: off
    url: https://${TOKEN}@example.invalid/dotfiles.git
    poll_interval: 1.5
    branches: [010, yes, "release/*"]
    auto_sync: off
  - <<: *base
    path: ${WORK}/$$money
    name: money
    auto_sync: ff-only
  - ../elsewhere/plain
"""


@pytest.mark.usefixtures("yaml_parser")
def test_full_config_gives_typed_values(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path, env)
    conf, home = tmp_path / "conf", Path(env["HOME"])
    assert config.source == path
    assert config.defaults == Defaults(
        poll_interval=5400.0,
        fetch_timeout=0.5,
        status_timeout=90.0,
        status_concurrency=10,
        fetch_concurrency=4,
    )
    assert config.scan == (
        ScanRoot(path=home / "src"),
        ScanRoot(
            path=conf / "scan-here", depth=0, group="on", include_bare=True, exclude=("*.old",)
        ),
    )
    base = RepoSpec(
        path=conf / "dotfiles",
        name="no",
        group="on",
        remote="off",
        url=f"https://{SECRET}@example.invalid/dotfiles.git",
        poll_interval=1.5,
        branches=("010", "yes", "release/*"),
        auto_sync="off",
        source=SourceLocation(str(path), 15, 5),
    )
    assert config.repos == (
        base,
        RepoSpec(
            path=tmp_path / "work" / "$money",
            name="money",
            group="on",
            remote="off",
            url=base.url,
            poll_interval=1.5,
            branches=base.branches,
            auto_sync="ff-only",
            source=SourceLocation(str(path), 24, 5),
        ),
        RepoSpec(
            path=tmp_path / "elsewhere" / "plain",
            name="plain",
            source=SourceLocation(str(path), 28, 5),
        ),
    )


@pytest.mark.parametrize(
    "text", ["", "# only a comment\n", "~\n", "defaults:\nscan:\nrepos:\n", "scan: []\nrepos: []\n"]
)
def test_empty_configs(tmp_path: Path, env: dict[str, str], text: str) -> None:
    path = write(tmp_path, text)
    config = load_config(path, env)
    assert dataclasses.replace(config, repos_key=None, repos_listed=False) == Config(source=path)


@pytest.mark.parametrize(
    ("text", "line", "listed"),
    [
        ("", None, False),
        ("# repos: []\n", None, False),
        ("scan:\nrepos:\n", 2, False),
        ("scan: []\nrepos: []\n", 2, True),
        ("theme: x\nrepos:\n  - /somewhere\n", 2, True),
    ],
)
def test_where_repos_is_written_and_whether_it_is_a_list(
    tmp_path: Path, env: dict[str, str], text: str, line: int | None, listed: bool
) -> None:
    config = load_config(write(tmp_path, text), env)
    key_line = config.repos_key.line if config.repos_key else None
    assert (key_line, config.repos_listed) == (line, listed)


@pytest.mark.parametrize(
    ("text", "where"),
    [("", "1:1"), ("# nothing yet\n", "1:1"), ("theme: x\nrepos:\n", "2:1")],
)
def test_no_repos_is_refused_where_repos_is_written(
    tmp_path: Path, env: dict[str, str], text: str, where: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        refuse_no_repos(load_config(path, env), ())
    assert str(info.value).startswith(f"{path}:{where}: no repos to watch")
    refuse_no_repos(load_config(write(tmp_path, "repos: []\n"), env), ())  # on purpose: fine


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5m", 90.0),
        ("45", 45.0),
        ("0.25", 0.25),
        ('"120"', 120.0),
    ],
)
def test_durations(tmp_path: Path, env: dict[str, str], raw: str, seconds: float) -> None:
    config = load_config(write(tmp_path, f"defaults:\n  poll_interval: {raw}\n"), env)
    assert config.defaults.poll_interval == seconds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("Yes", True), ("ON", True), ("false", False), ("no", False), ("Off", False)],
)
def test_booleans(tmp_path: Path, env: dict[str, str], raw: str, expected: bool) -> None:
    config = load_config(
        write(tmp_path, f"scan:\n  - path: scan-here\n    include_bare: {raw}\n"), env
    )
    assert config.scan[0].include_bare is expected


def test_bare_tilde_is_home_and_relative_paths_use_the_config_folder(
    tmp_path: Path, env: dict[str, str]
) -> None:
    text = "repos:\n  - path: ~\n    name: home\n  - sub/../x\n"
    config = parse_config(text, "inline.yaml", base_dir=tmp_path / "base", env=env)
    assert [repo.path for repo in config.repos] == [Path(env["HOME"]), tmp_path / "base" / "x"]
    assert config.source is None
    assert config.repos[0].source == SourceLocation("inline.yaml", 2, 5)


# (config text, expected problems as "line:column: message", all of them, in order)
ERRORS = [
    pytest.param(
        "defaults:\n  pol_interval: 5m\n",
        ["2:3: unknown key 'pol_interval' in defaults; did you mean 'poll_interval'?"],
        id="unknown-key-suggestion",
    ),
    pytest.param(
        "colour: red\n",
        [
            "1:1: unknown key 'colour' in the top level; valid keys: defaults, scan, repos, theme, "
            "server, notify, handoff, commands, run_concurrency"
        ],
        id="unknown-key-no-suggestion",
    ),
    pytest.param(
        "repos:\n  - path: a\n    reomte: origin\n",
        ["3:5: unknown key 'reomte' in a repos entry; did you mean 'remote'?"],
        id="unknown-repo-key",
    ),
    pytest.param(
        "defaults:\n  status_concurrency: [1, 2]\n",
        ["2:23: status_concurrency: expected an integer, got a list"],
        id="int-got-list",
    ),
    pytest.param(
        "defaults:\n  fetch_concurrency: two\n",
        ["2:22: fetch_concurrency: expected an integer, got 'two'"],
        id="int-got-string",
    ),
    pytest.param(
        "defaults: [1]\n",
        ["1:11: defaults: expected a mapping, got a list"],
        id="section-not-mapping",
    ),
    pytest.param("scan: ~/src\n", ["1:7: scan: expected a list, got '~/src'"], id="scan-not-list"),
    pytest.param(
        "scan: []\ntheme: [gitwatch-dark]\n",
        ["2:8: theme: expected a string, got a list"],
        id="theme-got-list",
    ),
    pytest.param(
        "theme: {name: gitwatch-dark}\n",
        ["1:8: theme: expected a string, got a mapping"],
        id="theme-got-mapping",
    ),
    pytest.param(
        "theme: ''\n", ["1:8: theme: expected a string, got an empty value"], id="theme-empty"
    ),
    pytest.param(
        "them: nord\n",
        ["1:1: unknown key 'them' in the top level; did you mean 'theme'?"],
        id="theme-typo",
    ),
    pytest.param(
        "- a\n- b\n", ["1:1: the top level: expected a mapping, got a list"], id="top-not-mapping"
    ),
    pytest.param(
        "defaults:\n  poll_interval: 0\n",
        ["2:18: poll_interval: must be greater than 0, got '0'"],
        id="zero-interval",
    ),
    pytest.param(
        "defaults:\n  fetch_timeout: -5m\n",
        ["2:18: fetch_timeout: must be greater than 0, got '-5m'"],
        id="negative-interval",
    ),
    pytest.param(
        "defaults:\n  status_timeout: 5 minutes\n",
        [
            "2:19: status_timeout: invalid duration '5 minutes'; use seconds or a number with "
            "a unit: 500ms, 30s, 5m, 1h, 1h30m"
        ],
        id="bad-duration",
    ),
    pytest.param(
        "defaults:\n  poll_interval: 1:30\n",
        [
            "2:18: poll_interval: invalid duration '1:30'; use seconds or a number with "
            "a unit: 500ms, 30s, 5m, 1h, 1h30m"
        ],
        id="sexagesimal-is-not-a-duration",
    ),
    pytest.param(
        "defaults:\n  poll_interval:\n",
        ["2:17: poll_interval: expected a duration such as 30s or 5m, got an empty value"],
        id="empty-duration",
    ),
    pytest.param(
        "defaults:\n  status_concurrency: 0\n  fetch_concurrency: -1\n",
        [
            "2:23: status_concurrency: must be at least 1, got 0",
            "3:22: fetch_concurrency: must be at least 1, got -1",
        ],
        id="concurrency-below-one",
    ),
    pytest.param(
        "scan:\n  - path: scan-here\n    depth: -1\n",
        ["3:12: depth: must be at least 0, got -1"],
        id="negative-depth",
    ),
    pytest.param(
        "scan:\n  - path: scan-here\n    include_bare: maybe\n",
        ["3:19: include_bare: expected true or false, got 'maybe'"],
        id="bad-bool",
    ),
    pytest.param(
        "repos:\n  - path: a\n    auto_sync: sometimes\n",
        [
            "3:16: auto_sync: invalid value 'sometimes'; "
            "expected one of: off, ff-only, rebase-autostash"
        ],
        id="bad-auto-sync",
    ),
    pytest.param(
        "repos:\n  - path: a\n    name: x\n  - path: b\n    name: y\n  - path: c\n    name: x\n",
        ["7:11: duplicate repo name 'x' (first used on line 2)"],
        id="duplicate-repo-name",
    ),
    pytest.param(
        "repos:\n  - one/same\n  - path: two/same\n",
        ["3:11: duplicate repo name from path 'two/same' (first used on line 2)"],
        id="duplicate-derived-repo-name",
    ),
    pytest.param(
        "repos:\n  - path: a\n    group: g\n    group: h\n",
        ["4:5: duplicate key 'group' (first on line 3)"],
        id="duplicate-key",
    ),
    pytest.param(
        "repos:\n  - &a {path: a, grop: x}\n  - <<: *a\n    path: b\n",
        ["2:18: unknown key 'grop' in a repos entry; did you mean 'group'?"],
        id="merged-problem-reported-once",
    ),
    pytest.param(
        "repos:\n  - path: a\n    <<: 5\n",
        ["3:9: '<<' merges mappings, got '5'"],
        id="bad-merge",
    ),
    pytest.param(
        "? [a]\n: b\n",
        ["1:3: keys must be plain strings, got a list"],
        id="non-string-key",
    ),
    pytest.param(
        "scan: []\nrepos: []\nscan: []\n",
        ["3:1: duplicate key 'scan' (first on line 1)"],
        id="duplicate-top-level-key",
    ),
    pytest.param(
        "repos:\n  - name: x\n    group: g\n",
        ["2:5: missing required key 'path' in a repos entry"],
        id="missing-repo-path",
    ),
    pytest.param(
        "scan:\n  - depth: 2\n",
        ["2:5: missing required key 'path' in a scan entry"],
        id="missing-scan-path",
    ),
    pytest.param(
        "scan:\n  - ~/nowhere\n  - path: nowhere\n  - config.yaml\n",
        [
            "2:5: scan folder '~/nowhere' does not exist",
            "3:11: path: scan folder 'nowhere' does not exist",
            "4:5: scan folder 'config.yaml' is not a folder",
        ],
        id="scan-root-missing",
    ),
    pytest.param(
        "scan:\n  - [a]\n",
        ["2:5: a scan entry: expected a mapping, got a list"],
        id="item",
    ),
    pytest.param(
        "repos:\n  - path: a\n    url: https://${NOPE}@example.invalid/x\n",
        ["3:10: url: environment variable NOPE is not set"],
        id="unset-variable",
    ),
    pytest.param(
        "repos:\n  - path: ${WORK\n",
        ["2:11: path: bad variable reference '${WORK' (use ${NAME})"],
        id="unterminated-variable",
    ),
    pytest.param(
        "repos:\n  - path: a\n    name: ''\n",
        ["3:11: name: expected a string, got an empty value"],
        id="empty-name",
    ),
    pytest.param(
        "defaults:\n  poll_interval: 5m\n   fetch_timeout: 1m\n",
        ["3:17: invalid YAML: mapping values are not allowed here"],
        id="yaml-syntax",
    ),
    pytest.param(
        "repos: [a, b\n",
        ["2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"],
        id="yaml-unclosed",
    ),
    pytest.param(
        "repos:\n  - <<: *missing\n",
        ["2:9: invalid YAML: found undefined alias 'missing'"],
        id="undefined-alias",
    ),
    pytest.param(
        "scan: []\n---\nrepos: []\n",
        ["2:1: invalid YAML: but found another document"],
        id="two-documents",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS)
@pytest.mark.usefixtures("yaml_parser")
def test_errors(tmp_path: Path, env: dict[str, str], text: str, expected: list[str]) -> None:
    assert problems(tmp_path, text, env) == expected


def test_error_string_is_one_line_per_problem(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, "defaults:\n  poll_interval: 0\n  fetch_concurrency: x\nfoo: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    assert str(info.value).splitlines() == [
        f"{path}:2:18: poll_interval: must be greater than 0, got '0'",
        f"{path}:3:22: fetch_concurrency: expected an integer, got 'x'",
        f"{path}:4:1: unknown key 'foo' in the top level; valid keys: defaults, scan, repos, "
        "theme, server, notify, handoff, commands, run_concurrency",
    ]


@pytest.mark.usefixtures("yaml_parser")
def test_all_problems_in_a_file_are_collected(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
        defaults:
          poll_interval: soon
        scan:
          - path: nowhere
            depht: 2
        repos:
          - path: a
            auto_sync: always
          - name: b
          - path: c
            name: b
          - path: d
            name: b
        """
    assert problems(tmp_path, text, env) == [
        "2:18: poll_interval: invalid duration 'soon'; use seconds or a number with a unit: "
        "500ms, 30s, 5m, 1h, 1h30m",
        "4:11: path: scan folder 'nowhere' does not exist",
        "5:5: unknown key 'depht' in a scan entry; did you mean 'depth'?",
        "8:16: auto_sync: invalid value 'always'; expected one of: off, ff-only, rebase-autostash",
        "9:5: missing required key 'path' in a repos entry",
        "13:11: duplicate repo name 'b' (first used on line 10)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "repos:\n  - path: a\n    name: !!python/object/apply:os.system ['true']\n",
            ["3:11: tag '!!python/object/apply:os.system' is not allowed"],
            id="python-object",
        ),
        pytest.param(
            "scan: !!python/name:os.system\n",
            ["1:7: tag '!!python/name:os.system' is not allowed"],
            id="python-name",
        ),
        pytest.param(
            "repos:\n  - !repo {path: a}\n", ["2:5: tag '!repo' is not allowed"], id="custom-tag"
        ),
        pytest.param(
            "repos:\n  - path: !!binary aGVsbG8=\n",
            ["2:11: tag '!!binary' is not allowed"],
            id="binary",
        ),
        pytest.param(
            "a: &a [*a]\n", ["1:4: an alias refers to a collection that contains it"], id="loop"
        ),
    ],
)
@pytest.mark.usefixtures("yaml_parser")
def test_tags_and_alias_loops_are_refused(
    tmp_path: Path, env: dict[str, str], text: str, expected: list[str]
) -> None:
    assert problems(tmp_path, text, env) == expected


def test_explicit_standard_tags_are_fine(tmp_path: Path, env: dict[str, str]) -> None:
    text = "repos:\n  - path: !!str a\n    name: !!str 010\n    poll_interval: !!int 30\n"
    (repo,) = load_config(write(tmp_path, text), env).repos
    assert (repo.name, repo.poll_interval) == ("010", 30.0)


@pytest.mark.usefixtures("yaml_parser")
def test_billion_laughs_is_refused_quickly(tmp_path: Path, env: dict[str, str]) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    found = problems(tmp_path, "\n".join(lines) + "\n", env)
    assert found == ["7:5: aliases expand to over 1000000 values"]


@pytest.mark.usefixtures("yaml_parser")
def test_long_alias_chain_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    # Each anchor nests the previous one: small text, deep structure, and deep Python recursion
    # for any naive walker.
    lines = ["x0: &x0 [1]"] + [f"x{i}: &x{i} [*x{i - 1}]" for i in range(1, 1200)]
    found = problems(tmp_path, "\n".join(lines) + "\n", env)
    assert found == ["51:6: aliases nest deeper than 50 levels"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[" * 10_000 + "]" * 10_000, "1:51: nesting deeper than 50", id="flow"),
        pytest.param("[" * 10_000, "1:51: nesting deeper than 50 levels", id="unclosed"),
        pytest.param(
            "a:\n" + "".join(" " * i + "- \n" for i in range(1, 200)),
            "51:51: nesting deeper than 50 levels",
            id="block",
        ),
        pytest.param("{a: " * 100 + "1" + "}" * 100, "1:201: nesting deeper", id="mappings"),
    ],
)
@pytest.mark.usefixtures("yaml_parser")
def test_deep_nesting_is_refused(
    tmp_path: Path, env: dict[str, str], text: str, expected: str
) -> None:
    (found,) = problems(tmp_path, text, env)
    assert found.startswith(expected)


@pytest.mark.usefixtures("yaml_parser")
def test_anchors_and_merge_keys(tmp_path: Path, env: dict[str, str]) -> None:
    text = """\
        repos:
          - &a {path: a, group: team, remote: upstream, branches: &br [main, dev]}
          - &b {path: b, group: other, auto_sync: rebase-autostash}
          - <<: [*a, *b]
            path: c
          - path: d
            branches: *br
        """
    a, b, c, d = load_config(write(tmp_path, text), env).repos
    assert (c.group, c.remote, c.auto_sync, c.branches) == (
        "team",
        "upstream",
        "rebase-autostash",
        ("main", "dev"),
    )
    assert c.path == tmp_path / "conf" / "c"
    assert d.branches == ("main", "dev")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"scan: []\nrepos: \xff\xfe\n", "2:8: not UTF-8 text (a binary file?)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "1:1: not UTF-8 text (a binary file?)"),
        (b"scan: []\nrepos: [a\x00]\n", "2:10: character 0x0000 is not allowed"),
    ],
)
@pytest.mark.usefixtures("yaml_parser")
def test_binary_files(tmp_path: Path, env: dict[str, str], data: bytes, expected: str) -> None:
    assert problems(tmp_path, data, env) == [expected]


@pytest.mark.usefixtures("yaml_parser")
def test_utf8_bom_is_accepted(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, "\ufeffrepos: [a]\n".encode())
    assert [repo.name for repo in load_config(path, env).repos] == ["a"]


def test_directory_and_missing_file(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env)
    assert str(info.value) == f"{tmp_path}: cannot read config file: Is a directory"
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env)
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.yaml'}: cannot read config file: No such file or directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, "scan: []\n")
    path.chmod(0)
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    assert str(info.value) == f"{path}: cannot read config file: Permission denied"


@pytest.mark.usefixtures("yaml_parser")
def test_secret_values_never_appear_in_errors(tmp_path: Path, env: dict[str, str]) -> None:
    env = env | {"SUB": "nowhere-" + SECRET}
    text = """\
        scan:
          - ${SUB}
          - path: ${TOKEN}
        repos:
          - path: ${TOKEN}
            url: https://${TOKEN}@example.invalid/x
            auto_sync: ${TOKEN}
          - path: x/${TOKEN}
            url: ${TOKEN}${NOPE}
        """
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    message = str(info.value)
    assert SECRET not in message
    assert "scan folder '${SUB}' does not exist" in message
    assert "duplicate repo name from path 'x/${TOKEN}'" in message
    assert "environment variable NOPE is not set" in message


@pytest.mark.usefixtures("yaml_parser")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"notify:\n  webhook: {{url: https://hooks.example.invalid/{SECRET}\n",
            "3:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
            id="unclosed",
        ),
        pytest.param(
            f"notify:\n  webhook:\n    url: https://x.invalid/{SECRET}: x\n",
            "3:46: invalid YAML: mapping values are not allowed here",
            id="colon",
        ),
        pytest.param(
            f"server:\n  github:\n    secret_env: '{SECRET}\n",
            "4:1: invalid YAML: found unexpected end of stream",
            id="unclosed-quote",
        ),
    ],
)
def test_yaml_errors_never_quote_the_line_they_are_on(
    tmp_path: Path, env: dict[str, str], text: str, expected: str
) -> None:
    # A token pasted into the file: PyYAML's full message would show the line with a caret.
    assert problems(tmp_path, text, env) == [expected]


def test_dollar_escapes(tmp_path: Path, env: dict[str, str]) -> None:
    text = "repos:\n  - path: a\n    url: 'x$$y${TOKEN}$z$'\n"
    (repo,) = load_config(write(tmp_path, text), env).repos
    assert repo.url == f"x$y{SECRET}$z$"


def test_default_config_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert default_config_path({"HOME": str(home)}) == home / ".config/gitwatch-tui/config.yaml"
    xdg = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert default_config_path(xdg) == tmp_path / "xdg/gitwatch-tui/config.yaml"
    relative = {"HOME": str(home), "XDG_CONFIG_HOME": "relative/xdg"}
    assert default_config_path(relative) == home / ".config/gitwatch-tui/config.yaml"


def test_resolve_config_path_order(tmp_path: Path) -> None:
    flag, from_env = tmp_path / "flag.yaml", tmp_path / "env.yaml"
    default = tmp_path / "xdg" / "gitwatch-tui" / "config.yaml"
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert resolve_config_path(None, env) is None  # no default file: use the built-in config

    for path in (flag, from_env, default):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    assert resolve_config_path(None, env) == default
    env["GITWATCH_TUI_CONFIG"] = str(from_env)
    assert resolve_config_path(None, env) == from_env
    assert resolve_config_path(str(flag), env) == flag


@pytest.mark.parametrize(
    ("flag", "env_value", "expected"),
    [
        ("missing.yaml", None, "missing.yaml: config file named by --config does not exist"),
        ("missing.yaml", "env.yaml", "missing.yaml: config file named by --config does not exist"),
        (
            None,
            "missing.yaml",
            "missing.yaml: config file named by $GITWATCH_TUI_CONFIG does not exist",
        ),
    ],
)
def test_resolve_config_path_explicit_file_must_exist(
    tmp_path: Path, flag: str | None, env_value: str | None, expected: str
) -> None:
    (tmp_path / "env.yaml").write_text("")
    env = {"HOME": str(tmp_path)}
    if env_value:
        env["GITWATCH_TUI_CONFIG"] = str(tmp_path / env_value)
    with pytest.raises(ConfigError) as info:
        resolve_config_path(str(tmp_path / flag) if flag else None, env)
    assert str(info.value) == f"{tmp_path}/{expected}"


def test_default_config(tmp_path: Path) -> None:
    config = default_config(tmp_path)
    assert config.scan == (ScanRoot(path=tmp_path, depth=3, group_by_folder=True),)
    assert (config.repos, config.source) == ((), None)
    assert config.defaults == Defaults()
    assert config.defaults.status_loops() == (os.cpu_count() or 2)


def test_status_loops_add_one_only_where_nothing_else_runs_and_the_user_set_none() -> None:
    cores = os.cpu_count() or 2
    assert (Defaults().status_loops(), Defaults().status_loops(alone=True)) == (cores, cores + 1)
    chosen = Defaults(status_concurrency=3)
    assert (chosen.status_loops(), chosen.status_loops(alone=True)) == (3, 3)


def test_clone_options_are_read_and_checked(tmp_path: Path) -> None:
    good = parse_config(
        "defaults:\n  clone_timeout: 20m\n"
        "repos:\n  - path: x\n    url: git://127.0.0.1/x.git\n"
        "    clone: {branch: no, depth: 1, filter: 'blob:none'}\n",
        "c.yaml",
        base_dir=tmp_path,
        env={},
    )
    [spec] = good.repos
    assert (spec.clone.branch, spec.clone.depth, spec.clone.filter) == ("no", 1, "blob:none")
    assert good.defaults.clone_timeout == 1200
    with pytest.raises(ConfigError) as bad:
        parse_config(
            "repos:\n  - path: x\n    clone:\n      depth: 0\n      brnch: main\n",
            "c.yaml",
            base_dir=tmp_path,
            env={},
        )
    assert "c.yaml:4:14: depth: must be at least 1" in str(bad.value)
    assert "c.yaml:5:7: unknown key 'brnch' in clone; did you mean 'branch'?" in str(bad.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("theme: gitwatch-light\n", "gitwatch-light"),
        ("theme: no\n", "no"),  # the raw text: a name, never YAML 1.1's False
        ("theme: '010'\n", "010"),
        ("theme:\n", None),  # left empty: the default theme
        ("theme: ~\n", None),
        ("scan: []\n", None),
    ],
)
def test_theme_is_a_name(
    tmp_path: Path, env: dict[str, str], text: str, expected: str | None
) -> None:
    # Only the name: whether such a theme exists is the UI's business (core knows no themes).
    assert load_config(write(tmp_path, text), env).theme == expected


@pytest.mark.usefixtures("yaml_parser")
def test_the_audit_period_is_a_duration(tmp_path: Path, env: dict[str, str]) -> None:
    config = load_config(write(tmp_path, "defaults:\n  audit_period: 2h\n"), env)
    assert config.defaults.audit_period == 7200.0
    assert load_config(write(tmp_path, "scan: [.]\n"), env).defaults.audit_period is None
