"""The hand-off tool and the editor: git's editor order on real repos, the tool found on PATH."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitwatch_tui.core.config import DEFAULT_HANDOFF
from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.handoff import editor_argv, handoff_argv, resolve_editor
from tests.conftest import commit_file, git
from tests.core.configs import problems, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    commit_file(path, "a.txt", "a\n")
    return path


def fake_tool(folder: Path, name: str) -> Path:
    """An executable file called `name` in `folder` (made if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    return tool


# -- the editor ---------------------------------------------------------------------------------

EVERY = {"GIT_EDITOR": "ge", "VISUAL": "vis", "EDITOR": "ed"}


def test_the_editor_follows_gits_order(repo: Path) -> None:
    paths = RepoPaths.of(repo)
    git(repo, "config", "core.editor", "from-config")
    assert resolve_editor(paths, EVERY) == "ge"
    assert resolve_editor(paths, {"VISUAL": "vis", "EDITOR": "ed"}) == "from-config"
    git(repo, "config", "--unset", "core.editor")
    assert resolve_editor(paths, {"VISUAL": "vis", "EDITOR": "ed"}) == "vis"
    assert resolve_editor(paths, {"EDITOR": "ed"}) == "ed"
    assert resolve_editor(paths, {}) == "vi"


def test_an_empty_variable_counts_as_unset(repo: Path) -> None:
    env = {"GIT_EDITOR": "", "VISUAL": "", "EDITOR": "nano -w"}
    assert resolve_editor(RepoPaths.of(repo), env) == "nano -w"


def test_the_users_global_core_editor_counts_too(repo: Path, tmp_path: Path) -> None:
    user = tmp_path / "user-gitconfig"
    user.write_text("[core]\n\teditor = users-editor\n")
    env = {"VISUAL": "vis"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(user))
        assert resolve_editor(RepoPaths.of(repo), env) == "users-editor"
        git(repo, "config", "core.editor", "repo-editor")  # the repo's own wins, as in git
        assert resolve_editor(RepoPaths.of(repo), env) == "repo-editor"


def test_an_untrusted_repos_core_editor_is_used_for_the_users_own_key(repo: Path) -> None:
    """`e` is the user's action: like git, it takes the repo's core.editor, trusted or not."""
    git(repo, "config", "core.editor", "repo-editor")
    assert resolve_editor(RepoPaths.of(repo, trusted=False), {"EDITOR": "ed"}) == "repo-editor"


def test_no_repo_skips_core_editor() -> None:
    assert resolve_editor(None, {"EDITOR": "ed"}) == "ed"


def test_the_editor_runs_through_the_shell_with_the_target_as_an_argument(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "seen"
    odd = tmp_path / "it's a $file"
    editor = f"printf '%s|' --flag >{seen}"
    subprocess.run(editor_argv(editor, odd), check=True)
    assert seen.read_text() == f"--flag|{odd}|"


# -- the hand-off tool --------------------------------------------------------------------------


def test_the_first_installed_tool_of_the_list_is_chosen(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    tig = fake_tool(one, "tig")
    gitui = fake_tool(two, "gitui")
    env = {"PATH": f"{one}:{two}", "SHELL": "/bin/bash"}
    assert handoff_argv(DEFAULT_HANDOFF, env) == [str(gitui)]  # lazygit missing, gitui next
    assert handoff_argv(("tig", "gitui"), env) == [str(tig)]
    assert handoff_argv(("tig --all",), env) == [str(tig), "--all"]


def test_a_file_that_is_not_executable_is_not_a_tool(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    fake_tool(folder, "lazygit").chmod(0o644)
    assert handoff_argv(DEFAULT_HANDOFF, {"PATH": str(folder), "SHELL": "/bin/zsh"}) == ["/bin/zsh"]


def test_no_tool_installed_gives_the_shell_else_bin_sh(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert handoff_argv(DEFAULT_HANDOFF, {"PATH": str(empty), "SHELL": "/bin/bash"}) == [
        "/bin/bash"
    ]
    assert handoff_argv((), {"PATH": str(empty)}) == ["/bin/sh"]
    assert handoff_argv(DEFAULT_HANDOFF, {"PATH": str(empty), "SHELL": ""}) == ["/bin/sh"]


# -- the config keys ----------------------------------------------------------------------------


def test_handoff_commands_and_concurrency_in_the_config(tmp_path: Path) -> None:
    from gitwatch_tui.core.config_file import load_config

    path = write(
        tmp_path,
        """\
        repos: []
        handoff: [tig, "lazygit --debug"]
        commands:
          - name: status
            run: git status --short
          - {name: tests, run: "make test"}
        run_concurrency: 2
        """,
    )
    config = load_config(path, {})
    assert config.handoff == ("tig", "lazygit --debug")
    assert [(c.name, c.run) for c in config.commands] == [
        ("status", "git status --short"),
        ("tests", "make test"),
    ]
    assert config.run_concurrency == 2


def test_the_defaults_and_an_empty_handoff_list(tmp_path: Path) -> None:
    from gitwatch_tui.core.config_file import load_config

    config = load_config(write(tmp_path, "repos: []\n"), {})
    assert (config.handoff, config.commands, config.run_concurrency) == (DEFAULT_HANDOFF, (), 4)
    assert load_config(write(tmp_path, "repos: []\nhandoff: []\n"), {}).handoff == ()


def test_bad_handoff_and_command_entries_say_file_and_line(tmp_path: Path) -> None:
    text = """\
        repos: []
        handoff: lazygit
        commands:
          - name: st
            run: git status
          - name: st
            run: ls
          - run: ls
          - name: x
            run: [ls]
            shell: bash
        run_concurrency: 0
        """
    assert problems(tmp_path, text) == [
        "2:10: handoff: expected a list of program names, got 'lazygit'",
        "6:11: duplicate command name 'st' (first on line 4)",
        "8:5: missing required key 'name' in a commands entry",
        "10:10: run: expected a shell command line, got a list",
        "11:5: unknown key 'shell' in a commands entry; valid keys: name, run",
        "12:18: run_concurrency: must be at least 1, got 0",
    ]
