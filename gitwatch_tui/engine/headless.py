"""`gitwatch-tui watch`: the engine with no UI, printing its events as lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
import time
from dataclasses import fields, is_dataclass
from typing import Any, TextIO

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.results import plural
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import (
    ConfigError,
    ConfigReloaded,
    Event,
    LogLine,
    PipelineStateChanged,
    StatusChanged,
    StatusRemoved,
    SyncFinished,
    SyncStateChanged,
)
from gitwatch_tui.engine.repo_state import repo_state


def run_headless(config: Config, *, as_json: bool) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""
    return asyncio.run(_run(config, as_json, sys.stdout))


async def _run(config: Config, as_json: bool, out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = Engine(config)
    engine.subscribe(lambda event: _print(event, as_json, out))
    await engine.start()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await engine.stop()
    return 0


def _print(event: Event, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(event_record(event), ensure_ascii=False, default=str) + "\n")
    else:
        out.write(f"{time.strftime('%H:%M:%S')} {describe(event)}\n")
    out.flush()


def event_record(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready object; `event` names its type in kebab case
    (`status`, `sync-finished`, `log-line`, ...). The daemon's log lines are these."""
    if isinstance(event, StatusChanged):
        return {"event": "status", **event.status.to_json()}
    if isinstance(event, ConfigReloaded):
        data = {"added": event.added, "removed": event.removed, "changed": event.changed}
        return {"event": "config-reloaded", **data}
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", type(event).__name__).lower()
    return {"event": kind, **_fields(event)}


def _fields(obj: Any) -> dict[str, Any]:
    # `asdict` deep-copies every value: a tenth of a millisecond per event, which a daemon
    # logging each webhook delivery feels. Values here are immutable, so no copy is needed.
    return {
        f.name: _fields(value) if is_dataclass(value) else value
        for f in fields(obj)
        for value in (getattr(obj, f.name),)
    }


def describe(event: Event) -> str:
    """One human line per event."""
    match event:
        case StatusChanged(status=s):
            # The state as every face says it; the event has no sync state, so the word is
            # the repo's own (failing fetches come as sync-state lines).
            state = repo_state(s, None, time.time())
            if state.word == "error":
                return f"{s.name}: ✗ {s.error}"
            parts = [s.branch or "?"]
            if s.ahead or s.behind:
                parts.append(f"↑{s.ahead or 0} ↓{s.behind or 0}")
            if s.dirty:
                parts.append(f"+{s.staged} ~{s.unstaged} ?{s.untracked} !{s.conflicted}")
            return f"{s.name}: {state.label} · {' '.join(parts)}"
        case StatusRemoved(repo=repo):
            return f"{repo}: no longer watched"
        case SyncStateChanged(state=st):
            if st.phase in ("backoff", "circuit-open") and st.next_attempt:
                wait = max(0, int(st.next_attempt - time.time()))
                return f"{st.repo}: {st.phase}, retry in {wait}s: {st.last_error}"
            return f"{st.repo}: {st.phase}"
        case SyncFinished(repo=repo, action=action, ok=True, old_head=old, new_head=new):
            moved = f" {old[:7]}..{new[:7]}" if old and new and old != new else ""
            after = f" ({event.error})" if event.error else ""  # what failed after it was done
            return f"{repo}: {action} done{moved}{after}"
        case SyncFinished(repo=repo, action=action, error=error):
            return f"{repo}: {action} failed: {error}"
        case LogLine(level=level, message=message, repo=repo):
            return f"{repo + ': ' if repo else ''}{level}: {message}"
        case ConfigReloaded(added=added, removed=removed, changed=changed):
            return f"config reloaded: +{len(added)} -{len(removed)} ~{len(changed)} repos"
        case ConfigError(message=message):
            return f"config not reloaded (the last good one stays): {message}"
        case PipelineStateChanged():
            return _describe_pipeline(event)
    return repr(event)


def _describe_pipeline(run: PipelineStateChanged) -> str:
    if run.state == "running":
        return f"{run.repo}: pipeline step {run.index}/{run.total} {run.step}"
    took = f" in {run.duration:.1f}s"
    if run.state == "ok":
        tolerated = f" (failed, tolerated: {', '.join(run.failed)})" if run.failed else ""
        return f"{run.repo}: pipeline ok{took}, {plural(run.total, 'step')}{tolerated}"
    if run.state == "cancelled":
        return f"{run.repo}: pipeline cancelled{took}"
    verb = "timed out" if run.state == "timeout" else "failed"
    # The error names the step ("step test: exit 1"); the run's log holds its output.
    why = f": {run.error}" if run.error else f" at step {run.step}"
    log = f" (log: {run.log_path})" if run.log_path else ""
    return f"{run.repo}: pipeline {verb}{took}{why}{log}"
