"""Following the config file: a reload gets only a finished file, and only when it changed.

A tool that writes in place leaves the file empty or half written for a moment; a Kubernetes
ConfigMap volume never writes `config.yaml` at all, it renames a new `..data` symlink beside it;
`touch`, a sync tool or an unchanged save fire events for the same bytes. So the folder is
watched (not the path), the path is resolved again at every event, the file is read until two
reads a settle window apart agree, and content with the same hash as the last read is no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.config_file import config_from_bytes, read_config_bytes
from gitwatch_tui.core.errors import ConfigError

DEFAULT_SETTLE = 0.4  # seconds the file must stay the same before it is read as finished
_RETRY = 5.0  # seconds before a watch that could not be set up is tried again


@dataclass(frozen=True, slots=True)
class ConfigRead:
    """The config file's bytes at one moment, or why they could not be read."""

    path: Path
    data: bytes | None = None
    error: ConfigError | None = None

    @property
    def digest(self) -> str:
        """The content's hash (of the reason when unreadable): equal means unchanged."""
        content = self.data if self.data is not None else str(self.error).encode()
        return hashlib.sha256(content).hexdigest()

    def load(self, env: Mapping[str, str] = os.environ) -> Config:
        """Parse the bytes read; raises ConfigError (an unreadable file included)."""
        if self.error is not None:
            raise ConfigError(self.error.problems)
        assert self.data is not None
        return config_from_bytes(self.path, self.data, env)


def read_config_file(path: Path) -> ConfigRead:
    """Read `path` now, through whatever symlinks it is at this moment."""
    try:
        return ConfigRead(path, data=read_config_bytes(path))
    except ConfigError as exc:
        return ConfigRead(path, error=exc)


def watched_folders(path: Path) -> tuple[Path, ...]:
    """The config's folder, and the folder of the file it resolves to when that is elsewhere
    (a symlink into a dotfiles repo). A ConfigMap's `..<timestamp>` folder is inside the first:
    its swap shows there as the `..data` rename."""
    own = path.absolute().parent
    try:
        target = path.resolve(strict=True).parent
    except (OSError, RuntimeError):  # missing for now, or a symlink loop
        return (own,)
    return (own,) if target.is_relative_to(own.resolve()) else (own, target)


Apply = Callable[[ConfigRead], Awaitable[bool]]


class ConfigWatch:
    """Hands the settled config file to `apply`: on SIGHUP always, on file events when changed.

    One at a time: a reload in progress is never overtaken by an older read.
    """

    def __init__(
        self,
        path: Path,
        apply: Apply,
        *,
        settle: float = DEFAULT_SETTLE,
        on_notice: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.path = path
        self.settle = settle
        self._apply = apply
        self._on_notice = on_notice
        self._lock = asyncio.Lock()
        self._last: str | None = None  # digest of the content last handed to `apply`
        self.watching = False  # True once file events are being received
        self._reported = False  # a watch failure was reported (once is enough)

    async def reload(self) -> bool:
        """Apply the file once settled, changed or not (scan folders may have new repos)."""
        async with self._lock:
            return await self._apply(await self._settled())

    async def follow(self) -> None:
        """Apply each settled change of the file's content, until cancelled."""
        if self._last is None:  # the content the engine started with is no change
            self._last = (await asyncio.to_thread(read_config_file, self.path)).digest
        while True:
            try:
                await self._watch(watched_folders(self.path))
            except FileNotFoundError:  # a folder went away as the watch began: look again
                await asyncio.sleep(self.settle)
            except OSError as exc:  # no inotify instance left, say: try again, SIGHUP still works
                self._report_once(f"config file changes not seen ({exc}); retrying")
                await asyncio.sleep(_RETRY)

    async def _watch(self, folders: tuple[Path, ...]) -> None:
        """Handle events in `folders` until the file resolves to another folder."""
        import watchfiles

        # Not recursive: a config beside the repos must not wake up on their every file.
        batches = watchfiles.awatch(*folders, watch_filter=None, recursive=False, debounce=200)
        # awatch sets its watches up as soon as it is entered, before it first waits: when
        # this callback runs, they are in place unless setting them up failed (it ended).
        asyncio.get_running_loop().call_soon(self._mark_watching, batches)
        async with contextlib.aclosing(batches):
            async for _ in batches:
                await self._on_event()
                if watched_folders(self.path) != folders:
                    return

    def _mark_watching(self, batches: AsyncGenerator[object, None]) -> None:
        self.watching = getattr(batches, "ag_frame", None) is not None  # None once it ended

    def _report_once(self, message: str) -> None:
        if not self._reported:
            self._reported = True
            self._on_notice(message)

    async def _on_event(self) -> None:
        async with self._lock:
            before = self._last
            read = await self._settled()
            if read.digest != before:
                await self._apply(read)

    async def _settled(self) -> ConfigRead:
        """The file once two reads `settle` seconds apart agree: its writer is done."""
        read = await asyncio.to_thread(read_config_file, self.path)
        while True:
            await asyncio.sleep(self.settle)
            again = await asyncio.to_thread(read_config_file, self.path)
            if again.digest == read.digest:
                self._last = again.digest
                return again
            read = again
