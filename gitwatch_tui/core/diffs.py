"""Diffs to read, not to apply: one changed file's staged or working-tree patch, and one
commit's stat and patch, for the details screen and the commit log.

A patch is capped (`MAX_LINES` lines, `MAX_CHARS` characters): a huge one says how much was
left out; a binary file is summarised by its size; an untracked file is read here, not by
git, as the patch git would show for it. In a repo that is not trusted, git runs no external
diff program nor textconv filter (`--no-ext-diff --no-textconv`; the repo's guard, see
`core.trust`, already blanks the repo's own), so reading a diff runs nothing of the repo's;
a trusted repo shows what git shows. Colour is always off: the screen colours.
"""

from __future__ import annotations

import os
import re
import stat

from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import FileChange, Patch
from gitwatch_tui.core.status import locate_repo

MAX_LINES = 2000
MAX_CHARS = 400_000  # a minified file's one line would otherwise be megabytes to colour
# An untracked file larger than this is not read at all (git's own bigFileThreshold is 512 MiB).
MAX_READ = 64 * 1024 * 1024
_BINARY_PROBE = 8000  # git's own: a NUL byte in the first 8000 bytes makes a file binary
_BINARY_LINE = re.compile(r"^Binary files .* differ$|^GIT binary patch$", re.MULTILINE)
_SHA = re.compile(r"[0-9a-fA-F]{4,64}")


def diff_flags(repo: RepoPaths) -> tuple[str, ...]:
    """What every diff we read adds: no colour, and in an untrusted repo no program."""
    return ("--no-color",) if repo.trusted else ("--no-color", "--no-ext-diff", "--no-textconv")


def file_diff(spec: RepoSpec, change: FileChange, *, timeout: float) -> Patch:
    """The patch of one changed file: staged (index against HEAD), or the working tree's
    (against the index) for unstaged and conflicted files, or the whole of an untracked one."""
    repo = locate_repo(spec)
    if isinstance(repo, str):
        return Patch(error=repo)
    if repo.work_tree is None:
        return Patch(error="a bare repository has no changed files")
    if change.kind == "untracked":
        return _untracked(repo.work_tree / change.path)
    staged = change.kind == "staged"
    paths = [change.path, *([change.orig_path] if change.orig_path else [])]
    args = [
        "diff", *(["--cached"] if staged else []), "--find-renames", *diff_flags(repo),
        "--", *(f":(literal){p}" for p in paths),
    ]  # fmt: skip
    result = run_git(args, repo, timeout=timeout)
    if not result.ok:
        return Patch(error=result.error_text)
    text = result.stdout.decode("utf-8", errors="replace")
    if _BINARY_LINE.search(text):
        return Patch(binary_size=_blob_size(repo, change, timeout))
    return capped(text)


def show_commit(spec: RepoSpec, sha: str, *, timeout: float) -> Patch:
    """`git show --stat --patch` of one commit, capped like a file's patch."""
    repo = locate_repo(spec)
    if isinstance(repo, str):
        return Patch(error=repo)
    if not _SHA.fullmatch(sha):
        return Patch(error=f"not a commit id: {sha!r}")
    args = [
        "show", "--stat", "--patch", "--find-renames", "--format=fuller", "--no-show-signature",
        *diff_flags(repo), sha, "--",
    ]  # fmt: skip
    result = run_git(args, repo, timeout=timeout)
    if not result.ok:
        return Patch(error=result.error_text)
    return capped(result.stdout.decode("utf-8", errors="replace"))


def capped(text: str, max_lines: int = MAX_LINES, max_chars: int = MAX_CHARS) -> Patch:
    """`text` cut to its first `max_lines` lines and about `max_chars` characters."""
    lines = text.splitlines(keepends=True)
    kept, size = 0, 0
    for line in lines[:max_lines]:
        if size + len(line) > max_chars and kept:
            break
        kept, size = kept + 1, size + len(line)
    return Patch(text="".join(lines[:kept]), total_lines=len(lines))


def _blob_size(repo: RepoPaths, change: FileChange, timeout: float) -> int | None:
    """The size of the binary file's new side: the working tree's file, else the index's
    blob, else HEAD's (a deleted file: the size it had)."""
    assert repo.work_tree is not None
    if change.kind != "staged":
        try:
            return os.lstat(repo.work_tree / change.path).st_size
        except OSError:
            pass
    for name in (f":0:{change.path}", f"HEAD:{change.orig_path or change.path}"):
        result = run_git(["cat-file", "-s", name], repo, timeout=timeout)
        if result.ok:
            return int(result.stdout.strip() or 0)
    return None


def _untracked(path: os.PathLike[str]) -> Patch:
    """The patch git would show for an untracked file: every line added."""
    try:
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            return Patch(note="an untracked folder: its files are not listed one by one")
        if stat.S_ISLNK(info.st_mode):
            return Patch(text=f"new symbolic link\n+{os.readlink(path)}\n", total_lines=2)
        if not stat.S_ISREG(info.st_mode):
            return Patch(note="not a regular file")
        if info.st_size > MAX_READ:
            return Patch(note=f"huge: {info.st_size:,} bytes, not read")
        with open(path, "rb") as file:
            data = file.read(MAX_READ)
    except OSError as exc:
        return Patch(error=f"cannot read it: {exc.strerror}")
    if b"\0" in data[:_BINARY_PROBE]:
        return Patch(binary_size=len(data))
    if not data:
        return Patch(note="an empty file")
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    return capped("".join("+" + line for line in lines))
