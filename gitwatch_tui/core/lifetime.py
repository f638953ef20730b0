"""Nothing we start outlives us: process groups end with this process, however it ends.

Every git call (and each pipeline step) runs in a process group of its own. A clean stop ends
those groups itself; a SIGKILL, a crash or a closed terminal gives no chance to. So a keeper, a
small shell started with the first group, learns each group as it starts and ends, one line on a
pipe whose only writer is this process. When that pipe reaches its end this process is gone,
however it went, and the keeper ends every group still listed: SIGTERM (git removes its lock
files), SIGKILL two seconds later for what is left. (A group is told right after its leader
is started: a death within those microseconds leaves that one running.)

Why not `PR_SET_PDEATHSIG` in each child: setting it needs a `preexec_fn`, which costs every
spawn its vfork fast path (1 ms became 5-16 ms, with the GIL held for the fork, so the UI
stalls), and it would reach git alone, not the remote helper or ssh git starts in its group
(git 2.39 leaves them running). It does fit a forked child of ours: `die_with_parent`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

_KEEPER_SCRIPT = r"""
live=" "
while read -r sign group; do
  case $sign in
    +) live="$live$group " ;;
    -) case $live in *" $group "*) live="${live%% $group *} ${live#* $group }" ;; esac ;;
  esac
done
[ "$live" = " " ] && exit 0
for group in $live; do kill -s TERM -- "-$group" 2>/dev/null; done
sleep 2
for group in $live; do kill -s KILL -- "-$group" 2>/dev/null; done
"""

_lock = threading.Lock()
_keeper: tuple[int, int] | None = None  # (its pid, our end of its pipe)
_no_keeper = False  # it could not be started here (no `sh`): not tried again
_groups: list[int] = []  # kept now; a pid reused while listed is listed twice


def keep_group(pgid: int) -> None:
    """End process group `pgid` when this process ends, unless `release_group` comes first."""
    with _lock:
        _groups.append(pgid)
        _tell(f"+ {pgid}\n")


def release_group(pgid: int) -> None:
    """The group has ended (its leader was reaped): the keeper forgets it."""
    with _lock:
        if pgid in _groups:
            _groups.remove(pgid)
            _tell(f"- {pgid}\n")


def kept_groups() -> list[int]:
    """The groups started by this process and not yet ended (a forked child's own only)."""
    with _lock:
        return list(_groups)


def die_with_parent(parent: int, sig: signal.Signals = signal.SIGTERM) -> None:
    """In a forked child: get `sig` when the parent thread that forked us ends (so fork from
    a thread that lives as long as the process: the main thread); exit at once if the parent
    `parent` is already gone. Linux only; elsewhere the child relies on its pipe breaking."""
    try:
        import ctypes  # here: only a forked child pays for it

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # died before the prctl: the signal will never come
        os._exit(1)


def _tell(line: str) -> None:
    """Send one line to the keeper, starting one first if there is none (or it was killed)."""
    global _keeper, _no_keeper
    for _ in range(2):
        if _keeper is None:
            _keeper = None if _no_keeper else _start_keeper()
            if _keeper is None:
                _no_keeper = True  # groups then end only with a clean stop
                return
            line = "".join(f"+ {pgid}\n" for pgid in _groups)  # the new one learns them all
        try:
            os.write(_keeper[1], line.encode())
            return
        except OSError:  # the keeper was killed: start another
            _forget_keeper()


def _start_keeper() -> tuple[int, int] | None:
    read_end, write_end = os.pipe()  # both close-on-exec: no git child holds our end
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}
    actions = [
        (os.POSIX_SPAWN_DUP2, read_end, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]
    try:
        # A session of its own: a signal to our process group or terminal does not reach it.
        pid = os.posix_spawnp(
            "sh", ["sh", "-c", _KEEPER_SCRIPT], env, file_actions=actions, setsid=True
        )
    except (OSError, NotImplementedError):
        os.close(write_end)
        return None
    finally:
        os.close(read_end)
    return pid, write_end


def _forget_keeper() -> None:
    global _keeper
    if _keeper is not None:
        pid, fd = _keeper
        _keeper = None
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it has ended


def _after_fork_in_child() -> None:
    """A forked child's groups are its own: close its copy of our keeper's pipe (the keeper
    ends with us, not with the child) and start with none. The lock another thread may have
    held at the fork is not the child's to wait for."""
    global _keeper, _lock
    _lock = threading.Lock()
    _groups.clear()
    if _keeper is not None:
        with contextlib.suppress(OSError):
            os.close(_keeper[1])
        _keeper = None


os.register_at_fork(after_in_child=_after_fork_in_child)
