"""The HTTP face of the engine: webhooks, /metrics, /api and /healthz on one aiohttp server.

`start_services(engine, config)` serves next to a running engine: the daemon uses it, and the
dashboard can run the same servers in its own process. It binds to 127.0.0.1 unless the config
(or `listen=`) says otherwise; the daemon binds first (`connections.bind`), before its engine
starts, and passes the bound `listener=`. The connections are held to the limits in
`connections`; a warning is logged when the server can be reached from other machines.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gitwatch_tui.core.config import Config, ServerSettings
from gitwatch_tui.core.secrets import SecretUnavailable
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import LogLevel, LogLine
from gitwatch_tui.server.api import Api
from gitwatch_tui.server.connections import (
    ConnectionGuard,
    GuardedSite,
    Listener,
    bind,
    descriptor_budget,
    track_requests,
)
from gitwatch_tui.server.matching import FetchTrigger, RepoIndex
from gitwatch_tui.server.metrics import Metrics
from gitwatch_tui.server.proxies import TrustedProxies
from gitwatch_tui.server.throttled_log import ThrottledLog
from gitwatch_tui.server.webhooks import WebhookReceiver

# Requests still being answered when the server stops get this long (all ours are short).
_SHUTDOWN_TIMEOUT = 2.0


class ServerConfigError(Exception):
    """The server cannot start as configured: a bad address or a secret that cannot be read."""


def read_secrets(settings: ServerSettings, env: Mapping[str, str] = os.environ) -> dict[str, bytes]:
    """Each configured provider's secret, from the environment variable or the file the config
    names; ServerConfigError names the one that cannot be read and why, never a value."""
    secrets: dict[str, bytes] = {}
    for provider, source in settings.secret_sources():
        try:
            secrets[provider] = source.read(env).encode()
        except SecretUnavailable as exc:
            raise ServerConfigError(f"server.{provider}: {exc}") from None
    return secrets


@dataclass
class Server:
    """An application over one engine, with the parts a caller may want to look at."""

    app: web.Application
    metrics: Metrics
    index: RepoIndex
    trigger: FetchTrigger
    guard: ConnectionGuard

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

    app = web.Application(middlewares=[track_requests])
    metrics = Metrics(engine)
    index = RepoIndex(engine, timeout=engine.config.defaults.status_timeout)
    trigger = FetchTrigger(engine)
    guard = ConnectionGuard(
        settings, ThrottledLog(log), metrics.count_connection_closed, budget=descriptor_budget()
    )
    metrics.follow_connections(lambda: guard.open)
    WebhookReceiver(
        secrets=secrets,
        max_body=settings.max_body,
        rate=settings.rate,
        unauthenticated_rate=settings.unauthenticated_rate,
        proxies=TrustedProxies(settings.trusted_proxies),
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
    return Server(app, metrics, index, trigger, guard)


def handler_args(settings: ServerSettings) -> dict[str, Any]:
    """aiohttp's per-connection settings: how long a body left unread by a handler (a refused
    delivery) is drained before the connection closes, and its own keep-alive timer as a
    backstop behind the connection's deadlines (`connections.GuardedHandler`)."""
    return {
        "keepalive_timeout": settings.keepalive_timeout + settings.header_timeout,
        "lingering_time": min(2.0, settings.body_timeout),
        "access_log": None,
        "max_line_size": 8190,  # request line and each header: aiohttp's defaults, said here
        "max_field_size": 8190,
        "max_headers": 128,
    }


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


def bind_listener(address: str) -> Listener:
    """Bind `address` now, before anything else starts; raises ServerConfigError for a bad
    address and OSError when it cannot be bound (errno EADDRINUSE when the port is taken)."""
    try:
        return bind(address)
    except ValueError as exc:
        raise ServerConfigError(str(exc)) from None
    except socket.gaierror as exc:
        raise ServerConfigError(f"cannot resolve the host in '{address}': {exc}") from None


async def start_services(
    engine: Engine,
    config: Config,
    *,
    listen: str | None = None,
    listener: Listener | None = None,
    env: Mapping[str, str] = os.environ,
) -> Services:
    """Serve webhooks, /metrics and /api for `engine` on `listener` (bound already), else on
    `listen` (default: the config's `server.listen`, itself 127.0.0.1:8787 by default).

    Raises ServerConfigError for a bad address or a missing secret, OSError when the address
    cannot be bound (errno EADDRINUSE when the port is taken).
    """
    settings = config.server
    secrets = read_secrets(settings, env)
    if listener is None:
        address = listen or settings.listen
        if address is None:
            raise ServerConfigError("no address to listen on (server.listen is off)")
        listener = bind_listener(address)
    server = build_server(engine, settings, secrets)
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
    try:
        await runner.setup()
        site = GuardedSite(runner, listener, server.guard, handler_args(settings))
        await site.start()
    except BaseException:
        listener.close()
        server.close()
        await runner.cleanup()
        raise
    _warn_at_start(engine, listener, server.guard)
    # Read every repo's remote URLs now, not on the first push (it would wait for this).
    server.index.warm_up()
    return Services(server, runner, listener.host, listener.port)


def _warn_at_start(engine: Engine, listener: Listener, guard: ConnectionGuard) -> None:
    """Say when other machines can reach the server, and when the open-file limit lowers
    the connection cap."""
    exposed = listener.beyond_loopback()
    if exposed:
        where = ", ".join(f"{host}:{listener.port}" for host in exposed)
        engine.events.publish(LogLine("warning", (
            f"HTTP: listening on {where}, beyond loopback: other machines can reach it, and "
            "/metrics, /api and /healthz answer anyone without a secret; serve it through "
            "a TLS reverse proxy or keep it on 127.0.0.1 (README: The HTTP face)"
        )))  # fmt: skip
    if guard.cap < guard.configured_cap:
        engine.events.publish(LogLine("warning", (
            f"HTTP: at most {guard.cap} connections, not server.max_connections "
            f"{guard.configured_cap}: the open-file limit leaves no more room next to git's "
            "(raise it: LimitNOFILE= in a systemd unit, ulimit -n)"
        )))  # fmt: skip
