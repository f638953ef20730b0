"""Post-sync pipelines: a repo's named steps, run after its HEAD moves, each one sandboxed.

A run starts when a pull, an auto-sync or a tag deploy moves HEAD (any `SyncFinished` with a
new head). Runs of one repo never overlap: a trigger during a run is kept, and triggers that
pile up coalesce into one run of whatever HEAD is by then (a pipeline deploys the newest code,
not every commit on the way). Runs of different repos share a few slots.

Once the engine is stopping, no run starts: a trigger then (a HEAD moved by work that ended in
the grace period), one still queued, and a run the stop cut short are owed. They are written to
`<state>/pipelines-owed.json` and started at the next start, never dropped.

Each step runs under a supervisor of its own (`step_supervisor.py`, a small process between
the daemon and the step): the step gets a clean environment (PATH, HOME, LANG, the step's
`env`, and the `secrets` it names, each read from the daemon's environment or its file when
the step starts), resource limits, and the user `run_as` names. The
supervisor is a child subreaper: every process the step starts, even one that left its session,
ends with the step, with a timeout (SIGTERM to all of them, SIGKILL after a grace period), and
with the daemon however it dies. Output, stdout and stderr merged, goes line by line to
`LogLine` events and to `<state>/runs/<repo>/<run-id>.log` (owner-only), the values of the
step's secrets masked and every cut marked; `PipelineStateChanged` says where the run is.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import itertools
import json
import os
import pwd
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from gitwatch_tui.core.autosync import branch_allowed
from gitwatch_tui.core.configmap import (
    ConfigMapError,
    output_dir,
    render_configmap,
    write_configmap,
)
from gitwatch_tui.core.git import RepoPaths, run_git_async
from gitwatch_tui.core.models import PipelineStep, RepoSpec, StepLimits
from gitwatch_tui.core.results import plural
from gitwatch_tui.core.secrets import SecretUnavailable
from gitwatch_tui.engine.events import (
    Event,
    EventBus,
    LogLevel,
    LogLine,
    PipelineState,
    PipelineStateChanged,
    SyncFinished,
)
from gitwatch_tui.engine.history import History, HistoryEntry, HistoryUnavailable

BASE_ENV = ("PATH", "HOME", "LANG")  # all a step gets from the daemon unless it names more
FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a step's process group
MAX_EVENT_LINES = 2000  # per step; the log file has every line (up to MAX_LOG_BYTES)
MAX_LINE = 4000  # characters of one output line kept
MAX_LOG_BYTES = 16 * 1024 * 1024
KEEP_RUNS = 50  # run logs kept per repo
OWED_FILE = "pipelines-owed.json"  # in the state dir: {repo: ref or null}
KUBECTL_APPLY = ("kubectl", "apply", "-f", "-")
SUPERVISOR = Path(__file__).with_name("step_supervisor.py")  # run as a script of its own
SUPERVISOR_SLACK = 5.0  # seconds a supervisor gets past the grace to end its step
MASK = b"***"  # what a secret's value becomes in a step's output

StepState = Literal["ok", "failed", "timeout"]


@dataclass(frozen=True, slots=True)
class StepResult:
    """How one step ended; `error` is a one-line reason when it did not succeed."""

    name: str
    state: StepState
    duration: float
    returncode: int | None = None
    error: str | None = None


class PipelineHost(Protocol):
    """What the runner needs from the engine (the engine is one)."""

    events: EventBus
    specs: dict[str, RepoSpec]

    @property
    def history(self) -> History | None: ...


def step_env(step: PipelineStep, environ: Mapping[str, str]) -> dict[str, str]:
    """The step's whole environment, its secret files read now (each run picks up a rotated
    one); SecretUnavailable says which secret cannot be had and why, never its value."""
    env = {name: environ[name] for name in BASE_ENV if name in environ}
    env.setdefault("PATH", FALLBACK_PATH)
    env.update(step.env)
    for name, source in step.secret_sources():
        try:
            env[name] = source.read(environ)
        except SecretUnavailable as exc:
            if source.file is None:  # the daemon's variable of the same name
                raise SecretUnavailable(f"secret {name}", exc.reason) from None
            raise SecretUnavailable(f"secret {name}:", str(exc)) from None
    return env


def limit_settings(limits: StepLimits) -> list[tuple[int, int, int]]:
    """The step's resource limits as (resource, soft, hard), set in the step before its exec.

    Soft and hard limits are set together so the step cannot raise them again; a limit never
    goes above the hard limit the daemon itself has. The CPU hard limit is a little higher,
    so a step gets SIGXCPU (which it may catch to clean up) before SIGKILL.
    """
    wanted = [
        (resource.RLIMIT_CPU, limits.cpu_seconds, 5),
        (resource.RLIMIT_AS, limits.address_space, 0),
        (resource.RLIMIT_FSIZE, limits.file_size, 0),
        (resource.RLIMIT_NPROC, limits.processes, 0),
    ]
    settings: list[tuple[int, int, int]] = []
    for which, value, slack in wanted:
        if value is None:
            continue
        _, hard = resource.getrlimit(which)
        cap = hard if hard != resource.RLIM_INFINITY else value + slack
        settings.append((which, min(value, cap), min(value + slack, cap)))
    return settings


@dataclass(frozen=True, slots=True)
class StepUser:
    """Who a step runs as (`run_as`): ids for the supervisor, and the home for HOME."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def ids(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "groups": list(self.groups)}


class StepUserError(Exception):
    """A `run_as` that cannot be: no such user, or a daemon that may not become it."""


def step_user(run_as: str | None) -> StepUser | None:
    """The user a step runs as; None for the daemon's own. `run_as` is `user` or `user:group`,
    each a name or a number (a number needs no entry in /etc/passwd, as in containers)."""
    if run_as is None:
        return None
    name, _, group = run_as.partition(":")
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        uid, gid, home, login = entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_name
    except KeyError:
        if not name.isdigit():
            raise StepUserError(f"run_as: there is no user {name}") from None
        uid = gid = int(name)
        home, login = "/", None
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise StepUserError(f"run_as: there is no group {group}") from None
    if os.geteuid() != 0:
        if uid == os.geteuid() and not group:
            return None  # who we are already
        raise StepUserError(f"run_as {run_as}: only a daemon running as root can change user")
    groups = tuple(os.getgrouplist(login, gid)) if login else (gid,)
    return StepUser(uid, gid, groups, home)


def take_owed(path: Path) -> dict[str, str | None]:
    """The runs owed since the last stop, taken: a second process starting at the same moment
    gets none (the file is renamed away before it is read). Unreadable: none."""
    taken = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        os.rename(path, taken)
    except OSError:
        return {}
    try:
        return _read_owed(taken)
    finally:
        taken.unlink(missing_ok=True)


def _read_owed(path: Path) -> dict[str, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(repo): ref if isinstance(ref, str) else None for repo, ref in data.items()}


def add_owed(path: Path, owed: Mapping[str, str | None]) -> None:
    """Write down runs owed to the next start, with any already owed (newest ref wins);
    raises OSError when it cannot, leaving those already owed where they were."""
    merged = {**_read_owed(path), **owed}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.new")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(merged, indent=1), encoding="utf-8")
        os.replace(temporary, path)  # whole or not at all
    finally:
        temporary.unlink(missing_ok=True)


def safe_name(repo: str) -> str:
    """A repo name as one file-name component."""
    name = re.sub(r"[^-._a-zA-Z0-9]", "_", repo)
    return name if name.strip(".") else "_" + name


class PipelineRunner:
    """Runs each repo's pipeline after its HEAD moves; one run per repo at a time."""

    def __init__(
        self,
        host: PipelineHost,
        state_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        concurrency: int = 2,
        kill_grace: float = KILL_GRACE,
        keep_runs: int = KEEP_RUNS,
        log_cap: int = MAX_LOG_BYTES,
    ) -> None:
        self._host = host
        self.runs_dir = state_dir / "runs"
        self._environ = environ if environ is not None else os.environ
        self._slots = asyncio.Semaphore(concurrency)
        self._kill_grace = kill_grace
        self._keep_runs = keep_runs
        self._log_cap = log_cap
        self._pending: dict[str, str | None] = {}  # repo -> ref of the newest trigger
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._seq = itertools.count(1)
        self._owed_path = state_dir / OWED_FILE
        self._stopping = False
        self.last: dict[str, PipelineStateChanged] = {}  # repo -> its latest pipeline event

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen to the engine's events for moves of HEAD; start the runs owed since the last
        stop."""
        if self._unsubscribe is None:
            self._unsubscribe = self._host.events.subscribe(self._on_event)
        for repo, ref in take_owed(self._owed_path).items():
            if self.trigger(repo, ref=ref):
                self._log("info", "pipeline: the run owed since the last stop starts", repo)

    def begin_stop(self) -> None:
        """Start no more runs; triggers from now on are owed to the next start."""
        self._stopping = True

    async def stop(self) -> None:
        """End running runs (their steps' process groups included); queued and cut-short runs
        are written down as owed."""
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        owed, self._pending = self._pending, {}
        if owed:
            self._write_owed(owed)

    def _write_owed(self, owed: dict[str, str | None]) -> None:
        try:
            add_owed(self._owed_path, owed)
        except OSError as exc:
            for repo in owed:
                self._log("error", f"pipeline: a run is owed but cannot be kept: {exc}", repo)
            return
        for repo in owed:
            self._log("info", "pipeline: run owed, it starts at the next start", repo)

    async def wait_idle(self) -> None:
        """Return once no run is running or queued."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    def running(self, repo: str) -> bool:
        return repo in self._workers

    # -- triggers -----------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if (
            isinstance(event, SyncFinished)
            and event.ok
            and event.old_head
            and event.new_head
            and event.old_head != event.new_head
        ):
            # A tag deploy leaves HEAD detached: its tag stands in for the branch.
            self.trigger(event.repo, ref=event.detail if event.action == "deploy-tag" else None)

    def trigger(self, repo: str, *, ref: str | None = None) -> bool:
        """Queue a run of the repo's pipeline; False when it has none. `ref` overrides the
        branch that the steps' `branches` filters are matched against (a tag deploy's tag)."""
        spec = self._host.specs.get(repo)
        if spec is None or not spec.pipeline:
            return False
        self._pending[repo] = ref
        if repo not in self._workers and not self._stopping:
            task = asyncio.create_task(self._worker(repo), name=f"pipeline {repo}")
            self._workers[repo] = task
        return True

    async def _worker(self, repo: str) -> None:
        try:
            while repo in self._pending and not self._stopping:
                async with self._slots:
                    if self._stopping:  # waited for a slot past the stop: owed
                        break
                    ref = self._pending.pop(repo)
                    spec = self._host.specs.get(repo)
                    if spec is not None and spec.pipeline:
                        try:
                            await self.run(spec, ref=ref)
                        except asyncio.CancelledError:
                            self._pending.setdefault(repo, ref)  # cut short: owed
                            raise
        finally:
            self._workers.pop(repo, None)

    # -- one run ------------------------------------------------------------------------------

    async def run(self, spec: RepoSpec, *, ref: str | None = None) -> PipelineStateChanged | None:
        """Run the pipeline once now on what is checked out; None when no step applies."""
        head, branch = await self._read_head(spec)
        ref = ref or branch
        steps = [step for step in spec.pipeline if branch_allowed(ref, step.branches)]
        if not steps:
            self._log("info", f"pipeline: no step runs on {ref or 'a detached HEAD'}", spec.name)
            return None
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{(head or 'unborn')[:8]}-{next(self._seq)}"
        log = _RunLog.open(
            self.runs_dir / safe_name(spec.name), run_id, self._keep_runs, self._log_cap
        )
        log.note(f"# {spec.name} at {head or 'no commit'} ({ref or 'detached'}), run {run_id}")
        base = PipelineStateChanged(
            spec.name, run_id, "running", total=len(steps), head=head, ref=ref,
            log_path=str(log.path) if log.path else None,
        )  # fmt: skip
        started = time.monotonic()
        failed: list[str] = []
        # The run's end: ok after the last step, or the step that stopped it and why.
        state: PipelineState = "ok"
        error: str | None = None
        at: tuple[int, str | None] = (len(steps), None)
        try:
            for index, step in enumerate(steps, 1):
                self._publish(replace(base, step=step.name, index=index, failed=tuple(failed)))
                result = await self._run_step(spec, step, run_id, log, index, len(steps))
                if result.state == "ok":
                    continue
                failed.append(step.name)
                if step.on_failure == "stop":
                    state, error = result.state, f"step {step.name}: {result.error}"
                    at = (index, step.name)
                    break
        except asyncio.CancelledError:
            log.note("# cancelled: the engine is stopping")
            log.close()
            duration = time.monotonic() - started
            cancelled = replace(
                base, state="cancelled", error="stopped", failed=tuple(failed), duration=duration
            )
            self._publish(cancelled)
            raise
        duration = time.monotonic() - started
        log.note(f"# {state}" + (f": {error}" if error else "") + f" in {duration:.1f}s")
        log.close()
        final = replace(
            base, state=state, error=error, failed=tuple(failed), duration=duration,
            index=at[0], step=at[1],
        )  # fmt: skip
        self._publish(final)
        await self._record(final)
        return final

    async def _read_head(self, spec: RepoSpec) -> tuple[str | None, str | None]:
        """The commit checked out and its branch (None when detached), read now."""
        result = await run_git_async(
            ["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"],
            RepoPaths.of(spec.path, bare=spec.bare),
            timeout=10.0,
        )
        lines = result.stdout.decode("utf-8", errors="replace").split()
        if not result.ok or len(lines) < 2:
            return None, None
        return lines[0], lines[1].removeprefix("refs/heads/") if lines[1] != "HEAD" else None

    async def _run_step(
        self, spec: RepoSpec, step: PipelineStep, run_id: str, log: _RunLog, index: int, total: int
    ) -> StepResult:
        sink = _Sink(self._host.events, log, spec.name, run_id, step.name)
        sink.note("info", f"step {index}/{total} {step.name}")
        started = time.monotonic()
        try:
            result = await self._step(spec, step, sink)
        except Exception as exc:  # a bug in one step must not stop the runner
            result = StepResult(step.name, "failed", 0.0, error=f"internal error: {exc!r}")
        took = time.monotonic() - started
        result = StepResult(step.name, result.state, took, result.returncode, result.error)
        if result.state == "ok":
            sink.note("info", f"step {step.name} ok in {took:.1f}s")
        else:
            tolerated = " (on_failure: continue)" if step.on_failure == "continue" else ""
            sink.note("error", f"step {step.name} {result.state}: {result.error}{tolerated}")
        return result

    async def _step(self, spec: RepoSpec, step: PipelineStep, sink: _Sink) -> StepResult:
        root = spec.path
        cwd = (root / step.cwd).resolve()
        if not cwd.is_relative_to(root.resolve()) or not cwd.is_dir():
            return StepResult(step.name, "failed", 0.0, error=f"cwd {step.cwd} is not a folder")
        try:
            env = step_env(step, self._environ)
        except SecretUnavailable as exc:
            return StepResult(step.name, "failed", 0.0, error=str(exc))
        sink.hide([env[name] for name in step.secret_names])
        if step.configmap is None:
            return await self._process(step, step.run, cwd, env, sink)
        config = step.configmap
        try:
            rendered = await asyncio.to_thread(render_configmap, config, root)
            target = await asyncio.to_thread(write_configmap, rendered, output_dir(config, root))
        except (ConfigMapError, OSError) as exc:
            return StepResult(step.name, "failed", 0.0, error=str(exc))
        sink.note(
            "info",
            f"ConfigMap {rendered.name}: {plural(len(rendered.files), 'file')}, "
            f"{rendered.size} bytes, written to {target}",
        )
        if not config.apply:
            return StepResult(step.name, "ok", 0.0, returncode=0)
        return await self._process(step, KUBECTL_APPLY, cwd, env, sink, rendered.text)

    async def _process(
        self,
        step: PipelineStep,
        argv: Sequence[str],
        cwd: Path,
        env: dict[str, str],
        sink: _Sink,
        stdin: str | None = None,
    ) -> StepResult:
        """Run one step's process under its supervisor; its output goes to `sink` line by line."""
        try:
            user = step_user(step.run_as)
        except StepUserError as exc:
            return StepResult(step.name, "failed", 0.0, error=str(exc))
        if user is not None and "HOME" in env:
            env = {**env, "HOME": user.home}
        order = {
            "argv": list(argv), "env": env, "limits": limit_settings(step.limits),
            "grace": self._kill_grace, "parent": os.getpid(), "input": stdin,
            **(user.ids() if user is not None else {}),
        }  # fmt: skip
        spawning = asyncio.ensure_future(
            _spawn(
                [sys.executable, "-I", "-S", str(SUPERVISOR)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env={},  # the step's environment goes on stdin, where no one else sees it
                start_new_session=True,  # its own process group, and no terminal
            )
        )
        try:
            # Shielded: cancelled mid-spawn, the supervisor is ended (with whatever it started).
            proc, exited = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                started, _ = await spawning
                _signal_group(started.pid, signal.SIGKILL)
                await started.wait()
            raise
        except (OSError, subprocess.SubprocessError) as exc:
            return StepResult(step.name, "failed", 0.0, error=f"cannot start {argv[0]}: {exc}")
        assert proc.stdout is not None and proc.stderr is not None
        pump = asyncio.create_task(sink.pump(proc.stdout))
        complaint = asyncio.create_task(proc.stderr.read())
        feed = asyncio.create_task(_feed(proc, json.dumps(order).encode()))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(exited.wait(), step.timeout)
            except TimeoutError:
                timed_out = True
                await self._end_step(proc, exited)
        except asyncio.CancelledError:
            await self._end_step(proc, exited)
            raise
        finally:
            feed.cancel()
            # The supervisor has ended every process of the step: the pipe is at its end.
            try:
                await asyncio.wait_for(asyncio.shield(pump), self._kill_grace)
            except TimeoutError:
                pump.cancel()
            try:
                said = (await asyncio.wait_for(complaint, 1.0)).decode(errors="replace").strip()
            except TimeoutError:
                said = ""
        if timed_out:
            return StepResult(
                step.name, "timeout", 0.0, proc.returncode, f"timed out after {step.timeout:g}s"
            )
        code = proc.returncode
        if code == 0:
            return StepResult(step.name, "ok", 0.0, 0)
        # The supervisor says on stderr what it could not do (start the program, for one).
        error = said.splitlines()[-1] if said else _exit_text(code)
        return StepResult(step.name, "failed", 0.0, code, error)

    async def _end_step(self, proc: asyncio.subprocess.Process, exited: asyncio.Event) -> None:
        """Ask the supervisor to end the step: SIGTERM to all of it, SIGKILL after the grace.
        Should the supervisor itself not be gone a little after that, it is killed."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(exited.wait(), self._kill_grace + SUPERVISOR_SLACK)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await exited.wait()

    # -- reporting ----------------------------------------------------------------------------

    def _publish(self, event: PipelineStateChanged) -> None:
        self.last[event.repo] = event
        self._host.events.publish(event)

    def _log(self, level: LogLevel, message: str, repo: str) -> None:
        self._host.events.publish(LogLine(level, message, repo))

    async def _record(self, final: PipelineStateChanged) -> None:
        history = self._host.history
        if history is None:
            return
        entry = HistoryEntry(
            time=time.time(), repo=final.repo, action="pipeline", ok=final.state == "ok",
            duration=final.duration, error=final.error, new_head=final.head,
            detail=f"run {final.run_id}",
        )  # fmt: skip
        # A failed write is the engine's to report (it watches its own writes); skip it here.
        with contextlib.suppress(HistoryUnavailable):
            await asyncio.to_thread(history.record, entry)


class _RunLog:
    """The run's log file, readable by its owner only (a step's output may hold what it must
    not); the steps' output in it is capped in size, the runner's own lines always written. A
    log that cannot be written is skipped, not fatal."""

    def __init__(self, path: Path | None, handle: IO[bytes] | None, cap: int) -> None:
        self.path = path
        self._handle = handle
        self._cap = cap
        self._written = 0  # bytes of step output
        self._dropped = 0  # lines of step output past the cap

    @classmethod
    def open(cls, folder: Path, run_id: str, keep: int, cap: int) -> _RunLog:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for private in (folder, folder.parent):  # made 0755 by older versions
                private.chmod(0o700)
            old = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
            for stale in old[: max(0, len(old) - keep + 1)]:
                stale.unlink(missing_ok=True)
            path = folder / f"{run_id}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            return cls(path, os.fdopen(fd, "wb"), cap)
        except OSError:
            return cls(None, None, cap)

    def output(self, line: str) -> None:
        """A line of a step's output: written while under the cap, counted after it."""
        data = (line + "\n").encode("utf-8", errors="replace")
        if self._written + len(data) > self._cap:
            self._dropped += 1
            return
        self._written += len(data)
        self._put(data)

    def note(self, line: str) -> None:
        """A line of the runner's own."""
        self._put((line + "\n").encode("utf-8", errors="replace"))

    def end_output(self) -> None:
        """A step's output has ended: say how much of it the cap left out."""
        if self._dropped:
            self.note(f"# {self._dropped} more lines of output not kept (log cap)")
            self._dropped = 0

    def _put(self, data: bytes) -> None:
        if self._handle is None:
            return
        try:
            self._handle.write(data)
        except OSError:
            self.close()

    def close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None


class _Sink:
    """One step's output: every line to the log file, the first many as LogLine events; the
    values of the step's secrets masked, and every cut said where it is."""

    def __init__(self, events: EventBus, log: _RunLog, repo: str, run_id: str, step: str) -> None:
        self._events = events
        self._log = log
        self._repo = repo
        self._run_id = run_id
        self._step = step
        self._lines = 0
        self._secrets: list[bytes] = []

    def hide(self, values: Sequence[str]) -> None:
        """Mask these values wherever they appear in the output (longest first, so a secret
        holding another is masked whole); a value of several lines is masked line by line."""
        parts = {part.encode() for value in values for part in value.splitlines() if part}
        self._secrets = sorted(parts, key=len, reverse=True)

    def note(self, level: LogLevel, message: str) -> None:
        """The runner's own line about the step (not the step's output)."""
        self._log.note(f"# {message}")
        self._events.publish(LogLine(level, message, self._repo, self._run_id, self._step))

    def line(self, raw: bytes, dropped: int = 0) -> None:
        """One line of output; `dropped` bytes of it were not kept (the pump's cut)."""
        for secret in self._secrets:
            raw = raw.replace(secret, MASK)
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if len(text) > MAX_LINE:
            dropped += len(text[MAX_LINE:].encode())
            text = text[:MAX_LINE]
        if dropped:
            text += f" [line cut: {dropped} more bytes not kept]"
        self._log.output(text)
        self._lines += 1
        if self._lines <= MAX_EVENT_LINES:
            self._events.publish(LogLine("info", text, self._repo, self._run_id, self._step))
        elif self._lines == MAX_EVENT_LINES + 1:
            where = f" (all of it in {self._log.path})" if self._log.path else ""
            self.note("warning", f"more output than {MAX_EVENT_LINES} lines{where}")

    async def pump(self, stream: asyncio.StreamReader) -> None:
        """Read the step's output to the end, line by line. Of an endless line the first bytes
        are kept (enough to mask a secret at the cut) and the rest counted, not held."""
        keep = 4 * MAX_LINE + max((len(secret) for secret in self._secrets), default=0)
        line = bytearray()
        dropped = 0
        while chunk := await stream.read(65536):
            start = 0
            while start <= len(chunk):
                end = chunk.find(b"\n", start)
                piece = memoryview(chunk)[start : end if end >= 0 else len(chunk)]
                room = max(0, keep - len(line))
                line += piece[:room]
                dropped += max(0, len(piece) - room)
                if end < 0:
                    break
                self.line(bytes(line), dropped)
                line.clear()
                dropped = 0
                start = end + 1
        if line or dropped:
            self.line(bytes(line), dropped)
        self._log.end_output()


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    """Write `data` to the process's stdin and close it; a process that stops reading is fine."""
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The protocol `create_subprocess_exec` uses, plus an event set when the process exits.

    `Process.wait()` also waits for the output pipe to close, which a process the step left
    running in the background keeps open; the step is over when its own process exits.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


async def _spawn(
    argv: Sequence[str], **options: Any
) -> tuple[asyncio.subprocess.Process, asyncio.Event]:
    """`asyncio.create_subprocess_exec`, and the event set when the process exits."""
    loop = asyncio.get_running_loop()
    protocol = _ExitProtocol(limit=2**16, loop=loop)
    transport, _ = await loop.subprocess_exec(lambda: protocol, *argv, **options)
    return asyncio.subprocess.Process(transport, protocol, loop), protocol.exited


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
