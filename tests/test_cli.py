"""The `gitwatch-tui status` command, run as a real process on real repos."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere

DOCUMENTED_KEYS = {
    "name", "path", "group", "branch", "detached", "head", "upstream", "upstream_gone",
    "ahead", "behind", "staged", "unstaged", "untracked", "conflicted", "stash", "operation",
    "last_fetch", "error", "conflicts_total", "last_fetch_failed", "bare", "no_remote",
    "stale_submodules", "rebase_branch", "rebase_step", "state", "state_detail",
}  # fmt: skip


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitwatch_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "GITWATCH_TUI_CONFIG": "",
            "XDG_CONFIG_HOME": str(cwd / "xdg"),
            "XDG_STATE_HOME": str(cwd / "xdg-state"),
            "COLUMNS": "120",
            **(env or {}),
        },
        timeout=60,
    )


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A folder of three repos with remotes kept beside it."""
    remotes = tmp_path / "remotes"
    work = tmp_path / "work"
    remotes.mkdir()
    work.mkdir()
    for name in ("alpha", "beta", "gamma"):
        remote, clone = make_remote_and_clone(remotes, name)
        clone.rename(work / name)
    commit_file(work / "beta", "local.txt", "ahead\n")
    (work / "gamma" / "scratch.txt").write_text("untracked\n")
    return tmp_path


def json_rows(stdout: str) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    return {row["name"]: row for row in rows}


def test_json_lines_with_stable_keys(workspace: Path) -> None:
    result = run_cli("status", "--json", "work", cwd=workspace)
    assert result.returncode == 0, result.stderr
    rows = json_rows(result.stdout)
    assert sorted(rows) == ["alpha", "beta", "gamma"]
    assert all(set(row) == DOCUMENTED_KEYS for row in rows.values())
    assert rows["beta"]["ahead"] == 1 and rows["gamma"]["untracked"] == 1
    assert rows["alpha"]["branch"] == "main" and rows["alpha"]["upstream"] == "origin/main"


def test_no_config_scans_the_current_folder(workspace: Path) -> None:
    result = run_cli("status", "--json", cwd=workspace / "work")
    assert sorted(json_rows(result.stdout)) == ["alpha", "beta", "gamma"]


def test_fetch_first_sees_new_upstream_commits(workspace: Path) -> None:
    push_from_elsewhere(workspace / "remotes" / "alpha.git", workspace / "remotes", count=2)
    before = json_rows(run_cli("status", "--json", "work", cwd=workspace).stdout)
    after = json_rows(run_cli("status", "--json", "--fetch", "work", cwd=workspace).stdout)
    assert before["alpha"]["behind"] == 0 and before["alpha"]["last_fetch"] is None
    assert after["alpha"]["behind"] == 2 and after["alpha"]["last_fetch"] is not None


def test_a_broken_repo_sets_the_exit_status_and_others_still_print(workspace: Path) -> None:
    (workspace / "work" / "beta" / ".git" / "HEAD").write_text("garbage\n")
    result = run_cli("status", "--json", "work", cwd=workspace)
    assert result.returncode == 1
    rows = json_rows(result.stdout)
    assert "not a git repository" in str(rows["beta"]["error"])
    assert rows["alpha"]["error"] is None and rows["gamma"]["untracked"] == 1


def test_fetch_failure_is_reported_on_its_row(workspace: Path) -> None:
    git(workspace / "work" / "gamma", "remote", "set-url", "origin", str(workspace / "nowhere"))
    result = run_cli("status", "--json", "--fetch", "work", cwd=workspace)
    assert result.returncode == 1
    rows = json_rows(result.stdout)
    assert str(rows["gamma"]["error"]).startswith("fetch failed: ")
    assert rows["gamma"]["untracked"] == 1  # the local state is still read
    assert rows["alpha"]["error"] is None


def test_a_failed_fetch_is_never_taken_for_a_fetch(workspace: Path) -> None:
    """git touches FETCH_HEAD when a fetch fails: `last_fetch` stays the last success, and the
    failure is said as one, also by the next `status` that does not fetch."""
    fetched = json_rows(run_cli("status", "--json", "--fetch", "work", cwd=workspace).stdout)
    assert fetched["gamma"]["last_fetch"] is not None
    git(workspace / "work" / "gamma", "remote", "set-url", "origin", str(workspace / "nowhere"))
    failed = json_rows(run_cli("status", "--json", "--fetch", "work", cwd=workspace).stdout)
    gamma = failed["gamma"]
    assert gamma["last_fetch"] == fetched["gamma"]["last_fetch"]
    assert gamma["last_fetch_failed"] is not None and gamma["state"] == "failing"
    assert str(gamma["state_detail"]).startswith("fetch failed: ")
    assert failed["alpha"]["last_fetch_failed"] is None and failed["alpha"]["state"] == "in-sync"
    later = json_rows(run_cli("status", "--json", "work", cwd=workspace).stdout)
    assert later["gamma"]["last_fetch_failed"] == gamma["last_fetch_failed"]
    assert later["gamma"]["state"] == "failing" and later["gamma"]["error"] is None
    table = run_cli("status", "work", cwd=workspace, env={"NO_COLOR": "1"}).stdout
    gamma_row = next(line for line in table.splitlines() if line.startswith("gamma"))
    assert re.search(r"failed \d+s ago", gamma_row), gamma_row


def test_a_bare_repo_named_on_the_command_line_gets_its_own_row(workspace: Path) -> None:
    bare = workspace / "remotes" / "alpha.git"
    result = run_cli("status", "--json", str(bare), cwd=workspace)
    [row] = json_rows(result.stdout).values()
    assert (row["bare"], row["branch"], row["state"], row["error"]) == (True, "main", "bare", None)
    assert row["head"] == git(bare, "rev-parse", "HEAD")


def test_json_branches_lists_every_local_branch_with_its_unpushed_commits(
    workspace: Path,
) -> None:
    alpha = workspace / "work" / "alpha"
    git(alpha, "switch", "-q", "-c", "feature")
    git(alpha, "push", "-q", "-u", "origin", "feature")
    commit_file(alpha, "f.txt", "f\n")
    commit_file(alpha, "g.txt", "g\n")
    git(alpha, "switch", "-q", "-c", "spike")  # tracks nothing
    git(alpha, "switch", "-q", "main")  # HEAD's branch is in sync: the others are not
    rows = json_rows(run_cli("status", "--json", "--branches", "work", cwd=workspace).stdout)
    branches = {branch["name"]: branch for branch in rows["alpha"]["branches"]}  # type: ignore[attr-defined]
    assert branches["feature"] == {
        "name": "feature", "current": False, "upstream": "origin/feature",
        "upstream_gone": False, "ahead": 2, "behind": 0,
    }  # fmt: skip
    assert branches["main"]["current"] and branches["main"]["ahead"] == 0
    assert branches["spike"]["upstream"] is None and branches["spike"]["ahead"] is None
    assert rows["beta"]["branches"] == [  # its HEAD's branch, ahead by one
        {"name": "main", "current": True, "upstream": "origin/main", "upstream_gone": False,
         "ahead": 1, "behind": 0},
    ]  # fmt: skip
    plain = json_rows(run_cli("status", "--json", "work", cwd=workspace).stdout)
    assert "branches" not in plain["alpha"]  # only when asked: one more git call per repo
    refused = run_cli("status", "--branches", "work", cwd=workspace)
    assert refused.returncode == 2 and "--json" in refused.stderr


def test_fetch_of_a_local_only_repo_is_not_an_error(workspace: Path) -> None:
    local = workspace / "work" / "local-only"
    local.mkdir()
    git(local, "init", "-q")
    result = run_cli("status", "--json", "--fetch", "work", cwd=workspace)
    assert result.returncode == 0, result.stdout
    assert json_rows(result.stdout)["local-only"]["error"] is None


def test_table_output_is_readable(workspace: Path) -> None:
    result = run_cli("status", "work", cwd=workspace, env={"NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["Repo", "Branch", "Upstream"]
    beta = next(line for line in lines if line.startswith("beta"))
    assert "↑1" in beta and "origin/main" in beta
    assert "3 repos · 0 behind · 1 ahead · 1 dirty · 0 in error" in result.stdout


def test_piped_table_has_one_unwrapped_line_per_repo(workspace: Path) -> None:
    long_name = "a-repository-name-long-enough-to-be-cut-or-wrapped"
    (workspace / "work" / "alpha").rename(workspace / "work" / long_name)
    git(workspace / "work" / "beta", "switch", "-q", "-c", "feature/a-branch-name-as-long-as-this")
    broken = workspace / "work" / "broken"
    (broken / ".git").mkdir(parents=True)  # an error message longer than any column
    result = run_cli("status", "work", cwd=workspace, env={"COLUMNS": "60"})
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + 4 + 2, result.stdout  # header, a line per repo, the summary
    assert lines[1].startswith(long_name + " ")
    assert "feature/a-branch-name-as-long-as-this" in lines[2]
    assert lines[3].startswith("broken ") and "✗ not a git repository" in lines[3]
    assert all(line == line.rstrip() for line in lines)


def test_tsv_has_a_header_and_one_line_per_repo(workspace: Path) -> None:
    result = run_cli("status", "--format", "tsv", "work", cwd=workspace)
    header, *rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert header[:6] == ["name", "group", "path", "branch", "upstream", "ahead"]
    assert all(len(row) == len(header) for row in rows) and len(rows) == 3
    beta = dict(zip(header, rows[1], strict=True))
    assert (beta["name"], beta["branch"], beta["upstream"], beta["ahead"]) == (
        "beta", "main", "origin/main", "1",
    )  # fmt: skip
    assert beta["state"] == "ahead" and beta["error"] == ""
    as_json = run_cli("status", "--format", "json", "work", cwd=workspace)
    assert json_rows(as_json.stdout)["beta"]["ahead"] == 1


def test_depth_and_no_config_groups_by_first_folder(workspace: Path) -> None:
    nested = workspace / "work" / "company" / "api"
    nested.parent.mkdir()
    (workspace / "work" / "alpha").rename(nested)
    shallow = run_cli("status", "--json", "--depth", "1", "work", cwd=workspace)
    assert sorted(json_rows(shallow.stdout)) == ["beta", "gamma"]
    rows = json_rows(run_cli("status", "--json", "--depth", "2", "work", cwd=workspace).stdout)
    assert rows["company/api"]["group"] == "company"
    assert rows["beta"]["group"] is None  # right under the scanned folder: no group
    # With no PATH the current folder is scanned, grouped the same way; --depth before the
    # command works too.
    here = json_rows(run_cli("--depth", "2", "status", "--json", cwd=workspace / "work").stdout)
    assert here["company/api"]["group"] == "company"
    bad = run_cli("status", "--depth", "0", cwd=workspace)
    assert bad.returncode == 2 and "--depth: expected a number of levels from 1 to 20" in bad.stderr


def complete_in_bash(line: str, cwd: Path) -> list[str]:
    """What bash offers for `line` (completed at its end), with our completion code loaded."""
    words = line.split() + ([""] if line.endswith(" ") else [])
    script = (
        'eval "$(gitwatch-tui completion bash)"; COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; '
        'shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
        '_python_argcomplete gitwatch-tui; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    bin_dir = str(Path(sys.executable).parent)  # where the package put `gitwatch-tui`
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run(
        ["bash", "-c", script, "bash", line, *words],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sorted(word.strip() for word in result.stdout.splitlines() if word.strip())


def test_bash_completes_commands_options_and_choices(workspace: Path) -> None:
    assert complete_in_bash("gitwatch-tui st", workspace) == ["status"]
    assert complete_in_bash("gitwatch-tui status --f", workspace) == ["--fetch", "--format"]
    assert complete_in_bash("gitwatch-tui status --format ", workspace) == ["json", "table", "tsv"]
    assert "work/" in complete_in_bash("gitwatch-tui status wo", workspace)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_code_for_each_shell(shell: str, tmp_path: Path) -> None:
    result = run_cli("completion", shell, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "gitwatch-tui" in result.stdout
    if shell == "fish":
        assert "function __fish_gitwatch-tui_complete" in result.stdout
    else:
        assert "_python_argcomplete" in result.stdout


def dashboard_rows(cwd: Path, *args: str, state: Path) -> list[str]:
    """The repos the dashboard opens on (piped, it prints them as the table does)."""
    result = run_cli(*args, cwd=cwd, env={"XDG_STATE_HOME": str(state)})
    assert result.returncode == 0, result.stderr
    if result.stdout.startswith("No git repositories found"):
        return []
    return [line.split()[0] for line in result.stdout.splitlines()[1:-2]]


def test_the_dashboard_opens_on_the_repos_beside_the_one_it_is_started_in(
    workspace: Path,
) -> None:
    state = workspace / "state"
    assert dashboard_rows(workspace / "work" / "alpha", state=state) == ["alpha", "beta", "gamma"]


def test_a_folder_named_once_is_where_the_dashboard_opens_from_anywhere(
    workspace: Path, tmp_path: Path
) -> None:
    state, elsewhere = workspace / "state", tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert dashboard_rows(elsewhere, state=state) == []  # nothing there, nothing named yet
    # A folder alone is the dashboard's (`gitwatch-tui work` is `gitwatch-tui dashboard work`).
    assert dashboard_rows(workspace, "--depth", "2", "work", state=state) == [
        "alpha", "beta", "gamma",
    ]  # fmt: skip
    assert dashboard_rows(elsewhere, state=state) == ["alpha", "beta", "gamma"]
    # A remembered folder that is gone is forgotten: the current folder again.
    (workspace / "work").rename(workspace / "moved")
    assert dashboard_rows(workspace / "moved", state=state) == ["alpha", "beta", "gamma"]
    assert dashboard_rows(elsewhere, state=state) == []


def test_a_config_naming_no_repos_is_read_as_no_config_for_the_repos(workspace: Path) -> None:
    config = workspace / "settings.yaml"
    config.write_text("defaults: {poll_interval: 10m}\n")
    env = {"GITWATCH_TUI_CONFIG": str(config)}
    rows = json_rows(run_cli("status", "--json", cwd=workspace / "work", env=env).stdout)
    assert sorted(rows) == ["alpha", "beta", "gamma"]


def test_config_from_env_and_bad_config_exit_status(workspace: Path) -> None:
    config = workspace / "gitwatch.yaml"
    config.write_text(f"repos:\n  - path: {workspace / 'work' / 'alpha'}\n    name: a\n")
    good = run_cli("status", "--json", cwd=workspace, env={"GITWATCH_TUI_CONFIG": str(config)})
    assert list(json_rows(good.stdout)) == ["a"]
    config.write_text("repos:\n  - path: x\n    nmae: typo\n")
    bad = run_cli("status", "--config", str(config), cwd=workspace)
    assert bad.returncode == 2
    assert f"{config}:3:5:" in bad.stderr and "did you mean 'name'" in bad.stderr


def test_empty_folder_tells_the_user_what_to_do(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 0
    assert "No git repositories found" in result.stdout


def test_status_imports_neither_textual_nor_aiohttp(workspace: Path) -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from gitwatch_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['status', '--json', 'work'])\n"
        "heavy = [m for m in ('textual', 'aiohttp', 'git') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=workspace, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_watch_runs_the_engine_headless_until_interrupted(workspace: Path, tmp_path: Path) -> None:
    env = {**os.environ, "GITWATCH_TUI_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    with subprocess.Popen(
        [sys.executable, "-m", "gitwatch_tui", "watch", "--json", "work"],
        cwd=workspace, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            events = [json.loads(proc.stdout.readline()) for _ in range(3)]
            names = {e["name"] for e in events if e["event"] == "status"}
            assert names == {"alpha", "beta", "gamma"}
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            proc.kill()


def test_the_summary_counts_in_error_as_the_dashboard_does(workspace: Path) -> None:
    # An upstream gone is drawn ✗ in red on every face, and counted in error on every face
    # (the dashboard's summary said 31 in error where status said 0, on the same repos).
    alpha = workspace / "work" / "alpha"
    git(alpha, "switch", "-q", "-c", "feature")
    git(alpha, "push", "-q", "-u", "origin", "feature")
    git(alpha, "push", "-q", "origin", "--delete", "feature")
    result = run_cli("status", "work", cwd=workspace, env={"NO_COLOR": "1"})
    assert "✗ upstream gone" in result.stdout
    assert "3 repos · 0 behind · 1 ahead · 1 dirty · 1 in error" in result.stdout
    assert result.returncode == 0  # nothing failed to be read: the exit status says that
