"""Find git repositories under scan roots: one `os.scandir` pass, no git processes.

A folder with a `.git` entry is a repo and is never entered, broken or not (a broken one is
still reported, with a warning, so it shows up as an error row). Symlinked folders are followed;
each folder is listed once per root, and a symlink back to an ancestor gets one warning.
"""

from __future__ import annotations

import heapq
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fnmatch import translate
from pathlib import Path

from gitwatch_tui.core.git import looks_bare, resolve_git_dir
from gitwatch_tui.core.models import RepoSpec, ScanRoot

# Folders that never hold repos worth watching but can hold thousands of entries. Only folders
# *between* a root and its repos are ever listed (we never enter a repo), so build output such as
# `vendor/` or `dist/` inside projects is already out of reach and is not listed here.
SKIPPED_DIRS: frozenset[str] = frozenset(
    {
        "node_modules", "bower_components", "jspm_packages", "__pycache__", "__pypackages__",
        "site-packages", "dist-packages", "venv", ".venv", ".tox", ".nox", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".cache", ".npm", ".cargo", ".rustup", ".gradle", ".m2",
        "target", ".Trash",
    }
)  # fmt: skip


_BARE = frozenset({"HEAD", "objects", "refs"})  # a folder with all three is a bare repo
_Key = tuple[int, int]  # (st_dev, st_ino): one folder, whatever path reached it


@dataclass(frozen=True, slots=True)
class FoundRepo:
    """A repository found under a scan root."""

    path: Path  # the work tree (or the bare repo's folder), absolute, symlinks kept
    git_dir: Path  # `.git`, where a `.git` file points, or the bare folder itself
    bare: bool
    root: ScanRoot
    folder: tuple[int, int]  # (device, inode): one folder reached by two paths has one


@dataclass(frozen=True, slots=True)
class Discovery:
    """What `discover` found: repos sorted by path, plus one-line human-readable warnings."""

    repos: tuple[FoundRepo, ...]
    warnings: tuple[str, ...]


def _root_dir(root: ScanRoot) -> str:
    return os.path.abspath(os.path.expanduser(root.path))


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _excluder(globs: tuple[str, ...]) -> Callable[[str], object]:
    if not globs:
        return lambda _: False
    return re.compile("|".join(translate(g) for g in globs)).match


def _git_dir_of(path: str, dot_git: str, mode: int, warnings: list[str]) -> str:
    """The git dir of a work tree whose `.git` has `mode` (from lstat); a broken one is still
    returned (with a warning) so that the status layer shows an error row rather than the
    repo silently vanishing."""
    if stat.S_ISDIR(mode) or (stat.S_ISLNK(mode) and os.path.isdir(dot_git)):
        if not os.path.isfile(os.path.join(dot_git, "HEAD")):
            warnings.append(f"{path}: .git folder has no HEAD (broken repository?)")
        return dot_git
    target = resolve_git_dir(Path(path))
    if target is None:
        warnings.append(f"{path}: .git is neither a folder nor a 'gitdir:' file")
        return dot_git
    real = os.path.realpath(target)  # relative `gitdir: ../..` made readable
    if not os.path.isfile(os.path.join(real, "HEAD")):
        warnings.append(f"{path}: .git points to a missing git dir {real}")
    return real


def _scan(
    root: ScanRoot, warnings: list[str]
) -> Iterator[tuple[_Key, tuple[bool, int], FoundRepo]]:
    """Yield (folder key, rank, repo) for one root; a lower rank is a better path to it."""
    top = _root_dir(root)
    try:
        st = os.stat(top)
    except OSError as exc:
        warnings.append(f"scan root {top}: {_reason(exc)}")
        return
    if not stat.S_ISDIR(st.st_mode):
        warnings.append(f"scan root {top}: not a folder")
        return
    excluded = _excluder(root.exclude)
    # Best-first: real paths before paths through a symlink, then shallow before deep. So a repo
    # reachable both ways keeps its real path, and the result does not depend on listing order.
    # Items: (via_symlink, depth, path, rel, (dev, ino) of the folder and its ancestors).
    todo: list[tuple[bool, int, str, str, tuple[_Key, ...]]]
    todo = [(False, 0, top, "", ((st.st_dev, st.st_ino),))]
    top_path = Path(top)
    seen: dict[_Key, int] = {}  # folder -> smallest depth it was listed at
    while todo:
        via_link, depth, path, rel, chain = heapq.heappop(todo)
        if seen.get(chain[-1], depth + 1) <= depth:
            continue  # listed already with at least as much depth budget left
        seen[chain[-1]] = depth
        rank = (via_link, depth)
        dot_git = os.path.join(path, ".git")
        try:  # probed first: a repo's own files are never listed
            mode = os.lstat(dot_git).st_mode
        except OSError:
            pass
        else:
            # Joined to the root's Path: pathlib then parses only the part under the root
            # (a Path made from the whole string took a third of a 10,000-repo scan).
            repo = top_path.joinpath(rel) if rel else top_path
            found = _git_dir_of(path, dot_git, mode, warnings)
            git_dir = repo / ".git" if found == dot_git else Path(found)
            yield chain[-1], rank, FoundRepo(repo, git_dir, False, root, chain[-1])
            continue
        descend = depth < root.depth
        if not (descend or root.include_bare):
            continue  # nothing more to learn here, and a listing can be long
        markers: set[str] = set()
        children: list[os.DirEntry[str]] = []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    name = entry.name
                    if name in _BARE and (entry.is_file() if name == "HEAD" else entry.is_dir()):
                        markers.add(name)
                    skip = name[0] == "." or name in SKIPPED_DIRS
                    if descend and not (skip or excluded(name) or excluded(rel + name)):
                        children.append(entry)
        except OSError as exc:  # permission denied, vanished mid-scan, name too long, ...
            warnings.append(f"{path}: {_reason(exc)}, skipped")
            continue
        if markers == _BARE and os.path.basename(path) != ".git":
            if root.include_bare:
                yield chain[-1], rank, FoundRepo(Path(path), Path(path), True, root, chain[-1])
            continue  # never list a bare repo's objects/ and refs/
        for entry in children:
            try:
                link = entry.is_symlink()
                if not entry.is_dir():  # follows symlinks; False for dangling ones
                    continue
                cst = entry.stat()
            except OSError as exc:  # vanished, name too long, a symlink to itself (ELOOP)
                warnings.append(f"{entry.path}: {_reason(exc)}, skipped")
                continue
            key = (cst.st_dev, cst.st_ino)
            if key in chain:
                warnings.append(f"{entry.path}: symlink to its own ancestor, not followed")
                continue
            item = (via_link or link, depth + 1, entry.path, f"{rel}{entry.name}/", (*chain, key))
            heapq.heappush(todo, item)


def discover(roots: Sequence[ScanRoot]) -> Discovery:
    """Find the repositories under `roots`; a repo under several roots goes to the one where
    it sits least deep (the most specific root), ties to the earlier root."""
    warnings: list[str] = []
    best: dict[_Key, tuple[tuple[bool, int, int], FoundRepo]] = {}
    for index, root in enumerate(roots):
        for key, (via_link, depth), repo in _scan(root, warnings):
            rank = (via_link, depth, index)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, repo)
    repos = sorted((repo for _, repo in best.values()), key=lambda r: r.path)
    return Discovery(tuple(repos), tuple(warnings))


def _folder_key(real_path: str) -> tuple[int, int] | str:
    """(device, inode) of a folder, or its real path while it does not exist (not cloned)."""
    try:
        st = os.stat(real_path)
    except OSError:
        return real_path
    return (st.st_dev, st.st_ino)


def _unique(name: str, path: Path, taken: set[str]) -> str:
    """`name`, else prefixed with more and more parent folders ("api" -> "oss/api"), else
    "name (2)"; a path-like prefix keeps names usable on the command line."""
    if name not in taken:  # the usual case, without taking the path apart
        return name
    parts, own = path.parts[1:], tuple(name.split("/"))  # [1:]: no "/" anchor in names
    if parts[-len(own) :] == own:
        parts = parts[: -len(own)]  # `name` is already the path's tail: prefix its parents
    for k in range(len(parts) + 1):
        candidate = "/".join((*parts[len(parts) - k :], name))
        if candidate not in taken:
            return candidate
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"


def resolve_repos(
    config_repos: Sequence[RepoSpec], roots: Sequence[ScanRoot]
) -> tuple[tuple[RepoSpec, ...], tuple[str, ...]]:
    """The full watch list: explicit repos (they win), then discovered ones not already listed.

    Returns:
        Specs sorted by (group, name) with unique names and real paths, and warnings.
    """
    found = discover(roots)
    warnings = list(found.warnings)
    specs: list[RepoSpec] = []
    # A folder -> the name of the spec that holds it. Found repos are one per folder already,
    # so only explicit ones need a key (a real path per repo costs a stat per path part).
    held: dict[tuple[int, int] | str, str] = {}
    taken: set[str] = set()
    for spec in config_repos:
        real = os.path.realpath(os.path.expanduser(spec.path))
        key = _folder_key(real)
        if key in held:
            warnings.append(f"repo {spec.name!r}: same folder as {held[key]!r}, ignored")
            continue
        name = _unique(spec.name, Path(real), taken)
        if name != spec.name:
            warnings.append(f"repo {spec.name!r}: name used twice, renamed to {name!r}")
            spec = replace(spec, name=name)
        held[key] = name
        taken.add(name)
        if not spec.bare and looks_bare(Path(real)):
            spec = replace(spec, bare=True)  # named without `bare`: it is one all the same
        specs.append(spec)
    tops = {root: _root_dir(root) for root in roots}
    for repo in found.repos:
        if repo.folder in held:
            continue  # listed explicitly: its settings win
        top, path = tops[repo.root], str(repo.path)
        # Found under its root, so the name is the rest of the path (relpath costs 25 µs).
        rel = path[len(top) :].lstrip(os.sep) or "."
        base = rel.replace(os.sep, "/") if rel != "." else (os.path.basename(top) or top)
        name = _unique(base, repo.path, taken)
        taken.add(name)
        group = repo.root.group
        if group is None and repo.root.group_by_folder and "/" in base:
            group = base.split("/", 1)[0]
        specs.append(
            RepoSpec(
                path=repo.path,
                name=name,
                group=group,
                bare=repo.bare,
                trust=repo.root.trust,
            )
        )
    specs.sort(key=lambda s: (s.group or "", s.name))
    return tuple(specs), tuple(warnings)
