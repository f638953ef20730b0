"""Run anywhere (`!`): one shell command in many repos, a few at a time, output kept per repo.

Each repo's command runs through the shell (`sh -c`) with the repo as its working folder, in a
process group and session of its own (no terminal: nothing can prompt), stdin /dev/null. Its
output (stderr merged into stdout, in order) is kept up to a cap, the head whole and the last
lines always; what the cap left out is said. The run reports typed snapshots (`RepoRun`) as
each repo's command starts, prints and ends.

Cancelling the run (the task awaiting `CommandRun.run`) ends every group still running:
SIGTERM, then SIGKILL after a grace for whatever is left, children in the background included.
When a command's shell exits, what it left running in its group is ended the same way: nothing
started here outlives the command (or the app: the groups are kept by `core.lifetime`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from gitwatch_tui.core.git import without_repo_vars
from gitwatch_tui.core.lifetime import keep_group, release_group
from gitwatch_tui.engine.pipeline import _spawn as spawn_watched

RunPhase = Literal["queued", "running", "done", "cancelled", "failed"]
OUTPUT_CAP = 256 * 1024  # bytes of a repo's output kept from its start
TAIL_LINES = 200  # the last lines, kept past the cap too
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL of a group
KILL_WAIT = 1.0  # at most this long for a SIGKILLed group to be gone
_PROGRESS_EVERY = 0.1  # at most this often an output-only snapshot per repo
_LEFTOVER_WAIT = 0.5  # after the shell exits, how long its output may still come


@dataclass(frozen=True, slots=True)
class RepoRun:
    """One repo's part of a run, as it stands. `exit_code` is the shell's (negative: the
    signal that ended it); `error` says why the command could not start."""

    repo: str
    phase: RunPhase = "queued"
    exit_code: int | None = None
    duration: float | None = None
    last_lines: tuple[str, ...] = ()
    cut: int = 0  # bytes of output not kept (the cap)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.phase == "done" and self.exit_code == 0


class OutputBuffer:
    """A command's output: the first `cap` bytes whole, then only the last lines and a count
    of the bytes left out."""

    def __init__(self, cap: int = OUTPUT_CAP, tail: int = TAIL_LINES) -> None:
        self._cap = cap
        self._head = bytearray()
        self._tail: deque[bytes] = deque(maxlen=tail)
        self._partial = bytearray()  # the tail's unfinished last line
        self.cut = 0

    def add(self, data: bytes) -> None:
        room = max(0, self._cap - len(self._head))
        self._head += data[:room]
        self.cut += max(0, len(data) - room)
        self._partial += data
        *lines, rest = self._partial.split(b"\n")
        self._tail.extend(bytes(line) for line in lines)
        self._partial = bytearray(rest[-4096:])  # an endless line keeps its end only

    def last_lines(self, count: int = 3) -> tuple[str, ...]:
        """The last `count` lines with text (a progress bar's last state after a \\r)."""
        lines = [*self._tail, bytes(self._partial)]
        texts = [_text(line).rsplit("\r", 1)[-1].rstrip() for line in lines]
        return tuple(text for text in texts if text.strip())[-count:]

    def text(self) -> str:
        """The whole output kept: the head, and past the cap a line saying how much was cut
        and the last lines."""
        if not self.cut:
            return _text(self._head)
        tail = b"\n".join([*self._tail, bytes(self._partial)])
        note = f"\n… {self.cut:,} bytes not kept (output cap {self._cap:,}); the last lines:\n"
        return _text(self._head) + note + _text(tail)


def command_env(base: Mapping[str, str]) -> dict[str, str]:
    """The user's environment, without variables that would point git elsewhere, and with
    git's and the credential manager's prompts off (there is no terminal to answer them)."""
    env = without_repo_vars(base)
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never", SSH_ASKPASS_REQUIRE="never")
    return env


class CommandRun:
    """`command` in each of `targets` (name, folder), at most `concurrency` at a time;
    `on_progress` gets each new `RepoRun` snapshot."""

    def __init__(
        self,
        command: str,
        targets: Sequence[tuple[str, Path]],
        *,
        concurrency: int,
        on_progress: Callable[[RepoRun], None] = lambda run: None,
        env: Mapping[str, str] | None = None,
        cap: int = OUTPUT_CAP,
        kill_grace: float = KILL_GRACE,
    ) -> None:
        self.command = command
        self.targets = list(targets)
        self.runs = {name: RepoRun(name) for name, _ in self.targets}
        self._outputs = {name: OutputBuffer(cap) for name, _ in self.targets}
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._on_progress = on_progress
        self._env = command_env(os.environ if env is None else env)
        self._kill_grace = kill_grace
        self._said: dict[str, float] = {}

    def output(self, name: str) -> str:
        """Everything kept of `name`'s output so far."""
        return self._outputs[name].text()

    async def run(self) -> list[RepoRun]:
        """Run it everywhere and wait for the end; cancelled, it ends every command first."""
        tasks = [asyncio.create_task(self._run_one(name, path)) for name, path in self.targets]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # Cancelled, gather has cancelled each task already (a second cancel would cut
            # short the end of its group); a task that failed leaves the others to cancel.
            for task in tasks:
                if not task.done() and not task.cancelling():
                    task.cancel()
            # Each task ends its own group: wait for them all, and take every outcome.
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [self.runs[name] for name, _ in self.targets]

    async def _run_one(self, name: str, folder: Path) -> None:
        try:
            async with self._slots:
                await self._execute(name, folder)
        except asyncio.CancelledError:
            if self.runs[name].phase in ("queued", "running"):
                self._update(name, phase="cancelled", last_lines=self._last(name))
            raise

    async def _execute(self, name: str, folder: Path) -> None:
        started = time.monotonic()
        try:
            proc, exited = await self._spawn(folder)
        except OSError as exc:
            self._update(name, phase="failed", error=f"cannot start in {folder}: {exc.strerror}")
            return
        self._update(name, phase="running")
        assert proc.stdout is not None
        pump = asyncio.create_task(self._pump(name, proc.stdout, started))
        cancelled = False
        try:
            await exited.wait()
            # Output still in the pipe comes now; a child left in the background keeps the
            # pipe open, and is ended with its group below.
            await asyncio.wait({pump}, timeout=_LEFTOVER_WAIT)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            # Shielded: a second cancel must not stop the group's end half way.
            await asyncio.shield(self._end_group(proc.pid))
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            release_group(proc.pid)
            self._update(
                name,
                phase="cancelled" if cancelled else "done",
                exit_code=proc.returncode,
                duration=time.monotonic() - started,
                last_lines=self._last(name),
                cut=self._outputs[name].cut,
            )

    async def _spawn(self, folder: Path) -> tuple[asyncio.subprocess.Process, asyncio.Event]:
        """Start the shell in `folder`; cancelled meanwhile, what started is ended at once."""
        spawning = asyncio.ensure_future(
            spawn_watched(
                ["/bin/sh", "-c", self.command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=self._env,
                start_new_session=True,  # its own group to end, and no terminal to prompt on
            )
        )
        try:
            proc, exited = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                started, _ = await spawning
                _signal_group(started.pid, signal.SIGKILL)
                await started.wait()
            raise
        keep_group(proc.pid)  # from here on the group ends when this process does, however
        return proc, exited

    async def _pump(self, name: str, stream: asyncio.StreamReader, started: float) -> None:
        output = self._outputs[name]
        while chunk := await stream.read(65536):
            output.add(chunk)
            now = time.monotonic()
            if now - self._said.get(name, 0.0) >= _PROGRESS_EVERY:
                self._said[name] = now
                self._update(name, last_lines=output.last_lines(), cut=output.cut,
                             duration=now - started)  # fmt: skip

    async def _end_group(self, pgid: int) -> None:
        """SIGTERM to the whole group, SIGKILL after the grace to whatever is left of it;
        returns once the group is gone (SIGKILL too is delivered asynchronously)."""
        if not _group_alive(pgid):  # the usual end: nothing left to signal
            return
        _signal_group(pgid, signal.SIGTERM)
        if await _gone(pgid, self._kill_grace):
            return
        _signal_group(pgid, signal.SIGKILL)
        await _gone(pgid, KILL_WAIT)

    def _last(self, name: str) -> tuple[str, ...]:
        return self._outputs[name].last_lines()

    def _update(self, name: str, **changes: object) -> None:
        self.runs[name] = replace(self.runs[name], **changes)  # type: ignore[arg-type]
        self._on_progress(self.runs[name])


async def _gone(pgid: int, within: float) -> bool:
    """Whether group `pgid` is empty within `within` seconds. No event says so (its leader's
    exit does not): it is looked at every 20 ms."""
    for _ in range(max(1, round(within / 0.02))):
        if not _group_alive(pgid):
            return True
        await asyncio.sleep(0.02)
    return not _group_alive(pgid)


def _group_alive(pgid: int) -> bool:
    """Whether some process of group `pgid` is still running. Zombies do not count: a child
    orphaned by the shell's end is reaped by init, which may take its time (seconds, in
    some containers)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_running_member(pgid)


def _has_running_member(pgid: int) -> bool:
    """Whether /proc lists a process of group `pgid` that is not a zombie (True where
    /proc cannot tell)."""
    try:
        entries = [entry for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return True
    for entry in entries:
        try:
            with open(f"{entry.path}/stat", "rb") as stat:
                # After the command name (in parentheses): state, ppid, pgrp, ...
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")
