"""`gitwatch-tui daemon`: the engine, its HTTP server and its notifier (the config's
`notify:`) with no UI, for a service manager.

It logs one JSON object per line to stderr (`ts`, `level`, `event`, then the event's fields),
stops cleanly on SIGTERM or SIGINT, at any moment from its first line (no new work from the
signal on; running fetches and syncs get the grace period, then their git processes are ended;
history is flushed), reloads the config on SIGHUP (and when the file changes; not once
stopping), and exits with a code from sysexits.h that systemd can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from gitwatch_tui import __version__
from gitwatch_tui.core import early_signals
from gitwatch_tui.core.config import Config, parse_listen, refuse_no_repos
from gitwatch_tui.core.config_file import load_config, resolve_config_path
from gitwatch_tui.core.errors import ConfigError
from gitwatch_tui.core.hardening import make_undumpable, secret_variables, withhold
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import ConfigError as ConfigRefused
from gitwatch_tui.engine.events import (
    ConfigReloaded,
    Event,
    LogLine,
    StatusChanged,
    SyncFinished,
    SyncStateChanged,
)
from gitwatch_tui.engine.headless import event_record
from gitwatch_tui.server.app import (
    ServerConfigError,
    Services,
    bind_listener,
    read_secrets,
    start_services,
)
from gitwatch_tui.server.connections import Listener
from gitwatch_tui.server.notify import Notifier, start_notifier

EX_OK = 0
EX_SOFTWARE = 1  # anything unexpected
EX_USAGE = 64  # a bad --listen
EX_UNAVAILABLE = 69  # the address cannot be bound (not ours, not permitted)
EX_TEMPFAIL = 75  # the port is in use: may work on a later try
EX_CONFIG = 78  # bad or missing config file, a webhook secret that is not set

# Phases that every poll passes through: logged only with --verbose (SyncFinished says it all).
_ROUTINE_PHASES = frozenset({"idle", "fetching", "cloning", "syncing"})


class JsonLog:
    """One JSON object per line: `ts` (UTC, ms), `level`, `event`, then the fields.

    The lines are written by a thread of their own, as many as are waiting in one write: a
    write to a slow pipe or disk (journald, a busy volume) must not hold up the event loop.
    Under a webhook flood, a write and flush per line took a third of the loop's time and
    pushed p99 latency past 100 ms. `close()` writes what is left.
    """

    def __init__(self, stream: TextIO, *, verbose: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_lines, name="gw-log", daemon=True)
        self._writer.start()

    def write(self, level: str, event: str, **fields: Any) -> None:
        record = {"ts": _now(), "level": level, "event": event, **fields}
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        if self._writer.is_alive():
            self._lines.put(line)
        else:  # closed: the last words of the process, written at once
            self._emit(line)

    def close(self, timeout: float = 5.0) -> None:
        """Write every line still waiting, then write directly."""
        self._lines.put(None)
        self._writer.join(timeout)
        # A line another thread queued behind the end mark is written here, not dropped.
        with contextlib.suppress(queue.Empty):
            while True:
                line = self._lines.get_nowait()
                if line is not None:
                    self._emit(line)

    def _write_lines(self) -> None:
        while True:
            batch = [self._lines.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._lines.get_nowait())
            self._emit("".join(line for line in batch if line is not None))
            if None in batch:
                return

    def _emit(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed: nothing left to tell
            pass

    def engine_event(self, event: Event) -> None:
        if (
            isinstance(event, SyncStateChanged)
            and event.state.phase in _ROUTINE_PHASES
            and not self._verbose
        ):
            return
        record = event_record(event)
        kind = record.pop("event")
        level = record.pop("level", None) if isinstance(event, LogLine) else None
        self.write(level or _level(event, record), kind, **record)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _level(event: Event, record: dict[str, Any]) -> str:
    if isinstance(event, ConfigRefused):
        return "error"
    if isinstance(event, SyncFinished):
        return "info" if event.ok else "warning"
    if isinstance(event, StatusChanged):
        return "warning" if event.status.error else "info"
    if isinstance(event, SyncStateChanged):
        return "info" if event.state.phase in _ROUTINE_PHASES else "warning"
    return "warning" if record.get("error") else "info"


class _JsonLogHandler(logging.Handler):
    """Library log records (aiohttp, asyncio) as JSON lines too, so stderr stays parseable."""

    def __init__(self, log: JsonLog) -> None:
        super().__init__(logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        self._log.write(
            record.levelname.lower(), "library-log", logger=record.name, message=message
        )


def run_daemon(
    config_path: str | None,
    listen: str | None = None,
    *,
    verbose: bool = False,
    env: Mapping[str, str] = os.environ,
    stream: TextIO = sys.stderr,
) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit status (sysexits.h codes).

    For the rest of the process, library log records and "exception ignored" reports are
    written as JSON lines too, so that every line on stderr parses.
    """
    log = JsonLog(stream, verbose=verbose)
    logging.getLogger().addHandler(_JsonLogHandler(log))

    def unraisable(report: Any) -> None:
        where = f" in {report.object!r}" if report.object is not None else ""
        message = f"{report.err_msg or 'Exception ignored'}{where}: {report.exc_value!r}"
        log.write("warning", "library-log", logger="unraisable", message=message)

    sys.unraisablehook = unraisable
    make_undumpable()
    try:
        # A copy as we started, secrets included: `_run` takes them out of the environment
        # our children inherit, and reads them from here.
        return asyncio.run(_run(config_path, listen, log, dict(env)))
    except Exception as exc:  # a bug: say what it was, in the log's own format
        log.write("error", "daemon-crashed", error=repr(exc))
        return EX_SOFTWARE
    finally:
        log.close()


async def _run(
    config_path: str | None, listen: str | None, log: JsonLog, env: Mapping[str, str]
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stop_signal: list[str] = []
    engine: Engine | None = None
    started = False  # the engine and its server are up: a SIGHUP reloads from then on
    reload_wanted = False

    def on_stop(sig: signal.Signals) -> None:
        stop_signal.append(sig.name)
        stop.set()
        if engine is not None:
            engine.begin_stop()  # at once: nothing starts between the signal and the stop

    reloads: set[asyncio.Task[bool]] = set()  # held: the loop keeps only weak references

    def reload() -> None:
        assert engine is not None
        task = asyncio.ensure_future(engine.reload_config())  # refused once stopping
        reloads.add(task)
        task.add_done_callback(reloaded)

    def reloaded(task: asyncio.Task[bool]) -> None:
        reloads.discard(task)
        if not task.cancelled() and task.exception() is not None:  # a bug: said, not lost
            log.write("error", "config-error", message=f"reload failed: {task.exception()!r}")

    def on_reload() -> None:
        nonlocal reload_wanted
        if engine is not None and started:
            reload()
        else:
            reload_wanted = True  # during start-up: once started

    # Before anything else, so a signal at any moment of the start-up is acted on; those
    # that came before the loop were noted (early_signals) and are acted on now.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop, sig)
    loop.add_signal_handler(signal.SIGHUP, on_reload)
    for sig in early_signals.caught():
        if sig == signal.SIGHUP:
            on_reload()
        else:
            on_stop(sig)
    loaded = _load(config_path, listen, log, env)
    if isinstance(loaded, int):
        return loaded
    config, path, address = loaded
    withhold(secret_variables(config))  # before the first git starts
    if stop.is_set():  # stopped before anything started
        _log_stopping(log, stop_signal[0], config.server.shutdown_grace)
        log.write("info", "daemon-stopped")
        return EX_OK
    # The port first: a clash is found before the engine reads (and fetches) every repo.
    listener = _bind(address, log)
    if isinstance(listener, int):
        return listener
    engine = Engine(config, config_path=path, environ=env)
    engine.subscribe(log.engine_event)
    engine.subscribe(lambda event: _secrets_still_inherited(event, log))
    engine.subscribe(lambda event: _server_reload_notice(event, config, log))
    services: Services | None = None
    notifier: Notifier | None = None
    try:
        await engine.start()
        # Stopped during the engine's start: its notifier and server never start.
        if not stop.is_set():
            refuse_no_repos(engine.config, engine.specs.values())
            # Always on, even with no target: a reload may add one. Before the server, so
            # that what its webhooks start is followed too.
            notifier = start_notifier(engine.events, engine.config.notify, env=env)
            if listener is not None:
                services = await start_services(engine, config, listener=listener, env=env)
    except (ServerConfigError, ConfigError) as exc:
        if listener is not None:
            listener.close()
        if isinstance(exc, ConfigError):  # it resolves to no repos: a mistake, or a half file
            _log_config_error(log, exc)
        else:
            log.write("error", "config-error", message=str(exc))
        await _stop_engine(engine, notifier)
        return EX_CONFIG
    if services is None and listener is not None:
        listener.close()  # stopped before the server started: its port goes at once
    if not stop.is_set():
        started = True
        log.write(
            "info", "daemon-started", version=__version__, pid=os.getpid(),
            config=str(path.absolute()), listen=services.url if services else None,
            repos=len(engine.specs), notify=_notify_targets(engine.config),
        )  # fmt: skip
        if reload_wanted:
            reload()
    await stop.wait()
    grace = engine.config.server.shutdown_grace
    _log_stopping(log, stop_signal[0], grace)
    if services is not None:
        await services.stop()
    await _stop_engine(engine, notifier, grace)
    log.write("info", "daemon-stopped")
    return EX_OK


def _log_stopping(log: JsonLog, signal_name: str, grace: float) -> None:
    log.write("info", "daemon-stopping", signal=signal_name, grace=grace)


async def _stop_engine(engine: Engine, notifier: Notifier | None, grace: float = 0.0) -> None:
    # The notifier goes first: deliveries under way get its few seconds, and the fetches the
    # engine's stop ends are not reported as failures.
    if notifier is not None:
        await notifier.aclose()
    await engine.stop(grace=grace)


def _bind(address: str | None, log: JsonLog) -> Listener | None | int:
    """The bound listening sockets (None: no server), or the exit code that says why not."""
    if address is None:
        return None
    try:
        return bind_listener(address)
    except ServerConfigError as exc:
        log.write("error", "config-error", message=f"cannot listen on {address}: {exc}")
        return EX_CONFIG
    except OSError as exc:
        log.write("error", "server-error", message=f"cannot listen on {address}: {exc}")
        return EX_TEMPFAIL if exc.errno == errno.EADDRINUSE else EX_UNAVAILABLE


def _secrets_still_inherited(event: Event, log: JsonLog) -> None:
    """A reloaded config may name more secrets. They stay in the environment children inherit
    until a restart: changing it now could break a git being started in another thread
    (which reads it as a whole), so the log says so instead."""
    if isinstance(event, ConfigReloaded):
        left = sorted(secret_variables(event.config) & os.environ.keys())
        if left:
            names = ", ".join(left)
            log.write(
                "warning", "secrets-inherited", variables=left,
                message=f"{names}: named as secrets by the reload, still in the environment "
                "git and the steps inherit; restart the daemon to take them out",
            )  # fmt: skip


def _notify_targets(config: Config) -> list[str]:
    """Where notifications go, for the start-up line: the kinds of target, never their URL."""
    settings = config.notify
    targets = (("webhook", settings.webhook), ("email", settings.email))
    return [name for name, target in targets if target is not None and settings.on]


def _load(
    config_path: str | None, listen: str | None, log: JsonLog, env: Mapping[str, str]
) -> tuple[Config, Path, str | None] | int:
    """The config, its path and the address to serve on; or the exit code that says why not."""
    try:
        path = resolve_config_path(config_path, env)
        if path is None:
            log.write(
                "error", "config-error",
                message="no config file: pass --config PATH or set $GITWATCH_TUI_CONFIG",
            )  # fmt: skip
            return EX_CONFIG
        config = load_config(path, env)
    except ConfigError as exc:
        _log_config_error(log, exc)
        return EX_CONFIG
    if listen is not None:
        try:
            parse_listen(listen)
        except ValueError as exc:
            log.write("error", "usage-error", message=f"--listen: {exc}")
            return EX_USAGE
    address = listen or config.server.listen
    if address is not None:
        try:
            read_secrets(config.server, env)  # before anything starts: a missing one is fatal
        except ServerConfigError as exc:
            log.write("error", "config-error", message=f"{path}: {exc}")
            return EX_CONFIG
    return config, path, address


def _log_config_error(log: JsonLog, error: ConfigError) -> None:
    problems = [str(problem) for problem in error.problems]
    log.write("error", "config-error", message=str(error), problems=problems)


def _server_reload_notice(event: Event, started_with: Config, log: JsonLog) -> None:
    if isinstance(event, ConfigReloaded) and event.config.server != started_with.server:
        log.write(
            "warning", "server-settings-changed",
            message="the server section changed: restart the daemon to apply it",
        )  # fmt: skip
