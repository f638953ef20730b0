"""The last known status of every repo, kept in SQLite so that the next start opens on it.

One row per repo and watch list: the key is a hash of the kind of process (dashboard, daemon)
and the sorted repo paths, so two processes sharing the state dir, or two watch lists, never
overwrite each other's. The file lives beside the history, in WAL mode with a busy timeout
for the same reason. It is a cache: a file that is corrupt, foreign or of another schema is
said once and replaced, never trusted.
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
from dataclasses import dataclass, fields
from pathlib import Path

from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.models import RepoSpec, RepoStatus

SNAPSHOT_FILENAME = "status-snapshot.sqlite3"
DASHBOARD_SNAPSHOT = "dashboard"  # the dashboard's kind of process (the daemon keeps none)
SCHEMA_VERSION = 1
BUSY_TIMEOUT = 10.0  # as the history's: a writer waits for another process's transaction
# Rows of watch lists no process has written for this long are dropped at open.
FORGET_AFTER = 30 * 86400.0
_APPLICATION_ID = 0x67777374  # "gwst": tells our file from another program's SQLite file
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS status (
    key TEXT NOT NULL, path TEXT NOT NULL, read_at REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (key, path)
);
PRAGMA application_id = {_APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
"""
_FIELDS = frozenset(f.name for f in fields(RepoStatus)) - {"as_of"}


@dataclass(frozen=True, slots=True)
class Known:
    """A repo's status as last read (`read_at`, Unix time) by an earlier run."""

    status: RepoStatus
    read_at: float


def snapshot_key(kind: str, specs: Iterable[RepoSpec]) -> str:
    """The key of a watch list's rows: the process's kind and the sorted repo paths."""
    digest = hashlib.sha256(kind.encode())
    for path in sorted(str(spec.path) for spec in specs):
        digest.update(b"\0" + os.fsencode(path))
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
            elif version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema {version}, not {SCHEMA_VERSION}")
            conn.execute("SELECT key, path, read_at, data FROM status LIMIT 1").fetchall()
            forget = time.time() - FORGET_AFTER
            conn.execute(
                "DELETE FROM status WHERE key IN "
                "(SELECT key FROM status GROUP BY key HAVING max(read_at) < ?)",
                (forget,),
            )
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    def load(self, specs: Sequence[RepoSpec]) -> dict[str, Known]:
        """The statuses known for `specs`, by repo name (named and grouped as the spec now
        is); a row that no longer reads as a status is skipped."""
        with self._lock:
            return _load(self._conn, self.key, specs)

    def save(self, statuses: Iterable[Known]) -> None:
        """Keep these statuses (one transaction, however many)."""
        rows = [
            (self.key, known.status.path, known.read_at, _encode(known.status))
            for known in statuses
        ]
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO status (key, path, read_at, data) VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


_PRAGMAS = ("application_id", "user_version")


def read_known(path: Path, key: str, specs: Sequence[RepoSpec]) -> dict[str, Known]:
    """What the snapshot at `path` knows for `specs`, read only (the file is neither made nor
    repaired); {} when it cannot be read."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error:
        return {}
    try:
        app, version = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in _PRAGMAS)
        if (app, version) != (_APPLICATION_ID, SCHEMA_VERSION):
            return {}
        return _load(conn, key, specs)
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


def _load(conn: sqlite3.Connection, key: str, specs: Sequence[RepoSpec]) -> dict[str, Known]:
    by_path = {str(spec.path): spec for spec in specs}
    rows = conn.execute("SELECT path, read_at, data FROM status WHERE key = ?", (key,))
    known: dict[str, Known] = {}
    for path, read_at, data in rows.fetchall():
        spec = by_path.get(path)
        status = _decode(data, spec) if spec is not None else None
        if spec is not None and status is not None:
            known[spec.name] = Known(status, read_at)
    return known


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def _encode(status: RepoStatus) -> str:
    # getattr, not asdict: asdict deep-copies every value, a tenth of a second at 10,000.
    data = {name: getattr(status, name) for name in _FIELDS}
    return json.dumps(data, separators=(",", ":"))


def _decode(data: str, spec: RepoSpec) -> RepoStatus | None:
    """The status in `data`, named and grouped as `spec` now is; None if it is not one."""
    try:
        values = json.loads(data)
        if values.keys() != _FIELDS:  # another version's fields
            return None
        if values["rebase_step"] is not None:
            values["rebase_step"] = tuple(values["rebase_step"])
        values.update(name=spec.name, group=spec.group, path=str(spec.path))
        return RepoStatus(**values)
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


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
