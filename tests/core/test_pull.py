"""Pull: the preview, every refusal and every mode on real repos with real bare remotes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.pull import preview_pull, pull
from gitwatch_tui.core.results import PULL_MODES, IncomingFile, PullMode, PullRefusal, PullResult
from tests.conftest import commit_file, git, make_remote_and_clone

TIMEOUT = 20.0


def spec_of(path: Path) -> RepoSpec:
    return RepoSpec(path=path, name=path.name)


def push(remote: Path, base: Path, files: dict[str, str | None], message: str = "") -> str:
    """Another developer writes `files` (None deletes one) on main and pushes; returns the sha."""
    other = base / f"{remote.stem}-pusher"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "pull", "-q", "--ff-only")
    for name, content in files.items():
        path = other / name
        if content is None:
            git(other, "rm", "-q", "--", name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(other, "add", "-f", "--", name)
    git(other, "commit", "-q", "-m", message or f"change {', '.join(files)}")
    git(other, "push", "-q", "origin", "HEAD:main")
    return git(other, "rev-parse", "HEAD")


def behind_clone(base: Path, name: str, incoming: dict[str, str | None]) -> tuple[Path, Path]:
    """A clone that has fetched one incoming commit writing `incoming`."""
    remote, clone = make_remote_and_clone(base, name)
    push(remote, base, incoming)
    git(clone, "fetch", "-q")
    return remote, clone


def snapshot(repo: Path) -> dict[str, object]:
    """Everything a pull could change: HEAD, index, work tree (ignored files too), stashes."""
    files: dict[str, bytes] = {}
    for folder, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(repo))] = path.read_bytes()
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "rev-parse", "--symbolic-full-name", "HEAD"),
        "index": git(repo, "ls-files", "--stage"),
        "status": git(repo, "status", "--porcelain=v2", "--branch", "--ignored"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "files": files,
    }


def changes(repo: Path) -> list[str]:
    """`git status --porcelain` lines, leading spaces kept (conftest's `git` strips them)."""
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def refused(repo: Path, mode: PullMode) -> PullRefusal:
    """Preview and pull both refuse, with the same reason, and nothing changes."""
    before = snapshot(repo)
    preview = preview_pull(spec_of(repo), mode, timeout=TIMEOUT)
    outcome = pull(spec_of(repo), mode, timeout=TIMEOUT)
    assert isinstance(outcome, PullRefusal), outcome
    assert preview.refusal == outcome
    assert snapshot(repo) == before
    return outcome


def done(repo: Path, mode: PullMode) -> PullResult:
    outcome = pull(spec_of(repo), mode, timeout=TIMEOUT)
    assert isinstance(outcome, PullResult), outcome
    return outcome


# --- the preview ------------------------------------------------------------------------------


def test_preview_lists_incoming_commits_and_files(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "preview")
    commit_file(clone, "old name.txt", "a file that will be renamed\n" * 5)
    commit_file(clone, "gone.txt", "bye\n")
    git(clone, "push", "-q")
    (clone / "mine.txt").write_text("untracked, not in the way\n")
    (clone / "gone.txt").write_text("wait: a local edit of a file nobody else touches\n")
    push(remote, tmp_path, {"new ünï.txt": "new\n"}, "first")
    other = tmp_path / "preview-pusher"
    git(other, "mv", "--", "old name.txt", "-new name.txt")
    git(other, "rm", "-q", "README.md")
    git(other, "commit", "-q", "-m", "second")
    git(other, "push", "-q", "origin", "HEAD:main")
    git(clone, "fetch", "-q")
    before = snapshot(clone)

    preview = preview_pull(spec_of(clone), "ff-only", timeout=TIMEOUT)

    assert preview.refusal is None
    assert (preview.branch, preview.upstream) == ("main", "origin/main")
    assert preview.head == git(clone, "rev-parse", "HEAD")
    assert preview.upstream_sha == git(clone, "rev-parse", "origin/main")
    assert [c.subject for c in preview.incoming] == ["second", "first"]
    assert (preview.incoming_total, preview.outgoing_total) == (2, 0)
    assert set(preview.files) == {
        IncomingFile("new ünï.txt", "A"),
        IncomingFile("-new name.txt", "R", orig_path="old name.txt"),
        IncomingFile("README.md", "D"),
    }
    assert preview.effects == (
        "fast-forward main by 2 incoming commits to origin/main",
        "1 local change: not touched by the pull, kept as is",
        "untracked and ignored files are not touched",
    )
    assert snapshot(clone) == before
    capped = preview_pull(spec_of(clone), "ff-only", timeout=TIMEOUT, limit=1)
    assert [c.subject for c in capped.incoming] == ["second"] and capped.incoming_total == 2


def test_preview_of_a_rebase_says_outgoing_commits_are_replayed(tmp_path: Path) -> None:
    _, clone = behind_clone(tmp_path, "replay", {"theirs.txt": "t\n"})
    commit_file(clone, "mine.txt", "m\n")
    preview = preview_pull(spec_of(clone), "rebase", timeout=TIMEOUT)
    assert preview.refusal is None and preview.outgoing_total == 1
    assert preview.effects[0] == ("rebase: 1 outgoing commit replayed on top of 1 incoming commit")
    merge = preview_pull(spec_of(clone), "merge", timeout=TIMEOUT)
    assert merge.effects[0].startswith("merge: a merge commit joins 1 outgoing commit")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", PULL_MODES)
@pytest.mark.parametrize("staged", [False, True], ids=["unstaged", "staged"])
def test_refused_when_a_local_edit_touches_an_incoming_file(
    tmp_path: Path, mode: PullMode, staged: bool
) -> None:
    _, clone = behind_clone(tmp_path, "touch", {"README.md": "theirs\n"})
    (clone / "README.md").write_text("mine, not committed\n")
    if staged:
        git(clone, "add", "README.md")
    outcome = refused(clone, mode)
    assert outcome.reason == "dirty" and outcome.paths == ("README.md",)
    assert (clone / "README.md").read_text() == "mine, not committed\n"


@pytest.mark.parametrize("mode", PULL_MODES)
def test_refused_when_an_untracked_file_would_be_overwritten(
    tmp_path: Path, mode: PullMode
) -> None:
    _, clone = behind_clone(tmp_path, "untracked", {"notes.txt": "theirs\n"})
    (clone / "notes.txt").write_text("mine, never added\n")
    outcome = refused(clone, mode)
    assert outcome.reason == "would-overwrite" and outcome.paths == ("notes.txt",)


@pytest.mark.parametrize("mode", PULL_MODES)
def test_refused_when_an_ignored_file_would_be_overwritten(tmp_path: Path, mode: PullMode) -> None:
    _, clone = behind_clone(tmp_path, "ignored", {"config/.env": "SECRET=theirs\n"})
    (clone / ".git" / "info" / "exclude").write_text(".env\n")
    (clone / "config").mkdir()
    (clone / "config" / ".env").write_text("SECRET=mine\n")
    assert git(clone, "status", "--porcelain") == ""  # git itself sees nothing
    outcome = refused(clone, mode)
    assert outcome.reason == "would-overwrite" and outcome.paths == ("config/.env",)
    assert (clone / "config" / ".env").read_text() == "SECRET=mine\n"


def merge_in_progress(clone: Path) -> None:
    commit_file(clone, "mine.txt", "m\n")
    git(clone, "merge", "-q", "--no-ff", "--no-commit", "origin/main")


def rebase_in_progress(clone: Path) -> None:
    commit_file(clone, "README.md", "ours\n")
    with pytest.raises(AssertionError):
        git(clone, "rebase", "origin/main")


@pytest.mark.parametrize("start", [merge_in_progress, rebase_in_progress])
def test_refused_while_an_operation_is_in_progress(tmp_path: Path, start: object) -> None:
    _, clone = behind_clone(tmp_path, "operation", {"README.md": "theirs\n"})
    assert callable(start)
    start(clone)
    for mode in PULL_MODES:
        outcome = refused(clone, mode)
        assert outcome.reason == "operation", outcome.message


def test_refused_without_an_upstream(tmp_path: Path) -> None:
    _, clone = behind_clone(tmp_path, "no-upstream", {"a.txt": "a\n"})
    git(clone, "branch", "-q", "--unset-upstream")
    assert refused(clone, "ff-only").reason == "no-upstream"


def test_refused_when_the_upstream_is_gone(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "gone")
    git(clone, "push", "-q", "-u", "origin", "main:feature")
    git(remote, "branch", "-q", "-D", "feature")
    git(clone, "fetch", "-q", "--prune")
    outcome = refused(clone, "merge")
    assert outcome.reason == "upstream-gone" and "origin/feature" in outcome.message


def test_refused_on_a_detached_head(tmp_path: Path) -> None:
    _, clone = behind_clone(tmp_path, "detached", {"a.txt": "a\n"})
    git(clone, "switch", "-q", "--detach")
    assert refused(clone, "rebase").reason == "detached"


def test_refused_when_there_is_nothing_to_pull(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "up-to-date")
    commit_file(clone, "mine.txt", "ahead, not behind\n")
    assert refused(clone, "merge").reason == "not-behind"


def force_pushed(base: Path, name: str, local_work: bool) -> Path:
    """The upstream is rewritten after the clone pulled commit B: B is replaced by C."""
    remote, clone = make_remote_and_clone(base, name)
    push(remote, base, {"b.txt": "B\n"}, "B")
    git(clone, "pull", "-q", "--ff-only")
    if local_work:
        commit_file(clone, "mine.txt", "built on B\n", "mine")
    else:
        git(clone, "reset", "-q", "--keep", "HEAD~1")  # the clone is back before B
    other = base / f"{name}-pusher"
    git(other, "reset", "-q", "--hard", "HEAD~1")
    commit_file(other, "c.txt", "C\n", "C")
    git(other, "push", "-q", "--force", "origin", "HEAD:main")
    git(clone, "fetch", "-q")
    return clone


@pytest.mark.parametrize("mode", PULL_MODES)
def test_refused_when_the_upstream_was_force_pushed(tmp_path: Path, mode: PullMode) -> None:
    clone = force_pushed(tmp_path, "forced", local_work=True)
    dropped = git(clone, "rev-parse", "HEAD~1")  # B: on the clone, no longer upstream
    outcome = refused(clone, mode)
    assert outcome.reason == "force-pushed", outcome.message
    assert dropped[:7] in outcome.message


def test_a_rewritten_upstream_the_branch_never_had_is_pulled(tmp_path: Path) -> None:
    """Only commits the branch holds can be resurrected: without B, C is a fast-forward."""
    clone = force_pushed(tmp_path, "forced-clean", local_work=False)
    outcome = done(clone, "ff-only")
    assert outcome.new_head == git(clone, "rev-parse", "origin/main")


def test_ff_only_refused_when_diverged(tmp_path: Path) -> None:
    _, clone = behind_clone(tmp_path, "diverged", {"theirs.txt": "t\n"})
    commit_file(clone, "mine.txt", "m\n")
    outcome = refused(clone, "ff-only")
    assert outcome.reason == "diverged" and "rebase or merge instead" in outcome.message


@pytest.mark.parametrize("mode", ["rebase", "merge"])
def test_partly_staged_files_refused_where_an_autostash_would_unstage_them(
    tmp_path: Path, mode: PullMode
) -> None:
    _, clone = behind_clone(tmp_path, "partly", {"theirs.txt": "t\n"})
    commit_file(clone, "mine.txt", "v1\n")
    (clone / "mine.txt").write_text("v2 staged\n")
    git(clone, "add", "mine.txt")
    (clone / "mine.txt").write_text("v3 not staged\n")
    outcome = refused(clone, mode)
    assert outcome.reason == "dirty" and outcome.paths == ("mine.txt",)


def test_rebase_refused_when_it_would_flatten_a_local_merge(tmp_path: Path) -> None:
    _, clone = behind_clone(tmp_path, "local-merge", {"theirs.txt": "t\n"})
    git(clone, "switch", "-q", "-c", "feature")
    commit_file(clone, "feature.txt", "f\n")
    git(clone, "switch", "-q", "main")
    git(clone, "merge", "-q", "--no-ff", "--no-edit", "feature")
    assert refused(clone, "rebase").reason == "local-merges"


def test_stale_expected_upstream_refused(tmp_path: Path) -> None:
    remote, clone = behind_clone(tmp_path, "stale", {"first.txt": "1\n"})
    previewed = preview_pull(spec_of(clone), "ff-only", timeout=TIMEOUT).upstream_sha
    assert previewed is not None
    push(remote, tmp_path, {"second.txt": "2, never previewed\n"})
    git(clone, "fetch", "-q")
    before = snapshot(clone)
    outcome = pull(spec_of(clone), "ff-only", timeout=TIMEOUT, expected_upstream=previewed)
    assert isinstance(outcome, PullRefusal) and outcome.reason == "stale"
    assert snapshot(clone) == before
    current = git(clone, "rev-parse", "origin/main")
    fresh = pull(spec_of(clone), "ff-only", timeout=TIMEOUT, expected_upstream=current)
    assert isinstance(fresh, PullResult) and fresh.new_head == current


def test_odd_file_names_are_listed_as_they_are(tmp_path: Path) -> None:
    incoming: dict[str, str | None] = {"-rf": "theirs\n", "dir with space/ünï code.txt": "t\n"}
    remote, clone = make_remote_and_clone(tmp_path, "odd")
    commit_file(clone, "-rf", "ours\n")
    git(clone, "push", "-q")
    push(remote, tmp_path, incoming)
    git(clone, "fetch", "-q")
    (clone / "-rf").write_text("mine, not committed\n")
    assert refused(clone, "merge").paths == ("-rf",)
    git(clone, "checkout", "-q", "--", "-rf")
    (clone / "dir with space").mkdir()
    (clone / "dir with space" / "ünï code.txt").write_text("untracked\n")
    assert refused(clone, "merge").paths == ("dir with space/ünï code.txt",)


# --- pulls that happen -------------------------------------------------------------------------


def test_ff_only_success_carries_untouched_changes(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "ff")
    commit_file(clone, "staged.txt", "v1\n")
    commit_file(clone, "unstaged.txt", "v1\n")
    git(clone, "push", "-q")
    old = git(clone, "rev-parse", "HEAD")
    push(remote, tmp_path, {"theirs.txt": "1\n"})
    new = push(remote, tmp_path, {"README.md": "theirs\n"})
    git(clone, "fetch", "-q")
    (clone / "staged.txt").write_text("v2 staged\n")
    git(clone, "add", "staged.txt")
    (clone / "unstaged.txt").write_text("v2\n")
    (clone / "scratch.txt").write_text("untracked\n")

    outcome = done(clone, "ff-only")

    assert (outcome.old_head, outcome.new_head) == (old, new)
    assert outcome.message == f"main: {old[:7]}..{new[:7]} (ff-only from origin/main)"
    assert outcome.undo == f"git reset --keep {old}"
    assert outcome.conflicts == () and outcome.operation is None
    assert git(clone, "rev-parse", "HEAD") == new
    assert (clone / "README.md").read_text() == "theirs\n"
    assert changes(clone) == ["M  staged.txt", " M unstaged.txt", "?? scratch.txt"]
    assert (clone / "staged.txt").read_text() == "v2 staged\n"


def test_rebase_success_replays_outgoing_commits(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "rebase")
    commit_file(clone, "notes.txt", "v1\n")
    git(clone, "push", "-q")
    commit_file(clone, "mine-1.txt", "1\n", "mine 1")
    old = commit_file(clone, "mine-2.txt", "2\n", "mine 2")
    upstream = push(remote, tmp_path, {"theirs.txt": "t\n"})
    git(clone, "fetch", "-q")
    (clone / "notes.txt").write_text("v2, not committed\n")

    outcome = done(clone, "rebase")

    assert outcome.old_head == old and outcome.new_head == git(clone, "rev-parse", "HEAD")
    assert git(clone, "rev-parse", "HEAD~2") == upstream
    assert git(clone, "log", "-2", "--format=%s") == "mine 2\nmine 1"
    assert (clone / "notes.txt").read_text() == "v2, not committed\n"
    assert changes(clone) == [" M notes.txt"]
    assert outcome.stash_kept is None and git(clone, "stash", "list") == ""
    assert outcome.undo == f"git reset --keep {old}"


def test_merge_success_creates_a_merge_commit(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "merge")
    commit_file(clone, "notes.txt", "v1\n")
    git(clone, "push", "-q")
    old = commit_file(clone, "mine.txt", "m\n", "mine")
    upstream = push(remote, tmp_path, {"theirs.txt": "t\n"})
    git(clone, "fetch", "-q")
    (clone / "notes.txt").write_text("v2, not committed\n")

    outcome = done(clone, "merge")

    head = git(clone, "rev-parse", "HEAD")
    assert (outcome.old_head, outcome.new_head) == (old, head)
    assert git(clone, "rev-list", "--parents", "-1", "HEAD").split()[1:] == [old, upstream]
    assert git(clone, "log", "-1", "--format=%s") == "Merge remote-tracking branch 'origin/main'"
    assert (clone / "notes.txt").read_text() == "v2, not committed\n"
    assert changes(clone) == [" M notes.txt"]
    assert git(clone, "stash", "list") == ""


def test_merge_that_conflicts_is_left_in_progress_and_loses_nothing(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "merge-conflict")
    commit_file(clone, "notes.txt", "v1\n")
    git(clone, "push", "-q")
    old = commit_file(clone, "README.md", "ours\n", "mine")
    upstream = push(remote, tmp_path, {"README.md": "theirs\n"})
    git(clone, "fetch", "-q")
    (clone / "notes.txt").write_text("v2, not committed\n")
    (clone / "added.txt").write_text("staged: git merges only with a clean index\n")
    git(clone, "add", "added.txt")
    (clone / "scratch.txt").write_text("untracked\n")
    before = snapshot(clone)

    outcome = done(clone, "merge")

    assert outcome.operation == "merge" and outcome.conflicts == ("README.md",)
    assert outcome.old_head == outcome.new_head == old
    assert outcome.undo == "git merge --abort"
    assert "come back when the merge is finished or aborted" in outcome.message
    assert git(clone, "rev-parse", "MERGE_HEAD") == upstream
    assert (clone / "scratch.txt").read_text() == "untracked\n"
    readme = (clone / "README.md").read_text()
    assert "ours" in readme and "theirs" in readme  # both sides, in conflict markers
    git(clone, "merge", "--abort")
    assert snapshot(clone) == before


def test_merge_conflict_resolved_brings_local_changes_back(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "merge-resolve")
    commit_file(clone, "notes.txt", "v1\n")
    git(clone, "push", "-q")
    commit_file(clone, "README.md", "ours\n", "mine")
    push(remote, tmp_path, {"README.md": "theirs\n"})
    git(clone, "fetch", "-q")
    (clone / "notes.txt").write_text("v2, not committed\n")
    assert done(clone, "merge").conflicts == ("README.md",)
    (clone / "README.md").write_text("both\n")
    git(clone, "add", "README.md")
    git(clone, "commit", "-q", "--no-edit")
    assert (clone / "notes.txt").read_text() == "v2, not committed\n"
    assert changes(clone) == [" M notes.txt"]


def test_rebase_that_conflicts_is_left_in_progress_and_loses_nothing(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "rebase-conflict")
    commit_file(clone, "notes.txt", "v1\n")
    git(clone, "push", "-q")
    old = commit_file(clone, "README.md", "ours\n", "mine")
    push(remote, tmp_path, {"README.md": "theirs\n"})
    git(clone, "fetch", "-q")
    (clone / "notes.txt").write_text("v2, not committed\n")
    before = snapshot(clone)

    outcome = done(clone, "rebase")

    assert outcome.operation == "rebase" and outcome.conflicts == ("README.md",)
    assert outcome.old_head == old and outcome.undo == "git rebase --abort"
    assert (clone / ".git" / "rebase-merge").is_dir()
    git(clone, "rebase", "--abort")
    assert snapshot(clone) == before
