"""The local store: SQLite (stdlib ``sqlite3``) in ``<data-root>/state.db``.

WAL mode, so readers never block the writer.  Every write is one
transaction that bumps the store revision and writes the key, so a
``kill -9`` leaves either the old or the new value, never half of one, and
never a revision without its change.  ``synchronous=NORMAL``: a power cut
may lose the last commits but never corrupts the file (the daemon rebuilds
the kernel from what is there).

Schema 1 (``PRAGMA user_version``): ``kv`` holds each key with its
revisions, ``meta`` the store revision.  A database of schema 0 (the first
store: ``records(kind, id, body)``, JSON bodies) is migrated in place, in
one transaction, at open: each row becomes ``<kind>/<id>`` with the same
body, revisions in the old insertion order, so the records load as before.

Watches see the writes of this process only (another process writing the
same file, such as ``cnmd --cleanup``, is not noticed).
"""

from __future__ import annotations

import os
import sqlite3

from ..errors import Internal
from .api import KeyValue, Listing, Scope
from .local import LocalStore, check_revision, prefix_end

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key             TEXT PRIMARY KEY,
    value           BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL,
    version         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0);
"""

_KV_COLUMNS = "key, value, create_revision, mod_revision, version"


class SQLiteStore(LocalStore):
    def __init__(self, data_root: str, scope: Scope = Scope.LOCAL):
        os.makedirs(data_root, exist_ok=True)
        self.path = os.path.join(data_root, "state.db")
        # check_same_thread=False: LocalStore's lock keeps one thread's
        # transaction from interleaving with another's.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            _migrate(self._db)
            revision = self._revision()
        except BaseException:
            self._db.close()
            raise
        super().__init__(scope, revision)

    def _revision(self) -> int:
        (revision,) = self._db.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
        return int(revision)

    def _read(self, key: str) -> KeyValue | None:
        row = self._db.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
        return KeyValue(*row) if row is not None else None

    def _range(self, prefix: str) -> Listing:
        end = prefix_end(prefix)
        # One read transaction, so the revision matches the entries.
        self._db.execute("BEGIN")
        try:
            if end is None:
                rows = self._db.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key >= ? ORDER BY create_revision",
                                        (prefix,)).fetchall()
            else:
                rows = self._db.execute(f"SELECT {_KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? "
                                        "ORDER BY create_revision", (prefix, end)).fetchall()
            revision = self._revision()
        finally:
            self._db.execute("COMMIT")
        return Listing(tuple(KeyValue(*row) for row in rows), revision)

    def _items(self, prefix: str) -> list[tuple[str, bytes]]:
        end = prefix_end(prefix)
        if end is None:
            rows = self._db.execute("SELECT key, value FROM kv WHERE key >= ? ORDER BY create_revision", (prefix,))
        else:
            rows = self._db.execute("SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY create_revision",
                                    (prefix, end))
        return rows.fetchall()

    def _write(self, key: str, value: bytes, expect_revision: int | None) -> KeyValue:
        db = self._db
        # IMMEDIATE: take the write lock before reading what the compare and
        # the new revision are based on.
        db.execute("BEGIN IMMEDIATE")
        try:
            if expect_revision is not None:
                check_revision(key, self._read(key), expect_revision)
            (revision,) = db.execute(
                "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value").fetchone()
            create_revision, version = db.execute(
                "INSERT INTO kv(key, value, create_revision, mod_revision, version) VALUES (?, ?, ?, ?, 1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, "
                "version = version + 1 RETURNING create_revision, version",
                (key, value, revision, revision)).fetchone()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return KeyValue(key, value, create_revision, revision, version)

    def _remove(self, key: str, expect_revision: int | None) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            check_revision(key, self._read(key), expect_revision)
            if db.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount == 0:
                db.execute("COMMIT")
                return 0
            (revision,) = db.execute(
                "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value").fetchone()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return int(revision)

    def _close(self) -> None:
        self._db.close()


def _migrate(db: sqlite3.Connection) -> None:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise Internal(f"state.db has schema {version}, newer than this cnmd knows ({SCHEMA_VERSION}); "
                       "upgrade cnmd or move the data root aside")
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        old = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'").fetchone()
        if old is not None:
            # rowid order is the order the first store loaded records in.
            db.execute(
                "INSERT INTO kv(key, value, create_revision, mod_revision, version) "
                "SELECT kind || '/' || id, CAST(body AS BLOB), n, n, 1 "
                "FROM (SELECT kind, id, body, row_number() OVER (ORDER BY rowid) AS n FROM records)")
            db.execute("UPDATE meta SET value = (SELECT count(*) FROM kv) WHERE name = 'revision'")
            db.execute("DROP TABLE records")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
