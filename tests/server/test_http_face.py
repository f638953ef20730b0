"""The HTTP face under abuse: a real server on 127.0.0.1, real sockets, a real engine.

Floods of unsigned requests, clients behind proxies, idle and dribbling connections,
malformed HTTP, deeply nested JSON, bursts of pushes, and what the forges send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitwatch_tui.core.config import RateLimit
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import LogLine, SyncFinished
from gitwatch_tui.server.app import start_services
from tests.conftest import git
from tests.remotes import slow_remote
from tests.server.conftest import (
    SECRETS,
    World,
    close_world,
    github_headers,
    github_push,
    open_world,
    push,
    server_config,
    sign,
    wait_for,
)
from tests.server.test_daemon import served_repo

DAEMON_DOC = Path(__file__).resolve().parents[2] / "docs" / "daemon.md"
ALPHA = "https://github.com/owner/alpha.git"


async def test_pushes_further_apart_than_a_fetch_still_cost_a_fetch_a_second(
    world: World,
) -> None:
    """Each push arrives after the last fetch covered everything: the spacing still holds
    (it used to start again with every burst, so every push had a fetch of its own)."""
    push(world.remotes["alpha"], world.base)
    body = json.dumps({"repository": ALPHA}).encode()
    headers = {"X-Gitwatch-Signature-256": "sha256=" + sign(SECRETS["HOOK_SECRET"], body)}
    started = time.monotonic()
    for _ in range(10):  # one every 0.25 s: a local fetch is over well before the next
        assert (await world.post("generic", body, headers))[0] == 202
        await asyncio.sleep(0.25)
    took = time.monotonic() - started
    await world.settle()
    assert 1 <= len(world.fetched()) <= took + 2, (len(world.fetched()), took)


@contextlib.asynccontextmanager
async def world_with(tmp_path: Path, **server: Any) -> Any:
    world = await open_world(tmp_path, **server)
    try:
        yield world
    finally:
        await close_world(world)


async def samples(world: World, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """One metric's samples from /metrics, by sorted labels."""
    async with world.session.get("/metrics") as response:
        text = await response.text()
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def warnings_about(world: World, words: str) -> list[str]:
    return [e.message for e in world.events if isinstance(e, LogLine) and words in e.message]


async def raw_connection(world: World) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(world.services.host, world.services.port)


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server ends the connection within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()


# -- who is limited: signature first, then per provider; unsigned per client -------------------


async def test_a_signed_push_gets_through_an_unsigned_flood_from_the_same_address(
    tmp_path: Path,
) -> None:
    """Behind a proxy every sender has one address: the flood must not take the push's place."""
    unsigned = RateLimit(requests=3, per=60.0)
    async with world_with(tmp_path, unauthenticated_rate=unsigned) as world:
        flood = [await world.post("github", b"{}", {"X-GitHub-Event": "push"}) for _ in range(8)]
        assert [status for status, _ in flood] == [401, 401, 401] + [429] * 5
        body = json.dumps(github_push(ALPHA)).encode()
        assert await world.post("github", body, github_headers(body)) == (
            202, {"status": "accepted", "repos": ["alpha"]},
        )  # fmt: skip
        async with world.session.post("/hooks/github", data=b"{}") as response:
            assert response.status == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert response.headers.get("Connection", "").lower() == "close"
        await world.settle()
        hooks = await samples(world, "gitwatch_webhook_requests_total")
        assert hooks[(("provider", "github"), ("result", "rate_limited"))] == 6
        # Refusals are logged one line per kind now and then, not one per request.
        assert len(warnings_about(world, "refused (429)")) == 1


async def test_signed_deliveries_are_limited_per_provider(tmp_path: Path) -> None:
    async with world_with(tmp_path, rate=RateLimit(requests=2, per=60.0)) as world:
        statuses = []
        for _ in range(3):
            body = json.dumps(github_push("https://github.com/owner/unknown.git")).encode()
            statuses.append((await world.post("github", body, github_headers(body)))[0])
        assert statuses == [202, 202, 429]
        # Another provider has its own allowance.
        body = json.dumps({"repository": "https://github.com/owner/unknown"}).encode()
        headers = {"X-Gitwatch-Signature-256": "sha256=" + sign(SECRETS["HOOK_SECRET"], body)}
        assert (await world.post("generic", body, headers))[0] == 202


async def test_forwarded_for_is_honoured_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    unsigned = RateLimit(requests=2, per=60.0)

    async def unsigned_from(world: World, client: str) -> int:
        return (await world.post("github", b"{}", {"X-Forwarded-For": f"10.9.9.9, {client}"}))[0]

    async with world_with(tmp_path / "a", unauthenticated_rate=unsigned) as world:
        # Not a trusted proxy: a forged header picks no bucket of its own.
        found = [await unsigned_from(world, f"203.0.113.{i}") for i in range(4)]
        assert found == [401, 401, 429, 429]
    trusted = ("127.0.0.1/32",)
    async with world_with(
        tmp_path / "b", unauthenticated_rate=unsigned, trusted_proxies=trusted
    ) as world:
        attacker = [await unsigned_from(world, "203.0.113.7") for _ in range(4)]
        assert attacker == [401, 401, 429, 429]
        assert await unsigned_from(world, "198.51.100.2") == 401  # its own allowance
        assert warnings_about(world, "from 203.0.113.7 refused (401)")


# -- connections: deadlines, keep-alive, the cap ------------------------------------------------


async def test_idle_and_dribbling_connections_are_closed_at_their_deadlines(
    tmp_path: Path,
) -> None:
    async with world_with(
        tmp_path, header_timeout=1.0, body_timeout=1.0, keepalive_timeout=1.0
    ) as world:
        idle = [await raw_connection(world) for _ in range(40)]
        heads = [await raw_connection(world) for _ in range(30)]
        bodies = [await raw_connection(world) for _ in range(20)]
        for _, writer in bodies:
            writer.write(b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n"
                         b"Content-Type: application/json\r\n\r\n")  # fmt: skip

        async def dribble(writer: asyncio.StreamWriter, first: bytes) -> None:
            writer.write(first)
            with contextlib.suppress(ConnectionError):
                for _ in range(100):
                    await asyncio.sleep(0.2)
                    writer.write(b"x")
                    await writer.drain()

        started = time.monotonic()
        head_start = b"GET /healthz HTTP/1.1\r\nX: "
        dribblers = [asyncio.create_task(dribble(w, head_start)) for _, w in heads]
        dribblers += [asyncio.create_task(dribble(w, b"{")) for _, w in bodies]
        try:
            # A genuine delivery meanwhile is answered, whatever the others do.
            body = json.dumps(github_push(ALPHA)).encode()
            assert (await world.post("github", body, github_headers(body)))[0] == 202
            closed = await asyncio.gather(
                *(closed_by_server(reader, within=6.0) for reader, _ in idle + heads + bodies)
            )
            assert all(closed), closed.count(False)
            assert time.monotonic() - started < 6.0
        finally:
            for task in dribblers:
                task.cancel()
            await asyncio.gather(*dribblers, return_exceptions=True)
            close_all([w for _, w in idle + heads + bodies])
        await world.settle()
        dropped = await samples(world, "gitwatch_http_connections_closed_total")
        assert dropped[(("reason", "header_timeout"),)] == 70
        assert dropped[(("reason", "body_timeout"),)] == 20
        hooks = await samples(world, "gitwatch_webhook_requests_total")
        assert hooks[(("provider", "github"), ("result", "incomplete"))] == 20
        assert len(warnings_about(world, "no complete request head")) == 1


async def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    tmp_path: Path,
) -> None:
    async with world_with(tmp_path, keepalive_timeout=1.0, header_timeout=30.0) as world:
        reader, writer = await raw_connection(world)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert await closed_by_server(reader, within=5.0)
            assert 0.5 < time.monotonic() - started < 4.0
        finally:
            writer.close()


async def test_the_connection_cap_holds_and_a_delivery_still_gets_in(tmp_path: Path) -> None:
    async with world_with(tmp_path, max_connections=20, header_timeout=60.0) as world:
        connections = [await raw_connection(world) for _ in range(60)]
        try:
            closed = await asyncio.gather(
                *(closed_by_server(reader, within=3.0) for reader, _ in connections)
            )
            assert closed.count(True) >= 40, closed.count(True)
            assert closed[-10:] == [False] * 10  # the newest stay: the oldest made room
            body = json.dumps(github_push(ALPHA)).encode()
            assert (await world.post("github", body, github_headers(body)))[0] == 202
            assert world.services.server.guard.open <= 20
        finally:
            close_all([w for _, w in connections])
        await world.settle()
        dropped = await samples(world, "gitwatch_http_connections_closed_total")
        assert dropped[(("reason", "evicted"),)] >= 40


# -- malformed requests ------------------------------------------------------------------------

MALFORMED = {
    "long URL": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "NUL byte": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "huge header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
    "CL+TE": b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


async def test_malformed_http_gets_400_and_one_short_warning_never_a_traceback(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    for _ in range(3):
        for name, request in MALFORMED.items():
            reader, writer = await raw_connection(world)
            try:
                writer.write(request)
                assert re.match(rb"HTTP/1\.[01] 400 ", await reader.readline()), name
                assert await closed_by_server(reader, within=5.0), name
            finally:
                writer.close()
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == [], [r.getMessage() for r in noisy]
    [line] = warnings_about(world, "malformed")
    assert line.startswith("HTTP: malformed request from 127.0.0.1: ") and len(line) < 200
    dropped = await samples(world, "gitwatch_http_connections_closed_total")
    assert dropped[(("reason", "malformed"),)] == 12
    # The server goes on serving.
    async with world.session.get("/healthz") as response:
        assert response.status == 200


def deep_json(levels: int = 100_000) -> bytes:
    return b'{"ref": "refs/heads/main", "x": ' + b"[" * levels + b"]" * levels + b"}"


async def test_a_signed_deeply_nested_body_is_400_and_counted_on_every_provider(
    world: World,
) -> None:
    body = deep_json()
    signature = sign(SECRETS["HOOK_SECRET"], body)
    deliveries = {
        "github": github_headers(body),
        "gitlab": {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRETS["GL_TOKEN"]},
        "gitea": {"X-Gitea-Event": "push",
                  "X-Gitea-Signature": sign(SECRETS["GITEA_SECRET"], body)},
        "generic": {"X-Gitwatch-Signature-256": "sha256=" + signature},
    }  # fmt: skip
    for provider, headers in deliveries.items():
        status, answer = await world.post(provider, body, headers)
        assert (status, answer["status"]) == (400, "malformed"), provider
        assert "nested too deep" in answer["error"]
    hooks = await samples(world, "gitwatch_webhook_requests_total")
    for provider in deliveries:
        assert hooks[(("provider", provider), ("result", "malformed"))] == 1


# -- what the forges send ------------------------------------------------------------------------


async def test_forges_content_types_and_event_headers(world: World) -> None:
    unknown = "https://github.com/owner/unknown.git"
    body = json.dumps(github_push(unknown)).encode()
    gitlab = json.dumps({"ref": "refs/heads/main", "project": {"git_http_url": unknown}}).encode()
    plain = {"Content-Type": "text/plain"}
    signed = {
        "github": (body, github_headers(body)),
        "gitlab": (gitlab, {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRETS["GL_TOKEN"]}),
        "gitea": (body, {"X-Gitea-Event": "push",
                         "X-Gitea-Signature": sign(SECRETS["GITEA_SECRET"], body)}),
    }  # fmt: skip
    events = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event", "gitea": "X-Gitea-Event"}
    for provider, (body, headers) in signed.items():
        status, answer = await world.post(provider, body, {**headers, **plain})
        assert (status, answer["status"]) == (415, "unsupported_type"), provider
        without_event = {k: v for k, v in headers.items() if k != events[provider]}
        status, answer = await world.post(provider, body, without_event)
        assert (status, answer["status"]) == (400, "malformed"), provider
        assert events[provider] in answer["error"]
        status, answer = await world.post(provider, body, headers)
        assert (status, answer["status"]) == (202, "unmatched"), provider
    # GitHub's other content type: the JSON form-encoded as `payload=`, signed as sent.
    form = b"payload=" + json.dumps(github_push(ALPHA)).replace(" ", "").encode()
    headers = {**github_headers(form), "Content-Type": "application/x-www-form-urlencoded"}
    assert await world.post("github", form, headers) == (
        202, {"status": "accepted", "repos": ["alpha"]}
    )  # fmt: skip
    # The generic endpoint's event header stays optional.
    generic = json.dumps({"repository": "https://github.com/owner/unknown"}).encode()
    token = {"X-Gitwatch-Token": SECRETS["HOOK_SECRET"]}
    assert (await world.post("generic", generic, token))[0] == 202
    await world.settle()


def readme_generic_example() -> str:
    """The generic webhook's shell example, as the daemon's page shows it."""
    text = DAEMON_DOC.read_text()
    start = text.index("- **Generic**")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block is not None
    return "\n".join(line.strip() for line in block[1].splitlines())


async def test_the_readme_curl_example_works_as_written(world: World) -> None:
    script = readme_generic_example()
    assert "curl" in script and "http://127.0.0.1:8787" in script
    script = script.replace("http://127.0.0.1:8787", world.services.url)
    result = await asyncio.to_thread(
        subprocess.run, ["sh", "-c", script], capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOOK_SECRET": SECRETS["HOOK_SECRET"]},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "unmatched", "repos": []}


# -- bursts of pushes ----------------------------------------------------------------------------


async def test_a_burst_of_300_pushes_of_one_head_costs_one_or_two_fetches(
    tmp_path: Path,
) -> None:
    async with world_with(tmp_path, rate=RateLimit(requests=1000, per=1.0)) as world:
        await _burst_of_one_head(world)


async def _burst_of_one_head(world: World) -> None:
    push(world.remotes["alpha"], world.base)
    head = git(world.remotes["alpha"], "rev-parse", "main")
    body = json.dumps({**github_push(ALPHA), "after": head}).encode()
    deliveries = iter(range(300))

    async def sender() -> list[int]:
        return [(await world.post("github", body, github_headers(body)))[0] for _ in deliveries]

    answers = await asyncio.gather(*(sender() for _ in range(10)))
    assert {status for statuses in answers for status in statuses} == {202}
    await world.settle()
    assert world.fetched() in (["alpha"], ["alpha", "alpha"]), world.fetched()
    assert world.engine.statuses["alpha"].behind == 1
    # A redelivery of a head fetched already costs nothing.
    assert (await world.post("github", body, github_headers(body)))[0] == 202
    await world.settle()
    assert len(world.fetched()) <= 2


async def test_a_burst_of_pushes_without_a_head_costs_a_fetch_a_second(world: World) -> None:
    push(world.remotes["alpha"], world.base)
    body = json.dumps({"repository": ALPHA}).encode()
    headers = {"X-Gitwatch-Signature-256": "sha256=" + sign(SECRETS["HOOK_SECRET"], body)}
    started = time.monotonic()
    for _ in range(150):  # about 3 s of pushes, one every 20 ms
        assert (await world.post("generic", body, headers))[0] == 202
        await asyncio.sleep(0.02)
    took = time.monotonic() - started
    await world.settle()
    assert 1 <= len(world.fetched()) <= took + 2, (len(world.fetched()), took)
    assert world.engine.statuses["alpha"].behind == 1


@contextlib.asynccontextmanager
async def slow_remote_world(git_daemon: tuple[str, Path], tmp_path: Path) -> Any:
    """An engine and server over one clone whose fetches wait 1 s in a proxy before they
    reach a real `git daemon`: long enough for a push to land while one runs."""
    remote, clone, port = served_repo(git_daemon, tmp_path, f"late-{time.monotonic_ns()}")
    with slow_remote(port, delay=1.0) as proxy:
        url = f"git://127.0.0.1:{proxy.port}/{remote.name}"
        git(clone, "remote", "set-url", "origin", url)
        spec = RepoSpec(path=clone, name="late")
        config = server_config((spec,), secret_envs=(("generic", "HOOK_SECRET"),))
        engine = Engine(config, state_dir=tmp_path / "state", watch_files=False)
        await engine.start()
        services = await start_services(engine, config, env=SECRETS)
        session = aiohttp.ClientSession(base_url=services.url)
        world = World(engine, services, session, {"late": remote}, {"late": clone}, tmp_path)
        engine.subscribe(world.events.append)
        try:
            yield world, url
        finally:
            await close_world(world)


def commit_to(remote: Path, base: Path) -> str:
    """Someone pushes a commit to the bare `remote`'s main; its sha."""
    push(remote, base)
    return git(remote, "rev-parse", "main")


async def post_generic(world: World, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    headers = {"X-Gitwatch-Signature-256": "sha256=" + sign(SECRETS["HOOK_SECRET"], body)}
    return (await world.post("generic", body, headers))[0]


async def test_a_push_whose_commit_the_running_fetch_brings_costs_no_second_fetch(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    async with slow_remote_world(git_daemon, tmp_path) as (world, url):
        head = commit_to(world.remotes["late"], tmp_path)
        running = asyncio.ensure_future(world.engine.fetch("late"))  # a poll, say
        await wait_for(lambda: world.engine.states["late"].phase == "fetching")
        assert await post_generic(world, {"repository": url, "after": head}) == 202
        assert (await running).ok
        await world.settle()
        assert world.fetched() == ["late"]  # the running fetch brought the commit: enough
        assert git(world.clones["late"], "rev-parse", "origin/main") == head


async def test_a_push_the_running_fetch_missed_gets_one_more_fetch(
    git_daemon: tuple[str, Path], tmp_path: Path
) -> None:
    async with slow_remote_world(git_daemon, tmp_path) as (world, url):
        pushed: list[str] = []

        def push_when_the_first_fetch_ends(event: object) -> None:
            # The forge's ref moves after the running fetch read it: that fetch misses it.
            if isinstance(event, SyncFinished) and not pushed:
                pushed.append(commit_to(world.remotes["late"], tmp_path))

        running = asyncio.ensure_future(world.engine.fetch("late"))
        await wait_for(lambda: world.engine.states["late"].phase == "fetching")
        world.engine.subscribe(push_when_the_first_fetch_ends)
        next_head = "f" * 40  # not known yet: the fetch cannot hold it
        assert await post_generic(world, {"repository": url, "after": next_head}) == 202
        await running
        await world.settle()
        assert world.fetched() == ["late", "late"]
        assert git(world.clones["late"], "rev-parse", "origin/main") == pushed[0]
