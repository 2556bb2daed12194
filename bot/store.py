"""The conversation store: one SQLite file through sqlite-utils, keyed by a keyed hash, never by an address."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

import sqlite_utils

from flows.engine import Conversation

BUSY_TIMEOUT_MS = 5000
PURGE_EVERY_S = 60
COLUMNS = {f.name for f in fields(Conversation)}
TUPLES = {"history", "risk", "topics", "pending"}


def _v1(db: sqlite_utils.Database) -> None:
    db["conversations"].create({
        "key": str, "channel": str, "state": str, "lang": str, "history": str, "misses": int, "risk": str,
        "topics": str, "pending": str, "discreet": int, "created_at": float, "updated_at": float,
    }, pk="key")
    db["conversations"].create_index(["updated_at"])


MIGRATIONS = [_v1]  # append a function to change the schema; never edit one that has shipped


def keyed_hash(secret: str, channel: str, address: str) -> str:
    """Key a conversation by HMAC-SHA256 of its channel address, so the address itself is never kept."""
    return hmac.new(secret.encode(), f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


class Store:
    """Load and save conversation records; one connection per thread; idle ones expire and are purged."""

    def __init__(self, path: str | Path, idle_seconds: int = 30 * 60, clock=time.time):
        self.path = Path(path)
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._local = threading.local()
        self._last_purge = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    @property
    def db(self) -> sqlite_utils.Database:
        """Return this thread's connection, opening it in WAL mode with a busy timeout."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA secure_delete = ON")  # deleted records are overwritten, not left in free pages
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    def migrate(self) -> None:
        """Apply the migrations this file has not seen yet, tracked in PRAGMA user_version."""
        with self.transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self):
        """Hold the write lock for a load-step-save, so two messages for one person never lose each other."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def load(self, key: str) -> Conversation | None:
        """Return the live record for `key`, or None; an expired record is deleted, never served."""
        rows = list(self.db.query("SELECT * FROM conversations WHERE key = ?", [key]))
        if not rows:
            return None
        row = rows[0]
        if row["updated_at"] < self.clock() - self.idle_seconds:
            self.delete(key)
            return None
        values = {k: (tuple(json.loads(v)) if k in TUPLES else v) for k, v in row.items() if k in COLUMNS}
        values["discreet"] = bool(values["discreet"])
        return Conversation(**values)

    def save(self, conv: Conversation) -> None:
        """Write the record (no text, no address) and purge expired ones now and then."""
        row = asdict(conv)
        row.update({k: json.dumps(list(row[k])) for k in TUPLES})
        row["updated_at"] = self.clock()
        names = ", ".join(row)
        # Plain SQL: sqlite-utils' upsert opens its own transaction, which would end ours early.
        self.db.execute(f"INSERT OR REPLACE INTO conversations ({names}) VALUES ({', '.join('?' * len(row))})",
                        list(row.values()))
        if self.clock() - self._last_purge > PURGE_EVERY_S:
            self.purge()

    def delete(self, key: str) -> None:
        """Forget a conversation at once."""
        self.db.execute("DELETE FROM conversations WHERE key = ?", [key])

    def purge(self) -> int:
        """Delete every record idle for longer than the limit; return how many went."""
        self._last_purge = self.clock()
        cursor = self.db.execute("DELETE FROM conversations WHERE updated_at < ?",
                                 [self.clock() - self.idle_seconds])
        return cursor.rowcount

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None
