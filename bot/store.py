"""The conversation store: one SQLite file through sqlite-utils, keyed by a keyed hash, never by an address."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import sys
import threading
import time
import types
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import sqlite_utils

from flows.engine import Conversation

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
PURGE_EVERY_S = 60
CLOCK_SKEW_S = 60  # a time further ahead than this was written before the clock was set back
COLUMNS = tuple(f.name for f in fields(Conversation))
UPSERT = (f"INSERT INTO conversations ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
          f"ON CONFLICT (key) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS if c != 'key')}")
TUPLES = {"history", "risk", "topics", "pending"}


def _v1(db: sqlite_utils.Database) -> None:
    db["conversations"].create({
        "key": str, "channel": str, "state": str, "lang": str, "history": str, "misses": int, "risk": str,
        "topics": str, "pending": str, "discreet": int, "created_at": float, "updated_at": float,
    }, pk="key")
    db["conversations"].create_index(["updated_at"])


def _v2_sms_replies(db: sqlite_utils.Database) -> None:
    # A text's reply, kept a few minutes under a keyed hash of its MessageSid, so Twilio's retries change nothing.
    db["sms_replies"].create({"id": str, "key": str, "reply": str, "created_at": float}, pk="id")
    db["sms_replies"].create_index(["created_at"])
    db["sms_replies"].create_index(["key"])


def _v3_handoff(db: sqlite_utils.Database) -> None:
    # Talking to a person (bot/handoff.py, bot/staff.py). Notes, relay messages, callback details, a live chat's
    # text address and TOTP secrets are encrypted (Fernet); each row goes when its chat or callback closes.
    db["handoffs"].create({
        "id": str, "key": str, "alias": str, "channel": str, "lang": str, "topics": str, "note": str, "risk": int,
        "alert": int, "status": str, "worker": str, "address": str, "created_at": float, "claimed_at": float,
        "updated_at": float}, pk="id")
    db["handoffs"].create_index(["key"])
    db["relay"].create({"id": int, "handoff": str, "key": str, "sender": str, "msg": str, "body": str,
                        "delivered": int, "created_at": float}, pk="id")
    db["relay"].create_index(["handoff"])
    db["relay"].create_index(["key"])
    db["drafts"].create({"key": str, "data": str, "updated_at": float}, pk="key")
    db["callbacks"].create({"id": str, "alias": str, "lang": str, "data": str, "status": str, "worker": str,
                            "created_at": float}, pk="id")
    db["staff"].create({"id": int, "name": str, "role": str, "pw_hash": str, "totp": str, "failures": int,
                        "locked_until": float, "created_at": float}, pk="id")
    db["staff"].create_index(["name"], unique=True)
    db["staff_sessions"].create({"id": str, "staff_id": int, "stage": str, "csrf": str, "created_at": float,
                                 "last_seen": float}, pk="id")
    db["audit"].create({"id": int, "at": float, "staff": str, "action": str, "target": str}, pk="id")
    db["counts"].create({"week": str, "name": str, "n": int}, pk=("week", "name"))


MIGRATIONS = [_v1, _v2_sms_replies, _v3_handoff]  # append a function to change the schema; never edit one that has shipped


def _greenlets() -> bool:
    """Whether gevent has patched threading (gunicorn's gevent workers, the Procfile's): requests are then
    greenlets taking turns on one OS thread, and none of them yields inside a transaction."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def keyed_hash(secret: str, channel: str, address: str) -> str:
    """Key a conversation by HMAC-SHA256 of its channel address, so the address itself is never kept."""
    return hmac.new(secret.encode(), f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


class Store:
    """Load and save conversation records; idle ones expire and are purged.

    One connection per thread, or one per process under gevent: a connection per greenlet would start with
    a cold cache on every request (1.27 ms of CPU a text against 0.98 ms under bench/sms_load.py's load).
    """

    def __init__(self, path: str | Path, idle_seconds: int = 30 * 60, clock=time.time):
        self.path = Path(path)
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._local = types.SimpleNamespace() if _greenlets() else threading.local()
        self._last_purge = 0.0
        self.purgers: list = []  # other tables' clean-ups, each called with the time; see purge()
        # Every (table, column) holding a time that an expiry is counted from; see purge().
        self.timestamps: list[tuple[str, str]] = [("conversations", "updated_at")]
        self._thread_lock = threading.RLock()
        self._lock_file = None
        self._lock_pid = None
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
            conn.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: never corrupt, may lose the last commits
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
        """Hold the write lock for a load-step-save, so two messages for one person never lose each other.

        Writers queue on a lock in this process and a file lock between processes before SQLite's own
        lock: they wake the moment it is free, where SQLite's busy handler would sleep and retry.
        """
        conn = self.db.conn
        with self._thread_lock, self._file_lock():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _file_lock(self):
        if self._lock_pid != os.getpid():  # opened anew after a fork, so processes never share one
            self._lock_file = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """Run a query and return its rows as dicts (plain execute: no savepoint around a read)."""
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def load(self, key: str) -> Conversation | None:
        """Return the live record for `key`, or None; an expired record is deleted, never served."""
        rows = self.rows("SELECT * FROM conversations WHERE key = ?", [key])
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
        row = {name: getattr(conv, name) for name in COLUMNS}  # not asdict(): it deep-copies, on every turn
        row.update({k: json.dumps(list(row[k])) for k in TUPLES})
        row["updated_at"] = self.clock()
        # Plain SQL: sqlite-utils' upsert opens its own transaction, which would end ours early. An upsert
        # updates the row in place, where INSERT OR REPLACE deletes it and adds it anew (twice the pages).
        self.db.execute(UPSERT, [row[name] for name in COLUMNS])
        if not 0 <= self.clock() - self._last_purge <= PURGE_EVERY_S:  # due, or the clock went back
            self.purge()

    def delete(self, key: str) -> None:
        """Forget a conversation at once."""
        self.db.execute("DELETE FROM conversations WHERE key = ?", [key])

    def purge(self) -> int:
        """Delete every record idle for longer than the limit, then run the other tables' purgers.

        A time in the future was written before the clock was set back: it is brought back to now
        first, so nothing outlives its time by as long as the clock moved. (A clock set forward
        looks like time passing: records expire early, which errs on the side of privacy.) Call it
        inside a transaction. Returns how many conversations went.
        """
        now = self._last_purge = self.clock()
        for table, column in self.timestamps:
            self.db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} > ?", [now, now + CLOCK_SKEW_S])  # nosec B608: names from code
        cursor = self.db.execute("DELETE FROM conversations WHERE updated_at < ?", [now - self.idle_seconds])
        for purger in self.purgers:
            purger(now)
        return cursor.rowcount

    def sweep_every(self, seconds: float) -> threading.Thread:
        """Purge in a daemon thread every `seconds`, so nothing outlives its time when no one is writing."""

        def run() -> None:
            while True:
                time.sleep(seconds)
                try:
                    with self.transaction():
                        self.purge()
                except sqlite3.Error:
                    log.warning("a scheduled purge failed; the next one will try again")

        thread = threading.Thread(target=run, name="waymark-purge", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None
