"""The --demo sandbox: every dashboard state, deterministic, and a pusher that cleans up."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from gitwatch_tui import demo
from gitwatch_tui.core.config import Config
from gitwatch_tui.core.discovery import resolve_repos
from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.core.status import collect_statuses
from gitwatch_tui.demo import (
    CONFLICT_REPO,
    DEMO_REPOS,
    LIVE_REPOS,
    UNREACHABLE_URL,
    DemoError,
    create_sandbox,
    demo_sandbox,
    main,
    start_pusher,
    stop_pusher,
)
from tests.conftest import git, process_ends


@dataclass(frozen=True)
class Sandbox:
    root: Path
    config: Config
    status: dict[str, RepoStatus]


def statuses(config: Config) -> dict[str, RepoStatus]:
    specs, warnings = resolve_repos(config.repos, config.scan)
    assert warnings == ()
    return {s.name: s for s in collect_statuses(specs, jobs=2, timeout=20)}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    """One sandbox for the read-only tests (building one takes about a second)."""
    root = tmp_path_factory.mktemp("demo")
    config = create_sandbox(root)
    return Sandbox(root, config, statuses(config))


def work_tree(sandbox: Sandbox, name: str) -> Path:
    return next(spec.path for spec in sandbox.config.repos if spec.name == name)


def test_config_lists_every_repo_by_group(sandbox: Sandbox) -> None:
    config = sandbox.config
    assert tuple(spec.name for spec in config.repos) == DEMO_REPOS
    assert 10 <= len(DEMO_REPOS) <= 14
    assert {spec.group for spec in config.repos} == {"apps", "libs", "infra"}
    for spec in config.repos:
        assert spec.path == sandbox.root / "work" / str(spec.group) / spec.name
    assert config.scan == ()
    assert config.defaults.poll_interval == 20.0
    assert config.defaults.fetch_timeout == 10.0
    assert set(LIVE_REPOS) >= {CONFLICT_REPO} and set(LIVE_REPOS) <= set(DEMO_REPOS)


IN_SYNC = {"ahead": 0, "behind": 0, "upstream": "origin/main", "dirty": False, "error": None}

# What each row shows right after create_sandbox; unlisted fields are not checked.
EXPECTED: dict[str, dict[str, object]] = {
    "storefront": {**IN_SYNC, "stash": 0, "branch": "main"},
    "data-models": {**IN_SYNC, "stash": 0},
    "deploy-scripts": {**IN_SYNC, "stash": 0},
    "admin-panel": {**IN_SYNC, "behind": 2},
    "http-client": {**IN_SYNC, "ahead": 2},
    "auth-lib": {**IN_SYNC, "ahead": 2, "behind": 1},
    CONFLICT_REPO: {**IN_SYNC, "ahead": 1, "behind": 1},
    "mobile-api": {"ahead": 0, "behind": 0, "staged": 2, "unstaged": 1, "untracked": 1},
    "ui-kit": {**IN_SYNC, "stash": 2},
    "config-loader": {"detached": True, "upstream": None, "ahead": None, "dirty": False},
    "dns-manager": {"branch": "feature/txt-records", "detached": False, "upstream": None,
                    "ahead": None, "behind": None, "dirty": False, "error": None},
    "offsite-backup": IN_SYNC,  # until a fetch fails
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_repo_shows_its_state(sandbox: Sandbox, name: str) -> None:
    status = sandbox.status[name]
    seen = {field: getattr(status, field) for field in EXPECTED[name]}
    assert seen == EXPECTED[name]


def test_every_state_is_covered(sandbox: Sandbox) -> None:
    rows = sandbox.status.values()
    assert len([s for s in rows if s.ahead == 0 and s.behind == 0 and not s.dirty]) >= 3
    assert any(s.behind and not s.ahead for s in rows)
    assert any(s.ahead and not s.behind for s in rows)
    assert any(s.staged and s.unstaged and s.untracked for s in rows)
    assert any(s.stash for s in rows)
    assert any(s.detached for s in rows)
    assert any(s.branch and not s.detached and s.upstream is None for s in rows)
    assert any(s.error for s in rows)


def test_broken_repo_is_an_error_row(sandbox: Sandbox) -> None:
    status = sandbox.status["legacy-tools"]
    assert status.error is not None and "not a git repository" in status.error
    assert status.group == "infra"


def test_detached_head_sits_on_the_release_tag(sandbox: Sandbox) -> None:
    path = work_tree(sandbox, "config-loader")
    assert git(path, "describe", "--tags", "--exact-match") == "v0.2.0"
    assert git(path, "rev-list", "--count", "HEAD..origin/main") == "2"


def merge_tree(path: Path) -> subprocess.CompletedProcess[str]:
    """A trial merge with the upstream that leaves the repo untouched (git 2.38+)."""
    result = subprocess.run(
        ["git", "merge-tree", "--write-tree", "--name-only", "HEAD", "@{upstream}"],
        cwd=path, capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        pytest.skip(f"git merge-tree --write-tree not available: {result.stderr.strip()}")
    return result


def test_conflict_me_conflicts_and_diverged_merges_cleanly(sandbox: Sandbox) -> None:
    conflict = merge_tree(work_tree(sandbox, CONFLICT_REPO))
    assert conflict.returncode == 1
    assert "src/conflict_me/settings.py" in conflict.stdout
    assert merge_tree(work_tree(sandbox, "auth-lib")).returncode == 0


def test_unreachable_remote_fails_to_fetch(sandbox: Sandbox) -> None:
    path = work_tree(sandbox, "offsite-backup")
    assert git(path, "remote", "get-url", "origin") == UNREACHABLE_URL
    result = run_git(["fetch", "origin"], RepoPaths.of(path), timeout=10)
    assert not result.ok and not result.timed_out


def refs(root: Path) -> dict[str, str]:
    """Every ref of every repo in a sandbox, keyed by path relative to the root."""
    found: dict[str, str] = {}
    for repo in sorted([*root.glob("work/*/*"), *root.glob("remotes/*.git")]):
        if repo.name == "legacy-tools":
            continue
        listing = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
        for line in [*listing.splitlines(), f"HEAD {git(repo, 'rev-parse', 'HEAD')}"]:
            ref, sha = line.split()
            found[f"{repo.relative_to(root)} {ref}"] = sha
    return found


def test_same_commits_in_another_folder_whatever_the_user_config(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A global config that would change every step of the set-up if it were read.
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "commit-msg", "post-checkout", "pre-push"):
        (hooks / hook).write_text("#!/bin/sh\nexit 1\n")
        (hooks / hook).chmod(0o755)
    template = tmp_path / "template"
    (template / "info").mkdir(parents=True)
    (template / "info" / "exclude").write_text("*.md\n")
    hostile = tmp_path / "hostile.gitconfig"
    hostile.write_text(
        f"[init]\n\tdefaultBranch = trunk\n\ttemplateDir = {template}\n"
        "[commit]\n\tgpgSign = true\n[tag]\n\tgpgSign = true\n"
        f"[core]\n\tautocrlf = true\n\thooksPath = {hooks}\n"
        "[clone]\n\tdefaultRemoteName = upstream\n"
        "[branch]\n\tautoSetupMerge = always\n"
        "[user]\n\tuseConfigOnly = true\n\tname = Someone Else\n"
    )
    other = tmp_path / "elsewhere"
    with monkeypatch.context() as env:
        env.setenv("GIT_CONFIG_GLOBAL", str(hostile))
        env.setenv("GIT_AUTHOR_DATE", "1600000000 +0000")
        env.setenv("GIT_TEMPLATE_DIR", str(template))
        config = create_sandbox(other)
    assert refs(other) == refs(sandbox.root)

    def rows(found: dict[str, RepoStatus]) -> dict[str, RepoStatus]:
        return {n: replace(s, path="") for n, s in found.items() if n != "legacy-tools"}

    assert rows(statuses(config)) == rows(sandbox.status)


def test_create_sandbox_refuses_a_folder_in_use(sandbox: Sandbox) -> None:
    with pytest.raises(DemoError, match="already holds"):
        create_sandbox(sandbox.root)


def remote_head(root: Path, name: str) -> str:
    return git(root / "remotes" / f"{name}.git", "rev-parse", "refs/heads/main")


def test_pusher_pushes_to_live_remotes_and_ends_with_its_root(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    config = create_sandbox(root)
    before = {name: remote_head(root, name) for name in LIVE_REPOS}
    trees = [spec.path for spec in config.repos if spec.name != "legacy-tools"]
    work_heads = [git(path, "rev-parse", "HEAD") for path in trees]
    proc = start_pusher(root, interval=0.2)
    try:
        deadline = time.monotonic() + 10
        while any(remote_head(root, n) == before[n] for n in LIVE_REPOS):
            assert time.monotonic() < deadline, "the pusher did not reach every live remote"
            assert proc.poll() is None, (root / "pusher.log").read_text()
            time.sleep(0.1)
        # conflict-me's remote changes the contested line again, on top of the old tip.
        settings = git(root / "remotes" / "conflict-me.git", "show", "main:src/conflict_me/"
                       "settings.py")  # fmt: skip
        assert "REQUEST_TIMEOUT = 50" in settings
        author = git(root / "remotes" / "storefront.git", "log", "-1", "--format=%an %s", "main")
        assert author.startswith("Priya Raman ") and "(#" in author
        # Remotes only: the work trees were not touched.
        assert [git(path, "rev-parse", "HEAD") for path in trees] == work_heads
        assert statuses(config)["storefront"].dirty is False

        # Deleting the sandbox is enough to end it (rmtree may race with its last push).
        deadline = time.monotonic() + 10
        while root.exists():
            shutil.rmtree(root, ignore_errors=True)
            assert time.monotonic() < deadline
        assert proc.wait(timeout=5) == 0
    finally:
        stop_pusher(proc)


def test_pusher_ends_when_its_parent_dies(tmp_path: Path) -> None:
    (tmp_path / "remotes").mkdir()  # enough of a sandbox to keep it waiting
    script = (
        "import sys; from pathlib import Path; from gitwatch_tui.demo import start_pusher\n"
        f"proc = start_pusher(Path({str(tmp_path)!r}), interval=60)\n"
        "print(proc.pid, flush=True); sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert parent.stdin is not None and parent.stdout is not None
    with parent:
        pid = int(parent.stdout.readline())
        assert not process_ends(pid, within=0.5)  # running while its parent is
        parent.stdin.close()
        parent.wait(timeout=10)
    assert process_ends(pid, within=5)


def test_push_command_returns_at_once_without_a_sandbox(tmp_path: Path) -> None:
    assert main(["push", str(tmp_path / "gone"), "--interval", "0.1"]) == 0


@pytest.mark.parametrize("error", [None, RuntimeError, KeyboardInterrupt])
def test_demo_sandbox_removes_everything_on_exit(
    error: type[BaseException] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen[bytes]] = []

    def spy(root: Path, *, interval: float) -> subprocess.Popen[bytes]:
        started.append(start_pusher(root, interval=interval))
        return started[-1]

    monkeypatch.setattr(demo, "start_pusher", spy)
    roots: list[Path] = []

    def body() -> None:
        with demo_sandbox(interval=0.2) as config:
            roots.append(config.repos[0].path.parents[2])
            assert roots[0].name.startswith("gitwatch-demo-")
            assert all(spec.path.exists() for spec in config.repos)
            assert started[0].poll() is None
            if error is not None:
                raise error("boom")

    if error is None:
        body()
    else:
        with pytest.raises(error):
            body()
    assert not roots[0].exists()
    assert started[0].returncode is not None  # ended and reaped


def test_demo_imports_only_the_core() -> None:
    code = (
        "import sys, gitwatch_tui.demo\n"
        "heavy = ('textual', 'rich', 'aiohttp', 'gitwatch_tui.engine', 'gitwatch_tui.ui',"
        " 'gitwatch_tui.server')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
