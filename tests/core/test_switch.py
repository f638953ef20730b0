"""Branch list, switch and stash-and-switch on real repos with real bare remotes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import SwitchRefusal, SwitchResult
from gitwatch_tui.core.stash import apply_stash
from gitwatch_tui.core.switch import (
    list_branches,
    stash_and_switch,
    stash_for_branch,
    switch_branch,
)
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.core.test_pull import changes, snapshot

TIMEOUT = 20.0


def spec_of(path: Path) -> RepoSpec:
    return RepoSpec(path=path, name=path.name)


def push_branch(remote: Path, base: Path, branch: str, files: dict[str, bytes | str]) -> str:
    """Another developer commits `files` on `branch` (made from main if new) and pushes it."""
    other = base / f"{remote.stem}-pusher"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "fetch", "-q")
    exists = git(other, "branch", "-r", "--list", f"origin/{branch}")
    git(other, "switch", "-q", "-C", branch, f"origin/{branch}" if exists else "origin/main")
    for name, content in files.items():
        path = other / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        git(other, "add", "-f", "--", name)
    git(other, "commit", "-q", "-m", f"{branch}: {', '.join(files)}")
    git(other, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return git(other, "rev-parse", "HEAD")


def switched(repo: Path, name: str) -> SwitchResult:
    outcome = switch_branch(spec_of(repo), name, timeout=TIMEOUT)
    assert isinstance(outcome, SwitchResult), outcome
    return outcome


def refused(repo: Path, name: str, *, stash: bool = False) -> SwitchRefusal:
    """The switch is refused and nothing at all changes."""
    before = snapshot(repo)
    run = stash_and_switch if stash else switch_branch
    outcome = run(spec_of(repo), name, timeout=TIMEOUT)
    assert isinstance(outcome, SwitchRefusal), outcome
    assert snapshot(repo) == before
    return outcome


def current(repo: Path) -> str:
    return git(repo, "rev-parse", "--abbrev-ref", "HEAD")


# --- the list ----------------------------------------------------------------------------------


def test_branch_list_with_ahead_behind_and_remote_only(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "list")
    push_branch(remote, tmp_path, "main", {"theirs-1.txt": "1\n"})
    push_branch(remote, tmp_path, "main", {"theirs-2.txt": "2\n"})
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    push_branch(remote, tmp_path, "fé-ature", {"u.txt": "u\n"})
    push_branch(remote, tmp_path, "tracked", {"t.txt": "t\n"})
    git(clone, "fetch", "-q")
    git(clone, "branch", "-q", "--track", "tracked", "origin/tracked")
    git(clone, "branch", "-q", "topic")
    commit_file(clone, "mine.txt", "m\n", "my latest work")

    listing = list_branches(spec_of(clone), timeout=TIMEOUT)

    assert listing.error is None
    assert (listing.current, listing.detached, listing.head) == ("main", False, None)
    local = {branch.name: branch for branch in listing.local}
    assert set(local) == {"main", "topic", "tracked"}
    main = local["main"]
    assert (main.upstream, main.ahead, main.behind, main.current) == ("origin/main", 1, 2, True)
    assert main.subject == "my latest work" and main.sha == git(clone, "rev-parse", "HEAD")
    assert main.time > 0
    assert (local["tracked"].upstream, local["tracked"].ahead, local["tracked"].behind) == (
        "origin/tracked",
        0,
        0,
    )
    assert (local["topic"].upstream, local["topic"].ahead, local["topic"].current) == (
        None,
        None,
        False,
    )
    assert listing.local[0].name == "main"  # newest commit first
    remote_only = {branch.name: branch for branch in listing.remote_only}
    assert set(remote_only) == {"origin/feature", "origin/fé-ature"}  # no HEAD, none tracked
    unicode_branch = remote_only["origin/fé-ature"]
    assert (unicode_branch.remote, unicode_branch.branch) == ("origin", "fé-ature")
    assert unicode_branch.subject == "fé-ature: u.txt"

    git(clone, "switch", "-q", "--detach", "HEAD~1")
    detached = list_branches(spec_of(clone), timeout=TIMEOUT)
    assert (detached.current, detached.detached) == (None, True)
    assert detached.head == git(clone, "rev-parse", "HEAD")
    assert not any(branch.current for branch in detached.local)


def test_branch_list_marks_a_gone_upstream_and_other_worktrees(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "gone")
    push_branch(remote, tmp_path, "old", {"o.txt": "o\n"})
    git(clone, "fetch", "-q")
    git(clone, "branch", "-q", "--track", "old", "origin/old")
    git(remote, "branch", "-q", "-D", "old")
    git(clone, "fetch", "-q", "--prune")
    git(clone, "worktree", "add", "-q", str(tmp_path / "elsewhere"), "-b", "side")
    local = {b.name: b for b in list_branches(spec_of(clone), timeout=TIMEOUT).local}
    assert (local["old"].upstream_gone, local["old"].ahead, local["old"].behind) == (
        True,
        None,
        None,
    )
    assert local["side"].worktree == str(tmp_path / "elsewhere")
    assert local["main"].worktree is None


def test_branch_list_of_a_missing_repo_is_an_error(tmp_path: Path) -> None:
    listing = list_branches(spec_of(tmp_path / "nowhere"), timeout=TIMEOUT)
    assert listing.error == "path does not exist" and listing.local == ()


# --- switch ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["origin/feature", "feature"])
def test_switch_to_remote_only_creates_tracking_branch(tmp_path: Path, name: str) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "track")
    tip = push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    git(clone, "fetch", "-q")
    old = git(clone, "rev-parse", "HEAD")

    outcome = switched(clone, name)

    assert (outcome.branch, outcome.head, outcome.created_from) == (
        "feature",
        tip,
        "origin/feature",
    )
    assert (outcome.previous_branch, outcome.previous_head) == ("main", old)
    assert outcome.undo == "git switch -- main"
    assert current(clone) == "feature"
    assert git(clone, "rev-parse", "--abbrev-ref", "feature@{upstream}") == "origin/feature"
    listing = list_branches(spec_of(clone), timeout=TIMEOUT)
    assert listing.remote_only == () and listing.current == "feature"


def test_switch_to_a_unicode_remote_branch(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "unicode")
    push_branch(remote, tmp_path, "fé-ature/ünï", {"ü.txt": "ü\n"})
    git(clone, "fetch", "-q")
    outcome = switched(clone, "fé-ature/ünï")
    assert outcome.branch == "fé-ature/ünï" and current(clone) == "fé-ature/ünï"
    assert git(clone, "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/fé-ature/ünï"
    back = switched(clone, "main")
    assert back.previous_branch == "fé-ature/ünï" and back.created_from is None


def test_remote_branch_already_tracked_switches_to_the_local_one(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "tracked")
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    git(clone, "fetch", "-q")
    git(clone, "branch", "-q", "--track", "my-feature", "origin/feature")
    outcome = switched(clone, "origin/feature")
    assert (outcome.branch, outcome.created_from) == ("my-feature", None)


def test_names_that_cannot_be_switched_to(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "names")
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    git(clone, "remote", "add", "mirror", str(remote))
    git(clone, "fetch", "-q", "--all")
    assert refused(clone, "feature").reason == "ambiguous"
    assert refused(clone, "nope").reason == "not-found"
    assert refused(clone, "main").reason == "already-on"
    assert refused(clone, "main", stash=True).reason == "already-on"
    git(clone, "branch", "-q", "feature")  # a local feature that tracks nothing
    assert refused(clone, "mirror/feature").reason == "name-taken"
    assert switched(clone, "feature").created_from is None  # the local one


def test_dirty_switch_that_conflicts_is_refused_with_the_files_and_nothing_changes(
    tmp_path: Path,
) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "conflict")
    commit_file(clone, "-rf", "main\n")
    commit_file(clone, "with space ü.txt", "main\n")
    git(clone, "push", "-q")
    push_branch(remote, tmp_path, "feature", {"-rf": "f\n", "with space ü.txt": "f\n", "n": "f"})
    git(clone, "fetch", "-q")
    (clone / "-rf").write_text("mine, not committed\n")
    (clone / "with space ü.txt").write_text("mine, staged\n")
    git(clone, "add", "--", "with space ü.txt")
    (clone / "n").write_text("untracked, where feature has a file\n")

    outcome = refused(clone, "feature")

    assert outcome.reason == "would-overwrite"
    assert outcome.paths == ("-rf", "n", "with space ü.txt")
    assert "stash and switch takes your changes along" in outcome.message
    assert git(clone, "branch", "--list", "feature") == ""  # no tracking branch left behind


def test_ignored_file_in_the_way_is_refused_even_with_a_stash(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "ignored")
    push_branch(remote, tmp_path, "feature", {"build/out.bin": b"\x00theirs"})
    git(clone, "fetch", "-q")
    (clone / ".git" / "info" / "exclude").write_text("build/\n")
    (clone / "build").mkdir()
    (clone / "build" / "out.bin").write_bytes(b"\x00mine")
    (clone / "README.md").write_text("dirty, so a stash would be made\n")
    for stash in (False, True):
        outcome = refused(clone, "feature", stash=stash)
        assert outcome.reason == "ignored-in-the-way" and outcome.paths == ("build/out.bin",)
    assert (clone / "build" / "out.bin").read_bytes() == b"\x00mine"


def test_dirty_non_conflicting_switch_carries_the_changes(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "carry")
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    git(clone, "fetch", "-q")
    (clone / "README.md").write_text("edited, same file on both branches\n")
    (clone / "added.txt").write_text("staged\n")
    git(clone, "add", "added.txt")
    (clone / "scratch.txt").write_text("untracked\n")

    outcome = switched(clone, "feature")

    assert outcome.carried == ("README.md", "added.txt") and outcome.stash is None
    assert current(clone) == "feature" and (clone / "f.txt").exists()
    assert changes(clone) == [" M README.md", "A  added.txt", "?? scratch.txt"]
    assert (clone / "README.md").read_text() == "edited, same file on both branches\n"


def test_refused_while_an_operation_is_in_progress(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "operation")
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    push_branch(remote, tmp_path, "main", {"README.md": "theirs\n"})
    commit_file(clone, "README.md", "ours\n")
    git(clone, "fetch", "-q")
    with pytest.raises(AssertionError):
        git(clone, "merge", "origin/main")
    for stash in (False, True):
        assert refused(clone, "feature", stash=stash).reason == "operation"


# --- stash-and-switch --------------------------------------------------------------------------

BINARY = bytes(range(256)) * 4
CRLF = b"one\r\ntwo\r\n"


def messy_clone(base: Path) -> tuple[Path, Path]:
    """A clone with every kind of local change; its branch `feature` touches the dirty files."""
    remote, clone = make_remote_and_clone(base, "messy")
    for name, content in {"bin.dat": BINARY, "crlf.txt": CRLF, "-rf": b"tracked\n"}.items():
        (clone / name).write_bytes(content)
        git(clone, "add", "--", name)
    commit_file(clone, "partly.txt", "v1\n")
    commit_file(clone, "gone.txt", "to be deleted\n")
    git(clone, "push", "-q")
    push_branch(remote, base, "feature", {"bin.dat": b"\x00feature", "crlf.txt": b"f\r\n"})
    git(clone, "fetch", "-q")
    (clone / ".git" / "info" / "exclude").write_text("*.log\n")
    (clone / "bin.dat").write_bytes(BINARY[::-1])  # unstaged binary change
    (clone / "crlf.txt").write_bytes(b"one\r\nchanged\r\n")
    git(clone, "add", "crlf.txt")  # staged CRLF change
    (clone / "partly.txt").write_text("v2 staged\n")
    git(clone, "add", "partly.txt")
    (clone / "partly.txt").write_text("v3 not staged\n")
    (clone / "-rf").write_text("unstaged, leading dash\n")
    git(clone, "rm", "-q", "gone.txt")
    (clone / "new dir ü").mkdir()
    (clone / "new dir ü" / "-untracked ü.txt").write_bytes(b"untracked\r\n\x00")
    (clone / "debug.log").write_text("ignored: never stashed, never touched\n")
    return remote, clone


def test_stash_and_switch_and_back_restores_the_exact_work_tree(tmp_path: Path) -> None:
    _, clone = messy_clone(tmp_path)
    spec = spec_of(clone)
    before = snapshot(clone)
    assert refused(clone, "feature").reason == "would-overwrite"

    away = stash_and_switch(spec, "feature", timeout=TIMEOUT)

    assert isinstance(away, SwitchResult), away
    assert current(clone) == "feature" and away.created_from == "origin/feature"
    assert away.stash is not None and away.offer_stash is None
    assert (away.stash.source, away.stash.target) == ("main", "feature")
    assert away.stash.message == "On main: gitwatch: on main before switching to feature"
    assert git(clone, "rev-parse", "stash@{0}") == away.stash.sha
    assert changes(clone) == []  # everything but the ignored file went into the stash
    assert (clone / "debug.log").exists()
    assert (clone / "bin.dat").read_bytes() == b"\x00feature"

    back = switched(clone, "main")

    assert back.offer_stash == away.stash
    assert stash_for_branch(spec, "main", timeout=TIMEOUT) == away.stash
    outcome = apply_stash(spec, back.offer_stash.sha, pop=True, timeout=TIMEOUT)
    assert outcome.ok and not outcome.kept, outcome.message
    after = snapshot(clone)
    assert after == before
    assert (clone / "crlf.txt").read_bytes() == b"one\r\nchanged\r\n"
    assert git(clone, "diff", "--cached", "--name-only") == "crlf.txt\ngone.txt\npartly.txt"


def test_reapply_conflict_keeps_the_stash(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "reapply")
    push_branch(remote, tmp_path, "feature", {"README.md": "feature\n"})
    git(clone, "fetch", "-q")
    (clone / "README.md").write_text("mine, left on main\n")
    away = stash_and_switch(spec_of(clone), "feature", timeout=TIMEOUT)
    assert isinstance(away, SwitchResult) and away.stash is not None
    back = switched(clone, "main")
    assert back.offer_stash is not None
    commit_file(clone, "README.md", "main moved on meanwhile\n")

    outcome = apply_stash(spec_of(clone), back.offer_stash.sha, pop=True, timeout=TIMEOUT)

    assert not outcome.ok and outcome.kept and outcome.conflicts == ("README.md",)
    assert git(clone, "rev-parse", "stash@{0}") == away.stash.sha
    assert git(clone, "show", "stash@{0}:README.md") == "mine, left on main"


def test_stash_and_switch_whose_switch_fails_puts_everything_back(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "fails")
    push_branch(remote, tmp_path, "feature", {"README.md": "feature\n"})
    git(clone, "fetch", "-q")
    git(clone, "branch", "-q", "--track", "feature", "origin/feature")
    git(clone, "worktree", "add", "-q", str(tmp_path / "other-worktree"), "feature")
    (clone / "README.md").write_text("mine\n")
    (clone / "staged.txt").write_text("staged\n")
    git(clone, "add", "staged.txt")
    (clone / "untracked.txt").write_text("untracked\n")

    outcome = refused(clone, "feature", stash=True)  # also: the snapshot is unchanged

    assert outcome.reason == "error"
    assert "already checked out" in outcome.message
    assert "your changes are back as they were" in outcome.message


def test_stash_and_switch_with_a_clean_tree_makes_no_stash(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "clean")
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    git(clone, "fetch", "-q")
    outcome = stash_and_switch(spec_of(clone), "feature", timeout=TIMEOUT)
    assert isinstance(outcome, SwitchResult) and outcome.stash is None
    assert current(clone) == "feature" and git(clone, "stash", "list") == ""


def test_stash_for_branch_finds_the_newest_stash_left_on_that_branch(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "find")
    push_branch(remote, tmp_path, "feature", {"f.txt": "f\n"})
    git(clone, "fetch", "-q")
    spec = spec_of(clone)
    made = []
    for text in ("first\n", "second\n"):
        (clone / "README.md").write_text(text)
        away = stash_and_switch(spec, "feature", timeout=TIMEOUT)
        assert isinstance(away, SwitchResult) and away.stash is not None
        made.append(away.stash)
        (clone / "f.txt").write_text("left on feature\n")
        assert isinstance(stash_and_switch(spec, "main", timeout=TIMEOUT), SwitchResult)
    (clone / "README.md").write_text("a stash of the user's own\n")
    git(clone, "stash", "push", "-q", "-m", "my own")

    found = stash_for_branch(spec, "main", timeout=TIMEOUT)

    assert found is not None and found.sha == made[1].sha and found.ref == "stash@{2}"
    on_feature = stash_for_branch(spec, "feature", timeout=TIMEOUT)
    assert on_feature is not None and on_feature.target == "main"
    assert on_feature.ref == "stash@{1}"
    assert stash_for_branch(spec, "topic", timeout=TIMEOUT) is None


def test_stash_and_switch_from_a_detached_head_names_no_branch(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "detached")
    push_branch(remote, tmp_path, "feature", {"README.md": "feature\n"})
    git(clone, "fetch", "-q")
    sha = git(clone, "rev-parse", "HEAD")
    git(clone, "switch", "-q", "--detach")
    (clone / "README.md").write_text("mine, on a detached HEAD\n")
    outcome = stash_and_switch(spec_of(clone), "feature", timeout=TIMEOUT)
    assert isinstance(outcome, SwitchResult) and outcome.stash is not None
    assert (outcome.previous_branch, outcome.previous_head) == (None, sha)
    assert outcome.stash.source is None and outcome.stash.target == "feature"
    assert f"gitwatch: on detached HEAD {sha[:12]} before switching to feature" in (
        outcome.stash.message
    )
    assert outcome.undo == f"git switch --detach {sha}; git stash apply --index {outcome.stash.sha}"
