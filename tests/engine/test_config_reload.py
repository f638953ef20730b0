"""Config hot reload against real files and real repos: only a finished, changed file is applied.

Each test writes the file the way a tool or an editor does (truncate then write, a slow write,
rename over it, a Kubernetes ConfigMap's `..data` symlink swap, a touch storm) while a real
engine follows it, and checks what the engine applied and what it reported.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.engine.config_watch import DEFAULT_SETTLE
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import (
    ConfigError,
    ConfigReloaded,
    Event,
    LogLine,
    StatusRemoved,
)
from tests.conftest import make_remote_and_clone
from tests.engine.test_engine import start_engine, wait_for


class Followed:
    """Every event of an engine, and the smallest watch list seen at any of them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.events: list[Event] = []
        self.fewest_repos = len(engine.specs)
        engine.subscribe(self._seen)

    def _seen(self, event: Event) -> None:
        self.events.append(event)
        self.fewest_repos = min(self.fewest_repos, len(self.engine.specs))

    def of(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]

    def reloads(self) -> list[ConfigReloaded]:
        return [event for event in self.events if isinstance(event, ConfigReloaded)]

    def errors(self) -> list[str]:
        return [event.message for event in self.events if isinstance(event, ConfigError)]

    def logged(self) -> list[str]:
        return [event.message for event in self.events if isinstance(event, LogLine)]

    def reloaded_with(self, added: tuple[str, ...]) -> bool:
        return any(event.added == added for event in self.reloads())


def repos_yaml(*paths: Path) -> str:
    return "defaults: {poll_interval: 1h}\nrepos:\n" + "".join(f"  - path: {p}\n" for p in paths)


async def engine_on(config_file: Path, tmp_path: Path) -> tuple[Engine, Followed]:
    engine = await start_engine(load_config(config_file), tmp_path, config_path=config_file)
    followed = Followed(engine)
    await wait_for(lambda: set(engine.statuses) == set(engine.specs) and engine.following_config)
    return engine, followed


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path]:
    return make_remote_and_clone(tmp_path, "one")[1], make_remote_and_clone(tmp_path, "two")[1]


@pytest.mark.parametrize("pause", [0.1, DEFAULT_SETTLE * 2.5], ids=["within", "beyond"])
async def test_truncate_then_write_never_applies_the_empty_file(
    tmp_path: Path, clones: tuple[Path, Path], pause: float
) -> None:
    one, two = clones
    config_file = tmp_path / "config.yaml"
    config_file.write_text(repos_yaml(one))
    engine, followed = await engine_on(config_file, tmp_path)
    try:
        config_file.write_text("")  # step one: truncated, nothing written yet
        await asyncio.sleep(pause)  # the writer is slow (the engine must not care)
        config_file.write_text(repos_yaml(one, two))
        await wait_for(lambda: "two" in engine.specs)
        assert followed.fewest_repos == 1 and not followed.of(StatusRemoved)
        assert [(r.added, r.removed) for r in followed.reloads()] == [(("two",), ())]
        if pause < DEFAULT_SETTLE:  # waited out: not even reported
            assert followed.errors() == []
        else:  # settled while empty: refused, said where, the last good config kept
            [error] = followed.errors()
            assert f"{config_file}:1:1: " in error and "repos: []" in error
        assert set(engine.specs) == {"one", "two"}
    finally:
        await engine.stop()


async def test_a_half_written_file_is_waited_for_not_reported(
    tmp_path: Path, clones: tuple[Path, Path]
) -> None:
    one, two = clones
    config_file = tmp_path / "config.yaml"
    config_file.write_text(repos_yaml(one))
    engine, followed = await engine_on(config_file, tmp_path)
    try:
        whole = repos_yaml(one, two).replace(f"path: {two}", f"{{path: '{two}', name: two}}")
        cut = whole.index("{path:") + 8
        config_file.write_text(whole[:cut])  # `{path: '/...` : invalid YAML for now
        await asyncio.sleep(0.1)
        with config_file.open("a") as rest:
            rest.write(whole[cut:])
        await wait_for(lambda: "two" in engine.specs)
        assert followed.errors() == [] and not followed.of(StatusRemoved)
        assert len(followed.reloads()) == 1 and set(engine.specs) == {"one", "two"}
    finally:
        await engine.stop()


def save_by_rename(config_file: Path, text: str) -> None:
    """How most editors save: write a temporary file beside it, then rename it over the file."""
    temporary = config_file.with_name(f".{config_file.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, config_file)


async def test_an_editor_save_by_rename_is_one_reload_and_an_unchanged_save_none(
    tmp_path: Path, clones: tuple[Path, Path]
) -> None:
    one, two = clones
    config_file = tmp_path / "config.yaml"
    config_file.write_text(repos_yaml(one))
    engine, followed = await engine_on(config_file, tmp_path)
    try:
        save_by_rename(config_file, repos_yaml(one, two))
        await wait_for(lambda: followed.reloaded_with(("two",)))
        save_by_rename(config_file, repos_yaml(one, two))  # saved again, nothing changed
        # Not a synchronisation: it gives a reload of the unchanged save time to show up.
        await asyncio.sleep(DEFAULT_SETTLE * 3)
        save_by_rename(config_file, repos_yaml(two))
        await wait_for(lambda: any(r.removed == ("one",) for r in followed.reloads()))
        assert [(r.added, r.removed) for r in followed.reloads()] == [
            (("two",), ()),
            ((), ("one",)),
        ]
        assert followed.errors() == []
    finally:
        await engine.stop()


class ConfigMapVolume:
    """A ConfigMap mounted as the kubelet lays it out: `config.yaml -> ..data/config.yaml`,
    `..data -> ..<timestamp>` and the files in that timestamped folder. An update writes a new
    timestamped folder, renames a new `..data` symlink over the old one, then removes the old
    folder: the file named `config.yaml` itself is never written."""

    def __init__(self, mount: Path, text: str) -> None:
        self.mount = mount
        self.version = 0
        mount.mkdir()
        self._current = self._write_version(text)
        (mount / "..data").symlink_to(self._current.name)
        (mount / "config.yaml").symlink_to("..data/config.yaml")

    @property
    def config_file(self) -> Path:
        return self.mount / "config.yaml"

    def _write_version(self, text: str) -> Path:
        self.version += 1
        folder = self.mount / f"..2026_01_0{self.version}_12_00_00.00000000{self.version}"
        folder.mkdir()
        (folder / "config.yaml").write_text(text)
        return folder

    def update(self, text: str) -> None:
        old, self._current = self._current, self._write_version(text)
        (self.mount / "..data_tmp").symlink_to(self._current.name)
        os.rename(self.mount / "..data_tmp", self.mount / "..data")  # atomic swap
        shutil.rmtree(old)


async def test_a_configmap_update_swapping_the_data_symlink_is_applied(
    tmp_path: Path, clones: tuple[Path, Path]
) -> None:
    one, two = clones
    volume = ConfigMapVolume(tmp_path / "mounted", repos_yaml(one))
    engine, followed = await engine_on(volume.config_file, tmp_path)
    try:
        volume.update(repos_yaml(one, two))
        await wait_for(lambda: followed.reloaded_with(("two",)))
        volume.update(repos_yaml(two))  # followed on: the target is resolved at every event
        await wait_for(lambda: any(r.removed == ("one",) for r in followed.reloads()))
        assert set(engine.specs) == {"two"} and followed.errors() == []
        assert len(followed.reloads()) == 2
    finally:
        await engine.stop()


async def test_a_config_symlinked_from_elsewhere_is_followed_where_it_points(
    tmp_path: Path, clones: tuple[Path, Path]
) -> None:
    one, two = clones
    dotfiles, other = tmp_path / "dotfiles", tmp_path / "other"
    dotfiles.mkdir(), other.mkdir()
    (dotfiles / "gitwatch.yaml").write_text(repos_yaml(one))
    (tmp_path / "conf").mkdir()
    config_file = tmp_path / "conf" / "config.yaml"
    config_file.symlink_to(dotfiles / "gitwatch.yaml")
    engine, followed = await engine_on(config_file, tmp_path)
    try:
        (dotfiles / "gitwatch.yaml").write_text(repos_yaml(one, two))  # edited where it lives
        await wait_for(lambda: followed.reloaded_with(("two",)))
        (other / "gitwatch.yaml").write_text(repos_yaml(two))
        (tmp_path / "conf" / "new-link").symlink_to(other / "gitwatch.yaml")
        os.replace(tmp_path / "conf" / "new-link", config_file)  # points elsewhere now
        await wait_for(lambda: set(engine.specs) == {"two"})
        (other / "gitwatch.yaml").write_text(repos_yaml(one, two))  # followed there too
        await wait_for(lambda: set(engine.specs) == {"one", "two"})
        assert len(followed.reloads()) == 3 and followed.errors() == []
    finally:
        await engine.stop()


async def test_a_touch_storm_is_no_reload_and_a_change_inside_it_one(
    tmp_path: Path, clones: tuple[Path, Path]
) -> None:
    one, two = clones
    config_file = tmp_path / "config.yaml"
    config_file.write_text(repos_yaml(one))
    engine, followed = await engine_on(config_file, tmp_path)
    try:
        for _ in range(20):  # `touch`, a sync tool re-writing times, a build that rewrites it
            os.utime(config_file)
            await asyncio.sleep(0.05)
        config_file.write_text(repos_yaml(one, two))
        for _ in range(10):
            os.utime(config_file)
            await asyncio.sleep(0.05)
        await wait_for(lambda: followed.reloaded_with(("two",)))
        # The storm's events come before the change's: a reload for one of them came first.
        assert [r.added for r in followed.reloads()] == [("two",)]
        assert [line for line in followed.logged() if "config" in line] == []
    finally:
        await engine.stop()


async def test_a_reload_to_no_repos_is_refused_unless_the_file_says_repos_empty(
    tmp_path: Path, clones: tuple[Path, Path]
) -> None:
    one, _ = clones
    config_file = tmp_path / "config.yaml"
    config_file.write_text(repos_yaml(one))
    engine, followed = await engine_on(config_file, tmp_path)
    try:
        config_file.write_text("# repos:\n#   - path: somewhere\n")
        await wait_for(lambda: len(followed.errors()) == 1)
        assert f"{config_file}:1:1: " in followed.errors()[0]
        config_file.write_text("defaults: {poll_interval: 1h}\nrepos:\n")  # left empty
        await wait_for(lambda: len(followed.errors()) == 2)
        assert f"{config_file}:2:1: " in followed.errors()[1]
        assert sum(f"{config_file}:2:1: " in line for line in followed.logged()) == 1
        assert set(engine.specs) == {"one"} and not followed.of(StatusRemoved)
        assert followed.reloads() == []
        config_file.write_text("defaults: {poll_interval: 1h}\nrepos: []  # none, on purpose\n")
        await wait_for(lambda: followed.reloads() != [])
        assert followed.reloads()[0].removed == ("one",) and engine.specs == {}
        assert followed.of(StatusRemoved) == [StatusRemoved("one")]
    finally:
        await engine.stop()
