"""The network limit holds: never more than `fetch_concurrency` fetches talk to remotes at once,
however many repos a fetch-all starts, and each slot is used (the fetches do overlap)."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.events import SyncFinished
from tests.conftest import GitHttpServer, push_from_elsewhere
from tests.engine.test_engine import config_for, start_engine
from tests.engine.test_liveness import http_clone


async def test_a_fetch_all_never_runs_more_than_fetch_concurrency_fetches_at_once(
    git_http: GitHttpServer, tmp_path: Path
) -> None:
    specs = []
    for i in range(7):
        remote, clone = http_clone(git_http, tmp_path, f"r{i}")
        push_from_elsewhere(remote, tmp_path)  # something to fetch
        specs.append(RepoSpec(clone, f"r{i}"))
    engine = await start_engine(config_for(*specs, fetch_concurrency=2), tmp_path)
    # Each request is held a while, so that fetches not held back by the limit would overlap;
    # a fetch makes its requests one after another, so requests at once = fetches at once.
    git_http.delay, git_http.most_in_flight, git_http.requests = 0.2, 0, []
    started, most_started = [0], [0]
    fetch = engine.fetch

    async def counted(name: str) -> SyncFinished:  # the real fetch, its calls counted
        started[0] += 1
        most_started[0] = max(most_started[0], started[0])
        try:
            return await fetch(name)
        finally:
            started[0] -= 1

    engine.fetch = counted  # type: ignore[method-assign]
    try:
        results = await engine.fetch_all()
    finally:
        await engine.stop()
    # A few cycles started at a time, not one per repo waiting for the limit (10,000 of them
    # took seconds to start and to cancel at a quit).
    assert most_started[0] == engine.fetch_lanes == 4
    assert [r.ok for r in results] == [True] * 7
    assert {engine.statuses[f"r{i}"].behind for i in range(7)} == {1}
    assert {f"r{i}.git" for i in range(7)} <= set(git_http.requests)
    assert git_http.most_in_flight == 2
