"""Local state in SQLite under the data root.

One table of JSON records keyed by (kind, id).  WAL mode so readers never
block the writer; each put is its own transaction, so a ``kill -9`` leaves
either the old or the new record, never half of one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Iterator

from . import model

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
)
"""


class Store:
    def __init__(self, data_root: str):
        os.makedirs(data_root, exist_ok=True)
        self.path = os.path.join(data_root, "state.db")
        # The daemon touches the store only from its event loop thread.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def put(self, kind: str, record: Any) -> None:
        body = json.dumps(model.to_dict(record), separators=(",", ":"))
        self._db.execute(
            "INSERT INTO records(kind, id, body) VALUES (?, ?, ?) "
            "ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body",
            (kind, record.id, body),
        )

    def delete(self, kind: str, record_id: str) -> None:
        self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))

    def load(self, kind: str) -> Iterator[Any]:
        for (body,) in self._db.execute("SELECT body FROM records WHERE kind = ? ORDER BY rowid", (kind,)):
            yield model.from_dict(kind, json.loads(body))
