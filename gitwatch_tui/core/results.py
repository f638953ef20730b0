"""What the user's commands read and return, with no git in it: the data the panels show
(branches, stashes, a pull's preview, a conflict's files and hunks, a repo's details) and the
results and refusals of the changes they make.

The modules that run git (pull, switch, stash, conflicts, details) produce these; the screens
import them from here, never those modules (an import-linter contract). Every refusal is a
`Refusal`: nothing was done, for a machine `reason` said in a human `message`. Every other
result of a change is a `ChangeResult`: what the history log records of it, the command that
goes back included.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, Self

from gitwatch_tui.core.models import Operation

FileKind = Literal["staged", "unstaged", "untracked", "conflicted"]


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit as the detail pane lists it."""

    sha: str  # abbreviated
    subject: str
    author: str
    time: float  # author time, unix seconds


@dataclass(frozen=True, slots=True)
class FileChange:
    """One changed path; a path both staged and unstaged appears once for each."""

    path: str
    kind: FileKind
    code: str  # M A D R C T U ?
    orig_path: str | None = None  # the source of a rename or copy
    conflict: str | None = None  # for conflicted paths: "both modified", "deleted by us", ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a change was not done (nothing changed, unless `message` says otherwise): a machine
    `reason`, a human `message`, the files concerned. Each kind narrows `reason`."""

    reason: str
    message: str
    paths: tuple[str, ...] = ()
    # Each kind's words, by key ("reason", or "reason/variant" where one reason is said in
    # more ways than one): what is wrong, then the next step the user can take.
    WORDS: ClassVar[Mapping[str, tuple[str, str]]] = {}

    @property
    def ok(self) -> bool:
        return False

    @classmethod
    def of(cls, key: str, paths: Sequence[str] = (), **facts: object) -> Self:
        """The refusal said by `WORDS[key]`, its `{fields}` filled in from `facts`."""
        what, step = cls.WORDS[key]
        message = f"{what.format(**facts)}; {step.format(**facts)}"
        return cls(key.split("/")[0], message, tuple(paths))


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 file", "2 files" (`many` for a plural not made with an s: "2 stashes")."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


class ChangeResult(Protocol):
    """A change that ran (done, failed, or stopped on conflicts), as the history log reads it."""

    @property
    def ok(self) -> bool:
        """Done; False when it failed or stopped on conflicts (it is not done yet)."""

    @property
    def message(self) -> str: ...

    @property
    def old_head(self) -> str | None: ...

    @property
    def new_head(self) -> str | None: ...

    @property
    def undo(self) -> str | None:
        """The git command (or ref) that goes back; None or "" when there is none."""


class LeavesHead:
    """For the results of changes that do not move HEAD: no old or new head to log."""

    __slots__ = ()

    @property
    def old_head(self) -> None:
        return None

    @property
    def new_head(self) -> None:
        return None


# -- pull ---------------------------------------------------------------------------------

PullMode = Literal["ff-only", "rebase", "merge"]
PULL_MODES: tuple[PullMode, ...] = ("ff-only", "rebase", "merge")


PullRefusalReason = Literal[
    "dirty",  # local changes to files the pull changes, or partly staged files
    "would-overwrite",  # untracked or ignored files where incoming files go
    "conflicts",
    "operation",
    "detached",
    "no-upstream",
    "upstream-gone",
    "force-pushed",
    "diverged",
    "local-merges",
    "not-behind",
    "stale",
    "error",
]


PULL_WORDS: dict[str, tuple[str, str]] = {
    "dirty": (
        "{files} with local changes would be changed by the pull: {shown}",
        "commit or stash them first",
    ),
    "dirty/partly-staged": (
        "{files} partly staged, and a {mode} would unstage them: {shown}",
        "stage or unstage each one whole first, or pull fast-forward only",
    ),
    "would-overwrite": (
        "incoming files would replace {files} that git does not track here: {shown}",
        "move them away first",
    ),
    "conflicts": ("{files} conflicted: {shown}", "resolve them first"),
    "operation": ("a {operation} is in progress", "finish or abort it first"),
    "detached": ("HEAD is on no branch", "switch to a branch first"),
    "no-upstream": (
        "branch {branch} tracks no remote branch",
        "push it with `git push -u`, or set one with `git branch -u`",
    ),
    "upstream-gone": (
        "{upstream} is gone from the remote",
        "switch to another branch, or set a new upstream with `git branch -u`",
    ),
    "force-pushed": (
        "{upstream} was force-pushed: your commit {dropped} was on it and no longer is, and a "
        "pull would bring it back",
        "look at its history; `git rebase --onto {upstream} {dropped}` keeps only your own commits",
    ),
    "diverged": ("{ahead} not on {upstream} and {behind} incoming", "rebase or merge instead"),
    "diverged/unrelated": (
        "this branch and {upstream} share no history",
        "look at both in a shell before joining them",
    ),
    "local-merges": ("{merges} would be flattened by a rebase", "merge instead"),
    "not-behind": ("{branch} has every commit of {upstream}", "nothing to pull"),
    "stale": (
        "{upstream} moved since the preview ({old} is now {new})",
        "look at the new preview, then pull again",
    ),
    "error": ("{error}", "fix that and try again"),
    "error/no-commits": ("branch {branch} has no commits yet", "commit something first"),
}


@dataclass(frozen=True, slots=True)
class PullRefusal(Refusal):
    """Why a pull is not done: a machine `reason`, a human `message`, the files concerned."""

    reason: PullRefusalReason
    WORDS: ClassVar[Mapping[str, tuple[str, str]]] = PULL_WORDS


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file the incoming commits change: `status` is git's letter (A M D R C T)."""

    path: str
    status: str
    orig_path: str | None = None  # the source of a rename or copy


@dataclass(frozen=True, slots=True)
class PullPreview:
    """What a pull in `mode` would do now; `refusal` says why it would not be done."""

    mode: PullMode
    branch: str | None
    upstream: str | None  # short name, e.g. origin/main
    head: str | None  # full sha
    upstream_sha: str | None  # full sha: pass it to `pull` as `expected_upstream`
    incoming: tuple[CommitInfo, ...]  # newest first, capped
    incoming_total: int
    outgoing_total: int
    files: tuple[IncomingFile, ...]  # from the merge base to the upstream
    effects: tuple[str, ...]  # what happens, in plain words (history, local changes)
    refusal: PullRefusal | None


@dataclass(frozen=True, slots=True)
class PullResult:
    """A pull that ran. With `operation` set it stopped on conflicts and is left in progress."""

    mode: PullMode
    branch: str
    upstream: str
    old_head: str
    new_head: str
    conflicts: tuple[str, ...] = ()
    operation: Literal["merge", "rebase"] | None = None
    stash_kept: str | None = None  # an autostash that did not re-apply cleanly
    undo: str = ""  # the git command that goes back, for the history log
    message: str = ""

    @property
    def ok(self) -> bool:
        """Done: it did not stop on conflicts."""
        return not self.conflicts


# -- switch -------------------------------------------------------------------------------

SwitchRefusalReason = Literal[
    "would-overwrite",  # local changes or untracked files in the way: stash-and-switch helps
    "ignored-in-the-way",  # ignored files in the way: a stash does not take them
    "operation",
    "conflicts",
    "not-found",
    "ambiguous",  # a bare name that several remotes have
    "name-taken",  # a local branch of that name tracks something else
    "already-on",
    "error",
]


@dataclass(frozen=True, slots=True)
class LocalBranch:
    """A local branch; `ahead`/`behind` are None without a (living) upstream."""

    name: str
    sha: str
    upstream: str | None  # short name, e.g. origin/main
    upstream_gone: bool
    ahead: int | None
    behind: int | None
    time: float  # last commit, unix seconds
    subject: str
    current: bool
    worktree: str | None = None  # checked out in another worktree there: git will refuse


@dataclass(frozen=True, slots=True)
class RemoteBranch:
    """A remote-tracking branch, e.g. `origin/feature`."""

    name: str
    remote: str
    branch: str
    sha: str
    time: float
    subject: str


@dataclass(frozen=True, slots=True)
class BranchList:
    """Local branches and remote branches that no local branch tracks, newest first."""

    current: str | None  # the branch HEAD is on (maybe without commits yet)
    detached: bool
    head: str | None  # the commit when detached
    local: tuple[LocalBranch, ...] = ()
    remote_only: tuple[RemoteBranch, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StashRef:
    """A stash made by stash-and-switch. `ref` shifts as stashes come and go; `sha` does not."""

    ref: str  # stash@{N} when read
    sha: str
    source: str | None  # the branch it was made on leaving; None when HEAD was detached
    target: str
    message: str
    time: float


SWITCH_WORDS: dict[str, tuple[str, str]] = {
    "would-overwrite": (
        "switching to {branch} would overwrite {files} with local changes: {shown}",
        "stash and switch takes your changes along in a stash",
    ),
    "ignored-in-the-way": (
        "switching to {branch} would replace {files} that git ignores: {shown}",
        "move them away first (a stash does not take ignored files)",
    ),
    "operation": ("a {operation} is in progress", "finish or abort it first"),
    "conflicts": ("{files} conflicted: {shown}", "resolve them first"),
    "not-found": ("no branch {branch} here or on a remote", "pick one from the list"),
    "ambiguous": (
        "{branch} is on {remotes}: {shown}",
        "pick the one you mean by its remote name",
    ),
    "name-taken": (
        "a local branch {branch} exists and does not track {remote}",
        "switch to {branch} itself, or rename it with `git branch -m` first",
    ),
    "already-on": ("you are on {branch} already", "pick another branch"),
    "error": ("{error}", "fix that and try again"),
    "error/restored": ("{error}", "your changes are back as they were"),
    "error/stash-kept": (
        "{error}; re-applying your changes failed too ({why})",
        "they are safe in {stash}, in the stash list",
    ),
}


@dataclass(frozen=True, slots=True)
class SwitchRefusal(Refusal):
    """Why a switch was not done (nothing changed, unless `message` says otherwise)."""

    reason: SwitchRefusalReason
    WORDS: ClassVar[Mapping[str, tuple[str, str]]] = SWITCH_WORDS


@dataclass(frozen=True, slots=True)
class SwitchResult:
    """A switch that happened, with what it takes to go back."""

    branch: str
    head: str
    previous_branch: str | None  # None when HEAD was detached
    previous_head: str | None
    created_from: str | None = None  # the remote branch a new tracking branch was made from
    carried: tuple[str, ...] = ()  # local changes to tracked files that came along
    stash: StashRef | None = None  # made by stash-and-switch
    offer_stash: StashRef | None = None  # left on the branch switched to: offer to re-apply
    undo: str = ""
    message: str = ""

    # The names every change result uses for the history log.
    @property
    def ok(self) -> bool:
        return True

    @property
    def old_head(self) -> str | None:
        return self.previous_head

    @property
    def new_head(self) -> str:
        return self.head


# -- stash --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StashFile:
    """A file a stash changes: status letter M A D T, `untracked` for its third parent's files."""

    path: str
    status: str
    untracked: bool = False


@dataclass(frozen=True, slots=True)
class StashEntry:
    """One stash, as `git stash list` shows it plus its files."""

    index: int
    ref: str  # "stash@{N}": shifts when stashes are added or dropped; `sha` does not
    sha: str
    message: str  # "WIP on main: 1a2b3c4 subject", "On main: my message"
    branch: str | None  # the branch it was made on, when the message says
    time: float  # when it was made, unix seconds
    files: tuple[StashFile, ...]
    base: str  # the commit it was made on
    untracked_sha: str | None = None  # the commit holding its untracked files


@dataclass(frozen=True, slots=True)
class StashList:
    """The stash list, newest first, or why it could not be read."""

    entries: tuple[StashEntry, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StashError(LeavesHead):
    """A stash command that was refused or failed; nothing was changed unless it says so."""

    message: str

    @property
    def ok(self) -> bool:
        return False

    @property
    def undo(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class StashDropped(LeavesHead):
    """A dropped stash; it lives on only as a commit, `undo` puts it back in the list."""

    ref: str
    sha: str
    message: str

    @property
    def ok(self) -> bool:
        return True

    @property
    def undo(self) -> str:
        return undo_drop_command(self.sha, self.message)


@dataclass(frozen=True, slots=True)
class StashOutcome(LeavesHead):
    """What an apply or pop did.

    `ok`: applied without conflicts. `kept`: the stash is still in the list (always after a
    conflict, a refusal or an apply). `blocked`: local files that made it refuse.
    """

    ok: bool
    conflicts: tuple[str, ...] = ()
    kept: bool = True
    message: str = ""
    ref: str = ""
    sha: str = ""
    index_restored: bool = False  # the staged state came back too (`--index`)
    blocked: tuple[str, ...] = ()
    undo: str | None = None  # for a pop: the command that puts the dropped stash back


def undo_drop_command(sha: str, message: str) -> str:
    """The shell command that puts a dropped stash back at stash@{0}."""
    return f"git stash store -m {shlex.quote(message)} {sha}"


# -- conflicts ----------------------------------------------------------------------------

Side = Literal["ours", "theirs", "both"]

_VERBS = {
    "merge": "merging",
    "rebase": "rebasing",
    "am": "applying patches",
    "cherry-pick": "cherry-picking",
    "revert": "reverting",
    "bisect": "bisecting",
}


@dataclass(frozen=True, slots=True)
class ConflictEntry:
    """One unmerged path."""

    path: str
    code: str  # porcelain XY: UU AA DU UD AU UA DD
    kind: str  # the words of `git status`: "both modified", "deleted by us", ...
    stages: tuple[int, ...]  # which of 1 (base), 2 (ours), 3 (theirs) the index holds
    # No line-by-line merge: binary content or a merge=binary/-merge attribute, a symlink or
    # a submodule. Such a file is resolved whole, by taking one side's stage.
    binary: bool = False


@dataclass(frozen=True, slots=True)
class ConflictState:
    """The conflict in progress in one repo, if any."""

    operation: Operation | None = None
    files: tuple[ConflictEntry, ...] = ()  # unmerged now, sorted by path
    resolved_paths: tuple[str, ...] = ()  # conflicted earlier in this conflict, resolved since
    stash: str | None = None  # the stash gitwatch applied, when that made the conflict
    error: str | None = None

    @property
    def resolved(self) -> int:
        return len(self.resolved_paths)

    @property
    def total(self) -> int:
        return len(self.files) + len(self.resolved_paths)

    @property
    def active(self) -> bool:
        """An operation is in progress or some file is unmerged."""
        return self.operation is not None or bool(self.files)

    @property
    def label(self) -> str:
        """For the repo row: "merging 2/5", "applying stash 0/1", "" when there is nothing."""
        if self.operation is not None:
            verb = _VERBS.get(self.operation, self.operation)
        elif self.stash is not None and self.files:
            verb = "applying stash"
        elif self.files:
            verb = "conflicts"
        else:
            return ""
        return f"{verb} {self.resolved}/{self.total}" if self.total else verb


@dataclass(frozen=True, slots=True)
class TextSegment:
    """Lines outside any conflict; each line keeps its own line ending."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConflictHunk:
    """One `<<<<<<< ... >>>>>>>` region; each line keeps its own line ending."""

    index: int  # the key for `resolve_hunks`
    line: int  # 1-based line number of its `<<<<<<<` marker
    ours: tuple[str, ...]
    base: tuple[str, ...] | None  # None when unknown (no common ancestor, or not matched)
    theirs: tuple[str, ...]
    ours_label: str
    theirs_label: str
    base_label: str | None = None


Segment = TextSegment | ConflictHunk


@dataclass(frozen=True, slots=True)
class ConflictFile:
    """A conflicted file as the panel shows it. Text is decoded so that it encodes back to the
    very same bytes (UTF-8, undecodable bytes as surrogate escapes)."""

    path: str
    entry: ConflictEntry | None  # None when the path is not (or no longer) unmerged
    segments: tuple[Segment, ...] = ()
    binary: bool = False
    ours_label: str = "ours"
    theirs_label: str = "theirs"
    # What each side is, in words: "ours" / "theirs" in a merge; "upstream" / "your commit"
    # in a rebase (git's ours is the branch rebased onto); "your working tree" / "the stash"
    # when a stash re-applied with conflicts.
    ours_role: str = "ours"
    theirs_role: str = "theirs"
    # sha256 of the bytes read: pass it to `resolve_hunks` so that it refuses a file changed
    # since (hunk numbers would no longer mean the same hunks).
    fingerprint: str = ""
    base_computed: bool = False  # some base lines come from `git merge-file`, not the file
    error: str | None = None

    @property
    def hunks(self) -> tuple[ConflictHunk, ...]:
        return tuple(s for s in self.segments if isinstance(s, ConflictHunk))


@dataclass(frozen=True, slots=True)
class ResolveOutcome(LeavesHead):
    """What a resolution did. `paths` were changed or staged; `refused` were left alone."""

    ok: bool
    message: str
    paths: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    remaining_hunks: int = 0  # conflict hunks still in the file (resolve_hunks)
    # The command that brings the conflict of `paths` back, markers and all; None where git
    # cannot (one side deleted the file).
    undo: str | None = None


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    """What continue or abort did. `old_head` is where to go back to (`git reset --keep`)."""

    ok: bool
    operation: Operation | None
    message: str
    old_head: str | None = None
    new_head: str | None = None
    conflicts: tuple[str, ...] = ()  # unmerged after it: a rebase that stopped again

    @property
    def undo(self) -> None:
        return None  # `old_head` says where to go back to


# -- details --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepoDetails:
    """Incoming and outgoing commits (newest first, capped) and changed files of one repo."""

    upstream: str | None
    incoming: tuple[CommitInfo, ...]
    outgoing: tuple[CommitInfo, ...]
    incoming_total: int
    outgoing_total: int
    files: tuple[FileChange, ...]
    error: str | None = None
    unpushed: tuple[BranchTracking, ...] = ()  # local branches with commits not on their upstream


# -- diffs and the commit log -----------------------------------------------------------------

LogMark = Literal["", "unpushed", "unpulled"]


@dataclass(frozen=True, slots=True)
class Patch:
    """A diff (one file's, or a commit's with its stat) as git printed it, capped to
    `text`'s lines; a binary file or a folder is summarised instead (`binary_size`, `note`)."""

    text: str = ""
    total_lines: int = 0  # in git's whole output; more than `text` holds when capped
    binary_size: int | None = None  # bytes, for a binary file
    note: str = ""  # what stands instead of a patch ("an untracked folder")
    error: str | None = None

    @property
    def shown_lines(self) -> int:
        return self.text.count("\n") + (1 if self.text and not self.text.endswith("\n") else 0)

    @property
    def summary(self) -> str | None:
        """ "binary, 12 KB", "huge: 40,000 lines, first 2,000 shown", a note, or None."""
        if self.binary_size is not None:
            return f"binary, {human_size(self.binary_size)}"
        if self.total_lines > self.shown_lines:
            return f"huge: {self.total_lines:,} lines, first {self.shown_lines:,} shown"
        return self.note or None


def human_size(size: int) -> str:
    """12 B, 12 KB, 3.4 MB: a file's size as a person reads it."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of `git log --graph`: a commit (its `sha` set) or a line of the graph alone."""

    graph: str
    sha: str | None = None
    short: str = ""
    refs: str = ""  # "HEAD -> main, origin/main"
    subject: str = ""
    author: str = ""
    time: float = 0.0
    mark: LogMark = ""  # not pushed yet (only on HEAD), not pulled yet (only upstream)


@dataclass(frozen=True, slots=True)
class CommitLog:
    """The graph of HEAD and its upstream, newest first, at most `limit` commits (`more`: the
    limit cut it), with the commits not pushed and not pulled marked."""

    entries: tuple[LogEntry, ...] = ()
    upstream: str | None = None
    unpushed: int = 0
    unpulled: int = 0
    limit: int = 0
    more: bool = False
    error: str | None = None

    def matches(self, query: str) -> tuple[int, ...]:
        """The entries whose sha, refs, subject or author hold `query` (any case)."""
        needle = query.casefold()
        if not needle:
            return ()
        return tuple(
            i
            for i, e in enumerate(self.entries)
            if e.sha is not None
            and any(needle in field.casefold() for field in (e.sha, e.refs, e.subject, e.author))
        )


# -- push ---------------------------------------------------------------------------------

PushRefusalReason = Literal[
    "detached",
    "no-upstream",  # offer `push -u <remote> <branch>`
    "pick-remote",  # no upstream, several remotes and none configured: ask which
    "upstream-gone",  # its upstream was deleted on the remote: push -u makes it again
    "behind",  # the remote has commits this branch has not: pull first
    "diverged",  # both sides have commits: pull, or force with lease after a confirm
    "up-to-date",
    "stale",  # the remote moved since the force was confirmed
    "hook",  # the user's pre-push hook said no
    "auth",  # the remote wants credentials and gitwatch never prompts
    "error",
]

PUSH_WORDS: dict[str, tuple[str, str]] = {
    "detached": ("HEAD is detached: there is no branch to push", "switch to a branch first"),
    "no-upstream": (
        "{branch} has no upstream",
        "push -u sets one: git push -u {remote} {branch}",
    ),
    "pick-remote": (
        "{branch} has no upstream and no push remote is configured",
        "pick the remote to push it to: {remotes}",
    ),
    "upstream-gone": (
        "{upstream} is gone from the remote",
        "push -u puts {branch} there again: git push -u {remote} {branch}",
    ),
    "behind": (
        "{upstream} has {behind} you do not have",
        "pull first, then push",
    ),
    "behind/rejected": (
        "{upstream} has commits you have not fetched yet (the remote refused the push)",
        "pull first, then push",
    ),
    "diverged": (
        "{branch} and {upstream} have diverged (↑{up} to push, ↓{down} to pull)",
        "pull first, or force with lease",
    ),
    "up-to-date": ("{upstream} has every commit of {branch}", "nothing to push"),
    "stale": (
        "{upstream} moved since you looked ({old} is now {new})",
        "nothing was pushed; look at it again before forcing",
    ),
    "hook": ("the pre-push hook refused the push: {output}", "fix what it says, then push again"),
    "auth": (
        "the remote asked for credentials, and gitwatch never prompts ({error})",
        "set up a credential helper or an ssh key, or push once in a shell",
    ),
    "error": ("{error}", "fix that and try again"),
    "error/no-commits": ("branch {branch} has no commits yet", "commit something first"),
}


@dataclass(frozen=True, slots=True)
class PushRefusal(Refusal):
    """Why a push was not done; nothing was pushed."""

    reason: PushRefusalReason
    WORDS: ClassVar[Mapping[str, tuple[str, str]]] = PUSH_WORDS


@dataclass(frozen=True, slots=True)
class PushPreview:
    """What a push of the current branch would do now; `refusal` says why it would not."""

    branch: str | None
    head: str | None  # full sha
    upstream: str | None  # short name, e.g. origin/main; None without one
    upstream_sha: str | None  # full sha: pass it to `push` as `force_lease` to force
    remote: str | None  # where it goes (or would go with -u); None when the user must pick
    remotes: tuple[str, ...]  # every remote, for the pick
    outgoing: tuple[CommitInfo, ...]  # newest first, capped
    outgoing_total: int
    overwritten: tuple[CommitInfo, ...]  # the remote's commits a force would drop, capped
    overwritten_total: int
    refusal: PushRefusal | None

    @property
    def needs_upstream(self) -> bool:
        """No upstream (or a gone one): the push is a `push -u`."""
        return self.refusal is not None and self.refusal.reason in (
            "no-upstream",
            "pick-remote",
            "upstream-gone",
        )


@dataclass(frozen=True, slots=True)
class PushResult(LeavesHead):
    """A push that ran: `remote`'s `remote_ref` went from `old_sha` (None: new) to `new_sha`."""

    branch: str
    remote: str
    remote_ref: str
    old_sha: str | None
    new_sha: str
    forced: bool = False
    set_upstream: bool = False
    message: str = ""
    undo: str = ""  # the push that puts the remote's branch back

    @property
    def ok(self) -> bool:
        return True


# -- unpushed work ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BranchTracking:
    """A local branch against its upstream; `ahead`/`behind` are None without a living one."""

    name: str
    upstream: str | None  # short name, e.g. origin/main
    ahead: int | None
    behind: int | None
    upstream_gone: bool = False
    current: bool = False

    @property
    def unpushed(self) -> bool:
        """It has commits its upstream has not."""
        return bool(self.ahead)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "current": self.current,
            "upstream": self.upstream,
            "upstream_gone": self.upstream_gone,
            "ahead": self.ahead,
            "behind": self.behind,
        }
