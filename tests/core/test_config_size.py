"""Configs of real size: thousands of repos load; aliases are limited by what they add."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from gitwatch_tui.core import config_yaml
from gitwatch_tui.core.config_file import load_config, parse_config
from gitwatch_tui.core.errors import ConfigError
from gitwatch_tui.core.models import SourceLocation


def repos_config(count: int, *, merge: bool = False) -> str:
    """`count` repos of six keys each; with `merge`, each repo after the first merges the
    first (`<<: *first`) and writes only its own path and url."""
    lines = ["repos:\n"]
    for i in range(count):
        lines.append("  - &first\n" if merge and i == 0 else "  -\n")
        lines.append(f"    path: work/repo-{i:05d}\n")
        lines.append(f"    url: https://git.example.invalid/team/repo-{i:05d}.git\n")
        if merge and i > 0:
            lines.append("    <<: *first\n")
        else:
            lines.append("    group: team\n    poll_interval: 5m\n    auto_sync: off\n")
            lines.append('    branches: [main, "release/*"]\n')
    return "".join(lines)


def problems_of(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", base_dir=tmp_path, env={})
    return [str(problem) for problem in info.value.problems]


@pytest.mark.usefixtures("yaml_parser")
def test_a_thousand_repos_without_aliases_load(tmp_path: Path) -> None:
    # 15,000 values: the node limit refused this ("aliases expand to over 10000 values").
    path = tmp_path / "config.yaml"
    path.write_text(repos_config(1000))
    repos = load_config(path, {}).repos
    assert len(repos) == 1000
    last = repos[-1]
    assert (last.name, last.path, last.group, last.auto_sync) == (
        "repo-00999",
        tmp_path / "work" / "repo-00999",
        "team",
        "off",
    )
    assert (last.poll_interval, last.branches) == (300.0, ("main", "release/*"))
    assert last.source == SourceLocation(str(path), 3 + 7 * 999, 5)


def test_thousands_of_repos_may_each_merge_a_shared_anchor(tmp_path: Path) -> None:
    config = parse_config(repos_config(3000, merge=True), "c.yaml", base_dir=tmp_path, env={})
    assert len(config.repos) == 3000
    assert config.repos[-1].path == tmp_path / "work" / "repo-02999"  # its own keys win
    assert {(repo.group, repo.poll_interval, repo.branches) for repo in config.repos} == {
        ("team", 300.0, ("main", "release/*"))
    }


def aliases_adding(values: int) -> str:
    """A document whose aliases add exactly `values` values (a 1,001-value list, and ones)."""
    uses, ones = divmod(values, 1001)
    items = ["*big"] * uses + ["*one"] * ones
    return f"big: &big [{', '.join(['x'] * 1000)}]\none: &one x\nuses: [{', '.join(items)}]\n"


def test_aliases_may_add_a_million_values_and_no_more(tmp_path: Path) -> None:
    assert config_yaml.MAX_ALIAS_VALUES == 1_000_000
    assert problems_of(aliases_adding(1_000_000), tmp_path) == [
        f"c.yaml:{line}:1: unknown key '{key}' in the top level; valid keys: defaults, scan, "
        "repos, theme, server, notify, handoff, commands, run_concurrency"
        for line, key in ((1, "big"), (2, "one"), (3, "uses"))
    ]
    assert problems_of(aliases_adding(1_000_001), tmp_path) == [
        "c.yaml:3:7: aliases expand to over 1000000 values"
    ]


def laughs(levels: int, *, merge: bool) -> str:
    """Each level holds nine aliases of the one before: 9**levels values once expanded."""
    lines = [
        "v0: &v0 {k: lol}" if merge else "v0: &v0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    ]
    for i in range(1, levels):
        nine = ", ".join([f"*v{i - 1}"] * 9)
        lines.append(f"v{i}: &v{i} {{<<: [{nine}]}}" if merge else f"v{i}: &v{i} [{nine}]")
    return "\n".join([*lines, "repos: []"]) + "\n"


@pytest.mark.usefixtures("yaml_parser")
@pytest.mark.parametrize(
    ("merge", "expected"),
    [
        pytest.param(False, "c.yaml:7:5: aliases expand to over 1000000 values", id="lists"),
        pytest.param(True, "c.yaml:7:14: aliases expand to over 1000000 values", id="merge-keys"),
    ],
)
def test_an_alias_bomb_is_refused_before_it_is_expanded(
    tmp_path: Path, merge: bool, expected: str
) -> None:
    # 9**40 values once expanded: only a refusal from the text's own size ever returns.
    started = time.monotonic()
    assert problems_of(laughs(40, merge=merge), tmp_path) == [expected]
    assert time.monotonic() - started < 5  # generous: it takes milliseconds


@pytest.mark.usefixtures("yaml_parser")
def test_problems_keep_their_line_and_column_after_non_ascii_text(tmp_path: Path) -> None:
    # libyaml counts columns in characters, like PyYAML, also after a BOM and wide characters.
    text = (
        "\ufeffrepos:\n"
        "  - {path: ünïcödé/😀, name: 名前, auto_sync: ja}\n"
        "  - path: b\n"
        "    poll_interval: -5m\n"
        "    grüp: x\n"
        "    poll_interval: 1m\n"
    )
    assert problems_of(text, tmp_path) == [
        "c.yaml:6:5: duplicate key 'poll_interval' (first on line 4)",
        "c.yaml:2:44: auto_sync: invalid value 'ja'; expected one of: off, ff-only, "
        "rebase-autostash",
        "c.yaml:5:5: unknown key 'grüp' in a repos entry; did you mean 'group'?",
    ]


def test_libyaml_reads_the_file_when_pyyaml_has_it(tmp_path: Path) -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML is installed without libyaml")
    assert config_yaml._FastLoader is not None
    node = yaml.compose("repos: []\n", Loader=config_yaml._FastLoader)
    assert node is not None
    assert type(node.start_mark).__module__ == "yaml._yaml"  # libyaml's marks, not PyYAML's
