"""Real repos in the states whose labels used to be wrong, made with real git commands; the
status tests check what is read from them, the faces test what every face says about them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import commit_file, git, make_remote_and_clone


def upstream_gone(base: Path) -> Path:
    """On a branch whose upstream was deleted from the remote (and pruned)."""
    remote, clone = make_remote_and_clone(base, "upstream-gone")
    git(clone, "switch", "-q", "-c", "feature")
    git(clone, "push", "-q", "-u", "origin", "feature")
    git(remote, "branch", "-q", "-D", "feature")
    git(clone, "fetch", "-q", "--prune")
    return clone


def empty_clone(base: Path) -> Path:
    """A clone of a remote that has no commits yet."""
    remote = base / "empty-remote.git"
    git(base, "init", "-q", "--bare", str(remote))
    git(base, "clone", "-q", str(remote), str(base / "empty-clone"))
    return base / "empty-clone"


def empty_repo(base: Path) -> Path:
    """`git init`, nothing more."""
    git(base, "init", "-q", "empty-repo")
    return base / "empty-repo"


def no_remote(base: Path) -> Path:
    """Commits, but no remote at all."""
    repo = base / "no-remote"
    git(base, "init", "-q", str(repo))
    commit_file(repo, "README.md", "local only\n")
    return repo


def garbage_ref(base: Path) -> Path:
    """The checked-out branch's ref file holds garbage (a crash, a bad sync of the folder)."""
    _, clone = make_remote_and_clone(base, "garbage-ref")
    commit_file(clone, "more.txt", "more\n")
    (clone / ".git" / "refs" / "heads" / "main").write_text("garbage\n")
    return clone


def bare(base: Path) -> Path:
    """A bare repository with commits (a mirror, a server's copy)."""
    remote, _ = make_remote_and_clone(base, "bare")
    return remote


def stale_submodules(base: Path) -> Path:
    """A parent whose last pull moved its submodule's recorded commit; the submodule's checkout
    has not been updated (`git submodule update` never runs by itself)."""
    lib_remote, lib = make_remote_and_clone(base, "lib")
    parent_remote, parent = make_remote_and_clone(base, "parent")
    git(parent, "submodule", "add", "-q", str(lib_remote), "lib")
    git(parent, "commit", "-q", "-m", "add lib")
    git(parent, "push", "-q", "origin", "main")
    clone = base / "with-submodules"
    git(base, "clone", "-q", "--recurse-submodules", str(parent_remote), str(clone))
    commit_file(lib, "lib.txt", "2\n")
    git(lib, "push", "-q", "origin", "main")
    git(parent / "lib", "pull", "-q", "--ff-only")
    git(parent, "commit", "-q", "-am", "bump lib")
    git(parent, "push", "-q", "origin", "main")
    git(clone, "fetch", "-q")
    git(clone, "merge", "-q", "--ff-only", "origin/main")  # what an auto-sync does
    return clone


ODD_REPOS: dict[str, Callable[[Path], Path]] = {
    "upstream-gone": upstream_gone,
    "empty-clone": empty_clone,
    "empty-repo": empty_repo,
    "no-remote": no_remote,
    "garbage-ref": garbage_ref,
    "bare": bare,
    "stale-submodules": stale_submodules,
}
