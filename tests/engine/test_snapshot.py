"""The status snapshot: kept per kind of process and watch list, shown at the next start until
each repo is read again, and a broken file ignored with a warning (and replaced)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.models import RepoSpec, RepoStatus, iso_time
from gitwatch_tui.core.status import collect_statuses
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, LogLine, StatusChanged
from gitwatch_tui.engine.snapshot import (
    SNAPSHOT_FILENAME,
    Known,
    StatusSnapshot,
    likely_changed_first,
    read_known,
    snapshot_key,
)
from tests.conftest import commit_file, git
from tests.engine.test_engine import config_for, start_engine, wait_for


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    commit_file(path, "a.txt", "a\n")
    return path


def block_status(repo: Path) -> None:
    """From now on `git status` in `repo` hangs (until killed): it reads a FIFO for an ignore
    file."""
    (repo / "sub").mkdir()
    os.mkfifo(repo / "sub" / ".gitignore")


def read_now(*specs: RepoSpec) -> list[RepoStatus]:
    return collect_statuses(specs, jobs=2, timeout=10)


# -- the file -----------------------------------------------------------------------------------


def test_statuses_come_back_as_saved_for_the_same_kind_and_watch_list(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in ("a", "b")]
    (specs[1].path / "new.txt").write_text("x\n")
    path = tmp_path / "state" / SNAPSHOT_FILENAME
    snapshot = StatusSnapshot(path, snapshot_key("dashboard", specs))
    when = time.time() - 60
    snapshot.save([Known(status, when) for status in read_now(*specs)])
    snapshot.close()
    again = StatusSnapshot(path, snapshot_key("dashboard", reversed(specs)))  # order: no matter
    known = again.load(specs)
    again.close()
    assert again.warnings == []
    assert sorted(known) == ["a", "b"]
    assert known["b"].status.untracked == 1 and known["b"].read_at == when
    assert known["a"].status == read_now(specs[0])[0]
    assert read_known(path, snapshot_key("dashboard", specs), specs) == known


def test_watch_lists_not_written_for_a_month_are_forgotten(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / "a"), "a")]
    path = tmp_path / SNAPSHOT_FILENAME
    old, recent = StatusSnapshot(path, "old"), StatusSnapshot(path, "recent")
    old.save([Known(read_now(*specs)[0], time.time() - 31 * 86400)])
    recent.save([Known(read_now(*specs)[0], time.time() - 29 * 86400)])
    for snapshot in (old, recent):
        snapshot.close()
    assert read_known(path, "old", specs) != {}
    StatusSnapshot(path, "any").close()
    assert read_known(path, "old", specs) == {} and read_known(path, "recent", specs) != {}


def test_another_kind_or_watch_list_has_rows_of_its_own(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in ("a", "b")]
    path = tmp_path / SNAPSHOT_FILENAME
    dashboard = StatusSnapshot(path, snapshot_key("dashboard", specs))
    daemon = StatusSnapshot(path, snapshot_key("daemon", specs))  # the same file, at once
    dashboard.save([Known(status, 1.0) for status in read_now(*specs)])
    daemon.save([Known(read_now(specs[0])[0], 2.0)])
    assert {name: k.read_at for name, k in dashboard.load(specs).items()} == {"a": 1.0, "b": 1.0}
    assert {name: k.read_at for name, k in daemon.load(specs).items()} == {"a": 2.0}
    fewer = StatusSnapshot(path, snapshot_key("dashboard", specs[:1]))
    assert fewer.load(specs[:1]) == {}
    for snapshot in (dashboard, daemon, fewer):
        snapshot.close()


def foreign_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()


def older_schema(path: Path) -> None:
    StatusSnapshot(path, "k").close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.close()


BROKEN = {
    "corrupt": lambda path: path.write_bytes(b"SQLite format 3\0" + os.urandom(3000)),
    "not a database": lambda path: path.write_text("hello\n"),
    "foreign": foreign_database,
    "older schema": older_schema,
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_file_is_ignored_with_a_warning_and_replaced(tmp_path: Path, kind: str) -> None:
    specs = [RepoSpec(make_repo(tmp_path / "a"), "a")]
    path = tmp_path / SNAPSHOT_FILENAME
    BROKEN[kind](path)
    assert read_known(path, snapshot_key("dashboard", specs), specs) == {}
    snapshot = StatusSnapshot(path, snapshot_key("dashboard", specs))
    assert len(snapshot.warnings) == 1 and "ignored and replaced" in snapshot.warnings[0]
    assert snapshot.load(specs) == {}
    when = time.time()
    snapshot.save([Known(read_now(*specs)[0], when)])
    snapshot.close()
    again = StatusSnapshot(path, snapshot_key("dashboard", specs))
    assert again.warnings == [] and again.load(specs)["a"].read_at == when
    again.close()


def test_the_likely_changed_are_read_first(tmp_path: Path) -> None:
    names = ("clean", "unknown", "committed", "dirty")
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in names]
    (tmp_path / "dirty" / "new.txt").write_text("x\n")
    statuses = {status.name: status for status in read_now(*specs)}
    read_at = time.time() + 1  # every HEAD and index as written before the read
    known = {n: Known(statuses[n], read_at) for n in names if n != "unknown"}
    commit_file(tmp_path / "committed", "b.txt", "b\n")  # after the read: its index is newer
    later = time.time() + 5
    os.utime(tmp_path / "committed" / ".git" / "index", (later, later))
    order = [specs[i].name for i in likely_changed_first(specs, known)]
    assert order == ["unknown", "committed", "dirty", "clean"]


# -- the engine ---------------------------------------------------------------------------------


async def run_once(specs: list[RepoSpec], tmp_path: Path) -> None:
    """A dashboard's engine that reads every repo, then stops (writing its snapshot)."""
    engine = await start_engine(config_for(*specs), tmp_path, snapshot="dashboard")
    await wait_for(lambda: len(engine.statuses) == len(specs))
    await engine.stop()


async def test_the_next_start_shows_the_snapshot_until_each_repo_is_read_again(
    tmp_path: Path,
) -> None:
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in ("quick", "stuck")]
    (tmp_path / "stuck" / "new.txt").write_text("x\n")
    await run_once(specs, tmp_path)
    block_status(tmp_path / "stuck")
    seen: list[Event] = []
    config = config_for(*specs, status_timeout=120.0)
    engine = Engine(config, state_dir=tmp_path / "state", watch_files=False, snapshot="dashboard")
    engine.subscribe(seen.append)
    await engine.start()
    try:
        await wait_for(lambda: engine.statuses["quick"].as_of is None, within=10)
        shown = [e.status for e in seen if isinstance(e, StatusChanged)]
        # Both rows came from the snapshot before any status was read.
        assert [(s.name, s.as_of is not None) for s in shown[:2]] == [
            ("quick", True),
            ("stuck", True),
        ]
        stuck = engine.statuses["stuck"]
        assert stuck.as_of is not None and time.time() - 60 < stuck.as_of < time.time()
        assert stuck.untracked == 1 and stuck.error is None  # as it was, still being read
        # Every face says so (/api is to_json): the stale one carries its time, a fresh one not.
        assert stuck.to_json()["as_of"] == iso_time(stuck.as_of)
        assert "as_of" not in engine.statuses["quick"].to_json()
    finally:
        await engine.stop()


async def test_a_broken_snapshot_is_said_in_the_log_and_the_repos_read_as_usual(
    tmp_path: Path,
) -> None:
    specs = [RepoSpec(make_repo(tmp_path / "a"), "a")]
    state = tmp_path / "state"
    state.mkdir()
    (state / SNAPSHOT_FILENAME).write_text("not sqlite at all\n")
    seen: list[Event] = []
    engine = Engine(config_for(*specs), state_dir=state, watch_files=False, snapshot="dashboard")
    engine.subscribe(seen.append)
    await engine.start()
    try:
        await wait_for(lambda: "a" in engine.statuses)
        assert engine.statuses["a"].as_of is None
    finally:
        await engine.stop()
    warnings = [e.message for e in seen if isinstance(e, LogLine) and e.level == "warning"]
    assert len(warnings) == 1 and "ignored and replaced" in warnings[0]
    known = read_known(state / SNAPSHOT_FILENAME, snapshot_key("dashboard", specs), specs)
    assert list(known) == ["a"]  # written anew at stop


async def test_a_new_watch_list_is_kept_under_its_own_key_for_the_next_start(
    tmp_path: Path,
) -> None:
    first = [RepoSpec(make_repo(tmp_path / "one" / "a"), "a")]
    make_repo(tmp_path / "two" / "b")
    engine = await start_engine(config_for(*first), tmp_path, snapshot="dashboard")
    try:
        await wait_for(lambda: "a" in engine.statuses)
        await engine.scan_folders([tmp_path / "two"])  # the folder picker: another list
        await wait_for(lambda: list(engine.statuses) == ["b"])
    finally:
        await engine.stop()
    specs = list(engine.specs.values())
    known = read_known(
        tmp_path / "state" / SNAPSHOT_FILENAME, snapshot_key("dashboard", specs), specs
    )
    assert list(known) == ["b"]
