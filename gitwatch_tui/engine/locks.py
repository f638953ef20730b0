"""One writer per repository across processes: an advisory lock file per repo."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from gitwatch_tui.core.git import wait_for_descriptors

HOLD_WAIT = 0.05  # how long `hold` retries a lock that is taken, unless told otherwise


class RepoBusy(Exception):  # noqa: N818 (reads as the state it reports)
    """Another gitwatch-tui (or another task in this one) is syncing the repository."""

    def __init__(self, repo_path: Path, holder: str | None) -> None:
        self.repo_path = repo_path
        self.holder = holder
        by = f"another gitwatch-tui ({holder})" if holder else "another gitwatch-tui"
        super().__init__(f"busy: {by} is syncing {repo_path}")


class RepoLock:
    """An advisory lock per repository in the state dir, so a dashboard and a daemon on the
    same machine never fetch or pull the same repo at the same moment.

    `fcntl.flock` on a lock file named after a hash of the repo's real path: the kernel
    releases it when the process dies, so a crash never leaves it stuck. flock belongs to an
    open file description and each acquisition opens its own, so two `RepoLock`s in one
    process exclude each other too. Not re-entrant: `try_acquire` on a lock this object
    already holds returns False.
    """

    def __init__(self, state_dir: Path, repo_path: Path) -> None:
        self.repo_path = repo_path
        real = os.path.realpath(repo_path)  # symlinks and `..` name one repo one way
        digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:32]
        self.path = state_dir / "locks" / f"{digest}.lock"
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"<RepoLock {self.repo_path} {'held' if self.held else 'free'}>"

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock without waiting; False when anyone (this object included) holds it."""
        with self._mutex:
            if self._fd is not None:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Never unlinked: deleting a lock file others have open would split the lock.
            # O_CLOEXEC keeps the fd (and so the lock) out of git child processes.
            fd = _open_waiting_for_descriptors(self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
            self._fd = fd
            return True

    def release(self) -> None:
        """Let go of the lock; a no-op when not held."""
        with self._mutex:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.ftruncate(fd, 0)  # before unlocking, so no one reads us as the holder
                os.close(fd)  # closing the last fd of the description drops the flock

    @property
    def holder(self) -> str | None:
        """Who holds the lock, as "pid N on host", as written by the holder; None if unknown.

        Meant for the message after `try_acquire` failed. A dead holder's note (after a crash)
        is not reported when the holder ran on this host.
        """
        try:
            pid_text, _, host = self.path.read_text(encoding="utf-8").strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if host == socket.gethostname() and not _alive(pid):
            return None
        return f"pid {pid} on {host}" if host else f"pid {pid}"

    @contextlib.contextmanager
    def hold(self, wait: float = HOLD_WAIT) -> Iterator[RepoLock]:
        """Hold the lock for a `with` block; raises `RepoBusy` when it is still taken after
        `wait` seconds.

        Blocks for up to `wait` seconds (call it off the event loop). Even a short wait is
        worth it: a holder that has just
        let go may still have its lock's descriptor in a child process that has forked but
        not yet exec'd (O_CLOEXEC closes it only at the exec), which holds the flock for a
        moment after the release."""
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise RepoBusy(self.repo_path, self.holder)
            time.sleep(0.005)
        try:
            yield self
        finally:
            self.release()


def _open_waiting_for_descriptors(path: Path) -> int:
    """The lock file, opened; out of file descriptors (a flood of connections to the daemon
    takes them, and its server gives them back), it waits as starting git does, rather than
    fail the poll that wanted the lock."""
    attempt = 0
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            time.sleep(wait_for_descriptors(exc, attempt))
            attempt += 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
