"""Discovery over real folders and real repos made with the git CLI."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitwatch_tui.core.discovery import SKIPPED_DIRS, Discovery, discover, resolve_repos
from gitwatch_tui.core.models import RepoSpec, ScanRoot


@pytest.fixture(autouse=True)
def _git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's and the system's git config out of the tests."""
    for key, value in {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_TERMINAL_PROMPT": "0",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)


def git(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def init(path: Path, *, commit: bool = False) -> Path:
    git("init", "-q", path)
    if commit:
        (path / "README").write_text("hi\n")
        git("add", "README", cwd=path)
        git("commit", "-qm", "first", cwd=path)
    return path


def paths(found: Discovery, base: Path) -> list[str]:
    return [r.path.relative_to(base).as_posix() for r in found.repos]


def test_depth_limits(tmp_path: Path) -> None:
    for rel in ("a", "x/b", "x/y/c", "x/y/z/d"):
        init(tmp_path / rel)
    assert paths(discover([ScanRoot(tmp_path, depth=0)]), tmp_path) == []
    assert paths(discover([ScanRoot(tmp_path, depth=2)]), tmp_path) == ["a", "x/b"]
    assert paths(discover([ScanRoot(tmp_path, depth=4)]), tmp_path) == [
        "a",
        "x/b",
        "x/y/c",
        "x/y/z/d",
    ]


def test_root_itself_is_a_repo_and_nested_repos_are_not_entered(tmp_path: Path) -> None:
    outer = init(tmp_path / "outer")
    init(outer / "inner")
    init(outer / "deep" / "inner2")
    found = discover([ScanRoot(outer, depth=0)])
    assert [r.path for r in found.repos] == [outer]
    assert found.repos[0].git_dir == outer / ".git" and not found.repos[0].bare
    assert paths(discover([ScanRoot(tmp_path, depth=5)]), tmp_path) == ["outer"]
    specs, warnings = resolve_repos([], [ScanRoot(outer, depth=3)])
    assert [s.name for s in specs] == ["outer"] and warnings == ()


def test_worktree_is_found_with_the_git_dir_its_git_file_points_to(tmp_path: Path) -> None:
    main = init(tmp_path / "main", commit=True)
    git("worktree", "add", "-q", tmp_path / "wt", cwd=main)
    found = discover([ScanRoot(tmp_path)])
    assert paths(found, tmp_path) == ["main", "wt"]
    assert found.repos[1].git_dir.resolve() == (main / ".git" / "worktrees" / "wt").resolve()
    assert found.warnings == ()


def test_submodule_relative_git_file_is_resolved(tmp_path: Path) -> None:
    lib = init(tmp_path / "lib", commit=True)
    app = init(tmp_path / "app", commit=True)
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "sub", cwd=app)
    assert (app / "sub" / ".git").read_text().startswith("gitdir: ../")  # relative pointer
    found = discover([ScanRoot(app / "sub")])
    assert found.repos[0].git_dir == (app / ".git" / "modules" / "sub").resolve()
    assert found.warnings == ()


def test_bare_repos_skipped_unless_included_and_never_entered(tmp_path: Path) -> None:
    origin = init(tmp_path / "src" / "origin", commit=True)
    git("init", "-q", "--bare", tmp_path / "scan" / "plain.git")
    git("clone", "-q", "--bare", origin, tmp_path / "scan" / "group" / "clone.git")
    init(tmp_path / "scan" / "plain.git" / "hooks" / "inside")  # must stay unseen
    init(tmp_path / "scan" / "work")
    scan = tmp_path / "scan"
    assert paths(discover([ScanRoot(scan)]), scan) == ["work"]
    found = discover([ScanRoot(scan, include_bare=True)])
    assert paths(found, scan) == ["group/clone.git", "plain.git", "work"]
    assert [(r.bare, r.git_dir == r.path) for r in found.repos] == [
        (True, True),
        (True, True),
        (False, False),
    ]
    specs, _ = resolve_repos([], [ScanRoot(scan, include_bare=True)])
    assert [(s.name, s.bare) for s in specs] == [
        ("group/clone.git", True),
        ("plain.git", True),
        ("work", False),
    ]


def test_skipped_hidden_and_excluded_folders(tmp_path: Path) -> None:
    assert {"node_modules", "venv", "__pycache__", ".tox"} <= SKIPPED_DIRS
    for rel in (
        "node_modules/pkg",
        "venv/src/dep",
        ".hidden/r",
        ".config/r",
        "archive-2020/r",
        "work/old",
        "work/new",
        "keep",
    ):
        init(tmp_path / rel)
    root = ScanRoot(tmp_path, exclude=("archive-*", "work/old"))
    assert paths(discover([root]), tmp_path) == ["keep", "work/new"]
    # A hidden root is scanned all the same: only folders below it are filtered.
    assert paths(discover([ScanRoot(tmp_path / ".hidden")]), tmp_path) == [".hidden/r"]


def test_symlinked_repo_is_followed_and_a_real_path_wins(tmp_path: Path) -> None:
    outside = init(tmp_path / "elsewhere" / "linked")
    scan = tmp_path / "scan"
    inside = init(scan / "a" / "b" / "real")
    (scan / "link").symlink_to(outside)
    (scan / "shortcut").symlink_to(inside)  # shallower than the real path, still loses
    (scan / "dangling").symlink_to(tmp_path / "nothing")
    found = discover([ScanRoot(scan)])
    assert paths(found, scan) == ["a/b/real", "link"]
    assert found.warnings == ()


def test_symlink_loops_terminate(tmp_path: Path) -> None:
    init(tmp_path / "a" / "repo")
    (tmp_path / "a" / "up").symlink_to(tmp_path)
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a")
    (tmp_path / "knot").symlink_to(tmp_path / "knot")
    found = discover([ScanRoot(tmp_path, depth=50)])
    assert paths(found, tmp_path) == ["a/repo"]
    assert sorted(found.warnings) == [
        f"{tmp_path / 'a' / 'self'}: symlink to its own ancestor, not followed",
        f"{tmp_path / 'a' / 'up'}: symlink to its own ancestor, not followed",
        f"{tmp_path / 'knot'}: Too many levels of symbolic links, skipped",
    ]


def _drop_root_file_powers() -> None:
    """In the child, before exec: drop the capabilities that let root read any folder."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; gone from the next exec on
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unreadable_folder_warns_and_the_rest_is_found(tmp_path: Path) -> None:
    """Runs in a child process; as root, one without the power to ignore folder modes."""
    init(tmp_path / "ok")
    locked = tmp_path / "locked"
    init(locked / "hidden-by-mode")
    locked.chmod(0)
    code = (
        "import json, sys; from pathlib import Path\n"
        "from gitwatch_tui.core.discovery import discover, ScanRoot\n"
        "found = discover([ScanRoot(Path(sys.argv[1]))])\n"
        "print(json.dumps([[r.path.name for r in found.repos], found.warnings]))"
    )
    as_root = os.geteuid() == 0
    try:
        child = subprocess.run(
            [sys.executable, "-c", code, tmp_path],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=_drop_root_file_powers if as_root else None,
        )
    except subprocess.SubprocessError as exc:  # no CAP_SETPCAP to give the powers up
        pytest.skip(f"cannot run without root's file powers: {exc}")
    finally:
        locked.chmod(0o755)
    assert json.loads(child.stdout) == [["ok"], [f"{locked}: Permission denied, skipped"]]


def test_folder_that_cannot_be_listed_warns_even_as_root(tmp_path: Path) -> None:
    """A path past PATH_MAX fails to open for root too, like a denied folder would."""
    init(tmp_path / "ok")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(20):  # 20 x 250 chars > PATH_MAX (4096): built relative to a dir fd
            os.mkdir("d" * 249, dir_fd=fd)
            fd, old = os.open("d" * 249, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(old)
    finally:
        os.close(fd)
    found = discover([ScanRoot(tmp_path, depth=30)])
    assert paths(found, tmp_path) == ["ok"]
    assert len(found.warnings) == 1 and "File name too long, skipped" in found.warnings[0]


def test_missing_root_and_file_root_warn(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    found = discover([ScanRoot(tmp_path / "missing"), ScanRoot(tmp_path / "file")])
    assert found.repos == ()
    assert found.warnings == (
        f"scan root {tmp_path / 'missing'}: No such file or directory",
        f"scan root {tmp_path / 'file'}: not a folder",
    )


def test_broken_repos_are_reported_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "no-head" / ".git").mkdir(parents=True)
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / ".git").write_text("not a pointer\n")
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / ".git").write_text(f"gitdir: {tmp_path / 'deleted'}\n")
    found = discover([ScanRoot(tmp_path)])
    assert paths(found, tmp_path) == ["garbage", "gone", "no-head"]
    assert [r.git_dir for r in found.repos] == [
        tmp_path / "garbage" / ".git",
        tmp_path / "deleted",
        tmp_path / "no-head" / ".git",
    ]
    assert len(found.warnings) == 3


def test_overlapping_roots_give_a_repo_to_the_most_specific_root(tmp_path: Path) -> None:
    init(tmp_path / "work" / "api")
    init(tmp_path / "home")
    broad, narrow = ScanRoot(tmp_path, group="all"), ScanRoot(tmp_path / "work", group="work")
    found = discover([broad, narrow])
    assert [(r.path.name, r.root.group) for r in found.repos] == [("home", "all"), ("api", "work")]


def test_resolve_names_groups_and_collisions(tmp_path: Path) -> None:
    init(tmp_path / "oss" / "api")
    init(tmp_path / "oss" / "tools" / "cli")
    init(tmp_path / "work" / "api")
    init(tmp_path / "mono")
    roots = [
        ScanRoot(tmp_path / "work", group="work"),
        ScanRoot(tmp_path / "oss"),
        ScanRoot(tmp_path / "mono", group="work"),
    ]
    specs, warnings = resolve_repos([], roots)
    assert [(s.group, s.name) for s in specs] == [
        (None, "api"),  # first by path: oss/api sorts before work/api
        (None, "tools/cli"),
        ("work", "mono"),
        ("work", "work/api"),  # collided: its parent folder is prefixed
    ]
    assert all(s.path.is_absolute() for s in specs) and warnings == ()
    assert resolve_repos([], roots) == (specs, warnings)  # deterministic


def test_explicit_repos_win_and_duplicates_are_dropped(tmp_path: Path) -> None:
    api = init(tmp_path / "scan" / "api")
    other = init(tmp_path / "scan" / "other")
    init(tmp_path / "scan" / "web")
    (tmp_path / "scan" / "zz-link").symlink_to(other)
    (tmp_path / "alias").symlink_to(api)
    explicit = [
        RepoSpec(path=tmp_path / "alias", name="backend", poll_interval=5.0),  # via symlink
        RepoSpec(path=api, name="again"),  # the same folder again
        RepoSpec(path=tmp_path / "elsewhere", name="web"),  # takes the name "web"
        RepoSpec(path=tmp_path / "second", name="backend"),  # a name used twice
    ]
    specs, warnings = resolve_repos(explicit, [ScanRoot(tmp_path / "scan", group="g")])
    assert [(s.name, s.group, s.poll_interval) for s in specs] == [
        ("backend", None, 5.0),
        ("second/backend", None, None),
        ("web", None, None),
        ("other", "g", None),  # zz-link is the same folder
        ("scan/web", "g", None),
    ]
    assert warnings == (
        "repo 'again': same folder as 'backend', ignored",
        "repo 'backend': name used twice, renamed to 'second/backend'",
    )
