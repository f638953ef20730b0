"""Changed files and commits as git lists them, parsed from bytes into FileChange and CommitInfo
(data types of `results`).

Pure functions on NUL-separated output (`status --porcelain=v2 -z`, `log -z`), so paths and
subjects may hold any character. Shared by the detail pane, the local state read before a
move of HEAD, pull, stash and conflicts.
"""

from __future__ import annotations

from gitwatch_tui.core.results import CommitInfo, FileChange

# The `git log` that `parse_log` reads: hash, subject, author, author time.
LOG_ARGS = ("log", "-z", "--format=%h%x00%s%x00%aN%x00%at", "--no-show-signature")

# The XY of an unmerged entry, in the words of `git status`.
CONFLICT_LABELS = {
    "DD": "both deleted",
    "AU": "added by us",
    "UD": "deleted by them",
    "UA": "added by them",
    "DU": "deleted by us",
    "AA": "added by both",
    "UU": "both modified",
}


def parse_files(data: bytes) -> tuple[FileChange, ...]:
    """The changed files in NUL-separated porcelain v2 output; header lines are skipped."""
    files: list[FileChange] = []
    records = iter(data.split(b"\0"))
    for record in records:
        kind = record[:2]
        if kind in (b"1 ", b"2 "):
            x, y = chr(record[2]), chr(record[3])
            # The path is the last field and may itself contain spaces.
            path = _path(record.split(b" ", 8 if kind == b"1 " else 9)[-1])
            orig = _path(next(records, b"")) if kind == b"2 " else None
            if x != ".":
                files.append(FileChange(path, "staged", x, orig if x in "RC" else None))
            if y != ".":
                files.append(FileChange(path, "unstaged", y, orig if y in "RC" else None))
        elif kind == b"u ":
            xy = record[2:4].decode("ascii", errors="replace")
            path = _path(record.split(b" ", 10)[-1])
            conflict = CONFLICT_LABELS.get(xy, xy)
            files.append(FileChange(path, "conflicted", "U", conflict=conflict))
        elif kind == b"? ":
            files.append(FileChange(_path(record[2:]), "untracked", "?"))
    return tuple(files)


def parse_log(data: bytes) -> tuple[CommitInfo, ...]:
    """Commits from `git log -z --format=%h%x00%s%x00%aN%x00%at`: four NUL-ended fields each."""
    fields = [field.decode("utf-8", errors="replace") for field in data.split(b"\0")]
    commits = []
    for i in range(0, len(fields) - 3, 4):
        sha, subject, author, when = fields[i : i + 4]
        commits.append(CommitInfo(sha, subject, author, _float(when)))
    return tuple(commits)


def _path(raw: bytes) -> str:
    # Like os.fsdecode: a path that is not UTF-8 still round-trips to the same bytes.
    return raw.decode("utf-8", errors="surrogateescape")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # a commit with a broken date line
        return 0.0
