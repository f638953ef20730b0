"""Auto-sync: every refusal and every sync on real repos with real bare remotes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.core.autosync import (
    SyncRefusal,
    SyncResult,
    auto_sync,
    branch_allowed,
    check_fast_forward,
    fast_forward,
    rebase_autostash,
)
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.status import collect_statuses
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere

TIMEOUT = 20.0
SYNCS = {"ff-only": fast_forward, "rebase-autostash": rebase_autostash}


def spec_of(path: Path, **fields: Any) -> RepoSpec:
    return RepoSpec(path=path, name=path.name, **fields)


def status_of(spec: RepoSpec) -> RepoStatus:
    [status] = collect_statuses([spec], jobs=1, timeout=TIMEOUT)
    return status


def push_files(remote: Path, base: Path, files: dict[str, str], branch: str = "main") -> str:
    """Another developer commits `files` (ignored or not) on `branch` and pushes them."""
    other = base / f"{remote.stem}-pusher"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "fetch", "-q")
    git(other, "switch", "-q", "-C", branch, f"origin/{branch}")
    for name, content in files.items():
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        (other / name).write_text(content)
        git(other, "add", "-f", "--", name)
    git(other, "commit", "-q", "-m", f"add {', '.join(files)}")
    git(other, "push", "-q", "origin", f"HEAD:{branch}")
    return git(other, "rev-parse", "HEAD")


def snapshot(repo: Path) -> dict[str, object]:
    """Everything a sync could change: HEAD, index and work tree states, stashes, file bytes."""
    files: dict[str, bytes | str] = {}
    for folder, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder, name)
            files[str(path.relative_to(repo))] = path.read_bytes()
        for name in dirs:
            files[str(Path(folder, name).relative_to(repo)) + "/"] = "dir"
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "status": git(repo, "status", "--porcelain=v2", "--branch", "--ignored"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "files": files,
    }


def stash_count(repo: Path) -> int:
    return len(git(repo, "stash", "list").splitlines())


# --- the ignored-file trap -------------------------------------------------------------------

# Ignored locally (.git/info/exclude), then tracked by an incoming commit.
TRAPS: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
    # name: (exclude pattern, the user's files, incoming files)
    "ignored file": ("build/", {"build/out.txt": "user's build\n"}, {"build/out.txt": "x\n"}),
    "ignored file as parent": ("/a", {"a": "user's a\n"}, {"a/b.txt": "x\n"}),
    "ignored folder": ("build/", {"build/keep.txt": "user's\n"}, {"build": "x\n"}),
}


def make_trap(base: Path, name: str) -> tuple[Path, dict[str, str]]:
    pattern, mine, incoming = TRAPS[name]
    remote, clone = make_remote_and_clone(base, name.replace(" ", "-"))
    with (clone / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write(pattern + "\n")
    for path, content in mine.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(content)
    push_files(remote, base, incoming)
    git(clone, "fetch", "-q")
    assert git(clone, "status", "--porcelain") == ""  # the user's files are ignored
    return clone, mine


@pytest.mark.parametrize("trap", TRAPS)
def test_plain_git_fast_forward_destroys_ignored_files(tmp_path: Path, trap: str) -> None:
    """The trap is real: git's own fast-forward replaces the user's ignored files silently."""
    clone, mine = make_trap(tmp_path, trap)
    git(clone, "merge", "--ff-only", "origin/main")
    for path, content in mine.items():
        assert not (clone / path).is_file() or (clone / path).read_text() != content


def test_plain_git_deletes_ignored_files_of_a_folder_that_becomes_a_file(tmp_path: Path) -> None:
    _, clone = swap_repo(tmp_path, "swap")
    (clone / "d" / "x.o").write_text("mine\n")
    git(clone, "merge", "--ff-only", "origin/main")
    assert (clone / "d").read_text() == "swapped\n"


# --- refusals: repos that must come out exactly as they went in ------------------------------


@pytest.fixture(scope="session")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One clone per state that must be refused, each made by the commands a user would run."""
    base = tmp_path_factory.mktemp("refusals")
    repos: dict[str, Path] = {}

    def behind(name: str) -> tuple[Path, Path]:
        remote, clone = make_remote_and_clone(base, name)
        push_from_elsewhere(remote, base, name=name)
        git(clone, "fetch", "-q")
        return remote, clone

    _, repos["unstaged"] = behind("unstaged")
    (repos["unstaged"] / "README.md").write_text("mine\n")
    _, repos["staged"] = behind("staged")
    (repos["staged"] / "new.txt").write_text("mine\n")
    git(repos["staged"], "add", "new.txt")
    _, repos["partly staged"] = behind("partly-staged")
    (repos["partly staged"] / "README.md").write_text("staged\n")
    git(repos["partly staged"], "add", "README.md")
    (repos["partly staged"] / "README.md").write_text("staged\nand not\n")

    remote, repos["conflicted merge"] = make_remote_and_clone(base, "conflicted")
    commit_file(repos["conflicted merge"], "README.md", "ours\n")
    push_files(remote, base, {"README.md": "theirs\n"})
    git(repos["conflicted merge"], "fetch", "-q")
    with pytest.raises(AssertionError):
        git(repos["conflicted merge"], "merge", "origin/main")

    _, repos["merge in progress"] = behind("merging")
    git(repos["merge in progress"], "merge", "-q", "--no-ff", "--no-commit", "origin/main")

    remote, repos["diverged"] = behind("diverged")
    commit_file(repos["diverged"], "local.txt", "mine\n")

    _, repos["branch not allowed"] = behind("not-allowed")

    _, repos["detached"] = behind("detached")
    git(repos["detached"], "switch", "-q", "--detach", "HEAD")

    _, repos["no upstream"] = behind("no-upstream")
    git(repos["no upstream"], "branch", "-q", "--unset-upstream")

    remote, repos["upstream gone"] = make_remote_and_clone(base, "gone")
    git(repos["upstream gone"], "push", "-q", "-u", "origin", "main:feature")
    git(repos["upstream gone"], "branch", "-q", "-u", "origin/feature")
    git(remote, "branch", "-q", "-D", "feature")
    git(repos["upstream gone"], "fetch", "-q", "--prune")

    _, repos["up to date"] = make_remote_and_clone(base, "up-to-date")
    _, repos["ahead"] = make_remote_and_clone(base, "ahead")
    commit_file(repos["ahead"], "local.txt", "mine\n")

    remote, repos["untracked in the way"] = make_remote_and_clone(base, "untracked")
    (repos["untracked in the way"] / "new.txt").write_text("mine\n")
    push_files(remote, base, {"new.txt": "theirs\n"})
    git(repos["untracked in the way"], "fetch", "-q")

    remote, repos["untracked file as parent"] = make_remote_and_clone(base, "parent")
    (repos["untracked file as parent"] / "a").write_text("mine\n")
    push_files(remote, base, {"a/b.txt": "theirs\n"})
    git(repos["untracked file as parent"], "fetch", "-q")

    # A rename upstream is a new path locally: `--no-renames` must see it as one.
    remote, repos["ignored rename target"] = make_remote_and_clone(base, "rename")
    push_files(remote, base, {"old.env": "theirs\n"})
    git(repos["ignored rename target"], "pull", "-q", "--ff-only")
    pusher = base / "rename-pusher"
    git(pusher, "mv", "old.env", "new.env")
    git(pusher, "commit", "-qm", "rename")
    git(pusher, "push", "-q", "origin", "HEAD:main")
    (repos["ignored rename target"] / ".git" / "info" / "exclude").write_text("new.env\n")
    (repos["ignored rename target"] / "new.env").write_text("SECRET=mine\n")
    git(repos["ignored rename target"], "fetch", "-q")

    # git deletes the ignored files of a tracked folder that an incoming commit makes a file.
    remote, repos["ignored file in a folder that becomes a file"] = swap_repo(base, "swap-ignored")
    repos["ignored file in a folder that becomes a file"].joinpath("d", "x.o").write_text("mine\n")
    git(repos["ignored file in a folder that becomes a file"], "fetch", "-q")

    remote, repos["local merge"] = behind("local-merge")
    git(repos["local merge"], "switch", "-q", "-c", "feature")
    commit_file(repos["local merge"], "feature.txt", "f\n")
    git(repos["local merge"], "switch", "-q", "main")
    git(repos["local merge"], "merge", "-q", "--no-ff", "--no-commit", "feature")
    (repos["local merge"] / "resolution.txt").write_text("made in the merge\n")
    git(repos["local merge"], "add", "resolution.txt")
    git(repos["local merge"], "commit", "-q", "-m", "merge feature")

    for trap in TRAPS:
        repos[trap], _ = make_trap(base, trap)
    return repos


def swap_repo(base: Path, name: str) -> tuple[Path, Path]:
    """A clone whose upstream turns tracked file `f` into a folder and folder `d` into a file."""
    remote, clone = make_remote_and_clone(base, name)
    commit_file(clone, "f", "file\n")
    commit_file(clone, "d/y", "in a folder\n")
    # A committed .gitignore: with only .git/info/exclude, git 2.39 refuses to empty `d`.
    commit_file(clone, ".gitignore", "*.o\n")
    git(clone, "push", "-q")
    pusher = base / f"{name}-pusher"
    git(base, "clone", "-q", str(remote), str(pusher))
    git(pusher, "rm", "-q", "f", "d/y")
    for path in ("f/x", "d"):
        (pusher / path).parent.mkdir(exist_ok=True)
        (pusher / path).write_text("swapped\n")
    git(pusher, "add", "f/x", "d")
    git(pusher, "commit", "-q", "-m", "swap")
    git(pusher, "push", "-q", "origin", "HEAD:main")
    git(clone, "fetch", "-q")
    return remote, clone


ANY = ("ff-only", "rebase-autostash")
# state: (the modes that must refuse it, reason, paths reported, spec fields)
REFUSED: dict[str, tuple[tuple[str, ...], str, tuple[str, ...], dict[str, Any]]] = {
    "unstaged": (("ff-only",), "dirty", (), {}),
    "staged": (("ff-only",), "dirty", (), {}),
    "partly staged": (("rebase-autostash",), "dirty", ("README.md",), {}),
    "conflicted merge": (ANY, "conflicts", (), {}),
    "merge in progress": (ANY, "operation", (), {}),
    "diverged": (("ff-only",), "diverged", (), {}),
    "branch not allowed": (ANY, "branch-not-allowed", (), {"branches": ("release/*", "dev")}),
    "detached": (ANY, "detached", (), {}),
    "no upstream": (ANY, "no-upstream", (), {}),
    "upstream gone": (ANY, "upstream-gone", (), {}),
    "up to date": (ANY, "not-behind", (), {}),
    "ahead": (ANY, "not-behind", (), {}),
    "untracked in the way": (ANY, "would-overwrite", ("new.txt",), {}),
    "untracked file as parent": (ANY, "would-overwrite", ("a",), {}),
    "ignored rename target": (ANY, "would-overwrite", ("new.env",), {}),
    "local merge": (("rebase-autostash",), "diverged", (), {}),
    "ignored file in a folder that becomes a file": (ANY, "would-overwrite", ("d/x.o",), {}),
    "ignored file": (ANY, "would-overwrite", ("build/out.txt",), {}),
    "ignored file as parent": (ANY, "would-overwrite", ("a",), {}),
    "ignored folder": (ANY, "would-overwrite", ("build/keep.txt",), {}),
}
REFUSAL_CASES = [
    pytest.param(state, mode, id=f"{mode}-{state}")
    for state, (modes, *_) in REFUSED.items()
    for mode in modes
]


@pytest.mark.parametrize("state,mode", REFUSAL_CASES)
def test_refused_and_nothing_changes(refusals: dict[str, Path], state: str, mode: str) -> None:
    _, reason, paths, fields = REFUSED[state]
    repo = refusals[state]
    spec = spec_of(repo, auto_sync=mode, **fields)
    before = snapshot(repo)
    outcome = auto_sync(spec, status_of(spec), timeout=TIMEOUT)
    assert isinstance(outcome, SyncRefusal), outcome
    assert outcome.reason == reason, outcome.message
    assert outcome.paths == paths
    assert snapshot(repo) == before
    if mode == "ff-only":
        assert check_fast_forward(spec, status_of(spec), timeout=TIMEOUT) == outcome


def test_ignored_files_survive_byte_for_byte(refusals: dict[str, Path]) -> None:
    for trap, (_, mine, _) in TRAPS.items():
        for path, content in mine.items():
            assert (refusals[trap] / path).read_text() == content


@pytest.mark.parametrize(
    "branch,patterns,allowed",
    [
        ("main", (), True),
        ("release/1.0", ("release/*",), True),
        ("release/1.0/hotfix", ("release/*",), True),  # fnmatch's `*` crosses `/`
        ("main", ("release/*", "dev"), False),
        ("Release/1.0", ("release/*",), False),
        (None, ("*",), False),
        (None, (), True),
    ],
)
def test_branch_allowed(branch: str | None, patterns: tuple[str, ...], allowed: bool) -> None:
    assert branch_allowed(branch, patterns) is allowed


# --- syncs that happen -----------------------------------------------------------------------


def test_fast_forward_when_safe(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "safe")
    (clone / "notes.txt").write_text("untracked, not in the way\n")
    old = git(clone, "rev-parse", "HEAD")
    push_from_elsewhere(remote, tmp_path, count=2)
    git(clone, "fetch", "-q")
    spec = spec_of(clone, auto_sync="ff-only")
    before = snapshot(clone)
    assert check_fast_forward(spec, status_of(spec), timeout=TIMEOUT) is None
    assert snapshot(clone) == before
    outcome = auto_sync(spec, status_of(spec), timeout=TIMEOUT)
    upstream = git(clone, "rev-parse", "origin/main")
    assert outcome == SyncResult(old_head=old, new_head=upstream, mode="ff-only")
    assert git(clone, "rev-parse", "HEAD") == upstream
    assert (clone / "upstream-other-1.txt").read_text() == "1\n"
    assert (clone / "notes.txt").read_text() == "untracked, not in the way\n"
    assert git(clone, "status", "--porcelain") == "?? notes.txt"


@pytest.mark.parametrize("mode", ANY)
def test_tracked_files_and_folders_trading_places_still_sync(tmp_path: Path, mode: str) -> None:
    """Paths git itself tracks and replaces are no obstacle: only untracked ones are."""
    _, clone = swap_repo(tmp_path, "swap")
    (clone / "unrelated.o").write_text("ignored, not in the way\n")
    spec = spec_of(clone, auto_sync=mode)
    outcome = auto_sync(spec, status_of(spec), timeout=TIMEOUT)
    assert isinstance(outcome, SyncResult), outcome
    assert (clone / "f" / "x").read_text() == (clone / "d").read_text() == "swapped\n"
    assert (clone / "unrelated.o").exists()


def test_off_does_nothing(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "off")
    push_from_elsewhere(remote, tmp_path)
    git(clone, "fetch", "-q")
    spec = spec_of(clone)
    before = snapshot(clone)
    assert auto_sync(spec, status_of(spec), timeout=TIMEOUT) is None
    assert snapshot(clone) == before


def test_fast_forward_on_an_allowed_branch_with_an_odd_name(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "odd")
    branch = "release/ünï-1.0"
    git(clone, "switch", "-q", "-c", branch)
    git(clone, "push", "-q", "-u", "origin", branch)
    incoming = push_files(remote, tmp_path, {"fix.txt": "fixed\n"}, branch=branch)
    git(clone, "fetch", "-q")
    spec = spec_of(clone, branches=("release/*",))
    outcome = fast_forward(spec, status_of(spec), timeout=TIMEOUT)
    assert isinstance(outcome, SyncResult) and outcome.new_head == incoming
    assert (clone / "fix.txt").read_text() == "fixed\n"


def test_stale_status_is_checked_again(tmp_path: Path) -> None:
    """The user starts editing between the status and the sync: the sync must see it."""
    remote, clone = make_remote_and_clone(tmp_path, "stale")
    push_from_elsewhere(remote, tmp_path)
    git(clone, "fetch", "-q")
    spec = spec_of(clone)
    clean_a_second_ago = status_of(spec)
    (clone / "README.md").write_text("typing...\n")
    before = snapshot(clone)
    outcome = fast_forward(spec, clean_a_second_ago, timeout=TIMEOUT)
    assert isinstance(outcome, SyncRefusal) and outcome.reason == "dirty"
    assert snapshot(clone) == before


def test_git_refusing_anyway_is_an_error_not_forced(tmp_path: Path) -> None:
    """Another git command holds the index: the merge fails and is reported in git's words."""
    remote, clone = make_remote_and_clone(tmp_path, "locked")
    push_from_elsewhere(remote, tmp_path)
    git(clone, "fetch", "-q")
    (clone / ".git" / "index.lock").write_text("")
    spec = spec_of(clone)
    before = snapshot(clone)
    outcome = fast_forward(spec, status_of(spec), timeout=TIMEOUT)
    assert isinstance(outcome, SyncRefusal) and outcome.reason == "error"
    assert "index.lock" in outcome.message
    assert snapshot(clone) == before


def test_rebase_carries_uncommitted_changes_over(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "dirty")
    commit_file(clone, "mine.txt", "v1\n")
    git(clone, "push", "-q")
    old = git(clone, "rev-parse", "HEAD")
    (clone / "mine.txt").write_text("v2, not committed\n")
    (clone / "added.txt").write_text("staged\n")
    git(clone, "add", "added.txt")
    push_from_elsewhere(remote, tmp_path)
    git(clone, "fetch", "-q")
    spec = spec_of(clone, auto_sync="rebase-autostash")
    outcome = auto_sync(spec, status_of(spec), timeout=TIMEOUT)
    upstream = git(clone, "rev-parse", "origin/main")
    assert outcome == SyncResult(old, upstream, "rebase-autostash", stash_kept=None)
    assert (clone / "mine.txt").read_text() == "v2, not committed\n"
    assert git(clone, "status", "--porcelain") == "A  added.txt\n M mine.txt"
    assert (clone / "upstream-other-0.txt").exists()
    assert stash_count(clone) == 0


def test_rebase_replays_local_commits_on_a_diverged_branch(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "diverged")
    old = commit_file(clone, "local.txt", "mine\n", "local work")
    push_from_elsewhere(remote, tmp_path, count=2)
    git(clone, "fetch", "-q")
    spec = spec_of(clone)
    outcome = rebase_autostash(spec, status_of(spec), timeout=TIMEOUT)
    assert isinstance(outcome, SyncResult) and outcome.old_head == old
    assert outcome.new_head == git(clone, "rev-parse", "HEAD")
    assert git(clone, "rev-parse", "HEAD~1") == git(clone, "rev-parse", "origin/main")
    assert git(clone, "log", "-1", "--format=%s") == "local work"
    assert (clone / "local.txt").read_text() == "mine\n"


def test_rebase_conflict_is_aborted_with_everything_intact(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "conflict")
    commit_file(clone, "notes.txt", "1\n")
    git(clone, "push", "-q")
    commit_file(clone, "README.md", "ours\n", "local work")
    (clone / "notes.txt").write_text("2, not committed\n")
    (clone / "scratch.txt").write_text("untracked\n")
    push_files(remote, tmp_path, {"README.md": "theirs\n"})
    git(clone, "fetch", "-q")
    spec = spec_of(clone)
    before = snapshot(clone)
    outcome = rebase_autostash(spec, status_of(spec), timeout=TIMEOUT)
    assert outcome == SyncRefusal.of("error/stopped", why="the rebase would conflict", kept="")
    assert outcome.message.startswith("the rebase would conflict; aborted, nothing changed; ")
    assert snapshot(clone) == before
    assert not (clone / ".git" / "rebase-merge").exists()


def test_autostash_that_does_not_reapply_is_kept(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "kept")
    (clone / "README.md").write_text("an older stash\n")
    git(clone, "stash", "push", "-q", "-m", "older")
    (clone / "README.md").write_text("mine, not committed\n")
    push_files(remote, tmp_path, {"README.md": "theirs\n"})
    git(clone, "fetch", "-q")
    spec = spec_of(clone)
    outcome = rebase_autostash(spec, status_of(spec), timeout=TIMEOUT)
    assert isinstance(outcome, SyncResult) and outcome.stash_kept == "stash@{0}"
    assert outcome.new_head == git(clone, "rev-parse", "origin/main")
    assert stash_count(clone) == 2
    assert git(clone, "show", "stash@{0}:README.md") == "mine, not committed"
    assert git(clone, "show", "stash@{1}:README.md") == "an older stash"
