"""The supervisor of one pipeline step: a small process of its own between the daemon and the
step, so that nothing the step starts outlives it and the step cannot read the daemon.

The daemon runs it as `python -I -S step_supervisor.py` (nothing of the step's environment,
such as PYTHONPATH, reaches it; no site-packages: it needs the standard library only) and
writes the step, as one JSON object, on its stdin: `argv`, `env`, `limits` ([resource, soft,
hard]), `grace` (seconds), `parent` (the daemon's pid), `user` / `group` / `groups` (ids, or
null to stay who we are) and `input` (text for the step's stdin, or null). Then it:

- makes itself a child subreaper: a process the step leaves behind, even one that left the
  step's session (`setsid`, a double fork), becomes its child and not init's;
- makes itself non-dumpable (a step running as the same user cannot read its memory) and asks
  for SIGTERM when the daemon dies, however it dies;
- starts the step in a session of its own, with the environment, limits and user given, its
  stdout and stderr on our stdout;
- once the step's process has exited, SIGKILLs every descendant left until none is left;
- on SIGTERM (the step's timeout, a stop, the daemon's death) sends SIGTERM to every
  descendant, and SIGKILL to those left after `grace`;
- exits as the step's process did: the same exit status, or killed by the same signal.

What cannot start is one line on stderr (which is not the step's output), exit status 127.
Linux only: it relies on `/proc` and `prctl`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CANNOT_START = 127
# What the supervisor waits for; blocked, so each is taken in turn by `sigtimedwait`.
WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> None:
    _libc.prctl(option, value, 0, 0, 0)


def descendants(root: int) -> list[int]:
    """Every process below `root` now, read from /proc (zombies included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def signal_all(sig: int) -> None:
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):  # ended already
            os.kill(pid, sig)


def end_all() -> None:
    """SIGKILL every descendant until none is left. As a subreaper we are the parent of each
    one whose own parent died, so no child left (ECHILD) means no descendant left."""
    while True:
        signal_all(signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def reap(main: int) -> int | None:
    """Reap every child that has exited; the wait status of `main` if it was one of them."""
    status = None
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == main:
            status = code


def start(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The step's process, in a session of its own; OSError when it cannot start."""
    limits = [tuple(limit) for limit in spec.get("limits", ())]
    stdin: int = subprocess.DEVNULL
    if spec.get("input") is not None:
        stdin = os.memfd_create("step-input")
        os.write(stdin, spec["input"].encode())
        os.lseek(stdin, 0, os.SEEK_SET)

    def prepare() -> None:  # in the child, after the change of user, before exec
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))

    return subprocess.Popen(
        spec["argv"],
        stdin=stdin,
        stderr=subprocess.STDOUT,
        env=spec["env"],
        start_new_session=True,
        preexec_fn=prepare,
        user=spec.get("user"),
        group=spec.get("group"),
        extra_groups=spec.get("groups"),
    )


def supervise(main: int, grace: float) -> int:
    """Wait for the step's process to exit, or for SIGTERM; its wait status. After SIGTERM and
    `grace` seconds without its exit, its status is that of a SIGKILL."""
    deadline: float | None = None
    while True:
        if deadline is None:
            info: signal.struct_siginfo | None = signal.sigwaitinfo(WATCHED)
        else:
            info = signal.sigtimedwait(WATCHED, max(0.0, deadline - time.monotonic()))
        if info is None:
            return signal.SIGKILL  # the grace is over; the wait status of a SIGKILLed process
        if info.si_signo == signal.SIGCHLD:
            status = reap(main)
            if status is not None:
                return status
        elif deadline is None:
            deadline = time.monotonic() + grace
            signal_all(signal.SIGTERM)


def exit_as(status: int) -> None:
    """Exit with the step's status, or die of the signal that killed it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with contextlib.suppress(OSError):  # SIGKILL has no handler to reset
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not kill by default
    os._exit(os.waitstatus_to_exitcode(status))


def main() -> None:
    spec = json.loads(sys.stdin.buffer.read())
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != spec["parent"]:
        os._exit(1)  # the daemon died before the prctl: no signal will ever come
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_DUMPABLE, 0)
    try:
        step = start(spec)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        sys.stderr.write(f"cannot start {spec['argv'][0]}: {reason}\n")
        sys.stderr.flush()
        os._exit(CANNOT_START)
    status = supervise(step.pid, float(spec["grace"]))
    end_all()
    exit_as(status)


if __name__ == "__main__":
    main()
