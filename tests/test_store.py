"""The store: expiry, keying, nothing identifying on disk, concurrent updates never lost."""

from __future__ import annotations

import threading
import time

import pytest

from bot.store import MIGRATIONS, Store, keyed_hash
from flows.engine import Conversation


@pytest.fixture
def clock():
    class Clock:
        now = 1_000_000.0

        def __call__(self):
            return self.now

    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    store = Store(tmp_path / "var" / "w.db", idle_seconds=1800, clock=clock)
    yield store
    store.close()


def save(store, conv):
    with store.transaction():
        store.save(conv)


def test_round_trip_keeps_every_field(store):
    conv = Conversation(key="k1", channel="sms", state="main.menu", lang="pl", history=("welcome.start",),
                        misses=1, risk=("danger_now",), topics=("danger",), pending=("a", "b"), discreet=True)
    save(store, conv)
    loaded = store.load("k1")
    assert (loaded.state, loaded.lang, loaded.history, loaded.misses, loaded.risk, loaded.topics,
            loaded.pending, loaded.discreet) == (conv.state, "pl", ("welcome.start",), 1, ("danger_now",),
                                                 ("danger",), ("a", "b"), True)


def test_idle_conversation_is_never_served_after_expiry(store, clock):
    save(store, Conversation(key="k1", channel="sms", state="main.menu"))
    clock.now += 1799
    assert store.load("k1") is not None
    clock.now += 1801
    assert store.load("k1") is None
    assert store.db["conversations"].count == 0  # deleted on the spot, not left for a job


def test_purge_runs_by_itself_on_save(store, clock):
    save(store, Conversation(key="old", channel="sms", state="main.menu"))
    clock.now += 3600
    save(store, Conversation(key="new", channel="sms", state="main.menu"))
    assert [r["key"] for r in store.db["conversations"].rows] == ["new"]


def test_purge_by_hand_counts(store, clock):
    save(store, Conversation(key="a", channel="sms", state="main.menu"))
    save(store, Conversation(key="b", channel="sms", state="main.menu"))
    clock.now += 3600
    with store.transaction():
        assert store.purge() == 2


def test_keyed_hash_is_stable_secret_dependent_and_channel_separated():
    a = keyed_hash("secret", "sms", "+447700900123")
    assert a == keyed_hash("secret", "sms", "+447700900123")
    assert a != keyed_hash("other", "sms", "+447700900123")
    assert a != keyed_hash("secret", "web", "+447700900123")
    assert len(a) == 64 and "447700900123" not in a


def test_nothing_identifying_on_disk(tmp_path, store):
    address = "+447700900123"
    save(store, Conversation(key=keyed_hash("s", "sms", address), channel="sms", state="main.menu"))
    store.close()
    for path in (tmp_path / "var").iterdir():
        data = path.read_bytes()
        assert address.encode() not in data and b"447700900123" not in data


def test_deleted_record_leaves_no_trace_in_the_file(tmp_path, store):
    save(store, Conversation(key="distinctive-key-0001", channel="sms", state="support.stalking"))
    with store.transaction():
        store.delete("distinctive-key-0001")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    for path in (tmp_path / "var").iterdir():
        assert b"distinctive-key-0001" not in path.read_bytes()


def test_two_threads_updating_one_conversation_lose_neither_update(tmp_path):
    store = Store(tmp_path / "w.db")
    save(store, Conversation(key="k", channel="sms", state="main.menu"))
    barrier = threading.Barrier(2)

    def bump(times):
        barrier.wait()
        for _ in range(times):
            with store.transaction():
                conv = store.load("k")
                conv.misses += 1
                store.save(conv)
        store.close()

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.load("k").misses == 100


def test_wal_mode_busy_timeout_and_migrations(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.migrate()  # a second run changes nothing
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_failed_turn_rolls_back(store):
    save(store, Conversation(key="k", channel="sms", state="main.menu"))
    with pytest.raises(RuntimeError):
        with store.transaction():
            conv = store.load("k")
            conv.state = "danger.start"
            store.save(conv)
            raise RuntimeError("boom")
    assert store.load("k").state == "main.menu"


def test_other_tables_purgers_run_with_every_purge(store, clock):
    seen = []
    store.purgers.append(seen.append)
    with store.transaction():
        store.purge()
    assert seen == [clock.now]


def test_the_sweep_thread_purges_when_nobody_writes(tmp_path):
    store = Store(tmp_path / "w.db", idle_seconds=0)
    save(store, Conversation(key="old", channel="sms", state="main.menu"))
    store.sweep_every(0.05)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if store.db["conversations"].count == 0:
            break
        time.sleep(0.05)
    assert store.db["conversations"].count == 0
