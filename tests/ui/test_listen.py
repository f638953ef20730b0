"""`gitwatch-tui dashboard --listen`: the webhook, /metrics and /api server in the dashboard."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.server.app import Services, start_services
from tests.ui.conftest import RepoSet, all_read, make_app, until


async def test_the_dashboard_serves_the_api_while_it_runs(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    started: list[Services] = []

    async def serve(engine: Engine) -> Services:
        services = await start_services(engine, engine.config, listen="127.0.0.1:0", env={})
        started.append(services)
        return services

    app = make_app(repo_set.config, tmp_path, services=serve)
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app) and bool(started))
        async with (
            aiohttp.ClientSession() as session,
            session.get(started[0].url + "/api/repos") as response,
        ):
            names = {repo["name"] for repo in await response.json()}
        assert names == set(app.engine.specs)
        await pilot.press("q")
    async with aiohttp.ClientSession() as session:
        try:
            await session.get(started[0].url + "/healthz")
        except aiohttp.ClientConnectionError:
            pass  # closed with the dashboard
        else:
            raise AssertionError("the server outlived the dashboard")


async def test_a_port_in_use_is_a_notice_and_the_dashboard_carries_on(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        async def taken(engine: Engine) -> Services:
            return await start_services(engine, engine.config, listen=f"127.0.0.1:{port}", env={})

        app = make_app(repo_set.config, tmp_path, services=taken)
        async with app.run_test(size=(120, 35)) as pilot:
            await until(pilot, lambda: all_read(app))
            await until(pilot, lambda: bool(app._notifications))
            notices = [str(n.message).lower() for n in app._notifications]
            assert any("address" in notice and "in use" in notice for notice in notices)
            await pilot.press("r")  # still answering keys
            assert app.is_running
