"""Remotes on 127.0.0.1 that take their time: a fetch is under way for as long as a test needs."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


@dataclass
class Remote:
    """A TCP proxy to a real `git daemon` that answers each connection `delay` s late and
    notes when each came (one connection, one fetch)."""

    port: int
    accepted: list[float] = field(default_factory=list)


@contextmanager
def slow_remote(target_port: int, delay: float) -> Iterator[Remote]:
    """Serve `git daemon` at `target_port` through a slow `Remote` while the block runs."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    remote = Remote(listener.getsockname()[1])
    stop = threading.Event()

    def relay(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def handle(conn: socket.socket) -> None:
        stop.wait(delay)
        with conn, socket.create_connection(("127.0.0.1", target_port)) as upstream:
            back = threading.Thread(target=relay, args=(upstream, conn), daemon=True)
            back.start()
            relay(conn, upstream)
            back.join(10)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            remote.accepted.append(time.monotonic())
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield remote
    finally:
        stop.set()
        thread.join()
        listener.close()
