"""`GET /api/repos` and `/api/repos/{name}`: the engine's view of each repo, as JSON.

One object per repo: the `status --json` fields (`RepoStatus.to_json`), plus `state` (one word,
as in /metrics) and `sync` (what the engine is doing with the remote). Read-only.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import SyncState
from gitwatch_tui.server.metrics import repo_state


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def sync_json(state: SyncState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "phase": state.phase,
        "failures": state.failures,
        "next_attempt": _iso(state.next_attempt),
        "last_error": state.last_error,
        "auth_failed": state.auth_failed,
        "circuit_open": state.circuit_open,
        "last_success": _iso(state.last_success),
    }


def repo_json(spec: RepoSpec, status: RepoStatus | None, sync: SyncState | None) -> dict[str, Any]:
    """One repo's object; a repo not read yet has its name, path and group, the rest empty."""
    base = status or RepoStatus(name=spec.name, path=str(spec.path), group=spec.group)
    return {**base.to_json(), "state": repo_state(status, sync), "sync": sync_json(sync)}


def _listing(rows: list[tuple[RepoSpec, RepoStatus | None, SyncState | None]]) -> bytes:
    return json.dumps([repo_json(*row) for row in rows]).encode()


class Api:
    """The JSON routes over one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/repos", self.repos)
        app.router.add_get("/api/repos/{name}", self.repo)

    async def repos(self, request: web.Request) -> web.Response:
        engine = self._engine
        specs = engine.specs
        names = sorted(specs, key=lambda n: (specs[n].group or "", n))
        rows = [(specs[n], engine.statuses.get(n), engine.states.get(n)) for n in names]
        # The snapshots are immutable: a thousand of them are rendered off the loop.
        body = await asyncio.to_thread(_listing, rows)
        return web.Response(body=body, content_type="application/json")

    async def repo(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        engine = self._engine
        spec = engine.specs.get(name)
        if spec is None:
            return web.json_response({"error": f"no such repo: {name}"}, status=404)
        return web.json_response(
            repo_json(spec, engine.statuses.get(name), engine.states.get(name))
        )
