"""Faults: the server killed with SIGKILL mid-conversation carries on at the right step after a restart;
a locked or full database still gives the person a reply with 999, and nothing is lost or stepped twice
afterwards; a clock set back or forward keeps nothing longer than promised."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

import bot.store
from bench.sms_load import free_port, procfile_options
from bot import create_app
from bot.store import Store, keyed_hash
from flows.engine import Conversation

from .conftest import SmsClient, WebChat, make_config, messages

TOKEN = "faults-twilio-token"
SECRET = "faults-secret"
SENDER = "+447700900321"
WEB_WALK = ["safe", "cannot_see", "danger"]  # welcome -> can anyone see -> main menu -> danger now
WEB_NEXT = "silent"
SMS_WALK = ["hello", "1", "2", "1"]  # the same walk by text
SMS_NEXT = "1"


class Server:
    """Waymark under gunicorn with the Procfile's settings on 127.0.0.1, in its own process group."""

    def __init__(self, tmp: Path):
        self.tmp, self.db = tmp, tmp / "waymark.db"
        self.env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "WAYMARK_SECRET_KEY": SECRET,
                    "WAYMARK_DATABASE": str(self.db), "WAYMARK_SMS_RATE_PER_CONVERSATION": "1000"}
        self.proc = self.base = None

    def start(self) -> None:
        port = free_port()
        with open(self.tmp / "gunicorn.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *procfile_options(), "--bind", f"127.0.0.1:{port}",
                 "bot:create_app()"], cwd=self.tmp, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # its own group, so SIGKILL takes the master and its workers at once
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(400):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.tmp / "gunicorn.log").read_text())
                time.sleep(0.05)
        raise RuntimeError("gunicorn did not answer")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.time() + 10  # the workers are gone too: nothing left answering on the old port
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=0.5)
                time.sleep(0.05)
            except OSError:
                return
        raise RuntimeError("the workers outlived SIGKILL")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def text(self, body: str, sid: str, sender: str = SENDER) -> list[str]:
        params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "To": "+447700900000",
                  "Body": body, "NumMedia": "0"}
        signature = RequestValidator(TOKEN).compute_signature(self.base + "/sms", params)
        request = urllib.request.Request(self.base + "/sms", data=urllib.parse.urlencode(params).encode(),
                                         headers={"X-Twilio-Signature": signature})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            return messages(response.read())


def reference(tmp: Path) -> tuple[dict, list[str]]:
    """What the same walks answer last in a server that was never killed: the in-process app."""
    app = create_app(make_config(tmp, SMS_RATE_PER_CONVERSATION=1000))
    try:
        web = WebChat(app.test_client())
        web.start()
        for option in [*WEB_WALK, WEB_NEXT]:
            last_web = web.choose(option)
        sms = SmsClient(app, SENDER)
        for body in [*SMS_WALK, SMS_NEXT]:
            last_sms = sms.send(body)
        return last_web, last_sms
    finally:
        app.extensions["waymark"].store.close()


def stored_state(db: Path, channel: str, address: str) -> str | None:
    store = Store(db)
    try:
        conv = store.load(keyed_hash(SECRET, channel, address))
        return conv.state if conv else None
    finally:
        store.close()


def test_sigkill_mid_conversation_then_restart_carries_on_at_the_right_step(tmp_path):
    server = Server(tmp_path)
    server.start()
    try:
        status, started = server.call("POST", "/api/v1/conversations", {})
        assert status == 201
        cid, token = started["id"], started["token"]
        for option in WEB_WALK:
            status, reply = server.call("POST", f"/api/v1/conversations/{cid}/messages", {"option": option}, token)
            assert status == 200, reply
        for n, body in enumerate(SMS_WALK):
            server.text(body, f"SM{n:032x}")
        web_before, sms_before = stored_state(server.db, "web", cid), stored_state(server.db, "sms", SENDER)
        assert web_before == sms_before == "danger.start"

        # Others keep texting while the whole server dies at once.
        stop = threading.Event()

        def others():
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    server.text("menu" if n % 2 else "1", f"SMf{n:031x}", sender=f"+4477009005{n % 10:02d}")
                except Exception:  # noqa: BLE001  (the server is being killed under it)
                    pass

        traffic = threading.Thread(target=others)
        traffic.start()
        time.sleep(0.3)
        server.kill()
        stop.set()
        traffic.join(timeout=10)

        with sqlite3.connect(server.db) as db:  # SQLite recovers its write-ahead log intact
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert stored_state(server.db, "web", cid) == web_before
        assert stored_state(server.db, "sms", SENDER) == sms_before

        server.start()  # on the same database
        status, web_after = server.call("POST", f"/api/v1/conversations/{cid}/messages", {"option": WEB_NEXT}, token)
        assert status == 200, web_after
        sms_after = server.text(SMS_NEXT, f"SM{len(SMS_WALK):032x}")
    finally:
        server.stop()
    web_expected, sms_expected = reference(tmp_path / "reference")
    assert [m["id"] for m in web_after["messages"]] == [m["id"] for m in web_expected["messages"]]
    assert [o["id"] for o in web_after["options"]] == [o["id"] for o in web_expected["options"]]
    assert sms_after == sms_expected
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()


@pytest.fixture
def locked_app(tmp_path, monkeypatch):
    monkeypatch.setattr(bot.store, "BUSY_TIMEOUT_MS", 150)  # wait this long for the lock, not 5 s
    app = create_app(make_config(tmp_path, SMS_RATE_PER_CONVERSATION=1000))
    yield app
    app.extensions["waymark"].store.close()


def test_a_locked_database_still_answers_with_999_and_loses_nothing(locked_app):
    wm = locked_app.extensions["waymark"]
    web, sms = WebChat(locked_app.test_client()), SmsClient(locked_app, SENDER)
    web.start()
    for option in WEB_WALK:
        web.choose(option)
    for body in SMS_WALK:
        sms.send(body)
    web_key, sms_key = wm.key("web", web.id), wm.key("sms", SENDER)
    assert wm.store.load(web_key).state == wm.store.load(sms_key).state == "danger.start"

    locker = sqlite3.connect(wm.store.path, timeout=0, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database far beyond the busy timeout
    try:
        response = web.post({"option": WEB_NEXT})
        assert response.status_code == 200
        reply = response.get_json()
        assert [m["id"] for m in reply["messages"]] == ["common.error"]
        assert "999" in reply["messages"][0]["text"]
        texts = sms.send(SMS_NEXT, sid="SM" + "7" * 32)
        assert any("999" in t for t in texts)
        exit_texts = sms.send("exit", sid="SM" + "8" * 32)  # EXIT cannot delete while locked: it says so, with 999
        assert exit_texts and "999" in exit_texts[0]
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    # Nothing was half-done: the web conversation is where it was, and stepping again works once.
    assert wm.store.load(web_key).state == "danger.start"
    assert [m["id"] for m in web.choose(WEB_NEXT)["messages"]][0] == "danger.silent"
    assert wm.store.load(web_key).state == "danger.silent"
    # The text's EXIT could not be written while locked; the person is told to try again and can.
    assert wm.store.load(sms_key).state == "danger.start"
    retried = sms.send(SMS_NEXT, sid="SM" + "7" * 32)  # Twilio's retry of the message that met the lock
    assert retried and "999" in retried[0] and "something went wrong" not in retried[0]
    assert wm.store.load(sms_key).state == "danger.silent"
    assert sms.send(SMS_NEXT, sid="SM" + "7" * 32) == retried  # a second retry: the same reply, not a second step
    assert wm.store.load(sms_key).state == "danger.silent"
    assert sms.send("exit", sid="SM" + "8" * 32) == []  # EXIT again (or Twilio's retry of it): deleted now
    assert wm.store.load(sms_key) is None


# -- a full disk -----------------------------------------------------------------------------------------


def fill(db: sqlite3.Connection) -> None:
    """Let the database grow no further (SQLite's own way to test a full disk) and use up the room left."""
    db.execute("CREATE TABLE filler (x BLOB)")
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    for size in (4000, 1000, 100, 10, 1):
        try:
            while True:
                db.execute("INSERT INTO filler VALUES (randomblob(?))", [size])
        except sqlite3.OperationalError as err:
            assert "full" in str(err)


def test_a_full_database_still_answers_with_999_and_loses_nothing(tmp_path):
    app = create_app(make_config(tmp_path, SMS_RATE_PER_CONVERSATION=1000, SMS_RATE_OVERALL=100000))
    wm = app.extensions["waymark"]
    web = WebChat(app.test_client())
    web.start()
    for option in WEB_WALK:
        web.choose(option)
    web_key = wm.key("web", web.id)
    conn = wm.store.db.conn  # the test client runs requests on this thread, so on this connection
    fill(conn)

    replies = [SmsClient(app, f"+4477009{n:05d}").send("hello") for n in range(40)]  # new people: new rows
    assert all(texts and "999" in texts[0] for texts in replies)
    assert any("something went wrong" in texts[0] for texts in replies), "the disk never filled"
    step = web.post({"option": WEB_NEXT})
    assert step.status_code == 200 and "999" in json.dumps(step.get_json())
    assert wm.store.load(web_key).state in ("danger.start", "danger.silent")  # where it was, or one step on

    conn.execute("DROP TABLE filler")  # room again
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    after = web.choose("menu") if wm.store.load(web_key).state == "danger.silent" else web.choose(WEB_NEXT)
    assert after["messages"] and wm.store.load(web_key).state in ("main.menu", "danger.silent")
    assert "999" in SmsClient(app, "+447700999999").send("hello")[0]  # someone new is welcome again
    app.extensions["waymark"].store.close()


# -- the clock set back or forward -------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_clock_set_back_keeps_no_conversation_past_its_time(tmp_path):
    clock = Clock(1_800_000_000.0)
    store = Store(tmp_path / "w.db", idle_seconds=1800, clock=clock)
    with store.transaction():
        store.save(Conversation(key="k", channel="sms", state="danger.start"))
    clock.now -= 6 * 3600  # an NTP correction sets the clock back six hours
    with store.transaction():
        assert store.load("k").state == "danger.start"  # the person carries on where they were
        store.purge()
    clock.now += 1801  # idle for longer than the limit, counted from the correction
    with store.transaction():
        store.purge()
        assert store.load("k") is None  # not kept six more hours


def test_a_clock_set_forward_expires_early_rather_than_late(tmp_path):
    clock = Clock(1_800_000_000.0)
    store = Store(tmp_path / "w.db", idle_seconds=1800, clock=clock)
    with store.transaction():
        store.save(Conversation(key="k", channel="sms", state="danger.start"))
    clock.now += 3 * 3600
    with store.transaction():
        assert store.load("k") is None


def test_after_a_clock_set_back_every_table_expires_on_time_through_the_app(tmp_path, monkeypatch):
    app = create_app(make_config(tmp_path))
    wm = app.extensions["waymark"]
    sms = SmsClient(app, SENDER)
    for body in SMS_WALK:
        sms.send(body)
    tables = [t for t, _ in wm.store.timestamps]
    assert {"conversations", "sms_replies", "handoffs", "callbacks", "drafts"} <= set(tables)
    later = time.time() + 6 * 3600  # the records were written six hours "ahead" of the corrected clock
    with wm.store.transaction():
        for table, column in wm.store.timestamps:
            wm.store.db.execute(f"UPDATE {table} SET {column} = ?", [later])
        wm.store.purge()
        for table, column in wm.store.timestamps:
            assert wm.store.db.execute(f"SELECT count(*) FROM {table} WHERE {column} > ?",
                                       [time.time() + 60]).fetchone()[0] == 0, table
    assert wm.store.load(wm.key("sms", SENDER)).state == "danger.start"  # still where they were
    wm.store.close()


def test_web_chats_long_polling_never_hold_up_the_sms_webhook(tmp_path):
    """Forty web chats wait for a worker's reply at once; texts are still answered while all forty wait."""
    server = Server(tmp_path)
    server.env.update({"WAYMARK_HANDOFF_HOURS": "Mon-Sun 00:00-24:00", "WAYMARK_BANK_HOLIDAYS": "",
                       "WAYMARK_SERVICES__KINGSTON_VAWG_SERVICE__NAME": "Kingston Domestic Abuse & VAWG Service",
                       "WAYMARK_SERVICES__KINGSTON_VAWG_SERVICE__PHONE": "020 3000 0000"})
    server.start()
    try:
        status, started = server.call("POST", "/api/v1/conversations", {})
        cid, token = started["id"], started["token"]
        for words in ("talk", "1", "1", "skip"):  # talk to a worker now, topics shown, no note: in the queue
            status, reply = server.call("POST", f"/api/v1/conversations/{cid}/messages", {"text": words}, token)
            assert status == 200, reply
        assert reply["live"] is True

        polls: list[tuple[int, float]] = []

        def poll() -> None:
            polls.append((*server.call("GET", f"/api/v1/conversations/{cid}/updates?wait=8", token=token)[:1],
                          time.monotonic()))

        waiting = [threading.Thread(target=poll) for _ in range(40)]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)
        answers = [server.text("hello" if n == 0 else "1", f"SMp{n:031x}", sender=f"+4477009006{n:02d}")
                   for n in range(10)]
        answered = time.monotonic()
        assert polls == []  # every chat was still waiting when the last text was answered
        for thread in waiting:
            thread.join(timeout=20)
    finally:
        server.stop()
    assert all("999" in texts[0] for texts in answers)
    assert len(polls) == 40 and all(status == 200 and at > answered for status, at in polls)
