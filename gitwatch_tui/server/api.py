"""`GET /api/repos` and `/api/repos/{name}`: the engine's view of each repo, as JSON.

One object per repo: the `status --json` fields (`RepoStatus.to_json`, `state` and
`state_detail`, decided by `repo_state` as for every face) and `sync` (what the engine is doing
with the remote). Read-only.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.models import iso_time as _iso
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import PipelineStateChanged, SyncState
from gitwatch_tui.engine.repo_state import repo_state


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
        "last_failure": _iso(state.last_failure),
    }


def repo_json(
    spec: RepoSpec,
    status: RepoStatus | None,
    sync: SyncState | None,
    pipeline: PipelineStateChanged | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """One repo's object; a repo not read yet has its name, path and group, the rest empty."""
    base = status or RepoStatus(name=spec.name, path=str(spec.path), group=spec.group)
    state = repo_state(status, sync, time.time() if now is None else now, pipeline=pipeline)
    words = {"state": state.word, "state_detail": state.detail}
    return {**base.to_json(), **words, "sync": sync_json(sync)}


_Row = tuple[RepoSpec, RepoStatus | None, SyncState | None, PipelineStateChanged | None]


def _listing(rows: list[_Row]) -> bytes:
    now = time.time()
    return json.dumps([repo_json(*row, now=now) for row in rows]).encode()


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
        pipelines = engine.pipelines.last
        rows = [
            (specs[n], engine.statuses.get(n), engine.states.get(n), pipelines.get(n))
            for n in names
        ]
        # The snapshots are immutable: a thousand of them are rendered off the loop.
        body = await asyncio.to_thread(_listing, rows)
        return web.Response(body=body, content_type="application/json")

    async def repo(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        engine = self._engine
        spec = engine.specs.get(name)
        if spec is None:
            return web.json_response({"error": f"no such repo: {name}"}, status=404)
        row = (spec, engine.statuses.get(name), engine.states.get(name))
        return web.json_response(repo_json(*row, engine.pipelines.last.get(name)))
