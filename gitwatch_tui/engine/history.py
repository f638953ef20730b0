"""Sync history in SQLite: what was fetched, pulled or cloned, when, and how it went.

Three tables: `sync_history`, the bounded log of every action; `fetch_times`, one row per
repo with its last successful fetch and its last failed one since (what "Fetched" shows; kept
apart so that pruning the log never forgets them, and so that they survive a restart); and
`undo_records`, the way back from each repo's last change, one column per `UndoRecord` field
(schema 3; an older file gets the table when opened).

One file may be written by a dashboard and a daemon at once: WAL lets readers and a writer
work side by side, and a busy timeout makes writers queue instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from types import TracebackType
from typing import Any, get_args

from gitwatch_tui.core.results import UndoKind, UndoRecord

HISTORY_FILENAME = "history.sqlite3"
SCHEMA_VERSION = 3  # 3: undo_records
# A writer waits this long for another process's transaction before giving up.
BUSY_TIMEOUT = 10.0
# The row count is re-read from the file this often, to see other processes' inserts.
RECOUNT_EVERY = 1000

_COLUMNS = "time, repo, action, ok, duration, error, old_head, new_head, detail"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sync_history (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL, repo TEXT NOT NULL, action TEXT NOT NULL, ok INTEGER NOT NULL,
    duration REAL NOT NULL, error TEXT, old_head TEXT, new_head TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS sync_history_time ON sync_history (time);
CREATE INDEX IF NOT EXISTS sync_history_repo_time ON sync_history (repo, time);
CREATE TABLE IF NOT EXISTS fetch_times (
    path TEXT PRIMARY KEY, last_success REAL, last_failure REAL, last_error TEXT
);
CREATE TABLE IF NOT EXISTS undo_records (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, repo TEXT NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0,
    action TEXT NOT NULL, kind TEXT NOT NULL, command TEXT NOT NULL,
    branch TEXT, head TEXT, back TEXT, back_branch TEXT, created TEXT, stash TEXT,
    stash_message TEXT, upstream_remote TEXT, upstream_merge TEXT,
    paths TEXT NOT NULL, blobs TEXT NOT NULL, conflicted TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS undo_records_repo ON undo_records (repo, id);
PRAGMA user_version = {SCHEMA_VERSION};
"""
# A success clears the failure it follows; a late report (another process's older attempt)
# never hides a newer one.
_RECORD_SUCCESS = """
INSERT INTO fetch_times (path, last_success) VALUES (?1, ?2)
ON CONFLICT (path) DO UPDATE SET
    last_success = max(coalesce(last_success, 0), ?2),
    last_failure = CASE WHEN last_failure <= ?2 THEN NULL ELSE last_failure END,
    last_error = CASE WHEN last_failure <= ?2 THEN NULL ELSE last_error END
"""
_RECORD_FAILURE = """
INSERT INTO fetch_times (path, last_failure, last_error) VALUES (?1, ?2, ?3)
ON CONFLICT (path) DO UPDATE SET
    last_failure = ?2, last_error = ?3
WHERE ?2 > coalesce(last_success, 0) AND ?2 >= coalesce(last_failure, 0)
"""

_UNDO_FIELDS = tuple(field.name for field in fields(UndoRecord))
_UNDO_LISTS = ("paths", "blobs", "conflicted")  # tuples of strings, kept as JSON arrays
_UNDO_KINDS = frozenset(get_args(UndoKind))


class HistoryUnavailable(Exception):  # noqa: N818 (the name the engine catches)
    """The history file cannot be used; the engine carries on without history."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One sync action on one repository."""

    time: float
    repo: str
    action: str  # "fetch" | "pull" | "clone" | "auto-sync" | ...
    ok: bool
    duration: float
    error: str | None = None
    old_head: str | None = None
    new_head: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class FetchTimes:
    """A repo's fetch record: its last successful fetch, and the last failed attempt since
    (None once a fetch has worked again), with git's words for that failure."""

    last_success: float | None = None
    last_failure: float | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class StoredUndo:
    """A repo's last undo record as history keeps it; `undone` once `u` has used it."""

    id: int
    time: float
    repo: str
    record: UndoRecord
    undone: bool


class History:
    """An append-only, size-bounded log of sync actions, safe to share between processes.

    Methods may be called from any thread. Every sqlite failure, at open or later, is raised
    as `HistoryUnavailable`; the user's file is never deleted or rewritten to recover.
    """

    def __init__(self, path: Path, *, max_rows: int = 50_000) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.path = path
        self.max_rows = max_rows
        # Prune in batches of about 1%, so a full table is not pruned on every insert.
        self._keep = max_rows - max_rows // 100
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise HistoryUnavailable(f"cannot open history {path}: {exc}") from exc
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HistoryUnavailable(f"history {path} was written by a newer gitwatch-tui")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: durable except on power loss
            if version < SCHEMA_VERSION:
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            self._rows: int = conn.execute("SELECT count(*) FROM sync_history").fetchone()[0]
        except sqlite3.Error as exc:
            conn.close()
            raise HistoryUnavailable(f"history {path} is unreadable: {exc}") from exc
        except HistoryUnavailable:
            conn.close()
            raise
        self._conn = conn
        self._since_count = 0

    def record(self, entry: HistoryEntry) -> None:
        """Append one entry, pruning the oldest rows once there are more than `max_rows`."""
        values = astuple(entry)
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(
                    f"INSERT INTO sync_history ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                self._rows += 1
                self._since_count += 1
                if self._since_count >= RECOUNT_EVERY:
                    self._rows = conn.execute("SELECT count(*) FROM sync_history").fetchone()[0]
                    self._since_count = 0
                if self._rows > self.max_rows:
                    self._prune(conn)
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot write history {self.path}: {exc}") from exc

    def record_fetch(self, path: str, *, ok: bool, when: float, error: str | None = None) -> None:
        """Note a fetch of the repo at `path` that worked (`ok`) or failed at `when`."""
        query, params = (
            (_RECORD_SUCCESS, (path, when)) if ok else (_RECORD_FAILURE, (path, when, error))
        )
        with self._lock:
            try:
                self._connection().execute(query, params)
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot write history {self.path}: {exc}") from exc

    def fetch_times(self) -> dict[str, FetchTimes]:
        """Every repo's fetch record, by the repo's path."""
        query = "SELECT path, last_success, last_failure, last_error FROM fetch_times"
        with self._lock:
            try:
                rows = self._connection().execute(query).fetchall()
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot read history {self.path}: {exc}") from exc
        return {path: FetchTimes(*times) for path, *times in rows}

    def recent(self, repo: str | None = None, limit: int = 50) -> list[HistoryEntry]:
        """The latest entries, newest first; all repositories when `repo` is None."""
        where, params = ("WHERE repo = ?", (repo, limit)) if repo is not None else ("", (limit,))
        query = f"SELECT {_COLUMNS} FROM sync_history {where} ORDER BY time DESC, id DESC LIMIT ?"
        with self._lock:
            try:
                rows = self._connection().execute(query, params).fetchall()
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot read history {self.path}: {exc}") from exc
        return [HistoryEntry(t, r, a, bool(ok), *rest) for t, r, a, ok, *rest in rows]

    def record_undo(self, repo: str, record: UndoRecord, when: float) -> None:
        """Keep `record` as the repo's way back from its last change (older ones go)."""
        values = [
            json.dumps(list(v)) if name in _UNDO_LISTS else v
            for name, v in zip(_UNDO_FIELDS, astuple(record), strict=True)
        ]
        columns = ", ".join(_UNDO_FIELDS)
        marks = ", ".join("?" for _ in _UNDO_FIELDS)
        insert = f"INSERT INTO undo_records (time, repo, {columns}) VALUES (?, ?, {marks})"
        with self._lock:
            conn = self._connection()
            try:
                with conn:  # one transaction: never a repo without its last record
                    conn.execute("BEGIN IMMEDIATE")
                    new = conn.execute(insert, (when, repo, *values)).lastrowid
                    conn.execute("DELETE FROM undo_records WHERE repo = ? AND id < ?", (repo, new))
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot write history {self.path}: {exc}") from exc

    def last_undo(self, repo: str) -> StoredUndo | None:
        """The repo's last undo record, or None (none kept, or of a kind this version lacks)."""
        query = (
            f"SELECT id, time, repo, undone, {', '.join(_UNDO_FIELDS)} FROM undo_records "
            "WHERE repo = ? ORDER BY id DESC LIMIT 1"
        )
        with self._lock:
            try:
                row = self._connection().execute(query, (repo,)).fetchone()
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot read history {self.path}: {exc}") from exc
        if row is None:
            return None
        row_id, when, name, undone, *values = row
        typed: dict[str, Any] = {
            field: tuple(json.loads(value)) if field in _UNDO_LISTS else value
            for field, value in zip(_UNDO_FIELDS, values, strict=True)
        }
        if typed["kind"] not in _UNDO_KINDS:
            return None
        return StoredUndo(row_id, when, name, UndoRecord(**typed), bool(undone))

    def forget_undo(self, repo: str) -> None:
        """Drop the repo's undo record: a later change that `u` cannot undo came after it."""
        with self._lock:
            try:
                self._connection().execute("DELETE FROM undo_records WHERE repo = ?", (repo,))
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot write history {self.path}: {exc}") from exc

    def mark_undone(self, record_id: int) -> None:
        """Note that `u` went back from this record (it is not offered again)."""
        with self._lock:
            try:
                self._connection().execute(
                    "UPDATE undo_records SET undone = 1 WHERE id = ?", (record_id,)
                )
            except sqlite3.Error as exc:
                raise HistoryUnavailable(f"cannot write history {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryUnavailable(f"history {self.path} is closed")
        return self._conn

    def _prune(self, conn: sqlite3.Connection) -> None:
        # Oldest by insertion order (rowid). Another process may prune at the same moment;
        # both deletes are idempotent, and the recount inside the transaction sees the truth.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "DELETE FROM sync_history WHERE id <= "
                "(SELECT id FROM sync_history ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self._keep,),
            )
            self._rows = conn.execute("SELECT count(*) FROM sync_history").fetchone()[0]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # some errors have already rolled it back
                conn.execute("ROLLBACK")
            raise
        self._since_count = 0
