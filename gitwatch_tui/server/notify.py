"""Notifications: the engine events worth a human's attention, to a JSON webhook and by e-mail.

The notifier subscribes to the engine's events and maps a few of them to kinds:

- `sync-failed`: a fetch, pull, clone, auto-sync or tag deploy that failed with an error. A
  refusal (dirty tree, diverged, ...) is the policy working, not a failure: not notified.
- `circuit-opened`: a repo's circuit breaker opened (on the change only).
- `auto-sync-applied`: an auto-sync or a tag deploy moved HEAD.
- `pipeline-failed`: a pipeline run failed or timed out.
- `conflict-appeared`: conflicted files went from none to some, or a merge, rebase,
  cherry-pick, revert or am began.

A flapping remote must not spam: one message per repo and kind per window, the repeats
counted and reported in one summary when the window ends, and a cap on messages per hour in
all. Delivery runs in tasks beside the engine; a webhook is retried with back-off on network
errors, 429 and 5xx. Secrets stay out of the log: a webhook is named by its host only, and the
SMTP login (and a webhook URL kept in a file) is read from the environment or its file when a
message is sent, so a rotated file is picked up.

It lives in `server/` because it needs the aiohttp client, which the engine may not import.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from gitwatch_tui.core.config import EmailTarget, NotifySettings, WebhookTarget, is_http_url
from gitwatch_tui.core.results import plural
from gitwatch_tui.core.secrets import SecretSource, SecretUnavailable
from gitwatch_tui.engine.events import (
    ConfigReloaded,
    Event,
    EventBus,
    LogLevel,
    LogLine,
    PipelineStateChanged,
    StatusChanged,
    StatusRemoved,
    SyncFinished,
    SyncStateChanged,
)

CONFLICT_OPERATIONS = frozenset({"merge", "rebase", "cherry-pick", "revert", "am"})
SYNC_ACTIONS = frozenset({"fetch", "pull", "clone", "auto-sync", "deploy-tag"})
HOUR = 3600.0
USER_AGENT = "gitwatch-tui notifier"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message: `title` is its one line, `fields` the structured details."""

    kind: str
    repo: str
    title: str
    message: str = ""
    time: float = field(default_factory=time.time)
    fields: dict[str, Any] = field(default_factory=dict)
    suppressed: int = 0  # repeats of this repo and kind held back since the last message
    dropped: int = 0  # messages of any kind the hourly cap dropped before this one

    @property
    def text(self) -> str:
        """The message as one Slack-compatible `text`."""
        lines = [f"gitwatch: {self.title}"]
        if self.message:
            lines.append(self.message)
        if self.suppressed:
            lines.append(f"(and {self.suppressed} more like it since the last message)")
        if self.dropped:
            lines.append(
                f"({plural(self.dropped, 'other notification')} dropped by the rate limit)"
            )
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON body: `text` for Slack and friends, plus structured fields."""
        return {
            "text": self.text,
            "kind": self.kind,
            "repo": self.repo,
            "title": self.title,
            "message": self.message,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(timespec="seconds"),
            "suppressed": self.suppressed,
            "dropped": self.dropped,
            **self.fields,
        }


class EventMapper:
    """Turns engine events into notifications; remembers just enough to notice transitions."""

    def __init__(self) -> None:
        self._circuit_open: dict[str, bool] = {}
        self._conflicted: dict[str, bool] = {}

    def map(self, event: Event) -> Notification | None:
        match event:
            case SyncFinished():
                return self._sync(event)
            case SyncStateChanged(state=state):
                was = self._circuit_open.get(state.repo, False)
                self._circuit_open[state.repo] = state.circuit_open
                if state.circuit_open and not was:
                    return Notification(
                        "circuit-opened",
                        state.repo,
                        f"{state.repo}: remote keeps failing, polls paused",
                        state.last_error or "",
                        fields={"failures": state.failures, "error": state.last_error,
                                "next_attempt": state.next_attempt},
                    )  # fmt: skip
            case StatusChanged(status=status):
                conflicted = bool(status.conflicted) or status.operation in CONFLICT_OPERATIONS
                was = self._conflicted.get(status.name, False)
                self._conflicted[status.name] = conflicted
                if conflicted and not was:
                    what = plural(status.conflicted, "conflicted file") if status.conflicted else ""
                    doing = f"a {status.operation} is in progress" if status.operation else ""
                    return Notification(
                        "conflict-appeared",
                        status.name,
                        f"{status.name}: conflict on {status.branch or 'a detached HEAD'}",
                        "; ".join(part for part in (what, doing) if part),
                        fields={"conflicted": status.conflicted, "operation": status.operation,
                                "branch": status.branch},
                    )  # fmt: skip
            case PipelineStateChanged(state="failed" | "timeout"):
                verb = "timed out" if event.state == "timeout" else "failed"
                return Notification(
                    "pipeline-failed",
                    event.repo,
                    f"{event.repo}: pipeline {verb} at step {event.step}",
                    event.error or "",
                    fields={"run_id": event.run_id, "step": event.step, "state": event.state,
                            "head": event.head, "ref": event.ref, "log": event.log_path},
                )  # fmt: skip
            case StatusRemoved(repo=repo):
                self._circuit_open.pop(repo, None)
                self._conflicted.pop(repo, None)
        return None

    @staticmethod
    def _sync(event: SyncFinished) -> Notification | None:
        if event.action not in SYNC_ACTIONS:
            return None
        fields = {"action": event.action, "error": event.error, "old_head": event.old_head,
                  "new_head": event.new_head, "automatic": event.automatic}  # fmt: skip
        if not event.ok and event.detail in (None, "error"):
            return Notification(
                "sync-failed", event.repo, f"{event.repo}: {event.action} failed",
                event.error or "", fields=fields,
            )  # fmt: skip
        moved = event.ok and event.new_head and event.old_head != event.new_head
        if moved and event.action in ("auto-sync", "deploy-tag"):
            old, new = (event.old_head or "")[:7], (event.new_head or "")[:7]
            title = (
                f"{event.repo}: deployed tag {event.detail}"
                if event.action == "deploy-tag"
                else f"{event.repo}: auto-sync applied {old}..{new}"
            )
            # `error` on a sync that was done: what failed after HEAD moved (a hook).
            message = event.error or ""
            return Notification("auto-sync-applied", event.repo, title, message, fields=fields)
        return None


class Throttle:
    """Deduplication per repo and kind within a window, and a cap per hour on everything."""

    def __init__(self, window: float, max_per_hour: int, clock: Callable[[], float]) -> None:
        self.window = window
        self.max_per_hour = max_per_hour
        self._clock = clock
        self._last_sent: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], tuple[Notification, int]] = {}  # latest, count
        self._sent_times: deque[float] = deque()
        self.dropped = 0

    def admit(self, note: Notification) -> Notification | None:
        """The notification to send now (with its counts), or None when held back or dropped."""
        key = (note.repo, note.kind)
        now = self._clock()
        last = self._last_sent.get(key)
        if last is not None and now - last < self.window:
            _, count = self._held.get(key, (note, 0))
            self._held[key] = (note, count + 1)
            return None
        held = self._held.pop(key, None)
        return self._take(replace(note, suppressed=held[1] if held else 0), key, now)

    def summary(self, key: tuple[str, str]) -> Notification | None:
        """At the end of a key's window: the latest held repeat, with the count, if any."""
        held = self._held.pop(key, None)
        if held is None:
            return None
        note, count = held
        return self._take(replace(note, suppressed=count - 1), key, self._clock())

    def window_end(self, key: tuple[str, str]) -> float | None:
        """When the key's window ends (clock time), if repeats are held for it."""
        if key not in self._held:
            return None
        return self._last_sent[key] + self.window

    def _take(self, note: Notification, key: tuple[str, str], now: float) -> Notification | None:
        while self._sent_times and now - self._sent_times[0] >= HOUR:
            self._sent_times.popleft()
        if len(self._sent_times) >= self.max_per_hour:
            self.dropped += 1
            return None
        self._sent_times.append(now)
        self._last_sent[key] = now
        dropped, self.dropped = self.dropped, 0
        return replace(note, dropped=dropped)


class Notifier:
    """Sends notifications for engine events, per the config's `notify` section."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_base: float = 1.0,
        on_log: Callable[[LogLevel, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._env = env if env is not None else os.environ
        self._clock = clock
        self._retry_base = retry_base
        self._on_log = on_log
        self._mapper = EventMapper()
        self.throttle = Throttle(settings.rate.window, settings.rate.max_per_hour, clock)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.sent: list[Notification] = []  # what was handed to delivery, newest last

    def attach(self, events: EventBus) -> None:
        """Follow an engine's events; problems are reported on the same bus as LogLines."""
        if self._on_log is None:
            self._on_log = lambda level, message: events.publish(LogLine(level, message))
        self._unsubscribe = events.subscribe(self.handle)

    def handle(self, event: Event) -> None:
        """Map one event; send or hold what it gives. Never blocks the engine."""
        if isinstance(event, ConfigReloaded):
            self._reconfigure(event.config.notify)
            return
        note = self._mapper.map(event)
        if note is None or not self.settings.enabled or note.kind not in self.settings.on:
            return
        admitted = self.throttle.admit(note)
        if admitted is not None:
            self._deliver(admitted)
        else:
            self._arm_summary((note.repo, note.kind))

    async def flush(self) -> None:
        """Wait for the deliveries under way (retries included)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop following events, give deliveries under way `grace` seconds, close the client."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- holding back and summaries -----------------------------------------------------------

    def _reconfigure(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.throttle.window = settings.rate.window
        self.throttle.max_per_hour = settings.rate.max_per_hour

    def _arm_summary(self, key: tuple[str, str]) -> None:
        if key in self._timers:
            return
        end = self.throttle.window_end(key)
        if end is None:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(max(0.0, end - self._clock()), self._summarize, key)

    def _summarize(self, key: tuple[str, str]) -> None:
        self._timers.pop(key, None)
        note = self.throttle.summary(key)
        if note is not None:
            self._deliver(note)

    # -- delivery -----------------------------------------------------------------------------

    def _deliver(self, note: Notification) -> None:
        self.sent.append(note)
        for send in (self._post if self.settings.webhook else None,
                     self._mail if self.settings.email else None):  # fmt: skip
            if send is not None:
                task = asyncio.create_task(send(note), name=f"notify {note.kind} {note.repo}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _post(self, note: Notification) -> None:
        target = self.settings.webhook
        assert target is not None
        url = self._webhook_url(target)
        if url is None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        host = urlsplit(url).hostname or "?"  # never the path: it may hold a token
        problem = ""
        for attempt in range(target.retries + 1):
            if attempt:
                await asyncio.sleep(self._retry_base * 2 ** (attempt - 1))
            try:
                async with self._session.post(
                    url,
                    json=note.payload(),
                    timeout=aiohttp.ClientTimeout(total=target.timeout),
                    allow_redirects=False,
                ) as response:
                    if response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
                    if response.status < 500 and response.status != 429:
                        break  # the receiver refuses this message: sending it again won't help
            except TimeoutError:
                problem = f"no answer within {target.timeout:g}s"
            except aiohttp.ClientConnectorError as exc:
                problem = f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
            except aiohttp.ClientError as exc:
                problem = type(exc).__name__  # its text may quote the URL
        self._log("warning", f"notification to webhook at {host} not delivered: {problem}")

    def _webhook_url(self, target: WebhookTarget) -> str | None:
        """The configured URL, or the one in `url_file` read now (None, logged: unusable)."""
        if target.url_file is None:
            return target.url
        try:
            url = SecretSource(file=target.url_file).read(self._env)
        except SecretUnavailable as exc:
            self._log("warning", f"notification to webhook not sent: {exc}")
            return None
        if not is_http_url(url):  # what it holds is never quoted: it may be any secret
            self._log(
                "warning",
                f"notification to webhook not sent: file {target.url_file} does not hold "
                "an http:// or https:// URL",
            )
            return None
        return url

    async def _mail(self, note: Notification) -> None:
        import aiosmtplib  # here: only a configured e-mail target needs it

        target = self.settings.email
        assert target is not None
        login = self._login(target)
        if login is None:
            return
        message = EmailMessage()
        message["From"] = target.sender
        message["To"] = ", ".join(target.to)
        message["Subject"] = f"[gitwatch] {note.title}"
        details = "\n".join(f"{k}: {v}" for k, v in note.payload().items() if k != "text")
        message.set_content(f"{note.text}\n\n{details}\n")
        problem = ""
        for attempt in range(2):  # one retry: a mail server restarting, a dropped connection
            try:
                await aiosmtplib.send(
                    message,
                    hostname=target.host,
                    port=target.port,
                    username=login[0],
                    password=login[1],
                    start_tls=target.starttls,
                    use_tls=target.tls,
                    timeout=target.timeout,
                )
                return
            except (aiosmtplib.SMTPException, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or attempt:
                    break
                await asyncio.sleep(self._retry_base)
        self._log("warning", f"notification e-mail via {target.host} not sent: {problem}")

    def _login(self, target: EmailTarget) -> tuple[str | None, str | None] | None:
        """The SMTP user name and password, read now (None, logged: one cannot be read)."""
        login: list[str | None] = []
        for source in target.login_sources():
            if source is None:
                login.append(None)
                continue
            try:
                login.append(source.read(self._env))
            except SecretUnavailable as exc:
                # A variable as the log has always named it: `$SMTP_PASSWORD is not set`.
                problem = f"${source.env} {exc.reason}" if source.env else str(exc)
                self._log("warning", f"notification e-mail not sent: {problem}")
                return None
        return login[0], login[1]

    def _log(self, level: LogLevel, message: str) -> None:
        if self._on_log is not None:
            self._on_log(level, message)


def start_notifier(events: EventBus, settings: NotifySettings, **options: Any) -> Notifier:
    """A notifier following `events` (the engine's bus); call `aclose()` before the engine
    stops. Settings without a target send nothing, and a config reload may add one."""
    notifier = Notifier(settings, **options)
    notifier.attach(events)
    return notifier
