"""Every face tells the same state. The same real repos go to the dashboard's State column,
`status` (its table and its JSON), `watch`'s lines, `/api/repos` and `/metrics`, and each face
must say the state expected of each repo: one function decides it for all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.engine.backoff import RetryPolicy
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import StatusChanged
from gitwatch_tui.engine.headless import describe
from gitwatch_tui.server.app import start_services
from gitwatch_tui.ui.repo_view import RepoRow, state_label
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere
from tests.odd_repos import ODD_REPOS


def in_sync(base: Path) -> Path:
    return make_remote_and_clone(base, "in-sync")[1]


def behind(base: Path) -> Path:
    remote, clone = make_remote_and_clone(base, "behind")
    push_from_elsewhere(remote, base)
    git(clone, "fetch", "-q")
    return clone


def ahead(base: Path) -> Path:
    clone = make_remote_and_clone(base, "ahead")[1]
    commit_file(clone, "mine.txt", "mine\n")
    return clone


def diverged(base: Path) -> Path:
    remote, clone = make_remote_and_clone(base, "diverged")
    commit_file(clone, "mine.txt", "mine\n")
    push_from_elsewhere(remote, base, name="theirs")
    git(clone, "fetch", "-q")
    return clone


def dirty(base: Path) -> Path:
    clone = make_remote_and_clone(base, "dirty")[1]
    (clone / "scratch.txt").write_text("untracked\n")
    return clone


def detached(base: Path) -> Path:
    clone = make_remote_and_clone(base, "detached")[1]
    git(clone, "checkout", "-q", "--detach")
    return clone


def merging(base: Path) -> Path:
    remote, clone = make_remote_and_clone(base, "merging")
    commit_file(clone, "README.md", "ours\n")
    other = base / "merging-theirs"
    git(base, "clone", "-q", str(remote), str(other))
    commit_file(other, "README.md", "theirs\n")
    git(other, "push", "-q", "origin", "main")
    git(clone, "fetch", "-q")
    with pytest.raises(AssertionError):
        git(clone, "merge", "-q", "origin/main")
    return clone


def failing(base: Path) -> Path:
    """Its remote has gone: the engine's fetch (and `status --fetch`) fails."""
    clone = make_remote_and_clone(base, "failing")[1]
    git(clone, "remote", "set-url", "origin", str(base / "gone.git"))
    return clone


# name -> (how to make it, the state word, what the table and `status` say)
CASES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "in-sync": (in_sync, "in-sync", "✓ in sync"),
    "behind": (behind, "behind", "↓ behind"),
    "ahead": (ahead, "ahead", "↑ ahead"),
    "diverged": (diverged, "diverged", "⇅ diverged"),
    "dirty": (dirty, "dirty", "● dirty"),
    "detached": (detached, "detached", "· detached"),
    "merging": (merging, "conflict", "⚠ merging 0/1"),
    "failing": (failing, "failing", "↻ "),
    "upstream-gone": (ODD_REPOS["upstream-gone"], "upstream-gone", "✗ upstream gone"),
    "empty-clone": (ODD_REPOS["empty-clone"], "empty", "∅ empty, no commits yet"),
    "empty-repo": (ODD_REPOS["empty-repo"], "empty", "∅ empty, no commits yet"),
    "no-remote": (ODD_REPOS["no-remote"], "no-remote", "· no remote"),
    "garbage-ref": (ODD_REPOS["garbage-ref"], "error", "✗ broken branch: refs/heads/main"),
    "bare": (ODD_REPOS["bare"], "bare", "▪ bare repo"),
    "stale-submodules": (ODD_REPOS["stale-submodules"], "stale-submodules", "◐ stale submodules"),
}
# No retry and no poll comes during the test: each face sees the states as they are set up.
SLOW_RETRY = RetryPolicy(base=600.0, cap=600.0, breaker_threshold=5, breaker_cooldown=600.0)


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("faces")
    made = {}
    for name, (make, _, _) in CASES.items():
        folder = base / name
        folder.mkdir()
        made[name] = make(folder)
    return made


def config_of(repos: dict[str, Path]) -> Config:
    specs = tuple(RepoSpec(path=path, name=name) for name, path in repos.items())
    return Config(defaults=Defaults(poll_interval=1e7, fetch_timeout=20.0), repos=specs)


@pytest.fixture()
async def engine(repos: dict[str, Path], tmp_path: Path) -> AsyncIterator[Engine]:
    engine = Engine(
        config_of(repos), state_dir=tmp_path / "state", watch_files=False, retry=SLOW_RETRY
    )
    await engine.start()
    try:
        deadline = time.monotonic() + 30
        while len(engine.statuses) < len(repos):
            assert time.monotonic() < deadline, "the first sweep did not end"
            await engine.refresh_all()
        assert not (await engine.fetch("failing")).ok  # the one fetch whose outcome matters
        yield engine
    finally:
        await engine.stop()


async def test_every_face_says_the_same_state(
    engine: Engine, repos: dict[str, Path], tmp_path: Path
) -> None:
    now = time.time()
    table = {
        name: state_label(RepoRow(name, None, status, engine.states[name]), now)[0]
        for name, status in engine.statuses.items()
    }
    watch = {name: describe(StatusChanged(status)) for name, status in engine.statuses.items()}
    api, metrics = await _served(engine)
    status_json, status_table = _status_command(repos, tmp_path)
    words = Counter(word for _, word, _ in CASES.values())
    assert metrics == {word: float(n) for word, n in words.items()}
    for name, (_, word, label) in CASES.items():
        assert table[name].startswith(label), (name, table[name])
        assert api[name] == word, (name, api[name])
        assert status_json[name] == word, (name, status_json[name])
        assert label in status_table[name], (name, status_table[name])
        assert f"{name}: {label}" in watch[name], (name, watch[name])


async def _served(engine: Engine) -> tuple[dict[str, str], dict[str, float]]:
    """`state` of each repo in /api/repos, and the non-zero `gitwatch_repos{state}` counts."""
    config = engine.config
    services = await start_services(engine, config, listen="127.0.0.1:0", env={})
    try:
        async with aiohttp.ClientSession(base_url=services.url) as session:
            async with session.get("/api/repos") as response:
                listing: list[dict[str, Any]] = await response.json()
            async with session.get("/metrics") as response:
                text = await response.text()
    finally:
        await services.stop()
    counts = {
        sample.labels["state"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gitwatch_repos" and sample.value
    }
    return {repo["name"]: repo["state"] for repo in listing}, counts


def _status_command(
    repos: dict[str, Path], tmp_path: Path
) -> tuple[dict[str, str], dict[str, str]]:
    """`status --fetch --json`'s state of each repo, then `status`'s table row of each."""
    config = tmp_path / "gitwatch.yaml"
    config.write_text(
        "repos:\n"
        + "".join(f"  - path: {path}\n    name: {name}\n" for name, path in repos.items())
    )
    env = {**os.environ, "GITWATCH_TUI_CONFIG": str(config), "NO_COLOR": "1", "COLUMNS": "300",
           "XDG_STATE_HOME": str(tmp_path / "cli-state")}  # fmt: skip

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "gitwatch_tui", "status", *args],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        return result.stdout

    rows = [json.loads(line) for line in run("--json", "--fetch").splitlines()]
    lines = run("--fetch").splitlines()
    table = {
        name: next((line for line in lines if line.startswith(f"{name} ")), "") for name in repos
    }
    return {row["name"]: row["state"] for row in rows}, table
