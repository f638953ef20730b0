"""The status snapshot: kept per kind of process and watch list, shown at the next start until
each repo is read again, and a broken file ignored with a warning (and replaced)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.models import RepoSpec, RepoStatus, ScanRoot, iso_time
from gitwatch_tui.core.status import collect_statuses
from gitwatch_tui.engine.engine import Engine
from gitwatch_tui.engine.events import Event, LogLine, StatusChanged, StatusRemoved
from gitwatch_tui.engine.snapshot import (
    Known,
    StatusSnapshot,
    likely_changed_first,
    matching,
    read_known,
    snapshot_key,
)
from gitwatch_tui.engine.state_dir import SNAPSHOT_FILENAME
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


def key_of(*specs: RepoSpec, kind: str = "dashboard") -> str:
    return snapshot_key(kind, config_for(*specs))


def fresh(status: RepoStatus) -> RepoStatus:
    return replace(status, as_of=None)


def test_statuses_come_back_as_saved_for_the_same_kind_and_watch_list(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in ("a", "b")]
    (specs[1].path / "new.txt").write_text("x\n")
    path = tmp_path / "state" / SNAPSHOT_FILENAME
    snapshot = StatusSnapshot(path, key_of(*specs))
    when = time.time() - 60
    snapshot.save([Known(status, when) for status in read_now(*specs)])
    snapshot.close()
    again = StatusSnapshot(path, key_of(*reversed(specs)))  # order: no matter
    known = again.load()
    again.close()
    assert again.warnings == []
    assert sorted(known) == ["a", "b"]
    assert known["b"].status.untracked == 1 and known["b"].read_at == when
    assert known["b"].status.as_of == when  # shown as of when it was read
    assert fresh(known["a"].status) == read_now(specs[0])[0]
    assert read_known(path, key_of(*specs)) == known


def test_the_key_is_what_the_watch_list_is_resolved_from(tmp_path: Path) -> None:
    a, b = (RepoSpec(tmp_path / n, n) for n in ("a", "b"))
    scanned = Config(scan=(ScanRoot(tmp_path, depth=2),))
    assert key_of(a, b) == key_of(b, a) != key_of(a)
    assert snapshot_key("dashboard", scanned) != snapshot_key("daemon", scanned)
    deeper = Config(scan=(ScanRoot(tmp_path, depth=3),))
    assert snapshot_key("dashboard", scanned) != snapshot_key("dashboard", deeper)
    # How rows are grouped is not what is watched: the same key, regrouped when matched.
    grouped = Config(scan=(ScanRoot(tmp_path, depth=2, group="work"),))
    assert snapshot_key("dashboard", scanned) == snapshot_key("dashboard", grouped)


def test_what_is_known_is_matched_to_the_watch_list_by_path(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in ("a", "b", "c")]
    known = {s.name: Known(s, 1.0) for s in read_now(*specs)}
    now = [
        RepoSpec(specs[0].path, "a", group="team"),  # regrouped
        RepoSpec(tmp_path / "elsewhere", "b"),  # the same name, another repo
        specs[2],
    ]
    matched = matching(known, now)
    assert sorted(matched) == ["a", "c"]
    assert matched["a"].status.group == "team" and matched["c"] == known["c"]


def test_watch_lists_not_written_for_a_month_are_forgotten(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / "a"), "a")]
    path = tmp_path / SNAPSHOT_FILENAME
    old, recent = StatusSnapshot(path, "old"), StatusSnapshot(path, "recent")
    for snapshot in (old, recent):
        snapshot.save([Known(read_now(*specs)[0], time.time())])
        snapshot.close()
    conn = sqlite3.connect(path)
    with conn:
        for key, days in (("old", 31), ("recent", 29)):
            when = time.time() - days * 86400
            conn.execute("UPDATE watch_list SET written_at = ? WHERE key = ?", (when, key))
    conn.close()
    assert read_known(path, "old") != {}
    StatusSnapshot(path, "any").close()
    assert read_known(path, "old") == {} and read_known(path, "recent") != {}


def test_another_kind_or_watch_list_has_rows_of_its_own(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / n), n) for n in ("a", "b")]
    path = tmp_path / SNAPSHOT_FILENAME
    dashboard = StatusSnapshot(path, key_of(*specs))
    daemon = StatusSnapshot(path, key_of(*specs, kind="daemon"))  # the same file, at once
    dashboard.save([Known(status, 1.0) for status in read_now(*specs)])
    daemon.save([Known(read_now(specs[0])[0], 2.0)])
    assert {name: k.read_at for name, k in dashboard.load().items()} == {"a": 1.0, "b": 1.0}
    assert {name: k.read_at for name, k in daemon.load().items()} == {"a": 2.0}
    fewer = StatusSnapshot(path, key_of(*specs[:1]))
    assert fewer.load() == {}
    for snapshot in (dashboard, daemon, fewer):
        snapshot.close()


def test_a_document_of_other_fields_is_not_used(tmp_path: Path) -> None:
    specs = [RepoSpec(make_repo(tmp_path / "a"), "a")]
    path = tmp_path / SNAPSHOT_FILENAME
    snapshot = StatusSnapshot(path, "k")
    snapshot.save([Known(read_now(*specs)[0], 1.0)])
    conn = sqlite3.connect(path)
    with conn:
        (data,) = conn.execute("SELECT data FROM watch_list").fetchone()
        document = json.loads(data)
        good = document["rows"][0]
        document["rows"] = [["not", "a", "status"], good]
        conn.execute("UPDATE watch_list SET data = ?", (json.dumps(document),))
    assert list(snapshot.load()) == ["a"]  # the bad row is skipped
    document["fields"] = [*document["fields"], "a_new_field"]
    with conn:
        conn.execute("UPDATE watch_list SET data = ?", (json.dumps(document),))
    conn.close()
    assert snapshot.load() == {}
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


def first_schema(path: Path) -> None:
    """The first version's file: one row per repo, in a table of another name."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE status (key TEXT, path TEXT, read_at REAL, data TEXT);"
        "PRAGMA application_id = 1735881588; PRAGMA user_version = 1;"
    )
    conn.close()


def test_the_first_schemas_file_is_replaced_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / SNAPSHOT_FILENAME
    first_schema(path)
    snapshot = StatusSnapshot(path, "k")
    assert snapshot.warnings == [] and snapshot.load() == {}
    snapshot.save([Known(read_now(RepoSpec(make_repo(tmp_path / "a"), "a"))[0], 1.0)])
    snapshot.close()
    assert list(read_known(path, "k")) == ["a"]


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
    assert read_known(path, key_of(*specs)) == {}
    snapshot = StatusSnapshot(path, key_of(*specs))
    assert len(snapshot.warnings) == 1 and "ignored and replaced" in snapshot.warnings[0]
    assert snapshot.load() == {}
    when = time.time()
    snapshot.save([Known(read_now(*specs)[0], when)])
    snapshot.close()
    again = StatusSnapshot(path, key_of(*specs))
    assert again.warnings == [] and again.load()["a"].read_at == when
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
    known = read_known(state / SNAPSHOT_FILENAME, key_of(*specs))
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
    known = read_known(
        tmp_path / "state" / SNAPSHOT_FILENAME, snapshot_key("dashboard", engine.config)
    )
    assert list(known) == ["b"]


async def test_the_snapshot_is_shown_before_the_watch_list_is_resolved(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for name in ("kept", "gone"):
        make_repo(work / name)
    config = Config(defaults=config_for().defaults, scan=(ScanRoot(work, depth=1),))
    first = await start_engine(config, tmp_path, snapshot="dashboard")
    await wait_for(lambda: len(first.statuses) == 2)
    await first.stop()
    shutil.rmtree(work / "gone")
    seen: list[tuple[Event, int]] = []  # each event, and how many repos were watched then
    engine = Engine(config, state_dir=tmp_path / "state", watch_files=False, snapshot="dashboard")
    engine.subscribe(lambda event: seen.append((event, len(engine.specs))))
    await engine.start()
    try:
        await wait_for(lambda: engine.statuses["kept"].as_of is None)
        shown = [(e.status.name, watched) for e, watched in seen if isinstance(e, StatusChanged)]
        # Both rows, as the last run left them, before the folder was searched again …
        assert sorted(shown[:2]) == [("gone", 0), ("kept", 0)]
        # … and the one no longer there went once it was.
        removed = [e.repo for e, _ in seen if isinstance(e, StatusRemoved)]
        assert removed == ["gone"] and sorted(engine.statuses) == ["kept"]
    finally:
        await engine.stop()
