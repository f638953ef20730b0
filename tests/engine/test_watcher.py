"""RepoWatcher against real folders and real git repos: what is reported, how fast, how often."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from watchfiles import Change, awatch

from gitwatch_tui.engine import watch_worker
from gitwatch_tui.engine import watcher as watcher_module
from gitwatch_tui.engine.watcher import RepoFilter, RepoWatcher
from tests.conftest import commit_file, git

Spec = dict[str, tuple[Path | None, Path]]


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    commit_file(path, "README.md", "hello\n", "initial")
    return path


def specs(*repos: Path) -> Spec:
    return {r.name: (r, r / ".git") for r in repos}


async def wait_for(predicate: Callable[[], object], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Recorder:
    """The on_change callback: keeps every call for the asserts."""

    def __init__(self) -> None:
        self.calls: list[set[str]] = []

    def __call__(self, names: set[str]) -> None:
        self.calls.append(set(names))

    def since(self, mark: int) -> set[str]:
        return set().union(*self.calls[mark:])

    async def reported(self, name: str, mark: int, within: float = 2.0) -> float:
        """Seconds until a call after `mark` names `name`."""
        start = time.monotonic()
        await wait_for(lambda: name in self.since(mark), within)
        return time.monotonic() - start

    async def settle(self, quiet: float = 0.4) -> int:
        """Wait until no call has come for `quiet` seconds; the new mark."""
        while True:
            mark = len(self.calls)
            await asyncio.sleep(quiet)
            if len(self.calls) == mark:
                return mark


@contextlib.asynccontextmanager
async def watching(
    repos: Spec, debounce: float = 0.1, within: float = 3.0, **kwargs: object
) -> AsyncIterator[tuple[RepoWatcher, Recorder]]:
    seen = Recorder()
    watcher = RepoWatcher(seen, debounce=debounce, **kwargs)  # type: ignore[arg-type]
    watcher.set_repos(repos)
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.watching or watcher.polling_fallback or task.done(), within)
        yield watcher, seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- the path map, no watching ---------------------------------------------------------------


def test_git_dir_keeps_status_files_and_drops_churn(tmp_path: Path) -> None:
    repo = make_repo(Path(os.path.realpath(tmp_path)) / "r")
    paths = RepoFilter(specs(repo))
    kept = ["HEAD", "index", "packed-refs", "config", "refs/heads/main", "refs/heads/feat/x"]
    kept += ["refs/stash", "logs/refs/stash", "refs/remotes/origin/main", "FETCH_HEAD"]
    kept += ["MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG", "rebase-merge/done"]
    kept += ["rebase-apply/next", "rebase-merge"]
    dropped = ["index.lock", "HEAD.lock", "refs/heads/main.lock", "objects/ab/cdef", "gc.log"]
    dropped += ["objects/pack/p.pack", "logs/HEAD", "logs/refs/heads/main", "hooks/pre-commit"]
    dropped += ["ORIG_HEAD", "COMMIT_EDITMSG", "modules/sub/HEAD", "HEAD/x"]
    for rel in kept:
        assert paths.repos_for(str(repo / ".git" / rel)) == {"r"}, rel
    for rel in dropped:
        assert paths.repos_for(str(repo / ".git" / rel)) == set(), rel
    assert not paths(Change.modified, str(repo / ".git" / "index.lock"))
    # The worker watches the folder of every kept path, so the kernel reports it at all.
    for rel in kept:
        folder = rel.split("/")[:-1]
        assert not folder or watch_worker.wanted("git", folder, frozenset()), rel


def test_work_tree_keeps_the_usual_ignores_relative_to_the_repo(tmp_path: Path) -> None:
    # The repo itself sits under a folder named node_modules: only paths inside it count.
    repo = make_repo(Path(os.path.realpath(tmp_path)) / "node_modules" / "r")
    paths = RepoFilter(specs(repo))
    for rel in ["README.md", "src/a.py", ".gitignore", "r"]:
        assert paths.repos_for(str(repo / rel)) == {"r"}, rel
    for rel in ["node_modules/x/i.js", "__pycache__/a.pyc", ".venv/lib/x.py", "a.swp", "b~"]:
        assert paths.repos_for(str(repo / rel)) == set(), rel
    assert paths.repos_for(str(repo.parent / "elsewhere.txt")) == set()
    assert paths.repos_for(str(repo)) == {"r"}  # the folder itself came or went


def test_nested_repos_and_linked_worktrees_map_to_the_right_names(tmp_path: Path) -> None:
    base = Path(os.path.realpath(tmp_path))
    outer = make_repo(base / "outer")
    inner = make_repo(outer / "inner")
    main = make_repo(base / "main")
    git(main, "worktree", "add", "-q", "-b", "side", str(base / "wt"))
    wt_git = Path(git(base / "wt", "rev-parse", "--absolute-git-dir"))
    repos = {**specs(outer, inner, main), "wt": (base / "wt", wt_git)}
    paths = RepoFilter(repos)
    assert paths.repos_for(str(inner / "f.txt")) == {"inner"}
    assert paths.repos_for(str(inner / ".git" / "index")) == {"inner"}
    assert paths.repos_for(str(outer / "f.txt")) == {"outer"}
    assert paths.repos_for(str(wt_git / "HEAD")) == {"wt"}
    assert paths.repos_for(str(wt_git / "index.lock")) == set()
    assert paths.repos_for(str(main / ".git" / "index")) == {"main"}
    # Branches live in the common dir: a commit in one worktree moves refs both can see.
    assert paths.repos_for(str(main / ".git" / "refs" / "heads" / "side")) == {"main", "wt"}
    # Every root is planned, nested ones too: the worker walks each by its own rules.
    tree, git_dir = "tree", "git"
    assert paths.plan() == (
        {
            str(main): tree,
            str(main / ".git"): git_dir,
            str(wt_git): git_dir,
            str(outer): tree,
            str(outer / ".git"): git_dir,
            str(inner): tree,
            str(inner / ".git"): git_dir,
            str(base / "wt"): tree,
        },
        [],
    )
    # A recursive watch (awatch) needs only the outermost ones.
    assert watcher_module._outermost(paths.plan()[0]) == [str(main), str(outer), str(base / "wt")]
    # Without its main repo a worktree still watches the common dir, for refs only.
    alone = RepoFilter({"wt": (base / "wt", wt_git), "gone": (base / "gone", base / "gone/.git")})
    there, missing = alone.plan()
    assert there == {str(main / ".git"): git_dir, str(wt_git): git_dir, str(base / "wt"): tree}
    assert missing == [str(base / "gone"), str(base / "gone/.git")]
    assert watcher_module._outermost(there) == [str(main / ".git"), str(base / "wt")]
    assert alone.repos_for(str(main / ".git" / "index")) == set()
    assert alone.repos_for(str(main / ".git" / "packed-refs")) == {"wt"}


# -- real watching ---------------------------------------------------------------------------


async def test_a_work_tree_edit_is_reported_within_a_second_or_two(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    async with watching(specs(repo), debounce=0.3) as (watcher, seen):
        (repo / "new.txt").write_text("x\n")
        assert await seen.reported("a", 0) < 2.0
        assert seen.calls == [{"a"}]


async def test_git_commands_are_seen_through_the_git_dir(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    (repo / "f.txt").write_text("x\n")
    async with watching(specs(repo), debounce=0.05) as (_, seen):
        for args in [
            ("add", "f.txt"),  # the index only
            ("commit", "-q", "-m", "f"),
            ("checkout", "-q", "-b", "feature"),  # HEAD and a new ref, no work tree change
            ("update-ref", "refs/heads/other", "HEAD"),
            ("branch", "-q", "--set-upstream-to", "main"),  # config only: the upstream moved
        ]:
            mark = await seen.settle(0.15)
            git(repo, *args)
            await seen.reported("a", mark)
        (repo / "f.txt").write_text("changed\n")
        mark = await seen.settle(0.15)
        git(repo, "stash", "-q")
        await seen.reported("a", mark)


async def test_object_writes_locks_and_ignored_folders_are_not_reported(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    async with watching(specs(repo)) as (_, seen):
        (repo / ".git" / "objects" / "ab").mkdir(exist_ok=True)  # an object may be there
        (repo / ".git" / "objects" / "ab" / "cdef").write_bytes(b"blob")
        (repo / ".git" / "index.lock").write_text("x")
        (repo / ".git" / "index.lock").unlink()
        with (repo / ".git" / "logs" / "HEAD").open("a") as log:
            log.write("x\n")
        (repo / "node_modules" / "pkg").mkdir(parents=True)
        (repo / "node_modules" / "pkg" / "index.js").write_text("x")
        (repo / "notes.txt.swp").write_text("x")
        await asyncio.sleep(0.6)  # a kept event would be reported within about 0.25 s
        assert seen.calls == []
        (repo / "README.md").write_text("still watching\n")
        await seen.reported("a", 0)


async def test_a_burst_of_writes_gives_one_callback_per_repo(tmp_path: Path) -> None:
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")

    def burst() -> None:
        for i in range(500):
            (a / f"f{i}.txt").write_text(str(i))
            (b / "sub").mkdir(exist_ok=True)
            (b / "sub" / f"f{i}.txt").write_text(str(i))

    async with watching(specs(a, b), debounce=0.3) as (_, seen):
        await asyncio.to_thread(burst)
        await seen.reported("a", 0)
        await seen.reported("b", 0)
        await seen.settle()
        assert sum("a" in c for c in seen.calls) <= 2, seen.calls
        assert sum("b" in c for c in seen.calls) <= 2, seen.calls


async def test_an_edit_in_a_nested_repo_maps_to_the_inner_one(tmp_path: Path) -> None:
    outer = make_repo(tmp_path / "outer")
    inner = make_repo(outer / "inner")
    async with watching(specs(outer, inner)) as (_, seen):
        (inner / "f.txt").write_text("x\n")
        await seen.reported("inner", 0)
        mark = await seen.settle(0.25)
        assert seen.since(0) == {"inner"}
        (outer / "g.txt").write_text("x\n")
        await seen.reported("outer", mark)
        assert seen.since(mark) == {"outer"}


async def test_set_repos_adds_and_removes_watches_live(tmp_path: Path) -> None:
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    async with watching(specs(a)) as (watcher, seen):
        watcher.set_repos(specs(a, b))
        # Until the new watch is up the old one still covers `a`: nothing falls in the gap.
        (a / "early.txt").write_text("x\n")
        await seen.reported("a", 0)
        await wait_for(lambda: watcher.watching)
        (b / "f.txt").write_text("x\n")
        await seen.reported("b", 0)
        watcher.set_repos(specs(b))
        await wait_for(lambda: watcher.watching)
        mark = await seen.settle(0.25)
        (a / "late.txt").write_text("x\n")
        (b / "g.txt").write_text("x\n")
        await seen.reported("b", mark)
        await asyncio.sleep(0.3)
        assert "a" not in seen.since(mark)


async def test_suppress_hides_events_in_its_window_only(tmp_path: Path) -> None:
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    now = [1000.0]
    async with watching(specs(a, b), clock=lambda: now[0]) as (watcher, seen):
        watcher.suppress("a", 10.0)
        (a / "ours.txt").write_text("x\n")
        await asyncio.sleep(0.3)
        (b / "theirs.txt").write_text("x\n")  # b still reports, so the watcher is alive
        await seen.reported("b", 0)
        await asyncio.sleep(0.2)
        assert "a" not in seen.since(0)
        now[0] += 10.5
        (a / "later.txt").write_text("x\n")
        await seen.reported("a", 0)


async def test_missing_or_deleted_repos_do_not_break_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher_module, "_RECHECK", 0.2)
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    ghost = tmp_path / "ghost"
    async with watching(specs(a, b, ghost)) as (watcher, seen):
        assert watcher.watching
        (a / "f.txt").write_text("x\n")
        await seen.reported("a", 0)
        shutil.rmtree(b)
        await seen.reported("b", 0)  # its folder went: the engine reads the error itself
        await wait_for(lambda: watcher.watching)
        mark = await seen.settle(0.25)
        (a / "g.txt").write_text("x\n")
        await seen.reported("a", mark)
        make_repo(ghost)  # it appears later: the look for missing folders picks it up
        mark = await seen.settle(0.25)
        for i in range(30):
            (ghost / f"f{i}.txt").write_text("x\n")
            await asyncio.sleep(0.1)
            if "ghost" in seen.since(mark):
                break
        await seen.reported("ghost", mark)


async def test_a_linked_worktree_sees_its_commits(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main")
    wt = tmp_path / "wt"
    git(main, "worktree", "add", "-q", "-b", "side", str(wt))
    wt_git = Path(git(wt, "rev-parse", "--absolute-git-dir"))
    (wt / "f.txt").write_text("x\n")
    async with watching({"wt": (wt, wt_git)}) as (_, seen):
        git(wt, "add", "f.txt")
        await seen.reported("wt", 0)
        mark = await seen.settle(0.25)
        git(main, "tag", "v1")  # a ref made from the main worktree lands in the common dir
        await seen.reported("wt", mark)


def children(pid: int | None = None) -> list[int]:
    """The live child processes of `pid` (default: this process), from /proc."""
    pid, found = pid or os.getpid(), []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def inotify_watches(pid: int) -> list[int]:
    """The inode numbers `pid` has inotify watches on (Linux), over all its instances."""
    inodes = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if "inotify" in os.readlink(fd):
                for line in Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text().splitlines():
                    if line.startswith("inotify wd:"):
                        inodes.append(int(line.split("ino:")[1].split()[0], 16))
    return inodes


def inotify_instances() -> int:
    """How many inotify instances this process and its children hold, each a live watch."""
    count = 0
    for pid in [os.getpid(), *children()]:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    count += "inotify" in os.readlink(fd)
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_cancelling_run_stops_the_watch_promptly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    before, kids = inotify_instances(), set(children())
    watcher = RepoWatcher(Recorder())
    watcher.set_repos(specs(repo))
    task = asyncio.create_task(watcher.run())
    await wait_for(lambda: watcher.watching)
    assert inotify_instances() == before + 1
    (worker,) = set(children()) - kids  # the watches live in one worker process
    start = time.monotonic()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 2.0
    assert worker not in children()  # gone and reaped, not left behind
    assert inotify_instances() == before
    assert not watcher.watching


def watched_folders(pid: int, top: Path) -> set[str]:
    """The folders under `top` that process `pid` holds inotify watches on, relative to `top`."""
    by_inode = {top.stat().st_ino: "."}
    for folder, dirs, _ in os.walk(top):
        for name in dirs:
            path = Path(folder, name)
            by_inode[path.stat().st_ino] = str(path.relative_to(top))
    return {by_inode[i] for i in inotify_watches(pid) if i in by_inode}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
async def test_the_worker_watches_only_folders_that_can_change_a_status(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    for folder in ["src/pkg", "build", "node_modules/x/y", ".venv/lib", "src/__pycache__"]:
        (repo / folder).mkdir(parents=True)
    kids = set(children())
    async with watching(specs(repo)) as (watcher, _):
        assert watcher.watching
        (worker,) = set(children()) - kids
        assert watched_folders(worker, repo) == {
            *(".", "src", "src/pkg", "build"),
            *(".git", ".git/refs", ".git/refs/heads", ".git/refs/tags"),
            *(".git/logs", ".git/logs/refs"),  # logs/refs/stash: `stash drop` writes only that
        }  # not objects/, the other reflogs, hooks/, info/, nor what DefaultFilter ignores
        assert inotify_watches(os.getpid()) == []  # none in the loop's process


def used_at(repo: Path, when: float) -> None:
    """Make `repo` look last used at `when` (its git dir's index, HEAD and HEAD reflog)."""
    for name in ("index", "HEAD", "logs/HEAD"):
        os.utime(repo / ".git" / name, (when, when))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
async def test_over_the_watch_budget_the_most_recently_used_trees_are_watched(
    tmp_path: Path,
) -> None:
    repos = {name: make_repo(tmp_path / name) for name in "abcd"}
    for repo in repos.values():
        for folder in ("src/pkg", "docs"):
            (repo / folder).mkdir(parents=True)  # 4 watches a tree: ., src, src/pkg, docs
    for age, name in enumerate("cadb"):  # c used last, b longest ago
        used_at(repos[name], time.time() - 1000 * (age + 1))
    git_dirs = watch_worker.Inotify(
        {str(r / ".git"): "git" for r in repos.values()}, frozenset(), lenient=False
    )
    git_dirs.setup()
    os.close(git_dirs.fd)
    budget = git_dirs.watches + 2 * 4 + 3  # every git dir, two trees, not a third
    kids = set(children())
    async with watching(specs(*repos.values()), watch_budget=budget) as (watcher, seen):
        assert watcher.watching
        assert watcher.unwatched_trees() == {"d", "b"}
        (worker,) = set(children()) - kids
        trees = {f.split("/")[0] for f in watched_folders(worker, tmp_path) if ".git" not in f}
        assert trees == {"c", "a"}
        assert {f for f in watched_folders(worker, tmp_path) if f.endswith(".git")} == {
            f"{name}/.git" for name in "abcd"
        }  # git dirs always
        (repos["c"] / "new.txt").write_text("x\n")
        await seen.reported("c", 0)
        mark = await seen.settle(0.3)
        (repos["b"] / "new.txt").write_text("x\n")  # b's tree is polled instead
        git(repos["d"], "add", "-A")  # a git command shows through d's git dir all the same
        await seen.reported("d", mark)
        assert "b" not in seen.since(mark)
    assert watcher.notices == [
        "2 of 4 work trees are over the inotify watch budget (fs.inotify.max_user_watches="
        f"{watcher_module._sysctl('max_user_watches')}); their local changes are picked up "
        "every poll instead"
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")
def test_the_budget_is_what_the_system_leaves_less_a_reserve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [tmp_path / f"f{i}" for i in range(30)]
    for folder in folders:
        folder.mkdir()
    ours = watch_worker.Inotify({str(f): "tree" for f in folders}, frozenset(), lenient=False)
    ours.setup()
    try:  # other processes' watches come and go meanwhile: ours are counted at least
        assert watcher_module._watches_in_use() >= 30
    finally:
        os.close(ours.fd)
    limit = int(watcher_module._sysctl("max_user_watches"))
    monkeypatch.setattr(watcher_module, "_watches_in_use", lambda: 5000)
    assert watcher_module.inotify_budget() == limit - 5000 - limit // 10
    # The current session's watches are its own: the new session replaces it.
    assert watcher_module.inotify_budget(own=3000) == limit - 2000 - limit // 10
    monkeypatch.setattr(watcher_module, "_watches_in_use", lambda: limit)
    assert watcher_module.inotify_budget() == 0


async def test_new_and_moved_folders_are_watched_where_they_are_now(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    outside = tmp_path / "outside"
    (outside / "pkg" / "sub").mkdir(parents=True)
    async with watching(specs(repo)) as (_, seen):
        (repo / "src" / "deep").mkdir(parents=True)
        await seen.reported("a", 0)
        steps: list[Callable[[], object]] = [
            lambda: (repo / "src" / "deep" / "f.txt").write_text("x\n"),  # made after start
            lambda: (outside / "pkg").rename(repo / "pkg"),  # moved in
            lambda: (repo / "pkg" / "sub" / "g.txt").write_text("x\n"),
            lambda: (repo / "pkg").rename(repo / "pkg2"),  # renamed inside the repo
            lambda: (repo / "pkg2" / "sub" / "h.txt").write_text("x\n"),
            lambda: git(repo, "branch", "feat/x"),  # a new folder under refs/heads ...
            lambda: git(repo, "branch", "feat/y"),  # ... watched for the next branch in it
        ]
        for step in steps:
            mark = await seen.settle(0.25)
            step()
            await seen.reported("a", mark)
        mark = await seen.settle(0.25)
        (repo / "pkg2").rename(outside / "back")  # moved out: no longer the repo's business
        await seen.reported("a", mark)
        mark = await seen.settle(0.25)
        (outside / "back" / "sub" / "i.txt").write_text("x\n")
        await asyncio.sleep(0.4)
        assert seen.since(mark) == set()


async def test_setting_up_many_watches_does_not_stall_the_loop(tmp_path: Path) -> None:
    # ~10,000 folders: watchfiles in this process held the loop for about 0.5 s over these.
    repos: Spec = {}
    for i in range(20):
        root = tmp_path / f"r{i}"
        for a in range(25):
            for b in range(20):
                (root / f"d{a}" / f"e{b}").mkdir(parents=True)
        (root / ".git" / "refs").mkdir(parents=True)
        repos[root.name] = (root, root / ".git")
    longest, done = 0.0, False

    async def meter() -> None:
        nonlocal longest
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            longest = max(longest, time.perf_counter() - start - 0.005)

    task = asyncio.create_task(meter())
    async with watching(repos, within=20.0) as (watcher, _):
        assert watcher.watching
        await asyncio.sleep(0.1)
    done = True
    await task
    # In-process watchfiles stalled it 0.5 s; a loaded machine can pause any loop ~0.1 s.
    assert longest < 0.25


async def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a")
    kids = set(children())
    async with watching(specs(repo)) as (watcher, seen):
        (worker,) = set(children()) - kids
        os.kill(worker, signal.SIGKILL)
        await wait_for(lambda: not watcher.watching)
        await wait_for(lambda: watcher.watching, 5.0)  # a new session, a moment later
        assert set(children()) - kids not in ({worker}, set())
        assert watcher.notices == [] and not watcher.polling_fallback
        (repo / "f.txt").write_text("x\n")
        await seen.reported("a", 0)


def gone(pid: int) -> bool:
    """Whether process `pid` has exited (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


ORPHAN = """
import asyncio, os, sys
from pathlib import Path
from gitwatch_tui.engine.watcher import RepoWatcher

def parent_of(pid: str) -> int | None:
    try:  # other processes come and go while /proc is read
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])

async def main() -> None:
    repo = Path(sys.argv[1])
    watcher = RepoWatcher(print)
    watcher.set_repos({"r": (repo, repo / ".git")})
    task = asyncio.create_task(watcher.run())
    while not watcher.watching:
        await asyncio.sleep(0.02)
    print(*[p for p in os.listdir("/proc") if p.isdigit() and parent_of(p) == os.getpid()],
          flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc")
async def test_the_worker_does_not_outlive_its_process(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ORPHAN, str(repo), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    (worker,) = map(int, (await asyncio.wait_for(parent.stdout.readline(), 10)).split())
    assert not gone(worker)
    parent.kill()  # no clean-up at all: the worker sees EOF on stdin
    await parent.wait()
    await parent.stdout.read()
    await wait_for(lambda: gone(worker), 3.0)


def test_the_worker_leaves_when_its_parent_changes_even_if_stdin_stays_open(
    tmp_path: Path,
) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("inotify")
    (tmp_path / "w").mkdir()
    request = {
        "roots": [[str(tmp_path / "w"), "tree"]],
        "lenient": False,
        "ignore_dirs": [],
        "step_ms": 50,
        "debounce_ms": 100,
        "backend": "inotify",
        "parent": 0,
    }
    out = tmp_path / "out.jsonl"
    # The shell starts the worker on a copy of its stdin, says its pid and exits: the worker's
    # stdin stays open (this test holds the other end), but its parent is gone.
    script = 'exec 3<&0; "$1" -m gitwatch_tui.engine.watch_worker <&3 3<&- >"$2" & echo $!'
    shell = subprocess.Popen(
        ["sh", "-c", script, "sh", sys.executable, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert shell.stdin is not None and shell.stdout is not None
    with shell.stdin, shell.stdout:
        request["parent"] = shell.pid
        shell.stdin.write(json.dumps(request).encode() + b"\n")
        shell.stdin.flush()
        worker = int(shell.stdout.readline())
        shell.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not gone(worker):
            assert time.monotonic() < deadline, "the worker outlived its parent"
            time.sleep(0.05)
    assert json.loads(out.read_text().splitlines()[0])["ready"]


async def test_the_watchfiles_backend_reports_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What macOS and Windows use: every folder, recursively, through watchfiles in the worker.
    monkeypatch.setattr(watcher_module, "_BACKEND", "watchfiles")
    repo = make_repo(tmp_path / "a")
    (repo / "f.txt").write_text("x\n")
    async with watching(specs(repo)) as (watcher, seen):
        assert watcher.watching
        (repo / "g.txt").write_text("x\n")
        await seen.reported("a", 0)
        mark = await seen.settle(0.25)
        git(repo, "add", "f.txt")
        await seen.reported("a", mark)
        mark = await seen.settle(0.25)
        (repo / ".git" / "objects" / "ab").mkdir()
        await asyncio.sleep(0.4)
        assert seen.since(mark) == set()


# -- degrading to polling --------------------------------------------------------------------

# The exact text watchfiles 1.x raises when inotify_add_watch fails with ENOSPC.
WATCH_LIMIT = 'OS file watch limit reached. about ["/r"] (Error { kind: MaxFilesWatch, paths: [] })'


async def over_the_limit(*paths: str, **kwargs: object) -> AsyncIterator[set[tuple[Change, str]]]:
    raise OSError(WATCH_LIMIT)
    yield set()  # an async generator, like awatch


async def test_a_watch_limit_degrades_to_polling_with_one_notice(tmp_path: Path) -> None:
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    said: list[str] = []
    async with watching(specs(a), on_notice=said.append, watch_fn=over_the_limit) as (w, _):
        assert w.polling_fallback and not w.watching
        w.set_repos(specs(a, b))  # a hot reload tries again and fails again: no second notice
        await asyncio.sleep(0.1)
        assert w.polling_fallback
        assert said == w.notices
        assert len(said) == 1
        assert said[0].startswith("inotify watch limit reached (fs.inotify.max_user_watches=")
        assert said[0].endswith("; local changes are picked up every poll instead")


class OneWatchAtATime:
    """A real awatch under a limit that fits one watch but not two at once."""

    def __init__(self) -> None:
        self.live = 0

    async def __call__(
        self, *paths: str, **kwargs: object
    ) -> AsyncIterator[set[tuple[Change, str]]]:
        if self.live:
            raise OSError(WATCH_LIMIT)
        self.live += 1
        try:
            async for changes in awatch(*paths, **kwargs):  # type: ignore[arg-type]
                yield changes
        finally:
            self.live -= 1


async def test_a_reload_over_the_limit_retries_without_the_overlap(tmp_path: Path) -> None:
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    async with watching(specs(a), watch_fn=OneWatchAtATime()) as (watcher, seen):
        watcher.set_repos(specs(a, b))
        await wait_for(lambda: watcher.watching)
        assert not watcher.polling_fallback and watcher.notices == []
        (b / "f.txt").write_text("x\n")
        await seen.reported("b", 0)


def strict_fails(*paths: str, **kwargs: object) -> AsyncIterator[set[tuple[Change, str]]]:
    if not kwargs["ignore_permission_denied"]:
        raise PermissionError('Permission denied (os error 13) about ["/r/secret"]')
    return awatch(*paths, **kwargs)  # type: ignore[arg-type]


async def test_an_unreadable_folder_costs_only_itself(tmp_path: Path) -> None:
    a = make_repo(tmp_path / "a")
    async with watching(specs(a), watch_fn=strict_fails) as (watcher, seen):
        await wait_for(lambda: watcher.watching)
        assert not watcher.polling_fallback
        assert watcher.notices == [
            'some folders cannot be watched (Permission denied (os error 13) about ["/r/secret"])'
            "; local changes are picked up every poll instead"
        ]
        (a / "f.txt").write_text("x\n")
        await seen.reported("a", 0)


PROBE = """
import asyncio, sys
from pathlib import Path
from gitwatch_tui.engine.watcher import RepoWatcher

async def main() -> None:
    repo = Path(sys.argv[1])
    watcher = RepoWatcher(print)
    watcher.set_repos({"r": (repo, repo / ".git")})
    task = asyncio.create_task(watcher.run())
    while not (watcher.polling_fallback or watcher.watching):
        await asyncio.sleep(0.02)
    task.cancel()
    print(watcher.polling_fallback, watcher.notices)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("sysctl", "value", "notice"),
    [
        ("max_inotify_watches", 3, "inotify watch limit reached (fs.inotify.max_user_watches="),
        ("max_inotify_instances", 0, "inotify instance limit reached"),
    ],
)
def test_real_inotify_limits_degrade_to_polling(
    tmp_path: Path, sysctl: str, value: int, notice: str
) -> None:
    # A new user namespace has its own inotify limits, so lowering them there cannot hurt any
    # other process on the machine; where namespaces are not allowed the test is skipped.
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        pytest.skip("needs Linux user namespaces")
    repo = make_repo(tmp_path / "r")
    script = f'echo {value} > /proc/sys/user/{sysctl} || exit 77; exec "$0" -c "$1" "$2"'
    result = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", script, sys.executable, PROBE, str(repo)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode == 77 or "unshare failed" in result.stderr:
        pytest.skip(f"no user namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True ['" + notice), result.stdout
