"""Repo locks across processes, within one process, after a crash, and through symlinks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwatch_tui.engine.locks import RepoBusy, RepoLock
from tests.processes import SHORT_OF_DESCRIPTORS

# Takes the lock, says so, and lets go (then exits) at each line on stdin.
HOLDER = """
import sys
from pathlib import Path
from gitwatch_tui.engine.locks import RepoLock
lock = RepoLock(Path(sys.argv[1]), Path(sys.argv[2]))
print("held" if lock.try_acquire() else "refused", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
sys.stdin.readline()
"""


class Other:
    """Another process using the same state dir."""

    def __init__(self, state: Path, repo: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(state), str(repo)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.first = self.stdout.readline().strip()

    def step(self) -> str:
        self.stdin.write("\n")
        self.stdin.flush()
        return self.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.stdin.close()
        self.stdout.close()


@pytest.fixture()
def others() -> Iterator[list[Other]]:
    started: list[Other] = []
    yield started
    for other in started:
        other.close()


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repos" / "alpha"
    path.mkdir(parents=True)
    return path


def test_another_process_is_refused_until_release(
    state: Path, repo: Path, others: list[Other]
) -> None:
    holder = Other(state, repo)
    others.append(holder)
    assert holder.first == "held"
    lock = RepoLock(state, repo)
    assert not lock.try_acquire()
    assert lock.holder == f"pid {holder.proc.pid} on {socket.gethostname()}"
    with pytest.raises(RepoBusy, match=f"pid {holder.proc.pid}") as busy, lock.hold():
        pass
    assert busy.value.holder == lock.holder and busy.value.repo_path == repo

    assert holder.step() == "released"
    assert lock.holder is None  # the holder clears its note on release
    with lock.hold() as held:
        assert held is lock and lock.held
        late = Other(state, repo)
        others.append(late)
        assert late.first == "refused"
    assert not lock.held


def test_lock_is_released_when_the_holder_is_killed(
    state: Path, repo: Path, others: list[Other]
) -> None:
    holder = Other(state, repo)
    others.append(holder)
    assert holder.first == "held"
    lock = RepoLock(state, repo)
    assert not lock.try_acquire()
    holder.proc.kill()  # SIGKILL: no chance to clean up
    holder.proc.wait(timeout=10)
    assert lock.holder is None  # its note is left behind, but the pid is gone
    assert lock.try_acquire()
    lock.release()


def test_two_objects_in_one_process_exclude_each_other(state: Path, repo: Path) -> None:
    first, second = RepoLock(state, repo), RepoLock(state, repo)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert not first.try_acquire()  # not re-entrant: a second task sharing the object waits too
    assert first.holder == f"pid {os.getpid()} on {socket.gethostname()}"
    first.release()
    first.release()  # harmless when not held
    assert second.try_acquire() and not first.try_acquire()
    second.release()


def test_different_repos_do_not_interfere(state: Path, repo: Path, tmp_path: Path) -> None:
    beta = tmp_path / "repos" / "beta"
    beta.mkdir()
    with RepoLock(state, repo).hold(), RepoLock(state, beta).hold():
        assert RepoLock(state, repo).path != RepoLock(state, beta).path


def test_symlinked_path_maps_to_the_same_lock(state: Path, repo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link-to-alpha"
    link.symlink_to(repo)
    dotted = repo.parent / ".." / "repos" / "alpha"
    assert RepoLock(state, link).path == RepoLock(state, repo).path == RepoLock(state, dotted).path
    with RepoLock(state, repo).hold():
        assert not RepoLock(state, link).try_acquire()


def test_lock_does_not_leak_into_child_processes(state: Path, repo: Path) -> None:
    lock = RepoLock(state, repo)
    assert lock.try_acquire()
    # close_fds=False: only O_CLOEXEC keeps the lock's fd out of a long-running git child.
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        lock.release()
        assert RepoLock(state, repo).try_acquire()
    finally:
        child.kill()
        child.wait(timeout=10)


def test_a_lock_just_released_is_taken_though_a_forked_child_still_has_its_descriptor(
    state: Path, repo: Path
) -> None:
    """Between fork and exec a child holds a copy of every descriptor, the lock's included
    (O_CLOEXEC closes it only at the exec): the flock outlives the release for that moment.
    Seen as "busy" right after a release while a git was being started in another thread."""
    first, second = RepoLock(state, repo), RepoLock(state, repo)
    assert first.try_acquire()
    child = os.fork()
    if child == 0:  # the moment between fork and exec, stretched a little
        os.close(os.open(os.devnull, os.O_RDONLY))
        time.sleep(0.02)
        os._exit(0)
    try:
        first.release()
        with second.hold():
            assert second.held
    finally:
        os.waitpid(child, 0)


OUT_OF_DESCRIPTORS = (
    SHORT_OF_DESCRIPTORS
    + """
import sys
from pathlib import Path
from gitwatch_tui.engine.locks import RepoLock

take_all()
print(RepoLock(Path(sys.argv[1]), Path(sys.argv[2])).try_acquire())
"""
)


def test_out_of_descriptors_a_lock_waits_for_one_as_git_does(state: Path, repo: Path) -> None:
    """A flood of connections to the daemon takes its descriptors until its server gives
    some back; a poll's lock file failed to open meanwhile, and the poll with it, where
    starting git waits for a descriptor (it failed so under load in CI)."""
    out = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS, str(state), str(repo)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
