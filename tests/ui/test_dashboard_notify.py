"""`gitwatch-tui dashboard` with a `notify:` section and no `--listen`: it notifies, and
announces no server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gitwatch_tui.cli import _serving
from gitwatch_tui.core.config import NotifySettings, WebhookTarget
from tests.conftest import Receiver, free_port, git
from tests.ui.conftest import RepoSet, all_read, make_app, until


async def test_the_dashboard_sends_notifications_without_a_listener(
    repo_set: RepoSet, tmp_path: Path, receiver: Receiver
) -> None:
    git(repo_set.clones["api"], "remote", "set-url", "origin", f"git://127.0.0.1:{free_port()}/a")
    notify = NotifySettings(webhook=WebhookTarget(receiver.url, retries=0))
    config = replace(repo_set.config, notify=notify)
    app = make_app(config, tmp_path, services=_serving(None, notify=True))
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app) and app._services is not None)
        assert not (await app.engine.fetch("api")).ok
        await until(pilot, lambda: bool(receiver.bodies))
        assert [(b["kind"], b["repo"]) for b in receiver.bodies] == [("sync-failed", "api")]
        titles = [n.title for n in app._notifications]
        assert "Serving" not in titles and "Not serving webhooks" not in titles
        await pilot.press("q")
