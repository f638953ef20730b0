"""The log's lines about syncing, made from the events the engine already publishes: fetches
that start or stop failing, back-off and circuit changes, a repo another process holds, repos
that become unreadable, refusals, auto-syncs and pulls with what they did.

One line per change, not per event: a fetch that fails the same way at every retry is said
once (then again when the error changes, the circuit opens, or fetches work again).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from gitwatch_tui.engine.events import (
    Event,
    LogLine,
    StatusChanged,
    StatusRemoved,
    SyncFinished,
    SyncState,
    SyncStateChanged,
)
from gitwatch_tui.engine.repo_state import first_line, until

# Fetches and clones report their failures through their sync state (one line per change);
# a poll that worked is no news.
_REPORTED_BY_STATE = frozenset({"fetch", "clone"})


@dataclass(frozen=True, slots=True)
class _Fetching:
    """What a repo's fetches are like, as far as the log is concerned."""

    how: str  # "ok", "failing", "circuit-open" or "locked"
    error: str | None = None


class SyncLog:
    """Turns engine events into log lines, remembering just enough to say changes only."""

    def __init__(self) -> None:
        self._fetching: dict[str, _Fetching] = {}
        self._unreadable: dict[str, str] = {}

    def lines(self, event: Event) -> list[LogLine]:
        """The log lines `event` is worth: none, or one."""
        line: LogLine | None = None
        match event:
            case SyncStateChanged(state=state):
                line = self._state(state)
            case SyncFinished():
                line = self._finished(event)
            case StatusChanged(status=status):
                line = self._readable(status.name, status.error)
            case StatusRemoved(repo=repo):
                self._fetching.pop(repo, None)
                self._unreadable.pop(repo, None)
        return [line] if line is not None else []

    def _state(self, state: SyncState) -> LogLine | None:
        now = _fetching(state)
        if now is None:  # fetching, syncing: nothing is known yet
            return None
        before = self._fetching.get(state.repo, _Fetching("ok"))
        self._fetching[state.repo] = now
        if now == before:
            return None  # the same failure again: said already
        repo, error = state.repo, first_line(state.last_error or "")
        retry = until(state.next_attempt, time.time()) if state.next_attempt else ""
        if now.how == "circuit-open":
            why = "authentication failed" if state.auth_failed else error
            when = f"; next try in {retry}" if retry else ""
            return LogLine("error", f"circuit open, fetches paused: {why}{when}", repo)
        if now.how == "failing":
            again = "still failing, now: " if before.how == "failing" else "fetch failed: "
            when = f" (retry in {retry}, attempt {state.failures})" if retry else ""
            return LogLine("error", f"{again}{error}{when}", repo)
        if now.how == "locked":
            return LogLine("warning", "another process holds the repo; trying again later", repo)
        if before.how in ("failing", "circuit-open"):
            return LogLine("info", "fetch works again", repo)
        return None

    def _finished(self, event: SyncFinished) -> LogLine | None:
        who, repo = event.action, event.repo
        if event.ok and who == "clone":
            return LogLine("info", "cloned", repo)
        if who in _REPORTED_BY_STATE:
            return None
        if event.ok:
            if not (event.old_head and event.new_head and event.old_head != event.new_head):
                return None
            moved = f"{who}: {event.old_head[:7]}..{event.new_head[:7]}"
            if event.error:  # what failed after HEAD moved
                return LogLine("warning", f"{moved}; {event.error}", repo)
            return LogLine("info", moved, repo)
        detail = event.detail or "error"
        if detail != "error" and re.fullmatch(r"[a-z-]+", detail):  # a refusal's reason
            return LogLine("warning", f"{who} refused: {event.error}", repo)
        if detail.startswith("undo:"):  # stopped half-way (conflicts): left for the user
            return LogLine("warning", f"{who}: {event.error}", repo)
        return LogLine("error", f"{who} failed: {event.error}", repo)

    def _readable(self, repo: str, error: str | None) -> LogLine | None:
        before = self._unreadable.get(repo)
        if error == before:
            return None
        if error is None:
            del self._unreadable[repo]
            return LogLine("info", "readable again", repo)
        self._unreadable[repo] = error
        return LogLine("error", f"cannot be read: {first_line(error)}", repo)


def _fetching(state: SyncState) -> _Fetching | None:
    if state.circuit_open or state.phase == "circuit-open":
        return _Fetching("circuit-open", state.last_error)
    if state.phase == "backoff":
        return _Fetching("failing", state.last_error)
    if state.phase == "busy":
        return _Fetching("locked")
    if state.phase == "idle":
        return _Fetching("failing", state.last_error) if state.failures else _Fetching("ok")
    return None
