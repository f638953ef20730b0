"""The one place that starts git: hardened, non-interactive, pinned to one repository.

Every call, single or batched, goes through `git_argv` and `git_env`, so the invariants hold
everywhere: stdin closed, no terminal (a new session has no controlling tty, so neither git nor
ssh can open /dev/tty to prompt), no askpass program, no pager or editor, `LC_ALL=C` output,
optional locks off for background reads, repo-config programs (`core.fsmonitor`, `ext::`
remotes) not run, and a timeout that ends the whole process group, remote helpers included.
In a repo that is not trusted, no program that the repo's own config names runs (`core.trust`).
Each group also ends when this process does, however it ends (`core.lifetime`).
Background git runs at a lower CPU priority (nice 10), so polls never slow what the user is
doing, the dashboard's own drawing included.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import queue
import re
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from gitwatch_tui.core.lifetime import keep_group, kept_groups, release_group

if TYPE_CHECKING:
    import asyncio

from gitwatch_tui.core.trust import ConfigEntry, Guard, GuardCache

GIT = "git"
# Grace period between SIGTERM (git removes its lock files) and SIGKILL.
KILL_GRACE = 2.0
# git that cannot start for want of file descriptors waits these seconds in turn for some to
# be freed (a flood of connections takes them, and the server gives them back) before failing.
_NO_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})
_DESCRIPTOR_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)
# Added niceness of background git (a shell loop's children included): the CPU goes to the
# user's own work, and to the dashboard and the webhook server answering, first.
BACKGROUND_NICENESS = 10

# Variables that point git at another repository; inherited from a hook or a shell they would
# silently redirect our calls (`git rev-parse --local-env-vars`).
_REPO_ENV_VARS = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
    }
)

# Config forced on the command line, where it beats anything in the repo's own config.
_ALWAYS_CONFIG = (
    "color.ui=false",
    "core.quotePath=false",
    "core.askPass=",  # a GUI askpass would block; an explicit $GIT_ASKPASS still wins
    "credential.interactive=never",
    "protocol.ext.allow=never",  # `ext::` remotes run arbitrary commands
)
# Background reads of repos nobody vouched for must not execute their hooks.
_BACKGROUND_CONFIG = ("core.fsmonitor=false",)
# What an untrusted repo's git calls add after the subcommand: status does not look into
# submodules (each has a config of its own that nobody read), nor does a fetch recurse.
_UNTRUSTED_ARGS = {
    "status": ("--ignore-submodules=dirty",),
    "fetch": ("--recurse-submodules=no",),
}


@dataclass(frozen=True, slots=True)
class RepoPaths:
    """Where a repository lives; every call is pinned to it so git never wanders to a parent.

    `trusted`: git may run the programs the repo's own config names (hooks, filters, its
    credential helper...), as plain git does: a repo marked `trust: true`, or an action the
    user started. Otherwise they are neutralised (`core.trust`).
    """

    git_dir: Path
    work_tree: Path | None
    trusted: bool = False

    @classmethod
    def of(cls, path: Path, *, bare: bool = False, trusted: bool = False) -> RepoPaths:
        if bare:
            return cls(git_dir=path, work_tree=None, trusted=trusted)
        return cls(git_dir=resolve_git_dir(path) or path / ".git", work_tree=path, trusted=trusted)

    def pin_args(self) -> list[str]:
        args = [f"--git-dir={self.git_dir}"]
        if self.work_tree is not None:
            args.append(f"--work-tree={self.work_tree}")
        return [*args, "-C", str(self.work_tree or self.git_dir)]


@dataclass(frozen=True, slots=True)
class GitResult:
    """The outcome of one git call. Errors are data: check `ok`, read `error_text`."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str
    duration: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def error_text(self) -> str:
        """git's own words for the failure, on one line (see `condense_stderr`)."""
        if self.timed_out:
            return f"git {self.args[0] if self.args else ''} timed out after {self.duration:.0f}s"
        return condense_stderr(self.stderr) or f"git exited with status {self.returncode}"


# Lines that say a connection ended, not why: kept only after the lines that say why.
_GENERIC_FAILURE = re.compile(
    r"the remote end hung up unexpectedly|early EOF|Could not read from remote repository"
    r"|index-pack failed|unpack-objects failed|fetch-pack: invalid index-pack output"
    r"|Please make sure you have the correct access rights|and the repository exists",
    re.IGNORECASE,
)
# Lines without git's own prefix that still say what went wrong (git-lfs, a remote's hook).
_NOTABLE = re.compile(r"\bLFS\b|git-lfs|batch response|^remote: (fatal|error):", re.IGNORECASE)
_GIT_PREFIX = re.compile(r"(fatal|error): ")
_MOST_LINES = 3


def condense_stderr(stderr: str) -> str:
    """The lines of git's stderr that say what went wrong, most specific first, joined by "; ".

    Those are git's own `fatal:`/`error:` lines (prefix dropped), a remote's `error:` lines and
    git-lfs lines. A generic line ("the remote end hung up unexpectedly") comes last, after the
    lines that say why; when git said nothing specific, the line before it is taken instead
    (ssh's "Connection refused"). Empty when stderr is.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    told: list[str] = []
    for line in lines:
        prefix = _GIT_PREFIX.match(line)
        if prefix or _NOTABLE.search(line):
            text = line[prefix.end() :] if prefix else line
            if text not in told:
                told.append(text)
    specific = [line for line in told if not _GENERIC_FAILURE.search(line)]
    generic = [line for line in told if _GENERIC_FAILURE.search(line)]
    if not specific and generic:
        specific = _cause_before(lines, generic[0])
    chosen = specific[:_MOST_LINES] + generic[:1]
    return "; ".join(chosen) if chosen else (lines[-1] if lines else "")


def _cause_before(lines: list[str], generic: str) -> list[str]:
    """The plain line just before git's generic one, when it is not generic itself."""
    index = next(i for i, line in enumerate(lines) if line.endswith(generic))
    before = lines[index - 1] if index > 0 else ""
    return [before] if before and not _GENERIC_FAILURE.search(before) else []


def resolve_git_dir(worktree: Path) -> Path | None:
    """The git dir of a work tree: `.git` itself, or where a `.git` file (worktree,
    submodule) points. None when there is neither."""
    dot_git = worktree / ".git"
    try:
        if dot_git.is_dir():
            return dot_git
        text = dot_git.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return target if target.is_absolute() else (worktree / target)


def looks_bare(path: Path) -> bool:
    """True when `path` is a bare repository's folder: HEAD, objects/ and refs/, no `.git`."""
    return (
        (path / "HEAD").is_file()
        and (path / "objects").is_dir()
        and (path / "refs").is_dir()
        and not (path / ".git").exists()
        and path.name != ".git"
    )


def git_env(
    *,
    background: bool = True,
    ssh_command: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a git process.

    Args:
        background: a read the user did not ask for; takes no optional locks.
        ssh_command: the ssh command the repo would use (its `core.sshCommand`); it gets
            `BatchMode=yes`. An explicit `$GIT_SSH_COMMAND`/`$GIT_SSH` is left alone.
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k not in _REPO_ENV_VARS}
    env.pop("SSH_ASKPASS", None)  # would pop up a window on the desktop
    env.update(
        LC_ALL="C",
        GIT_TERMINAL_PROMPT="0",
        GCM_INTERACTIVE="never",
        SSH_ASKPASS_REQUIRE="never",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_EDITOR="true",
        GIT_SEQUENCE_EDITOR="true",
        GIT_MERGE_AUTOEDIT="no",
    )
    if background:
        env["GIT_OPTIONAL_LOCKS"] = "0"
    if "GIT_SSH_COMMAND" not in source and "GIT_SSH" not in source:
        env["GIT_SSH_COMMAND"] = f"{ssh_command or 'ssh'} -o BatchMode=yes"
    return env


def without_repo_vars(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the variables that point git at another repository than its cwd's."""
    return {k: v for k, v in env.items() if k not in _REPO_ENV_VARS}


def git_argv(
    args: Sequence[str],
    repo: RepoPaths | None = None,
    *,
    background: bool = True,
    guard: Guard | None = None,
) -> list[str]:
    """The full argv for `git <args>` in `repo`, with the forced config in front.

    `guard` (`repo_guard`) adds what an untrusted repo's calls need on the command line; its
    config goes in the environment (`guard_vars`). run_git and run_many add both themselves.
    """
    config = _ALWAYS_CONFIG + (_BACKGROUND_CONFIG if background else ())
    argv = [GIT, "--no-pager"]
    for item in config:
        argv += ["-c", item]
    if repo is not None:
        argv += repo.pin_args()
    if guard is None or not args:
        return argv + list(args)
    extra: tuple[str, ...] = _UNTRUSTED_ARGS.get(args[0], ())
    if guard.upload_pack and args[0] == "fetch":
        extra += ("--upload-pack=git-upload-pack",)
    return [*argv, args[0], *extra, *args[1:]]


def repo_guard(
    repo: RepoPaths | None, *, timeout: float, user: list[ConfigEntry] | str | None = None
) -> Guard | str | None:
    """What git calls in `repo` need so that no program its own config names runs: None for
    a trusted repo (or none), else the guard, or why it cannot be had (then do not run git).
    Reading the repo's config for it, when needed, takes at most `timeout`. `user`: the
    user's own config entries, when the caller read them once for many repos."""
    if repo is None or repo.trusted:
        return None
    return _guards.guard(repo.git_dir, timeout=timeout, user=user)


def guard_vars(guard: Guard | None, env: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to `env` for `guard`: its config, and its variables that the
    caller has not set itself."""
    if guard is None:
        return {}
    added = guard.environ()
    added.update((name, value) for name, value in guard.env if name not in env)
    return added


def _read_config(git_dir: Path | None, timeout: float) -> bytes | str:
    """`git config --list` of a repo, or of the user alone (global and system, with the files
    they came from); git's error when it fails. It runs no program of the repo's."""
    if git_dir is None:
        args = [f"--git-dir={os.devnull}", "config", "--list", "--show-scope", "--show-origin"]
        repo = None
    else:
        args, repo = ["config", "--list", "--show-scope"], RepoPaths(git_dir, None, trusted=True)
    result = run_git([*args, "-z"], repo, timeout=timeout)
    return result.stdout if result.ok else result.error_text


_guards = GuardCache(_read_config)


def run_git(
    args: Sequence[str],
    repo: RepoPaths | None = None,
    *,
    timeout: float,
    background: bool = True,
    env: Mapping[str, str] | None = None,
) -> GitResult:
    """Run one git command and wait for it; never raises for git's own failures."""
    started = time.monotonic()
    guard = repo_guard(repo, timeout=timeout)
    if isinstance(guard, str):
        return GitResult(tuple(args), -1, b"", guard, time.monotonic() - started)
    timeout = max(0.1, timeout - (time.monotonic() - started))
    env = env or git_env(background=background)
    proc = _spawn(
        git_argv(args, repo, background=background, guard=guard),
        {**env, **guard_vars(guard, env)},
        background=background,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        out, err = _kill_group(proc)
        timed_out = True
    finally:
        _reaped(proc)
    return GitResult(
        tuple(args), proc.returncode, out, _text(err), time.monotonic() - started, timed_out
    )


async def run_git_async(
    args: Sequence[str],
    repo: RepoPaths | None = None,
    *,
    # Not asyncio.timeout(): expiry must TERM the group first so git can drop its lock files.
    timeout: float,  # noqa: ASYNC109
    background: bool = True,
    env: Mapping[str, str] | None = None,
) -> GitResult:
    """`run_git` for an event loop: the loop never waits on git."""
    import asyncio  # here, not at the top: it costs `status` 35 ms of start-up for nothing

    started = time.monotonic()
    # Off the loop: finding an untrusted repo's guard may read its config with git.
    guard = None
    if repo is not None and not repo.trusted:
        guard = await asyncio.to_thread(partial(repo_guard, repo, timeout=timeout))
    if isinstance(guard, str):
        return GitResult(tuple(args), -1, b"", guard, time.monotonic() - started)
    timeout = max(0.1, timeout - (time.monotonic() - started))  # the guard's read counts
    env = env or git_env(background=background)
    for attempt in itertools.count():
        try:
            proc = await asyncio.create_subprocess_exec(
                *git_argv(args, repo, background=background, guard=guard),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**env, **guard_vars(guard, env)},
                start_new_session=True,
            )
            break
        except OSError as exc:
            await asyncio.sleep(wait_for_descriptors(exc, attempt))
    keep_group(proc.pid)
    try:
        return await _outcome(proc, args, timeout, background=background, started=started)
    finally:
        release_group(proc.pid)


async def _outcome(
    proc: asyncio.subprocess.Process,
    args: Sequence[str],
    timeout: float,  # noqa: ASYNC109
    *,
    background: bool,
    started: float,
) -> GitResult:
    """Wait for `run_git_async`'s process: TERM then KILL its group on timeout, KILL it if
    the caller is cancelled."""
    import asyncio

    if background:
        _lower_priority(proc.pid)
    communicate = asyncio.ensure_future(proc.communicate())
    timed_out = False
    try:
        out, err = await asyncio.wait_for(asyncio.shield(communicate), timeout)
    except TimeoutError:
        timed_out = True
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            out, err = await asyncio.wait_for(asyncio.shield(communicate), KILL_GRACE)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            out, err = await communicate
    except asyncio.CancelledError:
        _signal_group(proc.pid, signal.SIGKILL)
        raise
    return GitResult(
        tuple(args), proc.returncode or 0, out, _text(err), time.monotonic() - started, timed_out
    )


# One shell loop runs the same git command over a chunk of repos: forking git from `sh` costs a
# fraction of spawning it from Python, which brings a status sweep down to plain git's own cost.
# Each repo's command line (its guard's variables, then git's argv) is one argument, quoted
# for `eval`. Each repo's output ends with a marker carrying a per-run nonce and git's exit status.
_READ_NAP = 0.01  # seconds between reads of a shell loop's output; far below any timeout
_terminations = [0]  # how often terminate_all was called: a run_many begun before stops early
_SHARD_SCRIPT = """\
for command in "$@"; do
  eval "$command" </dev/null
  rc=$?
  printf '\\000\\036%sE%d\\000' "$N" "$rc"
  printf '\\n\\036%sE\\n' "$N" >&2
done
"""


def run_many(
    repos: Sequence[RepoPaths],
    args: Sequence[str],
    *,
    jobs: int,
    timeout: float,
    chunk_size: int | None = None,
) -> Iterator[tuple[int, GitResult]]:
    """Run one background read in every work tree, `jobs` shell loops at a time.

    Yields `(index into repos, result)` as chunks finish. `timeout` applies to each repo:
    a repo that hangs is killed with its process group, reported as timed out, and the rest
    of its chunk carries on in a fresh loop. Once `terminate_all` is called no further loop
    starts: the repos not read by then get no result.
    """
    if any(repo.work_tree is None for repo in repos):
        raise ValueError("run_many needs work trees; run bare repos with run_git")
    if not repos:
        return
    jobs = max(1, min(jobs, len(repos)))
    chunks = _chunks(len(repos), jobs, chunk_size)
    env = git_env(background=True)
    # Plain threads rather than concurrent.futures, whose import (logging) costs start-up time.
    todo: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
    done: queue.SimpleQueue[list[tuple[int, GitResult]] | BaseException] = queue.SimpleQueue()
    for chunk in chunks:
        todo.put(chunk)
    generation = _terminations[0]

    def worker() -> None:
        while True:
            try:
                chunk = todo.get_nowait()
            except queue.Empty:
                return
            if _terminations[0] != generation:  # we are stopping: a sweep of 10,000 repos
                done.put([])  # would otherwise run on, loop after loop, for a minute
                continue
            try:
                done.put(_run_shard(repos, chunk, args, timeout, env))
            except BaseException as exc:  # handed to the caller, not lost in a thread
                done.put(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(jobs)]
    for thread in threads:
        thread.start()
    for _ in chunks:
        item = done.get()
        if isinstance(item, BaseException):
            raise item
        yield from item


def _shell_command(
    args: Sequence[str],
    repo: RepoPaths,
    env: Mapping[str, str],
    timeout: float,
    prefixes: dict[Guard | None, str],
    user: list[ConfigEntry] | str | None,
) -> str | GitResult:
    """One repo's command line for the shell loop, or the result of refusing to run it.
    `prefixes` keeps each guard's variable assignments, quoted: most repos share one guard."""
    started = time.monotonic()
    guard = repo_guard(repo, timeout=timeout, user=user)
    if isinstance(guard, str):
        return GitResult(tuple(args), -1, b"", guard, time.monotonic() - started)
    prefix = prefixes.get(guard)
    if prefix is None:
        assignments = guard_vars(guard, env).items()
        prefix = prefixes[guard] = "".join(f"{name}={shlex.quote(v)} " for name, v in assignments)
    return prefix + shlex.join(git_argv(args, repo, background=True, guard=guard))


def _chunks(n: int, jobs: int, size: int | None) -> list[list[int]]:
    """Indices 0..n-1 cut into the chunks the loops take in turn: up to 32 repos, fewer as
    the end nears (a quarter of what each loop has left), so that the loops finish together
    rather than one running a last full chunk alone while the other core idles."""
    chunks, start = [], 0
    while start < n:
        step = size or max(1, min(32, -(-(n - start) // (jobs * 4))))
        chunks.append(list(range(start, min(start + step, n))))
        start += step
    return chunks


def _run_shard(
    repos: Sequence[RepoPaths],
    indices: list[int],
    args: Sequence[str],
    timeout: float,
    env: Mapping[str, str],
) -> list[tuple[int, GitResult]]:
    """One chunk: each repo's command line (a repo refused is its result at once), then
    shell loops until every repo has its result."""
    results: list[tuple[int, GitResult]] = []
    commands: dict[int, str] = {}
    prefixes: dict[Guard | None, str] = {}
    # The user's own config, looked at once for the chunk (a stat of each of its files per
    # repo otherwise): its repos are read as one call.
    untrusted = any(not repos[index].trusted for index in indices)
    user = _guards.user_entries(timeout=timeout) if untrusted else None
    for index in indices:
        command = _shell_command(args, repos[index], env, timeout, prefixes, user)
        if isinstance(command, GitResult):
            results.append((index, command))
        else:
            commands[index] = command
    pending = list(commands)
    while pending:
        done = _run_shard_once(commands, pending, args, timeout, env)
        results += done
        pending = pending[len(done) :]
    return results


def _run_shard_once(
    commands: Mapping[int, str],
    indices: list[int],
    args: Sequence[str],
    timeout: float,
    env: Mapping[str, str],
) -> list[tuple[int, GitResult]]:
    """Run one shell loop until it ends or a repo times out; return what finished."""
    nonce = os.urandom(8).hex()  # not `secrets`: its import (hashlib) delays the first sweep
    argv = ["sh", "-c", _SHARD_SCRIPT, "sh", *(commands[i] for i in indices)]
    with _spawn(argv, {**env, "N": nonce}, background=True) as proc:
        try:
            return _collect_shard(proc, indices, args, timeout, nonce)
        finally:
            _reaped(proc)


def _collect_shard(
    proc: subprocess.Popen[bytes],
    indices: list[int],
    args: Sequence[str],
    timeout: float,
    nonce: str,
) -> list[tuple[int, GitResult]]:
    """Read a shell loop's two streams, cut them into per-repo results at the markers."""
    assert proc.stdout is not None and proc.stderr is not None
    out_marker = b"\x00\x1e" + nonce.encode() + b"E"  # then git's exit status and a NUL
    err_marker = "\n\x1e" + nonce + "E\n"
    out_buf, err_buf = bytearray(), bytearray()
    results: list[tuple[int, GitResult]] = []
    started = deadline_base = time.monotonic()
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out_buf)
        selector.register(proc.stderr, selectors.EVENT_READ, err_buf)
        while selector.get_map():
            remaining = deadline_base + timeout - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
            # Hand out every repo whose stdout and stderr are both complete.
            while (marker := _exit_marker(out_buf, out_marker)) and err_marker.encode() in err_buf:
                err_end = err_buf.index(err_marker.encode())
                now = time.monotonic()
                index = indices[len(results)]
                start, end, returncode = marker
                results.append(
                    (
                        index,
                        GitResult(
                            tuple(args),
                            returncode,
                            bytes(out_buf[:start]),
                            _text(err_buf[:err_end]),
                            now - deadline_base,
                        ),
                    )
                )
                del out_buf[:end]
                del err_buf[: err_end + len(err_marker)]
                deadline_base = now
            if len(results) < len(indices) - 1:
                # More repos to come from this loop: let their output gather rather than wake
                # for every write (5,000 wake-ups, 0.15 s of CPU, for a sweep of 1,000 repos).
                # Never after the last one, whose end starts the next loop.
                time.sleep(_READ_NAP)
    if timed_out:
        _kill_group(proc)
        results.append(
            (
                indices[len(results)],
                GitResult(tuple(args), -signal.SIGKILL, b"", "", timeout, timed_out=True),
            )
        )
    else:
        proc.wait()
        if len(results) < len(indices):  # the loop itself died: say so for the rest
            message = f"status loop ended early (exit {proc.returncode})"
            for index in indices[len(results) :]:
                results.append(
                    (index, GitResult(tuple(args), -1, b"", message, time.monotonic() - started))
                )
    return results


def _exit_marker(buf: bytearray, head: bytes) -> tuple[int, int, int] | None:
    """Where the first whole end-of-repo marker (`head`, git's exit status, NUL) in a shell
    loop's output starts and ends, and the status; None until one has arrived. A search for
    fixed bytes: a regex with the run's nonce in it cost a compile per loop."""
    start = buf.find(head)
    if start < 0:
        return None
    digits = start + len(head)
    end = buf.find(b"\x00", digits)
    if end < 0:
        return None
    return start, end + 1, int(buf[digits:end])


def terminate_all() -> None:
    """End every git call still running in this process (their whole process groups); a
    `run_many` under way starts no further shell loop."""
    _terminations[0] += 1
    for pgid in kept_groups():
        _signal_group(pgid, signal.SIGTERM)


def _spawn(
    argv: Sequence[str], env: Mapping[str, str], *, background: bool
) -> subprocess.Popen[bytes]:
    # A new session: its own process group to kill, and no controlling terminal to prompt on.
    for attempt in itertools.count():
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                start_new_session=True,
            )
            break
        except OSError as exc:
            time.sleep(wait_for_descriptors(exc, attempt))
    # Registered before anything else: from here on the group ends when we do, however.
    keep_group(proc.pid)
    if background:
        _lower_priority(proc.pid)
    return proc


def wait_for_descriptors(exc: OSError, attempt: int) -> float:
    """How long to wait before starting git again after `exc`: only when the process (or the
    system) is out of file descriptors, and for 1.55 s in all, in which the server closes
    idle connections to make room for git; otherwise, or after that, `exc` is raised."""
    if exc.errno in _NO_DESCRIPTORS and attempt < len(_DESCRIPTOR_WAITS):
        return _DESCRIPTOR_WAITS[attempt]
    raise exc


def _lower_priority(pgid: int) -> None:
    """Renice the new process group (not `preexec_fn`, which would cost every spawn its fast
    path); a process that already exited, or a system that refuses, keeps its priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PGRP, pgid, _background_niceness())


def _background_niceness() -> int:
    # The process's niceness (its main thread's), not the calling thread's: a background
    # thread (`lower_thread_priority`) runs at this already.
    return min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + BACKGROUND_NICENESS)


def lower_thread_priority() -> None:
    """Run the calling thread at background git's priority, so that the UI's thread gets a
    core first: for threads that do background work alone (status sweeps, history writes).
    Threads it starts, and processes, inherit it, and it cannot be undone, so never for a
    thread that runs what the user asked for. Linux only, where a thread has a niceness of
    its own (elsewhere a thread's id is not a process id)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _background_niceness())


def _reaped(proc: subprocess.Popen[bytes]) -> None:
    release_group(proc.pid)


def _kill_group(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """End the process and everything it started (ssh, git-remote-http): TERM, then KILL."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        return proc.communicate()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
