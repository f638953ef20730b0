"""Notifications from the daemon and from the dashboard's companions, to a real receiver.

The sync failures are real: each repo's origin is a git:// URL on a 127.0.0.1 port where
nothing listens, so its fetch is refused at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.cli import _serving
from gitwatch_tui.core.config import Config, Defaults, NotifySettings, WebhookTarget
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.engine import Engine
from tests.conftest import RECEIVER_TOKEN, Receiver, free_port, git, make_remote_and_clone
from tests.server.conftest import wait_for
from tests.server.test_daemon import Daemon, post_hook, write_config


def unreachable(base: Path, *names: str) -> tuple[dict[str, Path], dict[str, str]]:
    """Clones (by name) whose origin is a port on 127.0.0.1 with nothing behind it."""
    port = free_port()
    clones, urls = {}, {}
    for name in names:
        _, clones[name] = make_remote_and_clone(base, name)
        urls[name] = f"git://127.0.0.1:{port}/{name}.git"
        git(clones[name], "remote", "set-url", "origin", urls[name])
    return clones, urls


def notify_section(url: str) -> str:
    return f"notify:\n  webhook: {{url: '{url}', retries: 1}}\n"


async def until(predicate: Any, within: float = 20.0) -> None:
    await wait_for(predicate, within=within)


# -- the daemon ---------------------------------------------------------------------------------


async def test_the_daemon_notifies_a_failed_sync_and_finishes_the_delivery_on_sigterm(
    receiver: Receiver, tmp_path: Path
) -> None:
    clones, urls = unreachable(tmp_path, "down")
    config = write_config(tmp_path, clones)
    config.write_text(config.read_text() + notify_section(receiver.url))
    # The first delivery gets a 503: its retry (a second later) is under way at SIGTERM.
    receiver.statuses = [503]
    daemon = Daemon(config, tmp_path)
    try:
        started = await asyncio.to_thread(daemon.wait_event, "daemon-started")
        assert started["notify"] == ["webhook"]
        await asyncio.to_thread(post_hook, started["listen"], urls["down"])
        await until(lambda: len(receiver.bodies) == 1)
        body = receiver.bodies[0]
        assert (body["kind"], body["repo"], body["action"]) == ("sync-failed", "down", "fetch")
        assert body["text"].startswith("gitwatch: down: fetch failed")
        daemon.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(daemon.proc.wait, 20) == 0
        # The notifier was closed before the daemon left: the retry was delivered.
        assert len(receiver.bodies) == 2 and receiver.bodies[1]["repo"] == "down"
        records = await asyncio.to_thread(daemon.drain)
        kinds = [r["event"] for r in records]
        assert kinds[-1] == "daemon-stopped" and "daemon-stopping" in kinds, kinds
        assert not any(r["event"] == "library-log" for r in records), records
        assert RECEIVER_TOKEN not in "".join(daemon.raw)
    finally:
        daemon.close()


async def test_the_daemon_follows_a_config_reload_that_adds_notifications(
    receiver: Receiver, tmp_path: Path
) -> None:
    clones, urls = unreachable(tmp_path, "before", "after")
    config = write_config(tmp_path, clones)
    daemon = Daemon(config, tmp_path)
    try:
        started = await asyncio.to_thread(daemon.wait_event, "daemon-started")
        assert started["notify"] == []
        await asyncio.to_thread(post_hook, started["listen"], urls["before"])
        failed = await asyncio.to_thread(daemon.wait_event, "sync-finished", repo="before")
        assert failed["ok"] is False
        await asyncio.sleep(0.5)
        assert receiver.bodies == []  # no `notify:` yet
        # Written whole, then renamed over: the file watcher never reads half a file.
        staged = tmp_path / "config.staged.yaml"
        staged.write_text(config.read_text() + notify_section(receiver.url))
        os.replace(staged, config)
        daemon.proc.send_signal(signal.SIGHUP)
        await asyncio.to_thread(daemon.wait_event, "config-reloaded")
        await asyncio.to_thread(post_hook, started["listen"], urls["after"])
        await until(lambda: bool(receiver.bodies))
        assert [(b["kind"], b["repo"]) for b in receiver.bodies] == [("sync-failed", "after")]
        daemon.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(daemon.proc.wait, 20) == 0
    finally:
        daemon.close()


# -- the dashboard's companions (what `gitwatch-tui dashboard` starts next to its engine) --------


def engine_for(tmp_path: Path, clones: dict[str, Path], notify: NotifySettings) -> Engine:
    config = Config(
        defaults=Defaults(poll_interval=3600.0, fetch_timeout=20.0),
        repos=tuple(RepoSpec(path, name) for name, path in clones.items()),
        notify=notify,
    )
    return Engine(config, state_dir=tmp_path / "state", watch_files=False)


async def test_the_dashboard_notifies_without_a_listener_and_stops_with_the_app(
    receiver: Receiver, tmp_path: Path
) -> None:
    clones, _ = unreachable(tmp_path, "down", "later")
    notify = NotifySettings(webhook=WebhookTarget(receiver.url, retries=0))
    engine = engine_for(tmp_path, clones, notify)
    await engine.start()
    try:
        companions = await _serving(None, notify=True)(engine)
        assert companions.url is None  # nothing to announce: no server runs
        assert not (await engine.fetch("down")).ok
        await until(lambda: bool(receiver.bodies))
        assert [(b["kind"], b["repo"]) for b in receiver.bodies] == [("sync-failed", "down")]
        await companions.stop()
        assert not (await engine.fetch("later")).ok
        await asyncio.sleep(0.3)
        assert len(receiver.bodies) == 1  # no longer followed once the app has quit
    finally:
        await engine.stop()


async def test_the_dashboard_with_listen_serves_and_notifies(
    receiver: Receiver, tmp_path: Path
) -> None:
    clones, _ = unreachable(tmp_path, "down")
    notify = NotifySettings(webhook=WebhookTarget(receiver.url, retries=0))
    engine = engine_for(tmp_path, clones, notify)
    await engine.start()
    try:
        companions = await _serving("127.0.0.1:0", notify=True)(engine)
        url = companions.url
        assert url is not None and url.startswith("http://127.0.0.1:")
        assert not (await engine.fetch("down")).ok
        await until(lambda: bool(receiver.bodies))
        assert receiver.bodies[0]["repo"] == "down"
        await companions.stop()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    finally:
        await engine.stop()


async def test_a_port_in_use_leaves_no_notifier_behind(receiver: Receiver, tmp_path: Path) -> None:
    clones, _ = unreachable(tmp_path, "down")
    notify = NotifySettings(webhook=WebhookTarget(receiver.url, retries=0))
    engine = engine_for(tmp_path, clones, notify)
    await engine.start()
    holder = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = holder.sockets[0].getsockname()[1]
    try:
        with pytest.raises(OSError):
            await _serving(f"127.0.0.1:{port}", notify=True)(engine)
        assert not (await engine.fetch("down")).ok
        await asyncio.sleep(0.3)
        assert receiver.bodies == []
    finally:
        holder.close()
        await holder.wait_closed()
        await engine.stop()
