"""Notifications: a real HTTP receiver and a real SMTP server on 127.0.0.1, and the throttle."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from dataclasses import replace
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from gitwatch_tui.core.config import (
    NOTIFY_KINDS,
    Config,
    EmailTarget,
    NotifyRate,
    NotifySettings,
    WebhookTarget,
)
from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import (
    ConfigReloaded,
    Event,
    EventBus,
    LogLine,
    PipelineStateChanged,
    StatusChanged,
    SyncFinished,
    SyncState,
    SyncStateChanged,
)
from gitwatch_tui.server.notify import EventMapper, Notifier, Throttle, start_notifier
from tests.conftest import RECEIVER_TOKEN, Receiver, free_port


class Mailbox:
    """An aiosmtpd handler keeping every message and the logins it accepted."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: object, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: object, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        ok = (data.login, data.password) == (b"notifier", b"smtp-pa55")
        return AuthResult(success=ok, handled=False)


@pytest.fixture()
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port,
        authenticator=mailbox.authenticate, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    yield mailbox, port
    controller.stop()


def failed_fetch(repo: str = "api", error: str = "could not resolve host") -> SyncFinished:
    return SyncFinished(repo, "fetch", ok=False, error=error)


def notifier_for(settings: NotifySettings, **options: Any) -> tuple[Notifier, list[str]]:
    logged: list[str] = []
    options.setdefault("retry_base", 0.01)
    notifier = Notifier(settings, on_log=lambda level, text: logged.append(text), **options)
    return notifier, logged


async def test_webhook_gets_the_json_and_is_retried_after_a_500(receiver: Receiver) -> None:
    receiver.statuses = [500]
    settings = NotifySettings(webhook=WebhookTarget(receiver.url, timeout=5.0, retries=2))
    notifier, logged = notifier_for(settings)
    notifier.handle(failed_fetch())
    await notifier.flush()
    assert len(receiver.bodies) == 2  # the 500, then the retry that got 200
    body = receiver.bodies[-1]
    assert body["text"].startswith("gitwatch: api: fetch failed\ncould not resolve host")
    assert (body["kind"], body["repo"], body["action"]) == ("sync-failed", "api", "fetch")
    assert body["error"] == "could not resolve host" and body["suppressed"] == 0
    assert logged == []
    await notifier.aclose()


async def test_webhook_that_keeps_failing_is_reported_without_its_secret_path(
    receiver: Receiver,
) -> None:
    receiver.statuses = [503, 503, 503]
    settings = NotifySettings(webhook=WebhookTarget(receiver.url, retries=2))
    notifier, logged = notifier_for(settings)
    notifier.handle(failed_fetch())
    await notifier.flush()
    assert len(receiver.bodies) == 3
    assert logged == ["notification to webhook at 127.0.0.1 not delivered: HTTP 503"]
    # A 4xx other than 429 is not retried; a closed port is a connection error.
    receiver.statuses = [400]
    notifier.handle(failed_fetch("web"))
    await notifier.flush()
    assert len(receiver.bodies) == 4
    closed = NotifySettings(
        webhook=WebhookTarget(f"http://127.0.0.1:{free_port()}/T0KEN-in-path", retries=1)
    )
    other, logged = notifier_for(closed)
    other.handle(failed_fetch())
    await other.flush()
    assert len(logged) == 1 and "cannot connect" in logged[0]
    assert not any("T0KEN" in line for line in logged)
    await notifier.aclose()
    await other.aclose()


async def test_mail_is_delivered_with_the_login_from_the_environment(
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    target = EmailTarget(
        host="127.0.0.1", port=port, starttls=False, sender="gitwatch@example.com",
        to=("ops@example.com", "dev@example.com"),
        username_env="SMTP_USER", password_env="SMTP_PASSWORD", timeout=5.0,
    )  # fmt: skip
    env = {"SMTP_USER": "notifier", "SMTP_PASSWORD": "smtp-pa55"}
    notifier, logged = notifier_for(NotifySettings(email=target), env=env)
    notifier.handle(
        PipelineStateChanged("api", "run-1", "failed", step="test", error="step test: exit 1")
    )
    await notifier.flush()
    assert logged == []
    [message] = mailbox.messages
    assert message["Subject"] == "[gitwatch] api: pipeline failed at step test"
    assert message["From"] == "gitwatch@example.com"
    assert mailbox.envelopes[0].rcpt_tos == ["ops@example.com", "dev@example.com"]
    body = message.get_payload()
    assert isinstance(body, str) and "step test: exit 1" in body and "run_id: run-1" in body
    assert mailbox.logins == [(b"notifier", b"smtp-pa55")]
    # A wrong password is reported, and the password is not.
    bad, logged = notifier_for(
        NotifySettings(email=target), env={**env, "SMTP_PASSWORD": "wrong-pa55"}
    )
    bad.handle(failed_fetch())
    await bad.flush()
    assert len(mailbox.messages) == 1
    assert len(logged) == 1 and "SMTPAuthenticationError" in logged[0]
    assert "wrong-pa55" not in logged[0]
    # An unset variable: nothing is sent, and the log says which.
    unset, logged = notifier_for(NotifySettings(email=target), env={"SMTP_USER": "notifier"})
    unset.handle(failed_fetch())
    await unset.flush()
    assert logged == ["notification e-mail not sent: $SMTP_PASSWORD is not set"]
    for each in (notifier, bad, unset):
        await each.aclose()


async def test_repeats_are_held_back_and_summarized_once_the_window_ends(
    receiver: Receiver,
) -> None:
    rate = NotifyRate(window=0.4, max_per_hour=100)
    settings = NotifySettings(webhook=WebhookTarget(receiver.url), rate=rate)
    notifier, _ = notifier_for(settings)
    for i in range(5):  # a flapping remote
        notifier.handle(failed_fetch(error=f"attempt {i}"))
    notifier.handle(failed_fetch("web"))  # another repo is not held back by the first
    await notifier.flush()
    assert [(b["repo"], b["error"]) for b in receiver.bodies] == [
        ("api", "attempt 0"),
        ("web", "could not resolve host"),
    ]
    await asyncio.sleep(0.6)
    await notifier.flush()
    assert len(receiver.bodies) == 3
    summary = receiver.bodies[2]
    assert (summary["repo"], summary["error"], summary["suppressed"]) == ("api", "attempt 4", 3)
    assert "and 3 more like it" in summary["text"]
    await notifier.aclose()


def test_the_hourly_cap_drops_and_counts() -> None:
    now = [1000.0]
    throttle = Throttle(window=60.0, max_per_hour=2, clock=lambda: now[0])
    mapper = EventMapper()
    notes = [mapper.map(failed_fetch(repo)) for repo in ("a", "b", "c", "d")]
    assert all(note is not None for note in notes)
    sent = [throttle.admit(note) for note in notes if note is not None]
    assert [n.repo if n else None for n in sent] == ["a", "b", None, None]
    assert throttle.dropped == 2
    now[0] += 3600.0
    later = throttle.admit(notes[0])  # type: ignore[arg-type]
    assert later is not None and later.dropped == 2 and "2 other notifications" in later.text


def test_events_map_to_kinds_on_transitions_only() -> None:
    mapper = EventMapper()

    def kinds(*events: Event) -> list[str | None]:
        return [note.kind if (note := mapper.map(e)) else None for e in events]

    closed = SyncStateChanged(SyncState("api", failures=2))
    opened = SyncStateChanged(SyncState("api", failures=3, circuit_open=True, last_error="x"))
    assert kinds(closed, opened, opened, closed, opened) == [
        None, "circuit-opened", None, None, "circuit-opened",
    ]  # fmt: skip
    clean = StatusChanged(RepoStatus("api", "/r", branch="main"))
    conflict = StatusChanged(RepoStatus("api", "/r", branch="main", conflicted=2))
    merging = StatusChanged(RepoStatus("api", "/r", branch="main", operation="merge"))
    bisect = StatusChanged(RepoStatus("api", "/r", branch="main", operation="bisect"))
    assert kinds(clean, conflict, conflict, clean, merging, clean, bisect) == [
        None, "conflict-appeared", None, None, "conflict-appeared", None, None,
    ]  # fmt: skip
    applied = SyncFinished("api", "auto-sync", ok=True, old_head="a" * 40, new_head="b" * 40)
    deployed = SyncFinished(
        "api", "deploy-tag", ok=True, old_head="a" * 40, new_head="c" * 40, detail="v1.2.0"
    )
    refused = SyncFinished("api", "auto-sync", ok=False, error="dirty", detail="dirty")
    errored = SyncFinished("api", "auto-sync", ok=False, error="boom", detail="error")
    pulled = SyncFinished("api", "pull", ok=True, old_head="a" * 40, new_head="b" * 40)
    switched = SyncFinished("api", "switch", ok=False, error="in the way", detail="refused")
    assert kinds(applied, deployed, refused, errored, pulled, switched) == [
        "auto-sync-applied", "auto-sync-applied", None, "sync-failed", None, None,
    ]  # fmt: skip
    assert mapper.map(deployed).title == "api: deployed tag v1.2.0"  # type: ignore[union-attr]
    # Done, and then git failed (a post-merge hook outlived the timeout): applied, and said.
    late = replace(applied, error="git merge timed out after 30s after HEAD had moved")
    note = mapper.map(late)
    assert note is not None and note.kind == "auto-sync-applied"
    assert note.message == "git merge timed out after 30s after HEAD had moved"
    timeout = PipelineStateChanged("api", "r", "timeout", step="deploy", error="timed out")
    ok = PipelineStateChanged("api", "r", "ok")
    assert kinds(timeout, ok, PipelineStateChanged("api", "r", "cancelled")) == [
        "pipeline-failed", None, None,
    ]  # fmt: skip
    assert "timed out at step deploy" in mapper.map(timeout).title  # type: ignore[union-attr]


async def test_follows_the_bus_the_kinds_chosen_and_config_reloads(receiver: Receiver) -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    only_pipelines = NotifySettings(on=("pipeline-failed",), webhook=WebhookTarget(receiver.url))
    notifier = start_notifier(bus, only_pipelines, retry_base=0.01)
    bus.publish(failed_fetch())
    bus.publish(PipelineStateChanged("api", "r1", "failed", step="build", error="exit 2"))
    await notifier.flush()
    assert [b["kind"] for b in receiver.bodies] == ["pipeline-failed"]
    # A reload that turns sync failures on takes effect at once; one that removes every
    # target stops the notifications.
    everything = NotifySettings(webhook=WebhookTarget(receiver.url))
    bus.publish(ConfigReloaded(Config(notify=everything)))
    bus.publish(failed_fetch())
    await notifier.flush()
    assert [b["kind"] for b in receiver.bodies] == ["pipeline-failed", "sync-failed"]
    bus.publish(ConfigReloaded(Config()))
    bus.publish(failed_fetch("web"))
    await notifier.flush()
    assert len(receiver.bodies) == 2
    # Delivery problems go to the bus as log lines.
    bus.publish(ConfigReloaded(Config(notify=NotifySettings(
        webhook=WebhookTarget(f"http://127.0.0.1:{free_port()}/x", retries=0)
    ))))  # fmt: skip
    bus.publish(failed_fetch("db"))
    await notifier.flush()
    assert any(isinstance(e, LogLine) and "not delivered" in e.message for e in seen)
    await notifier.aclose()
    bus.publish(failed_fetch("after-close"))  # no longer followed
    assert notifier.sent[-1].repo == "db"
    assert everything.on == NOTIFY_KINDS  # `on` left out: every kind


async def test_mail_login_from_files_is_read_at_each_send(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, port = smtp
    user, password = tmp_path / "smtp-user", tmp_path / "smtp-password"
    user.write_text("notifier\n")
    password.write_text("old-pa55\n")
    target = EmailTarget(
        host="127.0.0.1", port=port, starttls=False, sender="gitwatch@example.com",
        to=("ops@example.com",), username_file=user, password_file=password, timeout=5.0,
    )  # fmt: skip
    notifier, logged = notifier_for(NotifySettings(email=target), env={})
    notifier.handle(failed_fetch())
    await notifier.flush()
    assert len(logged) == 1 and "SMTPAuthenticationError" in logged[0]
    assert "old-pa55" not in logged[0]
    password.write_text("smtp-pa55\n")  # rotated: the next mail logs in with the new one
    notifier.handle(failed_fetch("web"))
    await notifier.flush()
    assert len(mailbox.messages) == 1 and len(logged) == 1
    assert mailbox.logins[-1] == (b"notifier", b"smtp-pa55")
    assert set(mailbox.logins) == {(b"notifier", b"old-pa55"), mailbox.logins[-1]}
    tried = len(mailbox.logins)
    password.unlink()
    notifier.handle(failed_fetch("db"))
    await notifier.flush()
    assert logged[-1] == (
        f"notification e-mail not sent: file {password} cannot be read: No such file or directory"
    )
    assert len(mailbox.logins) == tried  # nothing was tried without the password
    await notifier.aclose()


async def test_webhook_url_from_a_file_is_read_at_each_send_and_never_quoted(
    receiver: Receiver, tmp_path: Path
) -> None:
    url_file = tmp_path / "slack-url"
    url_file.write_text(receiver.url + "\n")
    settings = NotifySettings(webhook=WebhookTarget(url_file=url_file, timeout=5.0, retries=0))
    notifier, logged = notifier_for(settings)
    notifier.handle(failed_fetch())
    await notifier.flush()
    assert len(receiver.bodies) == 1 and logged == []
    url_file.write_text(f"xoxb-{RECEIVER_TOKEN}\n")  # a token pasted alone: no URL
    notifier.handle(failed_fetch("web"))
    await notifier.flush()
    assert logged == [
        f"notification to webhook not sent: file {url_file} does not hold an http:// or "
        "https:// URL"
    ]
    url_file.unlink()
    notifier.handle(failed_fetch("db"))
    await notifier.flush()
    assert logged[-1] == (
        f"notification to webhook not sent: file {url_file} cannot be read: "
        "No such file or directory"
    )
    assert len(receiver.bodies) == 1
    assert not any(RECEIVER_TOKEN in line for line in logged)
    await notifier.aclose()
