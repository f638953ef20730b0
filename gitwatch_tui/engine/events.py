"""What the engine publishes: immutable events, one-way, to any number of subscribers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.models import RepoStatus

if TYPE_CHECKING:  # imported where used: `status` reads SyncState and should not pay for asyncio
    import asyncio

Phase = Literal["idle", "fetching", "cloning", "syncing", "backoff", "circuit-open", "busy"]
Action = Literal[
    "fetch",
    "pull",
    "push",
    "auto-sync",
    "clone",
    "deploy-tag",
    # changes made from the dashboard's panels
    "switch",
    "stash-switch",
    "stash-apply",
    "stash-pop",
    "stash-drop",
    "resolve",
    "continue",
    "abort",
]
LogLevel = Literal["info", "warning", "error"]
PipelineState = Literal["running", "ok", "failed", "timeout", "cancelled"]


@dataclass(frozen=True, slots=True)
class SyncState:
    """The network side of one repo, for the UI: what it is doing and when it tries next.

    Times are wall-clock (`time.time()`), so they can be shown as they are.
    """

    repo: str
    phase: Phase = "idle"
    failures: int = 0
    next_attempt: float | None = None
    last_error: str | None = None
    auth_failed: bool = False
    circuit_open: bool = False
    last_success: float | None = None
    last_failure: float | None = None  # the last failed attempt since the last success


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: RepoStatus


@dataclass(frozen=True, slots=True)
class StatusRemoved:
    """The repo is no longer watched (config reload)."""

    repo: str


@dataclass(frozen=True, slots=True)
class SyncStateChanged:
    state: SyncState


NO_REMOTE = "no-remote"  # a SyncFinished's `detail` for a repo with no remote to fetch from


@dataclass(frozen=True, slots=True)
class SyncFinished:
    """A fetch, pull, clone or automatic sync ended; `ok` False carries git's words in `error`
    (an `ok` one may too: what failed after the sync was done, such as a hook that timed out)."""

    repo: str
    action: Action
    ok: bool
    duration: float = 0.0
    error: str | None = None
    old_head: str | None = None
    new_head: str | None = None
    automatic: bool = False
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line for the log: the engine's own words, or a pipeline step's output (`run_id`)."""

    level: LogLevel
    message: str
    repo: str | None = None
    run_id: str | None = None
    step: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineStateChanged:
    """A pipeline run started a step or ended.

    While running, `step` is the step under way, `index` its 1-based place among `total`
    (the steps allowed on this branch). `failed` names the steps that failed, tolerated ones
    (`on_failure: continue`) included; `error` says why the run failed or timed out.
    """

    repo: str
    run_id: str
    state: PipelineState
    step: str | None = None
    index: int = 0
    total: int = 0
    head: str | None = None
    ref: str | None = None  # the branch, or the tag of a tag deploy
    error: str | None = None
    failed: tuple[str, ...] = ()
    log_path: str | None = None
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class ConfigReloaded:
    config: Config
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfigError:
    """A config edit was refused; the last good config stays in force."""

    message: str


Event = (
    StatusChanged
    | StatusRemoved
    | SyncStateChanged
    | SyncFinished
    | LogLine
    | PipelineStateChanged
    | ConfigReloaded
    | ConfigError
)


class EventBus:
    """Fan-out to callbacks and async iterators. Publishing never blocks the publisher."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Event], None]] = []
        self._queues: list[asyncio.Queue[Event | None]] = []

    def publish(self, event: Event) -> None:
        for callback in list(self._callbacks):
            callback(event)
        for queue in self._queues:
            queue.put_nowait(event)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback` with every event (on the engine's loop); returns an unsubscribe."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def stream(self) -> AsyncIterator[Event]:
        """Every event from now on, until the bus closes."""
        import asyncio

        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._queues.remove(queue)

    def close(self) -> None:
        for queue in self._queues:
            queue.put_nowait(None)
