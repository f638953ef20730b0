"""The server's sockets and connections, held to account so that no client can starve the rest.

- The sockets are bound before the engine starts (`bind`), so a port clash is found at once.
- Our own accept loop (`GuardedSite`) instead of asyncio's: when the process runs out of file
  descriptors it closes idle connections, halves the connection cap, logs one line and pauses
  (asyncio's loop logs every failed accept with a traceback, a hundred per tick, and retries).
- Each connection (`GuardedHandler`, aiohttp's own handler) must send its request head within
  `header_timeout` of opening or of its first byte after an idle keep-alive, and its body
  within `body_timeout` (`read_body`); idle keep-alive connections end after
  `keepalive_timeout` (aiohttp's own keep-alive timer is only a backstop, set later).
- At most `max_connections` are open (never more than the open-file limit allows with room
  for git): at the cap, a new connection displaces the oldest one that is idle, then the
  oldest still sending its head or body, as nginx reuses idle connections when it runs short;
  when every connection is in a handler, the new one is closed at once.
- Malformed HTTP is answered 400 by aiohttp and logged as one short warning now and then,
  never as an error with a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from gitwatch_tui.core.config import ServerSettings, parse_listen
from gitwatch_tui.server.throttled_log import ThrottledLog

try:
    import resource
except ImportError:  # not on Unix: no open-file limit to read
    resource = None  # type: ignore[assignment]

# Descriptors left to the engine (git's pipes, watched folders, history) when the cap is
# derived from the open-file limit.
FD_RESERVE = 128
MIN_CAP = 8
_BACKLOG = 128
# Accept errors that mean "no descriptors or memory now": pause, then try again.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FIRST_PAUSE, _LONGEST_PAUSE = 0.1, 2.0
# Reasons a connection is closed by us, the label of gitwatch_http_connections_closed_total.
CLOSE_REASONS = ("header_timeout", "body_timeout", "malformed", "evicted", "refused")

Phase = Literal["waiting", "head", "body", "busy"]
Awaited = Literal["head", "body", "idle"]  # what a connection's deadline waits for
# Which connections may make room for a new one, in this order (never one in a handler).
_EVICTABLE: tuple[Phase, ...] = ("waiting", "head", "body")


# -- binding ------------------------------------------------------------------------------------


@dataclass
class Listener:
    """Listening sockets bound to one `listen` address (several when a name resolves so)."""

    sockets: list[socket.socket]

    @property
    def host(self) -> str:
        return str(self.sockets[0].getsockname()[0])

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def beyond_loopback(self) -> list[str]:
        """The bound addresses that other machines may reach (anything but loopback)."""
        exposed = []
        for sock in self.sockets:
            host = str(sock.getsockname()[0])
            if not ipaddress.ip_address(host.partition("%")[0]).is_loopback:
                exposed.append(f"[{host}]" if ":" in host else host)
        return exposed

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def bind(address: str) -> Listener:
    """Bind and listen on `address` (`HOST:PORT`); raises ValueError for a bad address and
    OSError when it cannot be bound (errno EADDRINUSE when the port is taken)."""
    host, port = parse_listen(address)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
            if sockets and port == 0:  # one port for every address of the name
                sockaddr = (sockaddr[0], sockets[0].getsockname()[1], *sockaddr[2:])
            sockets.append(_listening(family, kind, proto, sockaddr))
    except BaseException:
        Listener(sockets).close()
        raise
    return Listener(sockets)


def _listening(family: int, kind: int, proto: int, sockaddr: Any) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # as asyncio does: an IPv6 address serves IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def descriptor_budget() -> int | None:
    """How many connections the open-file limit leaves room for, keeping FD_RESERVE for the
    engine; None when there is no limit to read."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(MIN_CAP, soft - FD_RESERVE)


# -- the guard ----------------------------------------------------------------------------------


class ConnectionGuard:
    """Counts the open connections, keeps them under the cap and closes those that are late."""

    def __init__(
        self,
        settings: ServerSettings,
        log: ThrottledLog,
        on_close: Callable[[str], None] = lambda reason: None,
        *,
        budget: int | None = None,
    ) -> None:
        self.configured_cap = settings.max_connections
        self.cap = min(self.configured_cap, budget) if budget is not None else self.configured_cap
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.keepalive_timeout = settings.keepalive_timeout
        self.log = log
        self._on_close = on_close
        self._open: dict[GuardedHandler, None] = {}
        # The open connections by phase, each in the order it entered it: the one to evict
        # first is the first of its phase, found at once however many are open.
        self._phases: dict[Phase, dict[GuardedHandler, None]] = {
            phase: {} for phase in ("waiting", "head", "body", "busy")
        }

    @property
    def open(self) -> int:
        return len(self._open)

    def admit(self) -> bool:
        """Room for one more connection, made by closing an evictable one if need be."""
        if len(self._open) < self.cap or self._evict_one():
            return True
        self._on_close("refused")
        self.log.warning(
            "connection-cap",
            f"HTTP: {len(self._open)} connections open, all in a handler (the cap is "
            f"{self.cap}): new connections are closed at once",
        )
        return False

    def out_of_descriptors(self, error: OSError) -> None:
        """The process has no descriptor left for a connection: halve the cap and close idle
        connections down to it, so that the engine's git can still start."""
        self.cap = max(MIN_CAP, min(self.cap, len(self._open) // 2))
        closed = 0
        while len(self._open) > self.cap and self._evict_one():
            closed += 1
        self.log.warning(
            "out-of-descriptors",
            f"HTTP: cannot accept a connection: {error.strerror or error}; closed {closed} "
            f"idle connections, the cap is now {self.cap} (raise the open-file limit, "
            "LimitNOFILE= in a systemd unit); accepting again after a pause",
            every=60.0,
        )

    def opened(self, handler: GuardedHandler) -> None:
        self._open[handler] = None
        self._phases[handler.phase][handler] = None

    def moved(self, handler: GuardedHandler, old: Phase, new: Phase) -> None:
        """`handler` went from phase `old` to `new` (to the end of its queue)."""
        if handler in self._open:
            del self._phases[old][handler]
            self._phases[new][handler] = None

    def closed(self, handler: GuardedHandler) -> bool:
        """Forget `handler`; False when it was already forgotten."""
        if handler not in self._open:
            return False
        del self._open[handler], self._phases[handler.phase][handler]
        return True

    def drop(self, handler: GuardedHandler, reason: str) -> None:
        """Close `handler`'s connection for `reason` (one of CLOSE_REASONS)."""
        if self.closed(handler):
            self._on_close(reason)
        handler.force_close()

    def late(self, handler: GuardedHandler, what: Awaited) -> None:
        """Close a connection whose request head or body did not arrive in time."""
        reason = "header_timeout" if what == "head" else "body_timeout"
        timeout = self.header_timeout if what == "head" else self.body_timeout
        message = f"no complete request {what} within {timeout:g} s"
        self.log.warning(reason, f"HTTP: closed a connection from {handler.peer}: {message}")
        self.drop(handler, reason)

    def malformed(self, handler: GuardedHandler, error: HttpProcessingError) -> None:
        what = " ".join(str(error.message or type(error).__name__).split())
        what = what if len(what) <= 100 else what[:97] + "..."
        self._on_close("malformed")
        self.log.warning("malformed", f"HTTP: malformed request from {handler.peer}: {what}")

    def _evict_one(self) -> bool:
        for phase in _EVICTABLE:
            # The one in this phase the longest: an attacker's, as a real client's head and
            # body arrive in milliseconds.
            for oldest in self._phases[phase]:
                self.drop(oldest, "evicted")
                return True
        return False


class GuardedHandler(RequestHandler):
    """aiohttp's connection handler, counted by the guard and held to its deadlines."""

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self.phase: Phase = "waiting"
        self.peer = "unknown"
        self.overdue = False  # closed by a deadline
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting: Awaited | None = None  # what the deadline is for

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else "unknown"
        self._guard.opened(self)
        self._expect("head", self._guard.header_timeout)  # a new connection owes a request

    def data_received(self, data: bytes) -> None:
        if self.phase == "waiting":
            self._enter("head")
            if self._awaiting != "head":  # the next request on a keep-alive connection
                self._expect("head", self._guard.header_timeout)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_deadline()
        self._guard.closed(self)
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):  # the client's fault: answered 400 already
            self._guard.malformed(self, error)
            return
        super().log_exception(*args, **kwargs)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            if self.transport is not None:  # not for a connection lost meanwhile: no timer
                self._enter("waiting")
                self._expect("idle", self._guard.keepalive_timeout)

    def request_started(self) -> None:
        self._cancel_deadline()
        self._enter("busy")

    def body_started(self) -> None:
        self._enter("body")
        self._expect("body", self._guard.body_timeout)

    def body_ended(self) -> None:
        self._cancel_deadline()
        self._enter("busy")

    def _enter(self, phase: Phase) -> None:
        self._guard.moved(self, self.phase, phase)
        self.phase = phase

    def _expect(self, what: Awaited, within: float) -> None:
        self._cancel_deadline()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(within, self._overdue, what)
        self._awaiting = what

    def _overdue(self, what: Awaited) -> None:
        self._deadline = self._awaiting = None
        if what == "idle":
            if self.phase == "waiting":
                self.force_close()  # an idle keep-alive connection: its time is up, no fault
        elif self.phase in (("waiting", "head") if what == "head" else ("body",)):
            self.overdue = True
            self._guard.late(self, what)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._awaiting = None


@web.middleware
async def track_requests(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tells the connection its request head is in: no head deadline while it is handled."""
    protocol = request.protocol
    if isinstance(protocol, GuardedHandler):
        protocol.request_started()
    return await handler(request)


class IncompleteBodyError(Exception):
    """The body did not arrive whole: too slow (`timed_out`), or the connection went first."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` bytes (chunked bodies declare no length).

    Raises IncompleteBodyError when it is not in within the guard's `body_timeout` (the guard
    has closed the connection then: no answer reaches a client that slow), or the connection
    ends or garbles it first.
    """
    protocol = request.protocol
    guarded = protocol if isinstance(protocol, GuardedHandler) else None
    if guarded is not None:
        guarded.body_started()
    try:
        return await _read_limited(request, limit)
    except (ConnectionError, HttpProcessingError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and protocol.connected:
            raise  # aiohttp says "Connection closed." so when a read starts after the close
        timed_out = guarded is not None and guarded.overdue
        raise IncompleteBodyError(_incomplete(exc, timed_out), timed_out=timed_out) from None
    finally:
        if guarded is not None and not guarded.overdue:
            guarded.body_ended()


def _incomplete(error: Exception, timed_out: bool) -> str:
    if timed_out:
        return "the body did not arrive in time"
    if isinstance(error, HttpProcessingError):
        return f"a malformed body: {error.message}"[:120]
    return "the connection closed before the whole body arrived"


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# -- accepting ----------------------------------------------------------------------------------


class GuardedSite(web.BaseSite):
    """Serves an AppRunner on a bound Listener through our own accept loop and the guard."""

    def __init__(
        self,
        runner: web.AppRunner,
        listener: Listener,
        guard: ConnectionGuard,
        handler_args: dict[str, Any],
    ) -> None:
        super().__init__(runner)
        self._listener = listener
        self._guard = guard
        self._handler_args = handler_args
        self._accepting: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        host = self._listener.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self._listener.port}"

    async def start(self) -> None:
        await super().start()
        manager = self._runner.server
        assert manager is not None  # the runner is set up before a site is made
        loop = asyncio.get_running_loop()

        def connection() -> GuardedHandler:
            return GuardedHandler(manager, self._guard, loop=loop, **self._handler_args)

        self._accepting = [
            loop.create_task(self._accept(sock, connection), name="http accept")
            for sock in self._listener.sockets
        ]

    async def stop(self) -> None:
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        self._listener.close()
        await super().stop()

    async def _accept(self, sock: socket.socket, connection: Callable[[], GuardedHandler]) -> None:
        loop = asyncio.get_running_loop()
        pause = 0.0
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
                await self._serve(conn, connection)
                # Those waiting behind it, without going back to the poller for each.
                for _ in range(_BACKLOG):
                    conn, _ = sock.accept()
                    conn.setblocking(False)
                    await self._serve(conn, connection)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                pause = 0.0  # none left waiting (or one gave up in the queue): all is well
            except OSError as exc:
                pause = min(max(2 * pause, _FIRST_PAUSE), _LONGEST_PAUSE)
                if exc.errno in _OUT_OF_RESOURCES:
                    self._guard.out_of_descriptors(exc)
                else:
                    self._guard.log.warning("accept", f"HTTP: accept failed: {exc}")
                await asyncio.sleep(pause)
            except Exception as exc:  # a bug must not end accepting for good, in silence
                pause = min(max(2 * pause, _FIRST_PAUSE), _LONGEST_PAUSE)
                self._guard.log.warning("accept", f"HTTP: accepting failed: {exc!r}")
                await asyncio.sleep(pause)

    async def _serve(self, conn: socket.socket, connection: Callable[[], GuardedHandler]) -> None:
        """Hand an accepted socket to aiohttp, or close it when there is no room."""
        if not self._guard.admit():
            conn.close()
            return
        try:
            await asyncio.get_running_loop().connect_accepted_socket(connection, conn)
        except OSError as exc:  # the peer left already, or no memory for it
            conn.close()
            self._guard.log.warning("accept", f"HTTP: could not serve a connection: {exc}")
