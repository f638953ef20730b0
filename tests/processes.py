"""Finding the processes a test's program started, wherever they were re-parented.

The program under test gets an environment variable with a value of the test's own; every
process it starts (git, the shell loops, git's remote helpers, a forked child) inherits it,
so `/proc/<pid>/environ` tells them apart from any other test's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.conftest import commit_file, git

MARKER = "GITWATCH_TEST_MARKER"


def new_marker() -> dict[str, str]:
    """The environment entry to give the program under test."""
    return {MARKER: uuid.uuid4().hex}


def marked(env: dict[str, str], *, program: str = "", args: str = "") -> list[int]:
    """Live processes (not zombies) with the marker of `env`; only those running `program`
    (the file name of argv[0]) with `args` in their command line, if given."""
    needle = f"{MARKER}={env[MARKER]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle not in environ or state in ("Z", "X") or args not in cmdline:
            continue
        if not program or os.path.basename(cmdline.split(" ", 1)[0]) == program:
            found.append(int(entry.name))
    return found


def described(pids: list[int]) -> list[str]:
    """Each process as "pid state parent: command line", to say in a failure what was left."""
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            lines.append(f"{pid} {fields[0]} {fields[1]}: {cmdline[:200]}")
    return lines


def wait_until(
    predicate: Callable[[], object], within: float = 15.0, what: str = "condition"
) -> None:
    """Poll `predicate` (a callable) until true, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        time.sleep(0.05)


def kill_marked(env: dict[str, str]) -> None:
    """Clean-up: nothing a test started outlives it, whatever the code under test did."""
    for pid in marked(env):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def blocking_repo(path: Path) -> Path:
    """A repo whose `git status` blocks until killed: a FIFO where git reads a `.gitignore`."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    commit_file(path, "a.txt", "a\n")
    (path / "sub").mkdir()
    os.mkfifo(path / "sub" / ".gitignore")
    return path


# The start of a child script that runs short of file descriptors: it lowers its open-file
# limit and `take_all()` takes every descriptor left, which a thread gives back 0.2 s later
# (as the daemon's server closes idle connections when the process runs short).
SHORT_OF_DESCRIPTORS = """
import os, resource, threading

resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

def take_all() -> list[int]:
    held = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    threading.Timer(0.2, lambda: [os.close(fd) for fd in held]).start()
    return held
"""
