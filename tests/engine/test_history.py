"""Sync history: round trip, order, bounds, several writers at once, and a bad file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.results import UndoRecord
from gitwatch_tui.engine.history import (
    SCHEMA_VERSION,
    FetchTimes,
    History,
    HistoryEntry,
    HistoryUnavailable,
)
from gitwatch_tui.engine.state_dir import default_state_dir


def entry(n: int, repo: str = "alpha", **kw: object) -> HistoryEntry:
    fields: dict[str, object] = {"time": 1000.0 + n, "repo": repo, "action": "fetch"}
    fields.update(ok=True, duration=0.5)
    fields.update(kw)
    return HistoryEntry(**fields)  # type: ignore[arg-type]


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        rows: int = conn.execute("SELECT count(*) FROM sync_history").fetchone()[0]
    conn.close()
    return rows


def test_round_trip_and_file_setup(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deep" / "history.sqlite3"
    full = HistoryEntry(
        time=1234.5,
        repo="alpha",
        action="pull",
        ok=False,
        duration=2.25,
        error="not possible to fast-forward",
        old_head="a" * 40,
        new_head="b" * 40,
        detail="ff-only",
    )
    with History(path) as history:
        history.record(full)
        history.record(entry(1, action="clone"))
        assert history.recent() == [full, entry(1, action="clone")]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    with History(path) as again:  # reopening an existing file keeps its rows
        assert again.recent(limit=1) == [full]


def test_newest_first_and_per_repo(tmp_path: Path) -> None:
    with History(tmp_path / "h.db") as history:
        for n in (3, 1, 2):
            history.record(entry(n, "alpha"))
        history.record(entry(2, "beta"))
        history.record(entry(5, "beta"))
        assert [e.time for e in history.recent()] == [1005, 1003, 1002, 1002, 1001]
        # Equal times: the later insert comes first.
        assert [e.repo for e in history.recent()][2:4] == ["beta", "alpha"]
        assert [e.time for e in history.recent("alpha")] == [1003, 1002, 1001]
        assert [e.time for e in history.recent("beta", limit=1)] == [1005]
        assert history.recent("gamma") == []


def test_bound_holds_after_many_inserts(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with History(path, max_rows=200) as history:
        for n in range(1000):
            history.record(entry(n))
            if n % 97 == 0:
                assert count_rows(path) <= 200
        rows = count_rows(path)
        assert 198 <= rows <= 200  # pruned in batches of 1%
        assert [e.time for e in history.recent(limit=rows)] == [
            1000.0 + n for n in range(999, 999 - rows, -1)
        ]
    with History(path, max_rows=10) as smaller:  # a lower bound is applied on the next insert
        smaller.record(entry(2000))
        assert count_rows(path) == 10
        assert smaller.recent(limit=1)[0].time == 3000.0


def test_fetch_times_say_the_last_success_and_the_failures_since(tmp_path: Path) -> None:
    with History(tmp_path / "h.db", max_rows=10) as history:
        history.record_fetch("/r/a", ok=True, when=100.0)
        history.record_fetch("/r/a", ok=False, when=200.0, error="unreachable")
        history.record_fetch("/r/b", ok=False, when=150.0, error="denied")
        assert history.fetch_times() == {
            "/r/a": FetchTimes(100.0, 200.0, "unreachable"),
            "/r/b": FetchTimes(None, 150.0, "denied"),
        }
        history.record_fetch("/r/a", ok=True, when=300.0)  # works again: the failure is over
        history.record_fetch("/r/a", ok=False, when=250.0, error="late")  # an older attempt
        history.record_fetch("/r/b", ok=True, when=120.0)  # older than its failure: stays
        assert history.fetch_times() == {
            "/r/a": FetchTimes(300.0, None, None),
            "/r/b": FetchTimes(120.0, 150.0, "denied"),
        }
        for n in range(100):  # the bounded log is pruned; the fetch times are not
            history.record(entry(n))
        assert history.fetch_times()["/r/a"].last_success == 300.0


def test_a_first_version_file_gains_fetch_times_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with sqlite3.connect(path) as conn:  # the schema as version 1 left it
        conn.executescript(
            "CREATE TABLE sync_history (id INTEGER PRIMARY KEY, time REAL NOT NULL, "
            "repo TEXT NOT NULL, action TEXT NOT NULL, ok INTEGER NOT NULL, duration REAL NOT "
            "NULL, error TEXT, old_head TEXT, new_head TEXT, detail TEXT);"
            "INSERT INTO sync_history (time, repo, action, ok, duration) "
            "VALUES (1.0, 'alpha', 'fetch', 1, 0.5);"
            "PRAGMA user_version = 1;"
        )
    conn.close()
    with History(path) as history:
        assert [e.repo for e in history.recent()] == ["alpha"]
        history.record_fetch("/r/a", ok=True, when=5.0)
        assert history.fetch_times() == {"/r/a": FetchTimes(5.0)}


def test_a_second_version_file_gains_undo_records_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with sqlite3.connect(path) as conn:  # the schema as version 2 left it
        conn.executescript(
            "CREATE TABLE sync_history (id INTEGER PRIMARY KEY, time REAL NOT NULL, "
            "repo TEXT NOT NULL, action TEXT NOT NULL, ok INTEGER NOT NULL, duration REAL NOT "
            "NULL, error TEXT, old_head TEXT, new_head TEXT, detail TEXT);"
            "CREATE TABLE fetch_times (path TEXT PRIMARY KEY, last_success REAL, "
            "last_failure REAL, last_error TEXT);"
            "INSERT INTO sync_history (time, repo, action, ok, duration, detail) "
            "VALUES (1.0, 'alpha', 'pull', 1, 0.5, 'undo: git reset --keep abc');"
            "INSERT INTO fetch_times (path, last_success) VALUES ('/r/a', 3.0);"
            "PRAGMA user_version = 2;"
        )
    conn.close()
    with History(path) as history:
        assert [e.detail for e in history.recent()] == ["undo: git reset --keep abc"]
        assert history.fetch_times() == {"/r/a": FetchTimes(3.0)}
        assert history.last_undo("alpha") is None
        record = UndoRecord("stash-drop", "restore-stash", "git stash store", stash="c" * 40)
        history.record_undo("alpha", record, 9.0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
    with History(path) as again:
        stored = again.last_undo("alpha")
        assert stored is not None and stored.record == record and not stored.undone


def test_undo_records_round_trip_typed_and_only_the_last_per_repo_is_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.db"
    resolve = UndoRecord(
        "resolve", "unresolve", "git checkout -m -- 'a b.txt'", branch="main", head="d" * 40,
        paths=("a b.txt", "c.txt"), blobs=("1" * 40, "2" * 40), conflicted=("3" * 40, ""),
    )  # fmt: skip
    pull = UndoRecord("pull", "reset-branch", "git reset --keep e", branch="main", back="e" * 40)
    with History(path) as history:
        history.record_undo("alpha", pull, 1.0)
        history.record_undo("alpha", resolve, 2.0)
        history.record_undo("beta", pull, 3.0)
        stored = history.last_undo("alpha")
        assert stored is not None and stored.record == resolve and stored.time == 2.0
        history.mark_undone(stored.id)
        assert history.last_undo("alpha") == type(stored)(stored.id, 2.0, "alpha", resolve, True)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT repo FROM undo_records ORDER BY id").fetchall() == [
            ("alpha",),
            ("beta",),
        ]
    conn.close()


WRITER = """
import sys, time
from pathlib import Path
from gitwatch_tui.engine.history import History, HistoryEntry
path, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
with History(path, max_rows=100_000) as history:
    (go.parent / f"ready-{name}").touch()
    while not go.exists():
        time.sleep(0.001)
    for n in range(300):
        history.record(HistoryEntry(time.time(), name, "fetch", True, 0.1, detail=str(n)))
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path, go = tmp_path / "shared.db", tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"proc{i}", str(go)])
        for i in range(3)
    ]
    with History(path) as mine, History(path) as other_connection:

        def write(history: History, name: str) -> None:
            for n in range(300):
                history.record(entry(n, name, detail=str(n)))

        threads = [
            threading.Thread(target=write, args=(mine, "thread-a")),
            threading.Thread(target=write, args=(other_connection, "thread-b")),
        ]
        for _ in range(3000):  # all three processes have the file open
            if len(list(tmp_path.glob("ready-*"))) == 3:
                break
            time.sleep(0.005)
        go.touch()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [proc.wait(timeout=30) for proc in procs] == [0, 0, 0]
        for name in ("proc0", "proc1", "proc2", "thread-a", "thread-b"):
            details = {e.detail for e in mine.recent(name, limit=1000)}
            assert details == {str(n) for n in range(300)}, name
    assert count_rows(path) == 1500


@pytest.mark.parametrize("content", [b"not a database\n", bytes(range(256)) * 16])
def test_garbage_file_is_reported_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(content)
    with pytest.raises(HistoryUnavailable, match="history.sqlite3"):
        History(path)
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["history.sqlite3"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(HistoryUnavailable, match="newer"):
        History(path)


def test_unusable_directory_and_closed_history(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(HistoryUnavailable):
        History(tmp_path / "file" / "h.db")  # parent is a file
    history = History(tmp_path / "h.db")
    history.close()
    history.close()  # idempotent
    with pytest.raises(HistoryUnavailable, match="closed"):
        history.record(entry(1))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_STATE_HOME": "/xdg/state", "HOME": "/home/u"}, "/xdg/state/gitwatch-tui"),
        (
            {"XDG_STATE_HOME": "relative/state", "HOME": "/home/u"},
            "/home/u/.local/state/gitwatch-tui",
        ),
        ({"XDG_STATE_HOME": "", "HOME": "/home/u"}, "/home/u/.local/state/gitwatch-tui"),
        ({"HOME": "/home/u"}, "/home/u/.local/state/gitwatch-tui"),
    ],
)
def test_default_state_dir(env: dict[str, str], expected: str) -> None:
    assert default_state_dir(env) == Path(expected)
