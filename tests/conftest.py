"""Test-wide set-up: git runs isolated from the user's own config, with a fixed identity."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest


def _isolate_git(config_dir: Path) -> None:
    config = config_dir / "gitconfig"
    config.write_text(
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
        "[advice]\n\tdetachedHead = false\n"
    )
    os.environ.update(
        GIT_CONFIG_GLOBAL=str(config),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.invalid",
        GIT_COMMITTER_NAME="Test Author",
        GIT_COMMITTER_EMAIL="author@example.invalid",
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "NO_COLOR"):
        os.environ.pop(var, None)


@pytest.fixture(scope="session", autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory) -> None:
    _isolate_git(tmp_path_factory.mktemp("gitconfig"))


def git(cwd: Path | str, *args: str) -> str:
    """Run real git in `cwd` for test set-up; fails the test on error."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout.strip()


def commit_file(repo: Path, name: str, content: str, message: str | None = None) -> str:
    """Write a file, commit it, and return the new HEAD."""
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", message or f"change {name}")
    return git(repo, "rev-parse", "HEAD")


def make_remote_and_clone(base: Path, name: str) -> tuple[Path, Path]:
    """A bare remote with one commit and a clone of it tracking origin/main."""
    seed = base / f"{name}-seed"
    seed.mkdir(parents=True)
    git(seed, "init", "-q")
    commit_file(seed, "README.md", "hello\n", "initial")
    remote = base / f"{name}.git"
    git(base, "clone", "-q", "--bare", str(seed), str(remote))
    clone = base / name
    git(base, "clone", "-q", str(remote), str(clone))
    return remote, clone


def push_from_elsewhere(remote: Path, base: Path, count: int = 1, name: str = "other") -> None:
    """Another developer pushes `count` commits to `remote`'s main."""
    other = base / f"{remote.stem}-{name}"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "pull", "-q", "--ff-only")
    for i in range(count):
        commit_file(other, f"upstream-{name}-{i}.txt", f"{i}\n")
    git(other, "push", "-q", "origin", "HEAD:main")


def process_ends(pid: int, within: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie awaiting its reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False
