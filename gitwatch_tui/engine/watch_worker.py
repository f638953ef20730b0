"""The file watcher's own process: OS watches over repo folders, changed paths back as JSON lines.

    python -m gitwatch_tui.engine.watch_worker

`RepoWatcher` starts this so that setting up tens of thousands of watches, and reading the
events of a big checkout, never holds the interpreter its event loop runs on. It reads one JSON
request line from stdin:

    {"roots": [[folder, "tree" | "git"], ...], "lenient": false, "ignore_dirs": [...],
     "step_ms": 50, "debounce_ms": 100, "backend": "inotify" | "watchfiles", "parent": pid,
     "budget": N | null}

and writes JSON lines to stdout:

    {"ready": true, "watches": N, "unwatched": [folder, ...]}   every watch is in place
    {"changes": [[change, path], ...]}    a batch; `change` is a watchfiles.Change value
    {"error": {"type": ..., "errno": ..., "strerror": ..., "filename": ..., "message": ...}}

After an error it exits. It also exits when stdin reaches EOF (the parent closed it, or died)
or when its parent process is no longer `parent`, so it never outlives the watcher that started
it. On EOF it first sends the changes it holds: the next session may need them.

The inotify backend (Linux) walks each folder itself and leaves out what cannot change a
status: in a git dir only the top folder, `refs/`, `logs/` and `logs/refs/` (for the stash
reflog) and an operation's folder (`rebase-merge/`) are watched, not `objects/` or the other
reflogs; in a work tree, folders watchfiles' `DefaultFilter` ignores (`node_modules`, `.venv`,
...) are left out. Elsewhere the `watchfiles` backend watches every folder recursively, as
`watchfiles.awatch` would. With a `budget` (inotify backend), work trees are watched in the order
given for as long as their watches fit in it, git dirs always: the first tree that would go over
it is given back, and it and the trees after it are listed as `unwatched` (the engine polls
them). Only the standard library is imported up front, so the process is up
in a few tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

# Git-dir folders worth a watch (the watcher keeps HEAD, index, refs, packed-refs and the
# files of an operation in progress): these with everything below them, ...
GIT_DEEP = frozenset({"refs", "rebase-merge", "rebase-apply"})
# ... and these alone: `git stash drop stash@{1}` rewrites only logs/refs/stash.
GIT_SHALLOW = frozenset({("logs",), ("logs", "refs")})
CHUNK = 1000  # changes per line, so the parent never reads one huge line

# inotify(7)
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = (
    0x400,
    0x800,
    0x2000,
    0x4000,
    0x8000,
)
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_ISDIR = 0x1000000, 0x2000000, 0x4000000, 0x40000000
# As O_NONBLOCK and O_CLOEXEC; getattr: Windows has neither, and imports this module too.
IN_NONBLOCK, IN_CLOEXEC = getattr(os, "O_NONBLOCK", 0), getattr(os, "O_CLOEXEC", 0)
_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
_MASK |= IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name
# watchfiles.Change values, without importing watchfiles here.
ADDED, MODIFIED, DELETED = 1, 2, 3

Change = tuple[int, str]


class StoppedError(Exception):
    """Stdin closed during set-up: the watcher no longer wants this process."""


def wanted(kind: str, parts: list[str], ignore_dirs: frozenset[str]) -> bool:
    """Whether a folder, `parts` below a root of `kind` ("tree" or "git"), gets a watch."""
    if kind == "git":
        return parts[0] in GIT_DEEP or tuple(parts) in GIT_SHALLOW
    return parts[-1] not in ignore_dirs  # its parents were checked on the way down


class Inotify:
    """The folders of a set of roots under one inotify instance, kept up to date as folders
    come and go."""

    def __init__(
        self,
        roots: dict[str, str],
        ignore_dirs: frozenset[str],
        lenient: bool,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._roots, self._ignore, self._lenient = roots, ignore_dirs, lenient
        self._stopped = stopped
        self.fd = self._check(self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "")
        self._path: dict[int, tuple[str, str]] = {}  # wd -> (folder, its root)
        self._wd: dict[str, int] = {}

    def _check(self, result: int, path: str) -> int:
        if result < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), *([path] if path else []))
        return result

    def setup(self, budget: int | None = None) -> list[str]:
        """Watch every root: permission errors pass only when lenient, a limit never does.
        Work trees stop at the first that would take the watches over `budget`; the trees
        left unwatched are returned. Raises StoppedError if told to stop meanwhile (a set-up
        can take a second or more)."""
        unwatched: list[str] = []
        # Git dirs first: they are few watches each, and always wanted.
        roots = sorted(self._roots, key=lambda root: self._roots[root] != "git")
        for i, root in enumerate(roots):
            if i % 64 == 0 and self._stopped():
                raise StoppedError
            if self._roots[root] == "tree" and budget is not None:
                if unwatched or not self._watch_within(root, budget):
                    unwatched.append(root)
                continue
            self._watch_tree(root, root, strict=True)
        return unwatched

    def _watch_within(self, root: str, budget: int) -> bool:
        """Watch a work tree if all its watches fit in `budget`; else give them back."""
        if self._watch_tree(root, root, strict=True, limit=budget):
            return True
        for wd in [wd for wd, (_, owner) in self._path.items() if owner == root]:
            del self._wd[self._path.pop(wd)[0]]
            self._libc.inotify_rm_watch(self.fd, wd)
        return False

    def _watch_tree(self, top: str, root: str, strict: bool, limit: float = math.inf) -> bool:
        """Watch `top` and the wanted folders below it; each is watched before it is listed,
        so nothing made meanwhile goes unseen. Other roots are walked on their own. False if
        it stopped because the watches reached `limit`."""
        kind, stack = self._roots[root], [top]
        while stack:
            if len(self._wd) >= limit:
                return False
            folder = stack.pop()
            try:
                self._add(folder, root)
                entries = list(os.scandir(folder))
            except OSError as exc:
                # At set-up a root must be there and a limit always counts; an unreadable folder
                # stops it unless lenient. Any other folder that goes meanwhile is just skipped.
                denied = exc.errno in (errno.EACCES, errno.EPERM)
                if exc.errno == errno.ENOSPC or (
                    strict and (folder == root or denied) and not (denied and self._lenient)
                ):
                    raise
                continue
            for entry in entries:
                try:
                    if not entry.is_dir(follow_symlinks=False) or entry.path in self._roots:
                        continue
                except OSError:
                    continue
                if wanted(kind, entry.path[len(root) + 1 :].split(os.sep), self._ignore):
                    stack.append(entry.path)
        return True

    def _add(self, folder: str, root: str) -> None:
        wd = self._check(self._libc.inotify_add_watch(self.fd, os.fsencode(folder), _MASK), folder)
        self._path[wd] = (folder, root)
        self._wd[folder] = wd

    def _drop_below(self, folder: str) -> None:
        """Forget the watches at and below a folder that moved away (it may come back as new)."""
        below = folder + os.sep
        for path in [p for p in self._wd if p == folder or p.startswith(below)]:
            wd = self._wd.pop(path)
            self._path.pop(wd, None)
            self._libc.inotify_rm_watch(self.fd, wd)

    @property
    def watches(self) -> int:
        return len(self._wd)

    def read(self) -> Iterator[Change]:
        """The changes waiting on the inotify descriptor; new folders get their watches."""
        try:
            data = os.read(self.fd, 256 * 1024)
        except BlockingIOError:
            return
        pos = 0
        while pos < len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, pos)
            name = os.fsdecode(data[pos + 16 : pos + 16 + length].rstrip(b"\0"))
            pos += 16 + length
            if mask & IN_Q_OVERFLOW:  # events were lost: every root may have changed
                yield from ((MODIFIED, root) for root in self._roots)
                continue
            if wd not in self._path:
                continue
            folder, root = self._path[wd]
            if mask & IN_IGNORED:  # the folder went, or its watch was dropped
                if self._wd.get(folder) == wd:
                    del self._wd[folder]
                del self._path[wd]
                continue
            if not name:  # an event on the folder itself; only its going matters
                if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT):
                    yield DELETED, folder
                continue
            path = os.path.join(folder, name)
            if mask & IN_ISDIR:
                if mask & IN_MOVED_FROM:
                    self._drop_below(path)
                elif mask & (IN_CREATE | IN_MOVED_TO) and path not in self._roots:
                    parts = path[len(root) + 1 :].split(os.sep)
                    if wanted(self._roots[root], parts, self._ignore):
                        # Over the watch limit now, it goes unwatched.
                        with contextlib.suppress(OSError):
                            self._watch_tree(path, root, strict=False)
            if mask & (IN_CREATE | IN_MOVED_TO):
                yield ADDED, path
            elif mask & (IN_DELETE | IN_MOVED_FROM):
                yield DELETED, path
            else:
                yield MODIFIED, path
        if len(data) > 192 * 1024:  # there may be more: read it into this batch too
            yield from self.read()


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _send_changes(out: BinaryIO, changes: Iterable[Change]) -> None:
    batch = sorted(changes)
    for start in range(0, len(batch), CHUNK):
        _send(out, {"changes": batch[start : start + CHUNK]})


def _serve_inotify(request: dict[str, Any], out: BinaryIO, parent: int) -> None:
    roots = {path: kind for path, kind in request["roots"]}
    step, debounce = request["step_ms"] / 1000, request["debounce_ms"] / 1000
    stdin = select.poll()
    stdin.register(0, select.POLLIN)  # EOF when the watcher stops or its process dies
    ignore = frozenset(request["ignore_dirs"])
    notify = Inotify(roots, ignore, request["lenient"], lambda: bool(stdin.poll(0)))
    unwatched = notify.setup(request.get("budget"))
    _send(out, {"ready": True, "watches": notify.watches, "unwatched": unwatched})
    poller = select.poll()
    poller.register(notify.fd, select.POLLIN)
    poller.register(0, select.POLLIN)
    batch: set[Change] = set()
    first = last = 0.0
    while True:
        # A batch closes after `step` without news, or `debounce` after it opened, as in awatch.
        wait = min(last + step, first + debounce) - time.monotonic() if batch else 1.0
        ready = dict(poller.poll(max(0, int(wait * 1000))))
        now = time.monotonic()
        if 0 in ready and not os.read(0, 4096):
            # Told to stop: the events so far may be all that covers the gap until the next
            # session's watches were in place, so they go out first.
            batch.update(notify.read())
            _send_changes(out, batch)
            return
        if notify.fd in ready:
            size = len(batch)
            batch.update(notify.read())
            if len(batch) > size:
                first, last = (first if size else now), now
        if batch and (now >= last + step or now >= first + debounce):
            _send_changes(out, batch)
            batch = set()
        if os.getppid() != parent:
            return


def _serve_watchfiles(request: dict[str, Any], out: BinaryIO, parent: int) -> None:
    """Every folder, recursively, through watchfiles (macOS, Windows): no git-dir pruning."""
    from watchfiles import watch

    roots = [path for path, _ in request["roots"]]
    top = [r for r in roots if not any(r.startswith(o + os.sep) for o in roots)]
    stop = threading.Event()

    def eof() -> None:
        while os.read(0, 4096):
            pass
        stop.set()

    threading.Thread(target=eof, daemon=True).start()
    ready = False
    for changes in watch(
        *top,
        watch_filter=None,
        debounce=request["debounce_ms"],
        step=request["step_ms"],
        stop_event=stop,
        rust_timeout=100,  # the first yield says the watches are in place
        yield_on_timeout=True,
        raise_interrupt=False,
        ignore_permission_denied=request["lenient"],
    ):
        if not ready:
            ready = True
            _send(out, {"ready": True, "watches": None, "unwatched": []})
        if changes:
            _send_changes(out, ((int(c), p) for c, p in changes))
        if os.getppid() != parent:
            return


def main() -> int:
    """Serve one request; 0 when told to stop, 1 after reporting an error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
    out = sys.stdout.buffer
    try:
        request = json.loads(sys.stdin.buffer.readline() or b"null")
        if request is None:
            return 0
        # From the request, not getppid(): the parent may be gone already.
        parent = request.get("parent", os.getppid())
        if request["backend"] == "inotify":
            _serve_inotify(request, out, parent)
        else:
            _serve_watchfiles(request, out, parent)
        return 0
    except (BrokenPipeError, StoppedError):  # the parent went, or stopped us during set-up
        return 0
    except Exception as exc:
        code = exc.errno if isinstance(exc, OSError) else None
        error = {"type": type(exc).__name__, "errno": code, "message": str(exc)}
        if isinstance(exc, OSError):
            error |= {"strerror": exc.strerror, "filename": exc.filename}
        with contextlib.suppress(BrokenPipeError):
            _send(out, {"error": error})
        return 1


if __name__ == "__main__":
    sys.exit(main())
