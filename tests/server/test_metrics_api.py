"""/metrics (parsed with prometheus-client's own parser) and the JSON API, over a real engine."""

from __future__ import annotations

import json
import time

from prometheus_client.parser import text_string_to_metric_families

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import SyncState
from gitwatch_tui.server.metrics import REPO_STATES
from tests.conftest import commit_file
from tests.server.conftest import World, github_headers, github_push, push

# `status --json`'s keys, and the two the API adds.
API_KEYS = set(RepoStatus("n", "/p").to_json()) | {"state", "state_detail", "sync"}


async def scrape(world: World) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples by name, then by sorted labels."""
    async with world.session.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


async def test_metrics_parse_and_show_the_engine(world: World) -> None:
    push(world.remotes["alpha"], world.base)
    commit_file(world.clones["gamma"], "local.txt", "mine\n")  # gamma is now ahead by one
    (world.clones["beta"] / "scratch.txt").write_text("dirty\n")
    await world.engine.refresh_all()
    body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    await world.post("github", body, github_headers(body))
    await world.post("github", body, {**github_headers(body), "X-Hub-Signature-256": ""})
    await world.settle()
    started = time.monotonic()
    samples = await scrape(world)
    assert time.monotonic() - started < 2.0
    repos = {labels[0][1]: value for labels, value in samples["gitwatch_repos"].items()}
    assert set(repos) == set(REPO_STATES)
    assert repos["behind"] == 1 and repos["ahead"] == 1 and repos["dirty"] == 1
    assert repos["in-sync"] == 1 and sum(repos.values()) == 4
    assert samples["gitwatch_repo_behind"][(("repo", "alpha"),)] == 1
    assert samples["gitwatch_repo_ahead"][(("repo", "gamma"),)] == 1
    assert samples["gitwatch_repo_dirty"][(("repo", "beta"),)] == 1
    assert samples["gitwatch_repo_circuit_open"][(("repo", "alpha"),)] == 0
    assert samples["gitwatch_repo_fetch_failures"][(("repo", "alpha"),)] == 0
    assert samples["gitwatch_repo_last_fetch_success_timestamp_seconds"][(("repo", "alpha"),)] > 0
    assert samples["gitwatch_fetch_duration_seconds_count"][(("action", "fetch"),)] == 1
    assert samples["gitwatch_fetch_duration_seconds_bucket"][(("action", "fetch"), ("le", "+Inf"))]
    assert samples["gitwatch_sync_actions_total"][(("action", "fetch"), ("result", "ok"))] == 1
    hooks = samples["gitwatch_webhook_requests_total"]
    assert hooks[(("provider", "github"), ("result", "accepted"))] == 1
    assert hooks[(("provider", "github"), ("result", "unauthorized"))] == 1
    # Its own registry: nothing from the process-wide default one (python_info, process_*).
    assert not any(name.startswith(("python_", "process_")) for name in samples)


async def test_failed_fetch_counts_and_shows_as_failing(world: World) -> None:
    from tests.conftest import git

    git(world.clones["gamma"], "remote", "set-url", "origin", str(world.base / "missing.git"))
    world.services.server.trigger.fetch("gamma")
    await world.settle()
    samples = await scrape(world)
    assert samples["gitwatch_fetch_failures_total"][(("action", "fetch"),)] == 1
    assert samples["gitwatch_repo_fetch_failures"][(("repo", "gamma"),)] == 1
    assert samples["gitwatch_repos"][(("state", "failing"),)] == 1
    failed = samples["gitwatch_repo_last_fetch_failure_timestamp_seconds"]
    assert list(failed) == [(("repo", "gamma"),)]
    assert failed[(("repo", "gamma"),)] == world.engine.states["gamma"].last_failure
    # A fetch never made is no success (git's FETCH_HEAD of the clone is not one either).
    assert (("repo", "gamma"),) not in samples.get(
        "gitwatch_repo_last_fetch_success_timestamp_seconds", {}
    )


async def test_openmetrics_when_asked(world: World) -> None:
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with world.session.get("/metrics", headers=headers) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await response.text()).rstrip().endswith("# EOF")


async def test_api_lists_every_repo_with_status_and_sync_state(world: World) -> None:
    push(world.remotes["alpha"], world.base)
    await world.engine.fetch("alpha")
    async with world.session.get("/api/repos") as response:
        assert response.status == 200
        repos = await response.json()
    assert [r["name"] for r in repos] == ["alpha", "beta", "beta-feature", "gamma"]
    assert all(set(r) == API_KEYS for r in repos)
    alpha = repos[0]
    assert (alpha["branch"], alpha["behind"], alpha["state"]) == ("main", 1, "behind")
    assert alpha["sync"]["phase"] == "idle" and alpha["sync"]["failures"] == 0
    assert alpha["sync"]["last_success"].endswith("+00:00")
    assert alpha["last_fetch"] == alpha["sync"]["last_success"]
    assert alpha["last_fetch_failed"] is None
    assert alpha["state_detail"] == "behind"
    assert alpha["path"] == str(world.clones["alpha"])
    async with world.session.get("/api/repos/beta-feature") as response:
        one = await response.json()
    assert (one["name"], one["branch"], one["state"]) == ("beta-feature", "feature", "in-sync")
    async with world.session.get("/api/repos/nope") as response:
        assert response.status == 404
        assert (await response.json()) == {"error": "no such repo: nope"}


async def test_metrics_with_many_repos_stay_fast(world: World) -> None:
    """1,000 repos' worth of snapshots: a scrape renders them in well under a second."""
    from dataclasses import replace

    engine = world.engine
    template = engine.statuses["alpha"]
    specs = dict(engine.specs)
    for i in range(1000):
        name = f"many-{i:04d}"
        specs[name] = replace(engine.specs["alpha"], name=name)
        engine.statuses[name] = replace(template, name=name, behind=i % 3)
        engine.states[name] = SyncState(name, last_success=time.time())
    engine.specs = specs
    started = time.monotonic()
    samples = await scrape(world)
    elapsed = time.monotonic() - started
    assert sum(samples["gitwatch_repos"].values()) == 1004
    assert len(samples["gitwatch_repo_behind"]) == 1004
    assert elapsed < 1.0, elapsed
    async with world.session.get("/api/repos") as response:
        assert len(await response.json()) == 1004


async def test_a_repo_with_no_next_attempt_degrades_healthz_and_shows_in_metrics(
    world: World,
) -> None:
    async with world.session.get("/healthz") as response:
        assert response.status == 200 and (await response.json())["status"] == "ok"
    samples = await scrape(world)
    assert samples["gitwatch_scheduler_overdue_repos"][()] == 0
    assert samples["gitwatch_trees_polled"][()] == 0  # under the inotify watch budget
    due = samples["gitwatch_repo_next_attempt_timestamp_seconds"]
    assert {labels[0][1] for labels in due} == set(world.engine.specs)
    assert all(when > time.time() - 60 for when in due.values())
    world.engine._due_at.pop("alpha")  # a scheduling fault: alpha has no next attempt
    async with world.session.get("/healthz") as response:
        assert response.status == 503
        assert await response.json() == {
            "status": "degraded", "repos": len(world.engine.specs), "overdue": ["alpha"],
        }  # fmt: skip
    samples = await scrape(world)
    assert samples["gitwatch_scheduler_overdue_repos"][()] == 1
    assert (("repo", "alpha"),) not in samples["gitwatch_repo_next_attempt_timestamp_seconds"]
