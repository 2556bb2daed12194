"""The canary test: canary values down every path, then nothing of them in any file the app wrote or in the logs."""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from twilio.http.response import Response
from werkzeug.serving import make_server

from bot import create_app

from .conftest import FakeHttp, SmsClient, WebChat
from .test_handoff import Worker, ask_for_a_person, handoff_config, updates

PHONE = "+447700900123"
WHATSAPP = "whatsapp:+447700900456"
NAME = "Zebedee Quillfeather"
EMAIL = "canary.person@example.org"
POSTCODE = "KT1 9ZZ"
CLIENT_IP = "203.0.113.77"
TEXT = "purple-elephant-canary-42"
CANARIES = [PHONE, WHATSAPP, NAME, EMAIL, POSTCODE, CLIENT_IP, TEXT]
# One message that carries them all, as a person might write it.
SPEECH = f"{TEXT} I am {NAME}, {EMAIL}, I live at {POSTCODE}, my number is {PHONE}"


def forms(value: str) -> set[str]:
    """Every way a canary could be written down: as is, lower, upper, without spaces, digits alone, URL-encoded."""
    out = {value, value.lower(), value.upper(), value.replace(" ", ""), urllib.parse.quote(value, safe=""),
           urllib.parse.quote_plus(value)}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 9 and value not in (TEXT,):  # a phone number (or an IP address without its dots)
        out |= {digits, "0" + digits[2:] if digits.startswith("44") else digits}
    return {form for form in out if form}


def found_in(data: bytes, values=CANARIES) -> list[str]:
    """Return each canary form found in `data` (as UTF-8 or UTF-16, the ways SQLite can store text)."""
    hits = []
    for value in values:
        for form in forms(value):
            if form.encode() in data or form.encode("utf-16-le") in data:
                hits.append(form)
    return hits


def written(tmp_path: Path, app) -> dict[str, bytes]:
    """Checkpoint the database, then read every file under the test's folder (database, -wal, -shm, instance, var)."""
    store = app.extensions["waymark"].store
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}


@pytest.fixture
def capp(tmp_path, caplog):
    """The shipped app, Kingston service configured and open, a fake Twilio, and every log record captured."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    app = create_app(handoff_config(tmp_path, WHATSAPP_FROM="whatsapp:+447700900000", SMS_RATE_PER_CONVERSATION=1000))
    app.fake = FakeHttp()
    app.extensions["twilio_out"].http_client = app.fake
    yield app
    app.extensions["waymark"].store.close()


@pytest.fixture
def server(capp):
    """The same app behind werkzeug's own server, so its access log is written as in `waymark serve`."""
    srv = make_server("127.0.0.1", 0, capp, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


def fetch(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    """Call the real server; return (status, body)."""
    request = urllib.request.Request(url, data=data, headers={"X-Forwarded-For": CLIENT_IP, **(headers or {})},
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (a local test server)
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def assert_clean(tmp_path, app, caplog):
    """No canary in any file or log line, in any form (an encrypted one is not readable, so not found)."""
    files = written(tmp_path, app)
    assert "var/waymark.db" in files
    for name, data in files.items():
        hits = found_in(data)
        assert not hits, f"{hits} found in {name}"
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    hits = found_in(logs.encode(), CANARIES)
    assert not hits, f"{hits} found in the logs: {[line for line in logs.splitlines() if any(h in line for h in hits)]}"
    return files


def test_canaries_down_every_path_leave_nothing_behind(capp, server, tmp_path, caplog, monkeypatch):
    w, desk = capp.extensions["waymark"], capp.extensions["handoff"]
    store = w.store
    sms, wa = SmsClient(capp, from_=PHONE), SmsClient(capp, from_=WHATSAPP)
    headers = {"X-Forwarded-For": CLIENT_IP}

    # SMS and WhatsApp: a whole conversation of free text, a picture, HELP, DISCREET, a retry, then EXIT.
    for n, chat in enumerate((sms, wa)):
        assert chat.send("hi")
        assert chat.send(SPEECH)
        assert chat.send(NAME, NumMedia="1", MediaUrl0=f"https://api.twilio.com/{TEXT}.jpg")
        chat.send("HELP")
        chat.send("DISCREET")
        chat.send(EMAIL, sid=f"SMcafe{n:028x}")
        chat.send(EMAIL, sid=f"SMcafe{n:028x}")  # Twilio's retry
        chat.send(POSTCODE)
        chat.post(chat.params(SPEECH), headers=headers)
    # Bad input: unsigned, badly signed, no From, odd NumMedia, characters XML cannot carry.
    assert sms.post(sms.params(SPEECH), signed=False).status_code == 403
    assert sms.post(sms.params(SPEECH), signed=False, headers={"X-Twilio-Signature": TEXT}).status_code == 403
    sms.post({"Body": SPEECH, "MessageSid": "SM" + "d" * 32})
    sms.send(SPEECH + "\x00\x01\ufffe", NumMedia=TEXT)

    # The web chat: free text, options, a language switch, bad bodies, a wrong token, quick exit.
    client = capp.test_client()
    web = WebChat(client)
    web.start()
    for text in (SPEECH, NAME, EMAIL, POSTCODE, PHONE):
        web.say(text)
    web.post({"lang": "en"})
    assert web.post({"text": TEXT * 100}).status_code == 422
    assert web.post({"text": SPEECH, "extra": EMAIL}).status_code == 422
    assert web.post({"option": TEXT}).status_code == 422
    assert client.post(f"/api/v1/conversations/{web.id}/messages", data=f"{{{SPEECH}",
                       headers={**web.headers, "Content-Type": "application/json"}).status_code == 400
    assert client.post(f"/api/v1/conversations/{web.id}/messages", json={"text": SPEECH},
                       headers={"Authorization": f"Bearer {TEXT}"}).status_code == 403
    assert client.post("/api/v1/conversations", json={"lang": TEXT}, headers=headers).status_code == 422
    assert client.post("/api/v1/conversations", json={"text": SPEECH},
                       headers={"Origin": f"https://{TEXT}.example.org"}).status_code == 403
    client.get(f"/api/v1/conversations/{web.id}/updates?wait={TEXT}", headers=web.headers)
    assert web.exit() == 204

    # Internal errors: the engine fails with the person's words in its message; the reply still carries 999.
    engine = w.runtime.engine
    real_step = engine.step

    def failing_step(conv, text):
        if TEXT in text:
            raise ValueError(f"could not read {text!r} from {PHONE}")
        return real_step(conv, text)

    monkeypatch.setattr(engine, "step", failing_step)
    assert any("999" in t for t in sms.send(SPEECH))
    assert any("999" in t for t in wa.send(SPEECH))
    failing = WebChat(capp.test_client())
    failing.start()
    assert "999" in json.dumps(failing.say(SPEECH))
    monkeypatch.setattr(engine, "step", real_step)
    # ...and a failure outside the engine, in the web API itself.
    monkeypatch.setattr("bot.web.option_text", lambda conv, option: (_ for _ in ()).throw(KeyError(SPEECH)))
    assert failing.post({"option": "safe"}).status_code == 500
    monkeypatch.undo()

    # A safe callback by text: the number only encrypted, and gone once a worker marks it done.
    sms.send("EXIT")
    sms.send("talk")
    sms.send("2")  # a safe callback
    sms.send(PHONE)
    sms.send(f"after 6pm, ask for {NAME}")
    sms.send("1")
    sms.send("2")
    sms.send(TEXT)  # the safe word
    [callback] = store.db.execute("SELECT id, data FROM callbacks").fetchall()
    assert desk.unseal(callback[1])["number"] == PHONE
    assert_clean(tmp_path, capp, caplog)  # the number is there, encrypted: its plain text is nowhere
    worker = Worker(capp)
    assert worker.login().status_code == 302
    details = worker.post(f"/staff/callbacks/{callback[0]}/open").text
    assert PHONE in details and TEXT in details  # the worker sees them; nothing else does
    assert worker.post(f"/staff/callbacks/{callback[0]}/done").status_code == 302
    assert store.db.execute("SELECT COUNT(*) FROM callbacks").fetchone()[0] == 0

    # A whole handoff by SMS and by WhatsApp: the address encrypted while live, relay both ways, then gone.
    for chat, address in ((sms, PHONE), (wa, WHATSAPP)):
        chat.send("EXIT")
        ask_for_a_person(chat, note=f"{TEXT} {NAME} {EMAIL} {POSTCODE}")  # the note is encrypted, shown to staff
        [item] = worker.queue()
        assert item["note"].startswith(TEXT) and re.sub(r"\D", "", address) not in json.dumps(item)
        [sealed] = store.db.execute("SELECT address FROM handoffs WHERE id = ?", [item["id"]]).fetchone()
        assert sealed and address not in sealed and desk.unseal(sealed) == address
        worker.claim(item["id"])
        assert chat.send(SPEECH) == []
        worker.say(item["id"], f"Hello {NAME}, is {POSTCODE} safe? {TEXT}")
        assert capp.fake.bodies(address)[-1].endswith(TEXT)
        assert worker.messages(item["id"])
        assert_clean(tmp_path, capp, caplog)
        worker.end(item["id"])
        assert store.db.execute("SELECT COUNT(*) FROM handoffs").fetchone()[0] == 0
        chat.send("5")
    # A text the worker writes that Twilio refuses: the worker is told; the log says only what went wrong.
    sms.send("EXIT")
    ask_for_a_person(sms, note=TEXT)
    [item] = worker.queue()
    worker.claim(item["id"])

    class Refuses(FakeHttp):
        def request(self, *args, **kwargs):
            return Response(400, json.dumps({"code": 21211, "message": f"invalid To {PHONE}"}))

    capp.extensions["twilio_out"].http_client = Refuses()
    assert worker.say(item["id"], SPEECH).headers["Location"].endswith("?failed=1")
    capp.extensions["twilio_out"].http_client = capp.fake
    sms.send("STOP")
    assert store.db.execute("SELECT COUNT(*) FROM handoffs").fetchone()[0] == 0

    # A whole handoff on the web chat, relay both ways, a risk message, then the worker ends it.
    person = WebChat(capp.test_client())
    person.start()
    ask_for_a_person(person, note=SPEECH)
    [item] = worker.queue()
    worker.claim(item["id"])
    person.say(SPEECH)
    person.say(f"{TEXT} he is going to kill me")
    worker.say(item["id"], f"Hello {NAME} {TEXT}")
    assert any(TEXT in m["text"] for m in updates(person)["messages"])
    worker.end(item["id"])
    updates(person)
    person.say("4")
    assert store.db.execute("SELECT COUNT(*) FROM handoffs").fetchone()[0] == 0
    assert store.db.execute("SELECT COUNT(*) FROM relay").fetchone()[0] == 0

    # The same through werkzeug's real server, whose access log names the client and the path.
    base = server
    params = sms.params(SPEECH, from_=PHONE)
    signed = {"X-Twilio-Signature": sms.validator.compute_signature(base + "/sms", params),
              "Content-Type": "application/x-www-form-urlencoded"}
    assert fetch(base + "/sms", urllib.parse.urlencode(params).encode(), signed)[0] == 200
    assert fetch(base + f"/sms?from={urllib.parse.quote(PHONE)}", urllib.parse.urlencode(params).encode())[0] == 403
    status, body = fetch(base + "/api/v1/conversations", b"{}", {"Content-Type": "application/json"})
    started = json.loads(body)
    auth = {"Authorization": f"Bearer {started['token']}", "Content-Type": "application/json"}
    conv = f"{base}/api/v1/conversations/{started['id']}"
    fetch(conv + "/messages", json.dumps({"text": SPEECH}).encode(), auth)
    fetch(conv + f"/updates?wait=0&note={urllib.parse.quote(SPEECH)}", headers=auth)
    fetch(base + f"/chat?lang=en&q={urllib.parse.quote(SPEECH)}")
    fetch(base + f"/{TEXT}/{urllib.parse.quote(EMAIL)}")
    fetch(conv, headers=auth, method="DELETE")
    werkzeug_lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert werkzeug_lines and not any("127.0.0.1" in line for line in werkzeug_lines)

    # Everyone leaves: nothing of them anywhere.
    sms.send("EXIT"), wa.send("EXIT")
    files = assert_clean(tmp_path, capp, caplog)
    assert not files.get("var/waymark.db-wal"), "the WAL was not checkpointed"
    for table in ("callbacks", "handoffs", "relay", "drafts"):
        assert store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table  # noqa: S608
