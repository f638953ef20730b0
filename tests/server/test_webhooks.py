"""Webhooks end to end: a real server on 127.0.0.1, a real engine, real repos and fetches."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from gitwatch_tui.core.config import ServerSettings
from gitwatch_tui.server.app import ServerConfigError, read_secrets, start_services
from tests.conftest import git
from tests.server.conftest import (
    SECRETS,
    World,
    close_world,
    github_headers,
    github_push,
    open_world,
    push,
    rate,
    server_config,
    sign,
    wait_for,
)


async def test_signed_github_push_fetches_that_repo_and_only_it(world: World) -> None:
    push(world.remotes["alpha"], world.base)
    push(world.remotes["beta"], world.base)  # beta's remote moves too, but nobody says so
    body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    status, answer = await world.post("github", body, github_headers(body))
    assert (status, answer) == (202, {"status": "accepted", "repos": ["alpha"]})
    await world.settle()
    assert world.fetched() == ["alpha"]
    assert world.engine.statuses["alpha"].behind == 1
    assert world.engine.statuses["beta"].behind == 0  # not fetched: still unaware
    assert world.engine.statuses["alpha"].last_fetch is not None
    assert world.engine.statuses["beta"].last_fetch is None


async def test_signed_gitea_push_matches_an_ssh_remote_by_its_https_url(world: World) -> None:
    push(world.remotes["gamma"], world.base)
    # The clone's origin is ssh://git@forge.example:2222/team/gamma.git.
    body = json.dumps(github_push("https://forge.example/team/gamma.git")).encode()
    headers = {"X-Gitea-Event": "push", "X-Gitea-Delivery": "g-1",
               "X-Gitea-Signature": sign(SECRETS["GITEA_SECRET"], body)}  # fmt: skip
    status, answer = await world.post("gitea", body, headers)
    assert (status, answer["repos"]) == (202, ["gamma"])
    await world.settle()
    assert world.fetched() == ["gamma"]
    assert world.engine.statuses["gamma"].behind == 1


async def test_gitlab_push_with_its_token_matches_an_scp_like_url(world: World) -> None:
    push(world.remotes["gamma"], world.base)
    payload = {
        "object_kind": "push",
        "ref": "refs/heads/main",
        "project": {"git_ssh_url": "git@forge.example:team/gamma.git",
                    "git_http_url": "https://forge.example/team/gamma.git"},
    }  # fmt: skip
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRETS["GL_TOKEN"],
               "X-Gitlab-Event-UUID": "u-1"}  # fmt: skip
    status, answer = await world.post("gitlab", payload, headers)
    assert (status, answer["repos"]) == (202, ["gamma"])
    await world.settle()
    assert world.fetched() == ["gamma"]
    assert world.engine.statuses["gamma"].behind == 1


async def test_generic_push_of_a_branch_fetches_only_the_clone_on_that_branch(
    world: World,
) -> None:
    push(world.remotes["beta"], world.base, branch="feature")
    body = json.dumps({"repository": "https://github.com/owner/beta",
                       "ref": "refs/heads/feature"}).encode()  # fmt: skip
    headers = {"X-Gitwatch-Signature-256": "sha256=" + sign(SECRETS["HOOK_SECRET"], body)}
    status, answer = await world.post("generic", body, headers)
    assert (status, answer["repos"]) == (202, ["beta-feature"])  # not beta, which is on main
    await world.settle()
    assert world.fetched() == ["beta-feature"]
    assert world.engine.statuses["beta-feature"].behind == 1
    # The token form works too, and a push without a ref concerns every clone of the remote.
    body = json.dumps({"repository": "git@github.com:owner/beta.git"}).encode()
    status, answer = await world.post("generic", body, {"X-Gitwatch-Token": SECRETS["HOOK_SECRET"]})
    assert (status, sorted(answer["repos"])) == (202, ["beta", "beta-feature"])
    await world.settle()


async def test_push_for_an_unknown_repo_is_accepted_and_fetches_nothing(world: World) -> None:
    body = json.dumps(github_push("https://github.com/owner/unknown.git")).encode()
    status, answer = await world.post("github", body, github_headers(body))
    assert (status, answer) == (202, {"status": "unmatched", "repos": []})
    body = json.dumps(github_push("https://github.com/owner/alpha.git", "refs/heads/dev")).encode()
    status, answer = await world.post("github", body, github_headers(body))
    assert (status, answer["status"]) == (202, "unmatched")  # alpha is on main
    await asyncio.sleep(0.2)
    assert world.fetched() == []


async def test_every_bad_request_gets_its_status_and_changes_nothing(world: World) -> None:
    good = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    signed = github_headers(good)
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("github", good, {**signed, "X-Hub-Signature-256": ""}, 401, "unauthorized"),
        ("github", good, {k: v for k, v in signed.items() if "Signature" not in k}, 401,
         "unauthorized"),
        ("github", good, {**signed, "X-Hub-Signature-256": "sha256=" + "0" * 64}, 401,
         "unauthorized"),
        ("github", good + b" ", signed, 401, "unauthorized"),  # body changed after signing
        ("gitea", good, {"X-Gitea-Event": "push", "X-Gitea-Signature": "00"}, 401,
         "unauthorized"),
        ("gitlab", good, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong"}, 401,
         "unauthorized"),
        ("generic", good, {}, 401, "unauthorized"),
        ("github", b"{not json", github_headers(b"{not json"), 400, "malformed"),
        ("github", b"[1, 2]", github_headers(b"[1, 2]"), 400, "malformed"),
        ("github", b"\xff\xfe", github_headers(b"\xff\xfe"), 400, "malformed"),
        ("github", b'{"ref": "refs/heads/main"}', github_headers(b'{"ref": "refs/heads/main"}'),
         400, "malformed"),
        ("github", good, github_headers(good, event="issues"), 202, "ignored"),
        ("gitlab", good, {"X-Gitlab-Event": "Merge Request Hook",
                          "X-Gitlab-Token": SECRETS["GL_TOKEN"]}, 202, "ignored"),
        ("github", b"{}", github_headers(b"{}", event="ping"), 200, "ping"),
    ]  # fmt: skip
    for provider, body, headers, expected, result in cases:
        status, answer = await world.post(provider, body, headers)
        assert (status, answer["status"]) == (expected, result), (provider, headers, body)
        assert "s3cret" not in json.dumps(answer) and "t0ken" not in json.dumps(answer)
    async with world.session.post("/hooks/bitbucket", data=good) as response:
        assert response.status == 404
    async with world.session.get("/hooks/github") as response:
        assert response.status == 405
    await asyncio.sleep(0.2)
    assert world.fetched() == []
    assert world.services.server.trigger.started == 0


async def test_bodies_over_the_limit_are_refused_unread(tmp_path: Path) -> None:
    world = await open_world(tmp_path, max_body=4096)
    try:
        big = json.dumps({**github_push("https://github.com/owner/alpha.git"),
                          "pad": "x" * 5000}).encode()  # fmt: skip
        status, answer = await world.post("github", big, github_headers(big))
        assert (status, answer["status"]) == (413, "too_large")

        async def chunks():  # no Content-Length: the limit holds on what is actually read
            for _ in range(10):
                yield b"x" * 1024

        headers = github_headers(b"")
        async with world.session.post("/hooks/github", data=chunks(), headers=headers) as r:
            assert (r.status, (await r.json())["status"]) == (413, "too_large")
        small = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
        status, _ = await world.post("github", small, github_headers(small))
        assert status == 202  # a body within the limit still gets through
        await world.settle()
    finally:
        await close_world(world)


async def test_replayed_delivery_is_refused(world: World) -> None:
    body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    headers = github_headers(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    first, _ = await world.post("github", body, headers)
    await world.settle()
    second, answer = await world.post("github", body, headers)
    assert (first, second, answer["status"]) == (202, 409, "duplicate")
    await asyncio.sleep(0.1)
    assert world.fetched() == ["alpha"]
    # The same id from another provider is another delivery.
    headers = {"X-Gitwatch-Token": SECRETS["HOOK_SECRET"],
               "X-Gitwatch-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}  # fmt: skip
    status, _ = await world.post("generic", {"repository": "https://github.com/owner/alpha"},
                                 headers)  # fmt: skip
    assert status == 202
    await world.settle()


async def test_bursts_get_429_with_retry_after(tmp_path: Path) -> None:
    world = await open_world(tmp_path, unauthenticated_rate=rate(3, 60.0))
    try:
        statuses = []
        for _ in range(5):
            async with world.session.post("/hooks/github", json={}) as response:
                statuses.append(response.status)
                retry_after = response.headers.get("Retry-After")
        assert statuses == [401, 401, 401, 429, 429]  # unsigned: the per-client limit
        assert retry_after is not None and 1 <= int(retry_after) <= 20
        # /metrics and /api are not rate-limited.
        async with world.session.get("/api/repos") as response:
            assert response.status == 200
    finally:
        await close_world(world)


async def test_a_burst_of_pushes_to_one_repo_coalesces(world: World) -> None:
    push(world.remotes["alpha"], world.base)
    body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    answers = await asyncio.gather(
        *(world.post("github", body, github_headers(body)) for _ in range(20))
    )
    assert {status for status, _ in answers} == {202}
    await world.settle()
    # One fetch, plus at most one more for the pushes that came while it ran.
    assert 1 <= len(world.fetched()) <= 2 and set(world.fetched()) == {"alpha"}
    assert world.engine.statuses["alpha"].behind == 1


async def test_a_provider_without_a_secret_is_off(tmp_path: Path) -> None:
    world = await open_world(tmp_path, secret_envs=(("github", "GH_SECRET"),))
    try:
        body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
        headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": ""}
        status, answer = await world.post("gitlab", body, headers)
        assert (status, answer["status"]) == (404, "not_configured")
        status, _ = await world.post("github", body, github_headers(body))
        assert status == 202
        await world.settle()
    finally:
        await close_world(world)


def test_secrets_come_from_the_environment_and_are_never_echoed() -> None:
    settings = ServerSettings(secret_envs=(("github", "GH"), ("gitlab", "GL")))
    assert read_secrets(settings, {"GH": "a", "GL": "b"}) == {"github": b"a", "gitlab": b"b"}
    with pytest.raises(ServerConfigError, match="server.gitlab: environment variable GL is not"):
        read_secrets(settings, {"GH": "a"})
    with pytest.raises(ServerConfigError, match="GH is empty") as info:
        read_secrets(settings, {"GH": "", "GL": "top-secret"})
    assert "top-secret" not in str(info.value)


async def test_start_services_reports_a_port_in_use(tmp_path: Path) -> None:
    from gitwatch_tui.engine.engine import Engine

    holder = socket.create_server(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    config = server_config((), secret_envs=())
    engine = Engine(config, state_dir=tmp_path / "state", watch_files=False)
    await engine.start()
    try:
        with pytest.raises(OSError) as info:
            await start_services(engine, engine.config, listen=f"127.0.0.1:{port}", env={})
        assert info.value.errno == errno.EADDRINUSE
        with pytest.raises(ServerConfigError):
            await start_services(engine, engine.config, listen="nowhere", env={})
        services = await start_services(engine, engine.config, env={})  # port 0: any free one
        async with (
            aiohttp.ClientSession() as session,
            session.get(services.url + "/healthz") as response,
        ):
            assert (await response.json()) == {"status": "ok", "repos": 0}
        assert services.host == "127.0.0.1"
        await services.stop()
    finally:
        holder.close()
        await engine.stop()


async def test_webhook_deliveries_are_logged_without_secrets(world: World) -> None:
    from gitwatch_tui.engine.events import LogLine

    body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    await world.post("github", body, github_headers(body))
    await world.post("github", body, {**github_headers(body), "X-Hub-Signature-256": "x"})
    await world.settle()
    await wait_for(lambda: len([e for e in world.events if isinstance(e, LogLine)]) >= 2)
    lines = [e.message for e in world.events if isinstance(e, LogLine)]
    assert any("webhook github" in m and "fetching alpha" in m for m in lines), lines
    assert any("refused (401)" in m for m in lines), lines
    assert not any(secret in m for m in lines for secret in SECRETS.values())


async def test_a_repo_whose_config_read_hangs_never_holds_up_a_delivery(world: World) -> None:
    """The index is rebuilt on a miss; one repo's stalled config (an include that is a FIFO
    nobody writes) used to hold every unmatched delivery for the read's whole timeout."""
    fifo = world.base / "stall.fifo"
    os.mkfifo(fifo)
    git(world.clones["gamma"], "config", "include.path", str(fifo))
    world.services.server.index._built_at = float("-inf")  # due for a rebuild on a miss
    body = json.dumps(github_push("https://github.com/owner/unknown.git")).encode()
    started = time.monotonic()
    status, answer = await world.post("github", body, github_headers(body))
    assert (status, answer["status"]) == (202, "unmatched")
    assert time.monotonic() - started < 5.0  # the read itself hangs for 10 s
    body = json.dumps(github_push("https://github.com/owner/alpha.git")).encode()
    status, answer = await world.post("github", body, github_headers(body))
    assert (status, answer["repos"]) == (202, ["alpha"])
    await world.settle()
