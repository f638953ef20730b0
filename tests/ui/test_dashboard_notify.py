"""`gitwatch-tui dashboard` with a `notify:` section and no `--listen`: it notifies, and
announces no server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gitwatch_tui.cli import _serving
from gitwatch_tui.core.config import NotifySettings, WebhookTarget
from tests.conftest import free_port, git
from tests.ui.conftest import RepoSet, all_read, make_app, until


@pytest.fixture()
async def received() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1: its URL and the JSON bodies it got."""
    bodies: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", bodies
    await runner.cleanup()


async def test_the_dashboard_sends_notifications_without_a_listener(
    repo_set: RepoSet, tmp_path: Path, received: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = received
    git(repo_set.clones["api"], "remote", "set-url", "origin", f"git://127.0.0.1:{free_port()}/a")
    notify = NotifySettings(webhook=WebhookTarget(url, retries=0))
    config = replace(repo_set.config, notify=notify)
    app = make_app(config, tmp_path, services=_serving(None, notify=True))
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app) and app._services is not None)
        assert not (await app.engine.fetch("api")).ok
        await until(pilot, lambda: bool(bodies))
        assert [(b["kind"], b["repo"]) for b in bodies] == [("sync-failed", "api")]
        titles = [n.title for n in app._notifications]
        assert "Serving" not in titles and "Not serving webhooks" not in titles
        await pilot.press("q")
