"""The last known status of every repo, kept in SQLite so that the next start opens on it.

One row per kind of process (dashboard, daemon) and watch list, holding every repo's status as
one JSON document: a start reads it with one query and one parse, before the watch list is
even resolved. So the key is a hash of the kind and of what the watch list is made from (the
configured repos and the scanned folders), and two processes sharing the state dir, or two
watch lists, never overwrite each other's. The file lives beside the history, in WAL mode with
a busy timeout for the same reason. It is a cache: a file that is corrupt, foreign or of
another schema is said once and replaced, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.models import RepoSpec, RepoStatus

# Its file's name (SNAPSHOT_FILENAME) and the dashboard's kind are in engine.state_dir.
SCHEMA_VERSION = 2
_FIRST_SCHEMA = 1  # one row per repo: replaced without a word (it was only ever a cache)
BUSY_TIMEOUT = 10.0  # as the history's: a writer waits for another process's transaction
# Watch lists no process has written for this long are dropped at open.
FORGET_AFTER = 30 * 86400.0
_APPLICATION_ID = 0x67777374  # "gwst": tells our file from another program's SQLite file
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS watch_list (
    key TEXT PRIMARY KEY, written_at REAL NOT NULL, data TEXT NOT NULL
);
PRAGMA application_id = {_APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""
# A status is kept as the list of these fields' values, then when it was read: positional, so
# 10,000 of them parse and build in a few hundredths of a second. The document names them, and
# one of another version (other fields, or in another order) is not used.
_FIELDS = tuple(f.name for f in fields(RepoStatus))[:-1]  # all but the last, `as_of`
_REBASE_STEP = _FIELDS.index("rebase_step")
assert fields(RepoStatus)[-1].name == "as_of"


@dataclass(frozen=True, slots=True)
class Known:
    """A repo's status as last read (`read_at`, Unix time) by an earlier run."""

    status: RepoStatus
    read_at: float


def snapshot_key(kind: str, config: Config) -> str:
    """The key of a watch list's snapshot: the process's kind and what the list is resolved
    from (the repos named, in any order, and the folders scanned, with how they are scanned)."""
    digest = hashlib.sha256(kind.encode())
    for path in sorted(str(spec.path) for spec in config.repos):
        digest.update(b"\0repo\0" + os.fsencode(path))
    for root in config.scan:
        where = (str(root.path), root.depth, root.include_bare, sorted(root.exclude))
        digest.update(b"\0scan\0" + json.dumps(where).encode())
    return digest.hexdigest()


class StatusSnapshot:
    """The snapshot file, open for one key. Methods may be called from any thread; every
    SQLite failure after open is raised as sqlite3.Error for the caller to report."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.warnings: list[str] = []  # what was wrong with the file found, if anything
        self._lock = threading.Lock()
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.Error as exc:  # corrupt, foreign, or another schema: a cache, replaced
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise  # in use by another process, not broken
            self.warnings.append(f"status snapshot {self.path} ignored and replaced: {exc}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # a cache: power loss may cost a write
            app, version = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in _PRAGMAS)
            if app == 0 and version == 0 and not _tables(conn):
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            elif app != _APPLICATION_ID:
                raise sqlite3.DatabaseError("not a gitwatch-tui status snapshot")
            elif version == _FIRST_SCHEMA:
                conn.executescript(
                    f"BEGIN IMMEDIATE; DROP TABLE IF EXISTS status; {_SCHEMA} COMMIT;"
                )
            elif version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {version}, not {SCHEMA_VERSION}")
            conn.execute("SELECT key, written_at, data FROM watch_list LIMIT 1").fetchall()
            forget = time.time() - FORGET_AFTER
            conn.execute("DELETE FROM watch_list WHERE written_at < ?", (forget,))
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def load(self) -> dict[str, Known]:
        """The statuses known for this key, by repo name, as they were saved (named, grouped
        and placed as the watch list was then: the caller matches them to the list now)."""
        with self._lock:
            return _load(self._conn, self.key)

    def save(self, statuses: Iterable[Known]) -> None:
        """Keep these statuses as the whole watch list's (those saved before are replaced)."""
        self.save_rows(snapshot_row(known) for known in statuses)

    def save_rows(self, rows: Iterable[str]) -> None:
        """`save`, of statuses already made into rows (`snapshot_row`)."""
        data = f'{{"fields":{json.dumps(_FIELDS)},"rows":[{",".join(rows)}]}}'
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO watch_list (key, written_at, data) VALUES (?, ?, ?)",
                (self.key, time.time(), data),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_PRAGMAS = ("application_id", "user_version")


def read_known(path: Path, key: str) -> dict[str, Known]:
    """What the snapshot at `path` knows for `key`, read only (the file is neither made nor
    repaired); {} when it cannot be read."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error:
        return {}
    try:
        app, version = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in _PRAGMAS)
        if (app, version) != (_APPLICATION_ID, SCHEMA_VERSION):
            return {}
        return _load(conn, key)
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


def matching(known: Mapping[str, Known], specs: Iterable[RepoSpec]) -> dict[str, Known]:
    """What `known` says of `specs`: the statuses of the repos at the same path, named and
    grouped as the spec now is."""
    matched: dict[str, Known] = {}
    for spec in specs:
        seen = known.get(spec.name)
        if seen is None or seen.status.path != str(spec.path):
            continue
        if seen.status.group != spec.group:
            seen = Known(replace(seen.status, group=spec.group), seen.read_at)
        matched[spec.name] = seen
    return matched


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def _load(conn: sqlite3.Connection, key: str) -> dict[str, Known]:
    row = conn.execute("SELECT data FROM watch_list WHERE key = ?", (key,)).fetchone()
    return _decode(row[0]) if row is not None else {}


def snapshot_row(known: Known) -> str:
    """A status as the snapshot keeps it: its fields' values (all but `as_of`), then when it
    was read, as a JSON list."""
    # getattr, not asdict: asdict deep-copies every value.
    status = known.status
    return json.dumps([*(getattr(status, name) for name in _FIELDS), known.read_at])


def _decode(data: str) -> dict[str, Known]:
    """The statuses in `data`, each marked as of when it was read; {} if it is not a
    document of this version's fields, and a row that is not a status is skipped."""
    try:
        document = json.loads(data)
        if tuple(document["fields"]) != _FIELDS:
            return {}
        rows = document["rows"]
    except (ValueError, TypeError, KeyError):
        return {}
    known: dict[str, Known] = {}
    width = len(_FIELDS) + 1
    for values in rows:
        try:
            if len(values) != width or not isinstance(values[-1], float | int):
                continue
            if values[_REBASE_STEP] is not None:
                values[_REBASE_STEP] = tuple(values[_REBASE_STEP])
            values[-1] = read_at = float(values[-1])
            status = RepoStatus(*values)  # the last value, when it was read, is its `as_of`
        except (TypeError, KeyError, IndexError):
            continue
        known[status.name] = Known(status, read_at)
    return known


# -- which repos to read first ------------------------------------------------------------------


def likely_changed_first(
    specs: Sequence[RepoSpec],
    known: Mapping[str, Known],
    located: Sequence[RepoPaths | str] | None = None,
) -> list[int]:
    """The order to re-read `specs` in (their indexes): repos with no known status first,
    then those whose HEAD or index changed after their status was read, then those that
    needed attention (dirty, ahead, behind, in error), then the rest; each in the given order.
    `located` is `locate_repo` of each spec when the caller has it (else it is found here)."""

    def rank(index: int) -> int:
        spec = specs[index]
        seen = known.get(spec.name)
        if seen is None:
            return 0
        where = located[index] if located is not None else _locate(spec)
        if isinstance(where, str) or _touched_since(where.git_dir, seen.read_at):
            return 1
        s = seen.status
        return 2 if s.dirty or s.ahead or s.behind or s.error or s.operation else 3

    return sorted(range(len(specs)), key=rank)


def _locate(spec: RepoSpec) -> RepoPaths | str:
    try:
        return RepoPaths.of(spec.path, bare=spec.bare)
    except OSError as exc:
        return str(exc)


def _touched_since(git_dir: Path, when: float) -> bool:
    """Whether the repo's HEAD or index was written after `when` (a commit, checkout, add)."""
    for name in ("HEAD", "index"):
        try:
            if (git_dir / name).stat().st_mtime > when:
                return True
        except OSError:
            continue
    return False
