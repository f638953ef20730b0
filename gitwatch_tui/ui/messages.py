"""Engine → UI messages. The engine's events arrive in floods (a first sweep of 1,000 repos
is 1,000 events), so the bridge folds them into one batch per frame: the latest status and
state per repo, plus everything that must not be folded (results, log lines)."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import (
    ConfigReloaded,
    LogLine,
    PipelineStateChanged,
    SyncFinished,
    SyncState,
)


@dataclass
class EngineUpdate(Message, bubble=False):
    """What changed since the last batch."""

    statuses: dict[str, RepoStatus] = field(default_factory=dict)
    states: dict[str, SyncState] = field(default_factory=dict)
    pipelines: dict[str, PipelineStateChanged] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    finished: list[SyncFinished] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)  # the engine's own (shown as toasts)
    # Every line for the log screen, in order: the engine's own and those about syncing
    # (failed fetches, back-off, refusals, auto-syncs) that `SyncLog` makes from events.
    log_entries: list[LogLine] = field(default_factory=list)
    reloaded: list[ConfigReloaded] = field(default_factory=list)


@dataclass
class EngineStarted(Message, bubble=False):
    """The watch list is known (the rows can be laid out); statuses follow."""

    names: dict[str, str | None]  # repo name → group


class FollowsEngine:
    """Marks a screen that the app sends every EngineStarted and EngineUpdate to (the app
    need not import each such screen, so those that open on a key load when first used)."""
