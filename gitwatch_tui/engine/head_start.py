"""The watch list and the first status sweep, read by a child process while the UI starts.

Starting the dashboard costs about 0.3 s of imports and a first frame before the engine could
start; with a head start git is already reading statuses meanwhile, so the table fills in the
time plain `git status` needs rather than that plus the UI's start-up.

The head start is a forked child rather than a thread. The UI's imports and first frames hold
the GIL for most of their 0.4 s: a thread got it back only now and then, so discovery had to
run before the imports (on the first frame's path, 0.1 s with 1,000 repos) and each status
loop waited for the GIL to hand over and start the next. The child has an interpreter and a
core of its own; it sends the watch list, then the statuses in batches, over a pipe.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, cast

from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.engine.state_dir import SNAPSHOT_FILENAME, default_state_dir

if TYPE_CHECKING:
    from gitwatch_tui.core.config import Config

WatchList = tuple[tuple[RepoSpec, ...], tuple[str, ...]]  # specs, warnings

# The child sends what it has read at most this often: each batch wakes the parent, whose UI
# draws the scan's progress five times a second anyway.
_BATCH_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class _Failed:
    """Sent by the child instead of what it could not read."""

    reason: str


# Statuses cross the pipe as their fields' values: unpickling a frozen dataclass sets its
# fields one by one in Python, and its own __init__ is twice as fast.
_STATUS_FIELDS = tuple(field.name for field in fields(RepoStatus))

_SWEPT = "swept"  # sent by the child after its last batch: the sweep ended, not the child


class HeadStart:
    """Resolves the watch list and reads every status in a child process.

    The engine takes both over: `watch_list` gives what `resolve_repos` gave, `follow` replays
    the statuses read so far and forwards the rest as they arrive, and `swept` completes when
    the sweep is over (cancelled by `stop`).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.watch_list: Future[WatchList] = Future()
        self.swept: Future[None] = Future()
        self._lock = threading.Lock()
        self._read: list[RepoStatus] = []
        self._forward: Callable[[RepoStatus], None] | None = None
        self._child: int | None = None
        self._stopped = False

    @classmethod
    def begin(
        cls, config: Config, *, snapshot: str | None = None, state_dir: Path | None = None
    ) -> HeadStart:
        """Fork the child that reads the watch list and the statuses; call it from the main
        thread while this process has no other (a fork copies no thread but the caller, and
        the child ends when the thread that forked it does). With `snapshot` (the engine's
        kind of process) the repos its snapshot says most likely changed are read first."""
        head_start = cls(config)
        parent = os.getpid()
        try:
            read_end, write_end = os.pipe()
            child = os.fork()
        except OSError as exc:  # the engine then resolves the list and reads it itself
            head_start._fail(exc)
            return head_start
        if child == 0:
            os.close(read_end)
            where = (state_dir or default_state_dir()) / SNAPSHOT_FILENAME
            _sweep_in_child(config, write_end, parent, (where, snapshot) if snapshot else None)
        os.close(write_end)
        head_start._child = child
        threading.Thread(
            target=head_start._receive, args=(read_end,), name="gw-head-start", daemon=True
        ).start()
        return head_start

    def follow(self, on_status: Callable[[RepoStatus], None]) -> None:
        """Send every status read so far, then each new one, to `on_status` (in order)."""
        with self._lock:
            read, self._read = self._read, []
            for status in read:
                on_status(status)
            self._forward = on_status

    def stop(self) -> None:
        """End the child, and its git processes with it, if the sweep is still under way (the
        child dies on the spot; its groups' keeper ends its git)."""
        self._stopped = True
        if self._child is not None and not self.swept.done():
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(self._child, signal.SIGTERM)

    def _receive(self, fd: int) -> None:
        assert self._child is not None
        failure: Exception | None = None
        try:
            with os.fdopen(fd, "rb") as stream:
                self.watch_list.set_result(cast(WatchList, _expect(stream)))
                while (batch := _expect(stream)) != _SWEPT:
                    for values in cast(list[tuple[Any, ...]], batch):
                        self._store(RepoStatus(*values))
        except EOFError:
            pass  # the child ended before its sweep did: how it ended is the news
        except Exception as exc:
            failure = exc
        else:
            # Not if the engine stopped between the last status and this end (it cancelled).
            with contextlib.suppress(InvalidStateError):
                self.swept.set_result(None)
        _, wait_status = os.waitpid(self._child, 0)
        if not self.swept.done():
            self._fail(failure or RuntimeError(f"status sweep ended early ({_how(wait_status)})"))

    def _fail(self, exc: Exception) -> None:
        if not self.watch_list.done():
            self.watch_list.set_exception(exc)
        if self._stopped:
            self.swept.cancel()
        elif not self.swept.done():
            self.swept.set_exception(exc)

    def _store(self, status: RepoStatus) -> None:
        with self._lock:
            if self._forward is None:
                self._read.append(status)
                return
            forward = self._forward
        forward(status)


def _expect(stream: BinaryIO) -> object:
    """The child's next message; its failure raised here."""
    message = pickle.load(stream)
    if isinstance(message, _Failed):
        raise RuntimeError(message.reason)
    return message


def _how(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit {os.waitstatus_to_exitcode(wait_status)}"


def _sweep_in_child(
    config: Config, fd: int, parent: int, snapshot: tuple[Path, str] | None
) -> NoReturn:
    """The child's whole life: the watch list, the statuses in batches, then `os._exit` (the
    parent's exit handlers and buffered output are not the child's to run)."""
    from gitwatch_tui.core.git import terminate_all
    from gitwatch_tui.core.lifetime import die_with_parent

    code = 1
    # No Python handler: one runs only in the main thread, and the kernel may hand the signal
    # to a status thread while the main thread waits, so the child would never end. TERM
    # (from `stop`) ends it on the spot and its keeper ends its git (core.lifetime). The
    # terminal's HUP and INT reach the child too (it is in the dashboard's process group):
    # they are the dashboard's to act on, which then stops the child.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent, signal.SIGKILL)  # killed, the parent could not stop the child
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                # Imported here, on the child's core: the parent, drawing its first frame
                # meanwhile, needs none of them (discovery, status reads, the snapshot's SQLite).
                from gitwatch_tui.core.discovery import resolve_repos
                from gitwatch_tui.core.status import collect_statuses, locate_repo
                from gitwatch_tui.engine.snapshot import (
                    likely_changed_first,
                    matching,
                    read_known,
                    snapshot_key,
                )

                specs, warnings = resolve_repos(config.repos, config.scan)
                located = [locate_repo(spec) for spec in specs]
                pickle.dump((specs, warnings), out)
                out.flush()
                if snapshot is not None:  # the likely changed first; the engine shows the rest
                    path, kind = snapshot
                    known = matching(read_known(path, snapshot_key(kind, config)), specs)
                    order = likely_changed_first(specs, known, located)
                    specs = tuple(specs[index] for index in order)
                    located = [located[index] for index in order]
                batch: list[tuple[object, ...]] = []
                sent = time.monotonic()

                def send(status: RepoStatus) -> None:
                    nonlocal sent
                    batch.append(tuple(getattr(status, name) for name in _STATUS_FIELDS))
                    if time.monotonic() - sent >= _BATCH_SECONDS:
                        pickle.dump(batch, out)
                        out.flush()
                        batch.clear()
                        sent = time.monotonic()

                defaults = config.defaults
                collect_statuses(
                    specs,
                    jobs=defaults.status_loops(alone=True),
                    timeout=defaults.status_timeout,
                    on_status=send,
                    located=located,
                )
                pickle.dump(batch, out)
                pickle.dump(_SWEPT, out)
                code = 0
            except Exception as exc:  # told to the parent, whose engine reads the list itself
                pickle.dump(_Failed(f"{type(exc).__name__}: {exc}"), out)
    finally:
        # Whatever ended the child (a failure, the parent gone and the pipe broken), git's
        # loops are process groups of their own: they end with it.
        terminate_all()
        os._exit(code)
