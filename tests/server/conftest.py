"""A real engine over real repos whose remotes carry forge URLs, served on 127.0.0.1.

Each clone's origin is a forge URL (https, scp-like, ssh:// with a port) that a repo-local
`url.<file>.insteadOf` rewrites to a bare repo on disk: the webhook path sees the URLs a forge
would send, and the fetches it starts are real and never leave the machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gitwatch_tui.core.config import Config, Defaults, RateLimit, ServerSettings
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, SyncFinished
from gitwatch_tui.server.app import Services, start_services
from tests.conftest import commit_file, git

SECRETS = {"GH_SECRET": "gh-s3cret", "GL_TOKEN": "gl-t0ken", "GITEA_SECRET": "gt-s3cret",
           "HOOK_SECRET": "hook-s3cret"}  # fmt: skip
SECRET_ENVS = (("github", "GH_SECRET"), ("gitlab", "GL_TOKEN"), ("gitea", "GITEA_SECRET"),
               ("generic", "HOOK_SECRET"))  # fmt: skip

# name -> (origin URL as configured in the clone, the branch checked out)
REPOS = {
    "alpha": ("https://github.com/Owner/Alpha.git", "main"),
    "beta": ("git@github.com:owner/beta.git", "main"),
    "beta-feature": ("git@github.com:owner/beta.git", "feature"),
    "gamma": ("ssh://git@forge.example:2222/team/gamma.git", "main"),
}


async def wait_for(predicate: Callable[[], object], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def make_repos(base: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """Bare remotes (by remote name) and clones (by repo name) as in REPOS."""
    remotes: dict[str, Path] = {}
    clones: dict[str, Path] = {}
    for name, (url, branch) in REPOS.items():
        remote_name = name.split("-")[0]
        if remote_name not in remotes:
            seed = base / f"{remote_name}-seed"
            seed.mkdir(parents=True)
            git(seed, "init", "-q")
            commit_file(seed, "README.md", f"{remote_name}\n")
            git(seed, "branch", "feature")
            remotes[remote_name] = base / f"{remote_name}.git"
            git(base, "clone", "-q", "--bare", str(seed), str(remotes[remote_name]))
        clone = base / name
        git(base, "clone", "-q", "--branch", branch, str(remotes[remote_name]), str(clone))
        git(clone, "config", f"url.{remotes[remote_name].as_uri()}.insteadOf", url)
        git(clone, "remote", "set-url", "origin", url)
        clones[name] = clone
    return remotes, clones


def push(remote: Path, base: Path, branch: str = "main") -> None:
    """Someone else pushes one commit to `branch` of the bare `remote`."""
    work = base / f"pusher-{remote.stem}-{branch}"
    if not work.exists():
        git(base, "clone", "-q", "--branch", branch, str(remote), str(work))
    git(work, "pull", "-q", "--ff-only")
    commit_file(work, f"pushed-{time.monotonic_ns()}.txt", "x\n")
    git(work, "push", "-q", "origin", f"HEAD:{branch}")


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class World:
    engine: Engine
    services: Services
    session: aiohttp.ClientSession
    remotes: dict[str, Path]
    clones: dict[str, Path]
    base: Path
    events: list[Event] = field(default_factory=list)

    def fetched(self) -> list[str]:
        """Repos the engine fetched, in order (each SyncFinished of a fetch)."""
        return [e.repo for e in self.events if isinstance(e, SyncFinished) and e.action == "fetch"]

    async def settle(self) -> None:
        """Wait for the fetches that webhooks started to end."""
        trigger = self.services.server.trigger
        await wait_for(lambda: trigger.running == 0)

    async def post(
        self, provider: str, body: bytes | dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        headers = {"Content-Type": "application/json", **headers}  # what the forges send
        async with self.session.post(f"/hooks/{provider}", data=data, headers=headers) as r:
            return r.status, await r.json()


def github_push(url: str, ref: str = "refs/heads/main") -> dict[str, Any]:
    return {
        "ref": ref,
        "before": "0" * 40,
        "after": "1" * 40,
        "repository": {
            "full_name": "x/y",
            "clone_url": url,
            "ssh_url": "git@elsewhere.example:x/y.git",
            "html_url": url.removesuffix(".git"),
        },
    }


def github_headers(body: bytes, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or f"d-{time.monotonic_ns()}",
        "X-Hub-Signature-256": "sha256=" + sign(SECRETS["GH_SECRET"], body),
    }


def server_config(specs: tuple[RepoSpec, ...], **server: Any) -> Config:
    settings = replace(ServerSettings(listen="127.0.0.1:0", secret_envs=SECRET_ENVS), **server)
    defaults = Defaults(poll_interval=3600.0, fetch_timeout=10.0)
    return Config(defaults=defaults, repos=specs, server=settings)


async def open_world(tmp_path: Path, **server: Any) -> World:
    remotes, clones = make_repos(tmp_path)
    specs = tuple(RepoSpec(path=path, name=name) for name, path in clones.items())
    config = server_config(specs, **server)
    engine = Engine(config, state_dir=tmp_path / "state", watch_files=False, rng=random.Random(1))
    await engine.start()
    world = None
    try:
        await wait_for(lambda: len(engine.statuses) == len(specs))
        services = await start_services(engine, config, env=SECRETS)
        session = aiohttp.ClientSession(base_url=services.url)
        world = World(engine, services, session, remotes, clones, tmp_path)
        engine.subscribe(world.events.append)
        return world
    finally:
        if world is None:
            await engine.stop()


async def close_world(world: World) -> None:
    await world.session.close()
    await world.services.stop()
    await world.engine.stop()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    opened = await open_world(tmp_path)
    try:
        yield opened
    finally:
        await close_world(opened)


def rate(requests: int, per: float) -> RateLimit:
    return RateLimit(requests=requests, per=per)
