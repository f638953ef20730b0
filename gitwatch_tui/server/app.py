"""The HTTP face of the engine: webhooks, /metrics, /api and /healthz on one aiohttp server.

`start_services(engine, config)` serves next to a running engine: the daemon uses it, and the
dashboard can run the same servers in its own process. It binds to 127.0.0.1 unless the config
(or `listen=`) says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from gitwatch_tui.core.config import Config, ServerSettings, parse_listen
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import LogLevel, LogLine
from gitwatch_tui.server.api import Api
from gitwatch_tui.server.matching import FetchTrigger, RepoIndex
from gitwatch_tui.server.metrics import Metrics
from gitwatch_tui.server.webhooks import WebhookReceiver

# Requests still being answered when the server stops get this long (all ours are short).
_SHUTDOWN_TIMEOUT = 2.0


class ServerConfigError(Exception):
    """The server cannot start as configured: a bad address or a secret that is not set."""


def read_secrets(settings: ServerSettings, env: Mapping[str, str] = os.environ) -> dict[str, bytes]:
    """Each configured provider's secret from the environment variable the config names."""
    secrets: dict[str, bytes] = {}
    for provider, variable in settings.secret_envs:
        value = env.get(variable, "")
        if not value:
            state = "is empty" if variable in env else "is not set"
            # The variable's name only: its value is never written anywhere.
            raise ServerConfigError(f"server.{provider}: environment variable {variable} {state}")
        secrets[provider] = value.encode()
    return secrets


@dataclass
class Server:
    """An application over one engine, with the parts a caller may want to look at."""

    app: web.Application
    metrics: Metrics
    index: RepoIndex
    trigger: FetchTrigger

    def close(self) -> None:
        self.trigger.close()
        self.index.close()
        self.metrics.close()


def build_server(
    engine: Engine,
    settings: ServerSettings,
    secrets: Mapping[str, bytes],
    *,
    log: Callable[[LogLevel, str], None] | None = None,
) -> Server:
    """The aiohttp application: `/hooks/{provider}`, `/metrics`, `/api/repos`, `/healthz`.

    `log` receives one line per webhook delivery (default: a LogLine event on the engine's
    bus, so the daemon's log and the dashboard's log panel both show it).
    """
    if log is None:

        def log(level: LogLevel, message: str) -> None:
            engine.events.publish(LogLine(level, message))

    app = web.Application()
    metrics = Metrics(engine)
    index = RepoIndex(engine, timeout=engine.config.defaults.status_timeout)
    trigger = FetchTrigger(engine)
    WebhookReceiver(
        secrets=secrets,
        max_body=settings.max_body,
        rate=settings.rate,
        index=index,
        trigger=trigger,
        on_result=metrics.count_webhook,
        log=log,
    ).add_routes(app)
    Api(engine).add_routes(app)
    app.router.add_get("/metrics", metrics.handle)

    async def healthz(request: web.Request) -> web.Response:
        # Degraded (503, so a probe notices) while the watchdog finds repos that are neither
        # being polled nor due: the engine has stopped keeping them in sync.
        overdue = engine.find_overdue()
        body: dict[str, object] = {"status": "degraded" if overdue else "ok"}
        body["repos"] = len(engine.specs)
        if overdue:
            body["overdue"] = overdue
        return web.json_response(body, status=503 if overdue else 200)

    app.router.add_get("/healthz", healthz)
    return Server(app, metrics, index, trigger)


@dataclass
class Services:
    """A running server; `stop()` closes it (the engine is left running)."""

    server: Server
    runner: web.AppRunner
    host: str
    port: int  # the port bound (useful when asked for port 0)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop listening, let requests in progress finish, and start no more fetches."""
        self.server.close()
        await self.runner.cleanup()


async def start_services(
    engine: Engine,
    config: Config,
    *,
    listen: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Services:
    """Serve webhooks, /metrics and /api for `engine` on `listen` (default: the config's
    `server.listen`, itself 127.0.0.1:8787 by default).

    Raises ServerConfigError for a bad address or a missing secret, OSError when the address
    cannot be bound (errno EADDRINUSE when the port is taken).
    """
    settings = config.server
    address = listen or settings.listen
    if address is None:
        raise ServerConfigError("no address to listen on (server.listen is off)")
    try:
        host, port = parse_listen(address)
    except ValueError as exc:
        raise ServerConfigError(str(exc)) from None
    server = build_server(engine, settings, read_secrets(settings, env))
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
    except BaseException:
        server.close()
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    # Read every repo's remote URLs now, not on the first push (it would wait for this).
    server.index.warm_up()
    return Services(server, runner, str(bound[0]), int(bound[1]))
