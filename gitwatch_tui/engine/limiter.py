"""A concurrency limit whose waiters are served by priority, so a key press jumps the queue;
and `each_in_turn`, which runs a bulk action a few items at a time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

MANUAL, SCHEDULED = 0, 1
T = TypeVar("T")


class PriorityLimiter:
    """At most `limit` holders at once; among waiters the lowest priority number goes first,
    then first come, first served (an asyncio.Semaphore is only the latter)."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._active = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def active(self) -> int:
        return self._active

    def set_limit(self, limit: int) -> None:
        """Change the limit live (config reload); extra room is handed out at once."""
        self._limit = max(1, limit)
        self._wake()

    @asynccontextmanager
    async def slot(self, priority: int = SCHEDULED) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._active -= 1
            self._wake()

    async def _acquire(self, priority: int) -> None:
        if self._active < self._limit and not self._waiters:
            self._active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted just as we were cancelled
                self._active -= 1
                self._wake()
            raise

    def _wake(self) -> None:
        while self._waiters and self._active < self._limit:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self._active += 1
                future.set_result(None)


async def each_in_turn(items: Sequence[T], run: Callable[[T], Awaitable[None]], lanes: int) -> None:
    """`run(item)` for every item, in order, at most `lanes` at a time: a bulk action over
    10,000 repos keeps a few tasks, not 10,000 of them waiting for the limiter."""
    todo = iter(items)

    async def lane() -> None:
        for item in todo:
            await run(item)

    await asyncio.gather(*(lane() for _ in range(max(1, min(lanes, len(items))))))
