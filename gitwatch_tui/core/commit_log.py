"""The commit log of one repo: `git log --graph` of HEAD and its upstream, with the commits not
pushed yet (`@{upstream}..HEAD`) and not pulled yet (`HEAD..@{upstream}`) marked.

Three git calls: the upstream's name, one `rev-list --left-right` for both sides at once, and
the graph, capped at `limit` commits. Errors are a field, never an exception.
"""

from __future__ import annotations

from gitwatch_tui.core.git import RepoPaths, run_git
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import CommitLog, LogEntry, LogMark
from gitwatch_tui.core.status import locate_repo

DEFAULT_LIMIT = 500
_SEP = "\x1f"  # cannot be typed in a subject or a name by accident
_FIELDS = ("%H", "%h", "%at", "%aN", "%D", "%s")  # the subject last: it may hold anything
_FORMAT = "--format=" + "".join("%x1f" + field for field in _FIELDS)


def read_commit_log(spec: RepoSpec, *, timeout: float, limit: int = DEFAULT_LIMIT) -> CommitLog:
    """HEAD's and its upstream's commits as a graph, newest first, at most `limit`."""
    repo = locate_repo(spec)
    if isinstance(repo, str):
        return CommitLog(error=repo, limit=limit)
    named = run_git(
        ["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"], repo, timeout=timeout
    )
    # No upstream, or one gone from the remote: HEAD's history alone.
    upstream = named.stdout.decode("utf-8", errors="replace").strip() if named.ok else None
    marks = _marks(repo, timeout) if upstream else {}
    if isinstance(marks, str):
        return CommitLog(upstream=upstream, limit=limit, error=marks)
    revisions = ["HEAD", "@{upstream}"] if upstream else ["HEAD"]
    args = [
        "log", "--graph", "--no-color", "--no-show-signature", _FORMAT,
        f"--max-count={limit + 1}", *revisions, "--",
    ]  # fmt: skip
    logged = run_git(args, repo, timeout=timeout)
    if not logged.ok:
        return CommitLog(upstream=upstream, limit=limit, error=_log_error(repo, logged.error_text))
    entries = parse_graph(logged.stdout.decode("utf-8", errors="replace"), marks)
    kept = _first_commits(entries, limit)
    values = list(marks.values())
    return CommitLog(
        entries=kept,
        upstream=upstream,
        unpushed=values.count("unpushed"),
        unpulled=values.count("unpulled"),
        limit=limit,
        more=len(kept) < len(entries) and any(e.sha for e in entries[len(kept) :]),
    )


def parse_graph(text: str, marks: dict[str, LogMark]) -> tuple[LogEntry, ...]:
    """The lines of `git log --graph` in our format: the graph drawing, then the fields."""
    entries = []
    for line in text.splitlines():
        graph, sep, rest = line.partition(_SEP)
        if not sep:
            entries.append(LogEntry(graph=graph.rstrip()))
            continue
        sha, short, when, author, refs, subject = rest.split(_SEP, len(_FIELDS) - 1)
        entries.append(
            LogEntry(graph, sha, short, refs, subject, author, _float(when), marks.get(sha, ""))
        )
    return tuple(entries)


def _marks(repo: RepoPaths, timeout: float) -> dict[str, LogMark] | str:
    """Every commit on one side only: "<sha" is HEAD's (not pushed), ">sha" the upstream's."""
    args = ["rev-list", "--left-right", "HEAD...@{upstream}", "--"]
    listed = run_git(args, repo, timeout=timeout)
    if not listed.ok:
        return listed.error_text
    marks: dict[str, LogMark] = {}
    for line in listed.stdout.decode("ascii", errors="replace").split():
        marks[line[1:]] = "unpushed" if line.startswith("<") else "unpulled"
    return marks


def _first_commits(entries: tuple[LogEntry, ...], limit: int) -> tuple[LogEntry, ...]:
    """The entries up to the `limit`-th commit, the graph lines after it dropped."""
    seen = 0
    for i, entry in enumerate(entries):
        if entry.sha is not None:
            seen += 1
            if seen > limit:
                return entries[:i]
    return entries


def _log_error(repo: RepoPaths, error: str) -> str:
    born = run_git(["rev-parse", "--verify", "--quiet", "HEAD"], repo, timeout=5)
    return error if born.ok else "no commits yet"


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # a commit with a broken date line
        return 0.0
