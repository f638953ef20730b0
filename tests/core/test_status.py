"""Status: the pure porcelain parser, and every repo state produced by real git commands."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.status import (
    PorcelainStatus,
    collect_statuses,
    locate_work_tree,
    parse_porcelain_v2,
    read_git_dir_state,
)
from tests.conftest import (
    commit_file,
    git,
    make_remote_and_clone,
    process_ends,
    push_from_elsewhere,
)
from tests.odd_repos import ODD_REPOS, stale_submodules

OID = "1" * 40
OID2 = "2" * 40


def z(*records: str) -> bytes:
    return "".join(r + "\0" for r in records).encode()


def entry(kind: str, xy: str, path: str) -> str:
    if kind == "1":
        return f"1 {xy} N... 100644 100644 100644 {OID} {OID2} {path}"
    if kind == "u":
        return f"u {xy} N... 100644 100644 100644 100644 {OID} {OID2} {OID} {path}"
    raise ValueError(kind)


PARSE_CASES = {
    "clean, tracking": (
        z(
            f"# branch.oid {OID}",
            "# branch.head main",
            "# branch.upstream origin/main",
            "# branch.ab +0 -0",
        ),
        PorcelainStatus(head=OID, branch="main", upstream="origin/main", ahead=0, behind=0),
    ),
    "diverged with stash": (
        z(
            f"# branch.oid {OID}",
            "# branch.head main",
            "# branch.upstream origin/main",
            "# branch.ab +3 -12",
            "# stash 2",
        ),
        PorcelainStatus(
            head=OID, branch="main", upstream="origin/main", ahead=3, behind=12, stash=2
        ),
    ),
    "detached": (
        z(f"# branch.oid {OID}", "# branch.head (detached)"),
        PorcelainStatus(head=OID, detached=True),
    ),
    "no commits yet": (
        z("# branch.oid (initial)", "# branch.head main"),
        PorcelainStatus(head=None, branch="main"),
    ),
    "upstream gone": (
        z(f"# branch.oid {OID}", "# branch.head feature", "# branch.upstream origin/feature"),
        PorcelainStatus(head=OID, branch="feature", upstream="origin/feature", upstream_gone=True),
    ),
    "unicode and leading-dash branch": (
        z(
            f"# branch.oid {OID}",
            "# branch.head -föö/ブランチ",
            "# branch.upstream origin/-föö/ブランチ",
            "# branch.ab +1 -0",
        ),
        PorcelainStatus(
            head=OID, branch="-föö/ブランチ", upstream="origin/-föö/ブランチ", ahead=1, behind=0
        ),
    ),
    "staged, unstaged, both": (
        z(
            entry("1", "M.", "a.txt"),
            entry("1", ".M", "b c.txt"),
            entry("1", "MM", "-d"),
            entry("1", "A.", "new file"),
            entry("1", ".D", "gone"),
        ),
        PorcelainStatus(staged=3, unstaged=3),
    ),
    "rename whose old path looks like a record": (
        # The original path is its own NUL field; a parser that reads it as a record would
        # count an extra untracked file and misread a header.
        z(
            f"2 R. N... 100644 100644 100644 {OID} {OID} R100 new name.txt",
            "? not-untracked",
            f"2 RM N... 100644 100644 100644 {OID} {OID} R90 x",
            "# branch.head (detached)",
        ),
        PorcelainStatus(staged=2, unstaged=1),
    ),
    "conflicts and untracked with odd names": (
        z(
            entry("u", "UU", "both.txt"),
            entry("u", "AA", "ñ añadido.txt"),
            "? -rf",
            "? with space",
            "? 日本語.txt",
            "? line\nbreak",
        ),
        PorcelainStatus(conflicted=2, untracked=4),
    ),
    "empty output": (b"", PorcelainStatus()),
}


@pytest.mark.parametrize("data,expected", PARSE_CASES.values(), ids=PARSE_CASES.keys())
def test_parse_porcelain_v2(data: bytes, expected: PorcelainStatus) -> None:
    assert parse_porcelain_v2(data) == expected


# --- real repositories -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One clone per state, each made by the git commands a user would run."""
    base = tmp_path_factory.mktemp("world")
    repos: dict[str, Path] = {}

    remote, repos["clean"] = make_remote_and_clone(base, "clean")

    remote, repos["behind"] = make_remote_and_clone(base, "behind")
    push_from_elsewhere(remote, base, count=2)
    git(repos["behind"], "fetch", "-q")

    _, repos["ahead"] = make_remote_and_clone(base, "ahead")
    commit_file(repos["ahead"], "local.txt", "mine\n")

    remote, repos["diverged"] = make_remote_and_clone(base, "diverged")
    commit_file(repos["diverged"], "local.txt", "mine\n")
    push_from_elsewhere(remote, base, count=3)
    git(repos["diverged"], "fetch", "-q")

    _, dirty = make_remote_and_clone(base, "dirty")

    repos["dirty"] = dirty
    commit_file(dirty, "tracked.txt", "1\n")
    commit_file(dirty, "-leading dash.txt", "1\n")
    (dirty / ".gitignore").write_text("build/\n")
    git(dirty, "add", ".gitignore")
    git(dirty, "commit", "-qm", "ignore build")
    (dirty / "README.md").write_text("staged\n")
    git(dirty, "add", "README.md")  # staged
    (dirty / "tracked.txt").write_text("2\n")
    git(dirty, "add", "tracked.txt")
    (dirty / "tracked.txt").write_text("3\n")  # MM: staged and unstaged
    (dirty / "-leading dash.txt").unlink()  # unstaged deletion
    (dirty / "new ünïcode file.txt").write_text("x\n")
    git(dirty, "add", "new ünïcode file.txt")  # staged new file
    (dirty / "untracked one.txt").write_text("u\n")
    (dirty / "日本語.txt").write_text("u\n")
    (dirty / "build").mkdir()
    (dirty / "build" / "out.o").write_text("ignored\n")

    _, stash = make_remote_and_clone(base, "stash")

    repos["stash"] = stash
    for i in range(2):
        (stash / "README.md").write_text(f"wip {i}\n")
        git(stash, "stash", "push", "-q", "-m", f"wip {i}")

    _, detached = make_remote_and_clone(base, "detached")

    repos["detached"] = detached
    commit_file(detached, "two.txt", "2\n")
    git(detached, "checkout", "-q", "HEAD~1")

    _, repos["no-upstream"] = make_remote_and_clone(base, "no-upstream")
    git(repos["no-upstream"], "switch", "-q", "-c", "local-only")

    remote, gone = make_remote_and_clone(base, "upstream-gone")

    repos["upstream-gone"] = gone
    git(gone, "switch", "-q", "-c", "feature")
    git(gone, "push", "-q", "-u", "origin", "feature")
    git(remote, "branch", "-q", "-D", "feature")
    git(gone, "fetch", "-q", "--prune")

    _, uni = make_remote_and_clone(base, "unicode-branch")

    repos["unicode-branch"] = uni
    git(uni, "switch", "-q", "-c", "fünf/ブランチ")

    remote, merging = make_remote_and_clone(base, "merging")

    repos["merging"] = merging
    commit_file(merging, "README.md", "ours\n")
    other = base / "merging-other"
    git(base, "clone", "-q", str(remote), str(other))
    commit_file(other, "README.md", "theirs\n")
    git(other, "push", "-q", "origin", "main")
    git(merging, "fetch", "-q")
    with pytest.raises(AssertionError):
        git(merging, "merge", "origin/main")

    _, rebasing = make_remote_and_clone(base, "rebasing")

    repos["rebasing"] = rebasing
    git(rebasing, "switch", "-q", "-c", "topic")
    commit_file(rebasing, "README.md", "topic\n")
    git(rebasing, "switch", "-q", "main")
    commit_file(rebasing, "README.md", "main\n")
    git(rebasing, "switch", "-q", "topic")
    with pytest.raises(AssertionError):
        git(rebasing, "rebase", "main")

    _, picking = make_remote_and_clone(base, "cherry-picking")

    repos["cherry-picking"] = picking
    git(picking, "switch", "-q", "-c", "topic")
    pick = commit_file(picking, "README.md", "topic\n")
    git(picking, "switch", "-q", "main")
    commit_file(picking, "README.md", "main\n")
    with pytest.raises(AssertionError):
        git(picking, "cherry-pick", pick)

    _, bisecting = make_remote_and_clone(base, "bisecting")

    repos["bisecting"] = bisecting
    commit_file(bisecting, "b.txt", "b\n")
    git(bisecting, "bisect", "start", "HEAD", "HEAD~1")

    _, worktree_main = make_remote_and_clone(base, "wt-main")
    repos["worktree"] = base / "worktree"
    git(worktree_main, "worktree", "add", "-q", "-b", "wt-branch", str(repos["worktree"]))
    (repos["worktree"] / "scratch.txt").write_text("u\n")
    return repos


def status_of(path: Path, **spec: object) -> RepoStatus:
    [status] = collect_statuses([RepoSpec(path=path, name=path.name, **spec)], jobs=1, timeout=20)
    return status


EXPECTED_FIELDS = {
    "clean": dict(
        branch="main",
        upstream="origin/main",
        ahead=0,
        behind=0,
        staged=0,
        unstaged=0,
        untracked=0,
        stash=0,
        detached=False,
        operation=None,
    ),
    "behind": dict(ahead=0, behind=2),
    "ahead": dict(ahead=1, behind=0),
    "diverged": dict(ahead=1, behind=3),
    "dirty": dict(staged=3, unstaged=2, untracked=2, conflicted=0),
    "stash": dict(stash=2, unstaged=0),
    "detached": dict(detached=True, upstream=None, ahead=None),
    "no-upstream": dict(branch="local-only", upstream=None, ahead=None, behind=None),
    "upstream-gone": dict(
        branch="feature", upstream="origin/feature", upstream_gone=True, ahead=None, behind=None
    ),
    "unicode-branch": dict(branch="fünf/ブランチ", upstream=None),
    "merging": dict(operation="merge", conflicted=1, conflicts_total=1, ahead=1, behind=1),
    "rebasing": dict(
        operation="rebase",
        conflicted=1,
        conflicts_total=1,
        rebase_branch="topic",
        rebase_step=(1, 1),
    ),  # fmt: skip
    "cherry-picking": dict(operation="cherry-pick", conflicted=1, conflicts_total=1),
    "bisecting": dict(operation="bisect"),
    "worktree": dict(branch="wt-branch", untracked=1),
}


@pytest.mark.parametrize("state", EXPECTED_FIELDS)
def test_status_of_real_repo(world: dict[str, Path], state: str) -> None:
    status = status_of(world[state])
    assert status.error is None
    for field, value in EXPECTED_FIELDS[state].items():
        assert getattr(status, field) == value, field


def test_detached_branch_shows_short_sha(world: dict[str, Path]) -> None:
    status = status_of(world["detached"])
    head = git(world["detached"], "rev-parse", "HEAD")
    assert (status.head, status.branch) == (head, head[:7])


@pytest.mark.parametrize("backend", ["--merge", "--apply"])
def test_a_rebase_says_its_branch_and_step(tmp_path: Path, backend: str) -> None:
    """Mid-rebase HEAD is detached, yet the repo is on its way to a branch: git keeps the
    branch's name and the step in the git dir (rebase-merge/ or rebase-apply/)."""
    _, repo = make_remote_and_clone(tmp_path, "r")
    git(repo, "switch", "-q", "-c", "feature/login")
    for name in ("one", "README.md", "three"):  # the second conflicts with main
        commit_file(repo, name, f"{name} on the branch\n")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "README.md", "main\n")
    git(repo, "switch", "-q", "feature/login")
    with pytest.raises(AssertionError):
        git(repo, "rebase", backend, "main")
    status = status_of(repo)
    assert (status.operation, status.detached) == ("rebase", True)
    assert (status.rebase_branch, status.rebase_step) == ("feature/login", (2, 3))


def test_a_failed_fetch_touching_fetch_head_is_not_taken_for_a_fetch(tmp_path: Path) -> None:
    """git truncates and touches FETCH_HEAD when a fetch fails: its time says nothing."""
    _, repo = make_remote_and_clone(tmp_path, "unreachable")
    git(repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(AssertionError):
        git(repo, "fetch")
    fetch_head = repo / ".git" / "FETCH_HEAD"
    assert fetch_head.exists() and fetch_head.stat().st_mtime > time.time() - 60
    status = status_of(repo)
    assert status.last_fetch is None
    assert status.last_fetch_failed is None  # reading cannot tell: the fetch record does


# --- the states whose labels used to be wrong (see tests/odd_repos.py) --------------------------


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("odd")
    return {name: make(base) for name, make in ODD_REPOS.items()}


def test_an_empty_clone_has_an_upstream_that_is_not_gone(odd: dict[str, Path]) -> None:
    status = status_of(odd["empty-clone"])
    assert (status.head, status.branch, status.upstream) == (None, "main", "origin/main")
    assert status.upstream_gone is False and status.error is None


def test_a_repo_without_remotes_says_so(odd: dict[str, Path]) -> None:
    assert status_of(odd["no-remote"]).no_remote is True
    assert status_of(odd["empty-repo"]).no_remote is True
    assert status_of(odd["upstream-gone"]).no_remote is False
    assert status_of(odd["empty-clone"]).no_remote is False


def test_a_branch_whose_ref_is_garbage_is_an_error_not_a_new_repo(odd: dict[str, Path]) -> None:
    """git itself reads it as a branch without commits, every file staged, and says nothing."""
    status = status_of(odd["garbage-ref"])
    assert status.error is not None and "refs/heads/main" in status.error
    assert "garbage" in status.error and status.staged == 0


def test_a_bare_repo_named_without_bare_is_read_as_one(odd: dict[str, Path]) -> None:
    """Named in `repos:` (which has no `bare` key) or on the command line."""
    status = status_of(odd["bare"])
    head = git(odd["bare"], "rev-parse", "HEAD")
    assert (status.error, status.bare, status.branch, status.head) == (None, True, "main", head)


def test_a_bare_repo_found_by_a_scan_has_its_commit(odd: dict[str, Path]) -> None:
    status = status_of(odd["bare"], bare=True)
    assert status.head == git(odd["bare"], "rev-parse", "HEAD") and status.bare


def test_submodules_left_behind_by_a_pull_are_not_local_changes(odd: dict[str, Path]) -> None:
    repo = odd["stale-submodules"]
    assert git(repo, "status", "--porcelain") == "M lib"  # git: "modified (new commits)"
    status = status_of(repo)
    assert (status.unstaged, status.stale_submodules, status.dirty) == (0, 1, False)


def test_a_submodule_with_edits_of_its_own_is_a_local_change(tmp_path: Path) -> None:
    repo = stale_submodules(tmp_path)
    (repo / "lib" / "README.md").write_text("edited in the submodule\n")
    # Trusted: status looks inside an untrusted repo's submodules no more than it runs their
    # programs (tests/core/test_trust.py).
    status = collect_statuses(
        [RepoSpec(path=repo, name=repo.name, trust=True)], jobs=1, timeout=20
    )[0]
    assert (status.unstaged, status.stale_submodules, status.dirty) == (1, 0, True)
    untrusted = status_of(repo)  # the edits inside are not seen; the moved checkout still is
    assert (untrusted.unstaged, untrusted.stale_submodules, untrusted.dirty) == (0, 1, False)


def test_many_repos_in_order_with_progress(world: dict[str, Path]) -> None:
    specs = [RepoSpec(path=path, name=name) for name, path in sorted(world.items())]
    seen: list[str] = []
    statuses = collect_statuses(specs, jobs=2, timeout=20, on_status=lambda s: seen.append(s.name))
    assert [s.name for s in statuses] == [spec.name for spec in specs]
    assert sorted(seen) == sorted(spec.name for spec in specs)
    assert all(s.error is None for s in statuses)


# --- broken repositories ---------------------------------------------------------------------


@pytest.fixture()
def broken(tmp_path: Path) -> dict[str, Path]:
    """Broken repos, each next to a healthy one; the garbage-HEAD repo sits inside a parent repo
    so that an unpinned git would silently report the parent instead."""
    parent = tmp_path / "parent"
    parent.mkdir()
    git(parent, "init", "-q")
    commit_file(parent, "parent.txt", "p\n")
    repos = {}
    for name in ("garbage-head", "stale-lock", "no-git-dir", "corrupt-index", "healthy"):
        _, repos[name] = make_remote_and_clone(parent, name)
    (repos["garbage-head"] / ".git" / "HEAD").write_text("this is not a ref\n")
    lock = repos["stale-lock"] / ".git" / "index.lock"
    lock.write_text("")
    old = time.time() - 600
    os.utime(lock, (old, old))
    shutil.rmtree(repos["no-git-dir"] / ".git")
    (repos["corrupt-index"] / ".git" / "index").write_bytes(b"DIRC\0\0\0\2garbage")
    repos["missing"] = tmp_path / "does-not-exist"
    return repos


def test_broken_repos_get_error_rows_and_others_are_unaffected(broken: dict[str, Path]) -> None:
    specs = [RepoSpec(path=path, name=name) for name, path in broken.items()]
    statuses = {s.name: s for s in collect_statuses(specs, jobs=2, timeout=20)}
    assert statuses["healthy"].error is None
    assert statuses["healthy"].branch == "main"
    assert "not a git repository" in (statuses["garbage-head"].error or "")
    assert statuses["garbage-head"].branch is None  # not the parent's "main"
    assert "stale index.lock" in (statuses["stale-lock"].error or "")
    assert statuses["stale-lock"].branch == "main"  # the counts are still read
    assert "not a git repository" in (statuses["no-git-dir"].error or "")
    assert "index" in (statuses["corrupt-index"].error or "")
    assert statuses["missing"].error == "path does not exist"


def test_fresh_index_lock_is_not_an_error(world: dict[str, Path], tmp_path: Path) -> None:
    _, repo = make_remote_and_clone(tmp_path, "busy")
    (repo / ".git" / "index.lock").write_text("")
    assert status_of(repo).error is None


def test_hanging_repo_times_out_and_the_rest_carry_on(tmp_path: Path) -> None:
    """A clean filter that never returns stands in for a hung filesystem or LFS server."""
    _, hung = make_remote_and_clone(tmp_path, "hung")
    pidfile = tmp_path / "filter.pid"
    commit_file(hung, "a.txt", "a\n")
    git(hung, "config", "filter.slow.clean", f"sh -c 'echo $$ > {pidfile}; exec sleep 60'")
    (hung / ".gitattributes").write_text("*.txt filter=slow\n")
    later = time.time() + 5
    os.utime(hung / "a.txt", (later, later))  # same size, new mtime: git must run the filter
    _, fine_before = make_remote_and_clone(tmp_path, "before")
    _, fine_after = make_remote_and_clone(tmp_path, "after")
    pidfile.unlink(missing_ok=True)
    # Trusted: an untrusted repo's own filter would not run at all.
    specs = [
        RepoSpec(path=p, name=p.name, trust=p == hung) for p in (fine_before, hung, fine_after)
    ]
    started = time.monotonic()
    statuses = collect_statuses(specs, jobs=1, timeout=1.5)
    assert time.monotonic() - started < 10
    assert [s.error is None for s in statuses] == [True, False, True]
    assert "timed out" in (statuses[1].error or "")
    assert process_ends(int(pidfile.read_text()))  # the filter, a grandchild, was killed too


def test_fsmonitor_hook_of_the_repo_is_not_run(tmp_path: Path) -> None:
    _, repo = make_remote_and_clone(tmp_path, "hooked")
    marker = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    git(repo, "status")  # plain git does run it: the trap is real
    assert marker.exists()
    marker.unlink()
    assert status_of(repo).error is None
    assert not marker.exists()


def test_background_status_leaves_the_index_alone(tmp_path: Path) -> None:
    """With optional locks on, `git status` rewrites a stat-dirty index (taking index.lock)."""
    _, repo = make_remote_and_clone(tmp_path, "quiet")
    index = repo / ".git" / "index"
    os.utime(repo / "README.md")
    before = index.stat().st_mtime_ns
    time.sleep(0.05)
    status_of(repo)
    assert index.stat().st_mtime_ns == before


def test_bare_repo_status(tmp_path: Path) -> None:
    remote, _ = make_remote_and_clone(tmp_path, "b")
    status = status_of(remote, bare=True)
    assert (status.branch, status.error, status.staged) == ("main", None, 0)


def test_git_dir_state_reads_operation_and_lock(tmp_path: Path) -> None:
    git_dir = tmp_path / "gd"
    (git_dir / "rebase-apply").mkdir(parents=True)
    (git_dir / "rebase-apply" / "applying").write_text("")
    (git_dir / "index.lock").write_text("")
    state = read_git_dir_state(git_dir, now=time.time() + 120)
    assert state.operation == "am"
    assert state.stale_lock_age is not None and state.stale_lock_age > 100
    assert read_git_dir_state(tmp_path / "nope").operation is None


def test_a_resolved_file_still_counts_in_the_conflicts_total(tmp_path: Path) -> None:
    """ "merging 1/2": git listed both files when the merge stopped; one is resolved since."""
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    for name in ("a.txt", "b.txt"):
        commit_file(clone, name, "ours\n")
        commit_file(other, name, "theirs\n")
    git(other, "push", "-q", "origin", "main")
    git(clone, "fetch", "-q")
    with pytest.raises(AssertionError):
        git(clone, "merge", "origin/main")
    assert (status_of(clone).conflicted, status_of(clone).conflicts_total) == (2, 2)
    (clone / "a.txt").write_text("merged\n")
    git(clone, "add", "a.txt")
    status = status_of(clone)
    assert (status.operation, status.conflicted, status.conflicts_total) == ("merge", 1, 2)


def test_operations_that_need_a_work_tree_refuse_a_bare_repo(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    bare = locate_work_tree(RepoSpec(remote, "bare", bare=True), bare="stashes")
    assert bare == "a bare repository has no stashes"
    assert locate_work_tree(RepoSpec(tmp_path / "nowhere", "gone")) == "path does not exist"
    located = locate_work_tree(RepoSpec(clone, "repo"))
    assert not isinstance(located, str) and located.work_tree == clone
