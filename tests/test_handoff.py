"""Talking to a person, end to end through the real endpoints: web chat and SMS, the queue, relay, end, feedback."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from twilio.http.response import Response

from bot import create_app
from bot.handoff import HoursError, parse_hours, shown
from bot.staff import add_account

from .conftest import FakeHttp, SmsClient, WebChat, make_config

PASSWORD = "correct horse battery staple"
KINGSTON = {"kingston_vawg_service": {"name": "Kingston Domestic Abuse & VAWG Service", "phone": "020 3000 0000"}}
NUMBER = "+447700900777"


def handoff_config(tmp_path, **extra) -> dict:
    """A test configuration with the Kingston service configured and always open."""
    settings = {"SERVICES": KINGSTON, "HANDOFF_HOURS": "Mon-Sun 00:00-24:00", "BANK_HOLIDAYS": "",
                "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "SMS_FROM": "+447700900000", **extra}
    return make_config(tmp_path, **settings)


@pytest.fixture
def happ(tmp_path):
    """The shipped app with the Kingston service configured, open every hour, and a fake Twilio."""
    app = create_app(handoff_config(tmp_path))
    app.fake = FakeHttp()
    app.extensions["twilio_out"].http_client = app.fake
    yield app
    app.extensions["waymark"].store.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


class Worker:
    """A worker using the console through the test client: log in, read the queue, claim, write, end."""

    def __init__(self, app, name="amy", role="staff", password=PASSWORD, create=True):
        self.app, self.name, self.password = app, name, password
        if create:
            with app.app_context():
                self.totp = add_account(app.extensions["waymark"].store, name, role, password, False)
        self.client = app.test_client()
        self.csrf = None

    def login(self, password: str | None = None):
        page = self.client.get("/staff/login")
        response = self.client.post("/staff/login", data={"csrf": csrf_of(page.text), "name": self.name,
                                                          "password": password or self.password})
        if response.status_code == 302 and response.headers["Location"].endswith("/staff/"):
            self.csrf = csrf_of(self.client.get("/staff/").text)
        return response

    def queue(self) -> list[dict]:
        response = self.client.get("/staff/queue.json")
        assert response.status_code == 200
        return response.get_json()["items"]

    def post(self, path: str, **data):
        return self.client.post(path, data={"csrf": self.csrf, **data})

    def claim(self, hid: str):
        return self.post(f"/staff/handoffs/{hid}/claim")

    def say(self, hid: str, text: str):
        return self.post(f"/staff/handoffs/{hid}/say", text=text)

    def messages(self, hid: str) -> list[dict]:
        return self.client.get(f"/staff/handoffs/{hid}/messages.json").get_json()["messages"]

    def end(self, hid: str):
        return self.post(f"/staff/handoffs/{hid}/end")


def ask_for_a_person(chat, note="He checks my phone", share=True):
    """Ask to talk, share topics (or not) and leave a note, on the web chat or by text."""
    if isinstance(chat, WebChat):
        first = chat.say("talk")
        assert "talk.open" in ids(first) and [o["id"] for o in first["options"]][0] == "person"
        chat.choose("person")
        chat.choose("yes" if share else "no")
        return chat.say(note) if note else chat.choose("skip")
    chat.send("talk")
    chat.send("1")
    chat.send("1" if share else "2")
    return chat.send(note)


def claimed_on_the_web(app) -> tuple[WebChat, "Worker", dict]:
    """A person who asked in the web chat for a person, and the worker who has claimed their chat."""
    person, worker = WebChat(app.test_client()), Worker(app)
    person.start()
    ask_for_a_person(person)
    worker.login()
    [item] = worker.queue()
    worker.claim(item["id"])
    return person, worker, item


def claimed_by_text(app) -> tuple[SmsClient, "Worker", dict]:
    """A person who asked by text for a person, and the worker who has claimed their chat."""
    sms, worker = SmsClient(app, from_=NUMBER), Worker(app)
    ask_for_a_person(sms)
    worker.login()
    [item] = worker.queue()
    worker.claim(item["id"])
    return sms, worker, item


def ids(reply: dict) -> list[str]:
    return [m["id"] for m in reply["messages"]]


def updates(chat: WebChat, wait: int = 0) -> dict:
    response = chat.client.get(f"/api/v1/conversations/{chat.id}/updates?wait={wait}", headers=chat.headers)
    assert response.status_code == 200
    return response.get_json()


def counts(app) -> dict:
    desk = app.extensions["handoff"]
    with app.app_context():
        return {name: n for week in desk.weeks() for name, n in desk.counts(week).items()}


def database_bytes(app) -> bytes:
    store = app.extensions["waymark"].store
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = store.path.read_bytes()
    wal = store.path.with_name(store.path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


# -- a whole handoff over the web chat ------------------------------------------------------------------------


def test_a_web_chat_reaches_a_worker_talks_both_ways_and_comes_back(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    person.say("menu")
    person.choose("healthy")  # a topic first, so there is something to share
    queued = ask_for_a_person(person, note="He checks my phone")
    assert ids(queued)[:2] == ["talk.likely_wait", "talk.waiting"]
    assert updates(person)["live"] is True  # waiting counts as live: keep polling

    assert worker.login().status_code == 302
    [item] = worker.queue()
    assert item["note"] == "He checks my phone" and item["channel"] == "web" and re.fullmatch(r"[A-Z2-9]{4,6}", item["alias"])
    assert item["topics"] == ["Is my relationship healthy?"]  # in words, never an internal id
    assert worker.claim(item["id"]).status_code == 302
    assert [m["id"] for m in updates(person)["messages"]] == ["talk.joined"]

    reply = person.say("Hello, are you there?")
    assert reply["messages"] == [] and reply["options"] == []  # the bot stays quiet
    assert [m["text"] for m in worker.messages(item["id"]) if m["sender"] == "person"] == ["Hello, are you there?"]

    worker.say(item["id"], "Hi, I'm Amy from the Kingston service. I'm here.")
    got = updates(person)
    assert [m["text"] for m in got["messages"]] == ["Hi, I'm Amy from the Kingston service. I'm here."] and got["live"]
    assert updates(person)["messages"] == []  # delivered once

    assert worker.end(item["id"]).status_code == 302
    ended = updates(person)
    assert ended["live"] is False
    assert "ended the chat" in ended["messages"][0]["text"] and "Did you feel listened to?" in ended["messages"][0]["text"]
    thanks = person.say("5")
    assert ids(thanks)[0] == "talk.thanks"
    assert counts(happ)["feedback.5"] == 1
    assert worker.queue() == []
    data = database_bytes(happ)
    for secret in (b"He checks my phone", b"are you there", b"I'm Amy"):
        assert secret not in data
    store = happ.extensions["waymark"].store
    assert store.db.execute("SELECT COUNT(*) FROM relay").fetchone()[0] == 0
    assert store.db.execute("SELECT COUNT(*) FROM handoffs").fetchone()[0] == 0


def test_the_queue_names_the_persons_language_so_an_interpreter_can_be_booked(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start(lang="pl")
    ask_for_a_person(person, note="On sprawdza mój telefon")
    worker.login()
    [item] = worker.queue()
    assert item["lang"] == "pl" and item["language"] == "Polish (polski)"
    assert "Polish (polski) (an interpreter may be needed)" in worker.client.get("/staff/").text
    worker.claim(item["id"])
    assert "Polish (polski) (an interpreter may be needed)" in worker.client.get(f"/staff/handoffs/{item['id']}").text


def test_the_note_is_optional_and_topics_stay_private_when_the_person_says_no(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    ask_for_a_person(person, note=None, share=False)
    worker.login()
    [item] = worker.queue()
    assert item["note"] == "" and item["topics"] == []


def test_exit_during_a_live_chat_ends_everything_at_once(happ):
    person, worker, item = claimed_on_the_web(happ)
    reply = person.say("EXIT")
    assert reply["ended"] is True
    assert worker.queue() == []
    assert worker.say(item["id"], "hello?").status_code == 410
    assert happ.extensions["waymark"].store.db.execute("SELECT COUNT(*) FROM relay").fetchone()[0] == 0


def test_a_risk_message_during_a_live_chat_shows_999_and_alerts_the_worker(happ):
    person, worker, item = claimed_on_the_web(happ)
    reply = person.say("he is going to kill me")
    assert "common.risk_danger_now" in ids(reply) and "999" in reply["messages"][0]["text"]
    data = worker.client.get(f"/staff/handoffs/{item['id']}/messages.json").get_json()
    assert data["alert"] is True
    assert any(m["sender"] == "system" for m in data["messages"])
    assert worker.queue()[0]["risk"] is True


def test_at_risk_people_come_first_in_the_queue(happ):
    calm, urgent, worker = WebChat(happ.test_client()), WebChat(happ.test_client()), Worker(happ)
    calm.start()
    ask_for_a_person(calm, note="first")
    urgent.start()
    urgent.say("he is going to kill me")
    ask_for_a_person(urgent, note="second")
    worker.login()
    assert [i["note"] for i in worker.queue()] == ["second", "first"]


def test_transfer_puts_the_chat_back_in_the_queue_and_tells_the_person(happ):
    person, amy, item = claimed_on_the_web(happ)
    bea = Worker(happ, name="bea")
    bea.login()
    amy.post(f"/staff/handoffs/{item['id']}/transfer")
    assert [m["id"] for m in updates(person)["messages"]] == ["talk.joined", "talk.transferred"]
    assert bea.claim(item["id"]).status_code == 302
    assert counts(happ)["handoff.answered"] == 1


def test_a_second_worker_cannot_take_or_read_a_claimed_chat(happ):
    *_, item = claimed_on_the_web(happ)  # claimed by amy
    bea = Worker(happ, name="bea")
    bea.login()
    assert bea.claim(item["id"]).status_code == 409
    assert bea.client.get(f"/staff/handoffs/{item['id']}").status_code == 409
    assert bea.say(item["id"], "hi").status_code == 410


def test_the_person_can_stop_waiting(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    ask_for_a_person(person)
    reply = person.choose("cancel")
    assert ids(reply)[0] == "talk.cancelled"
    worker.login()
    assert worker.queue() == []
    assert counts(happ)["handoff.abandoned"] == 1


# -- a whole handoff over SMS ---------------------------------------------------------------------------------------


def test_a_text_conversation_reaches_a_worker_and_replies_go_back_by_twilio(happ):
    sms, worker = SmsClient(happ, from_=NUMBER), Worker(happ)
    texts = ask_for_a_person(sms, note="Please be careful what you text")
    assert "likely wait" in texts[0]
    worker.login()
    [item] = worker.queue()
    assert item["channel"] == "sms" and NUMBER not in json.dumps(item)
    assert NUMBER.encode() not in worker.client.get("/staff/").data

    worker.claim(item["id"])
    assert "worker from the Kingston service is here" in happ.fake.bodies(NUMBER)[-1]
    assert sms.send("Thank you. Is it safe to talk about housing?") == []  # the bot stays quiet
    assert worker.messages(item["id"])[-1]["text"] == "Thank you. Is it safe to talk about housing?"

    worker.say(item["id"], "Yes. Let's talk about housing.")
    assert happ.fake.bodies(NUMBER)[-1].endswith("Yes. Let's talk about housing.")
    data = database_bytes(happ)
    assert NUMBER.encode() not in data and b"about housing" not in data and b"be careful" not in data

    worker.end(item["id"])
    assert "Did you feel listened to?" in happ.fake.bodies(NUMBER)[-1]
    assert "Thank you" in sms.send("4")[0]
    assert counts(happ)["feedback.4"] == 1
    store = happ.extensions["waymark"].store
    assert store.db.execute("SELECT COUNT(*) FROM handoffs").fetchone()[0] == 0
    assert store.db.execute("SELECT COUNT(*) FROM relay").fetchone()[0] == 0


def test_stop_by_text_closes_the_chat_for_the_worker(happ):
    sms, worker, item = claimed_by_text(happ)
    assert sms.send("STOP") == []
    assert worker.queue() == []
    assert worker.client.get(f"/staff/handoffs/{item['id']}").status_code == 410


# -- out of hours: helplines and a safe callback --------------------------------------------------------------------


@pytest.fixture
def closed(tmp_path):
    app = create_app(handoff_config(tmp_path, HANDOFF_HOURS="Mon 00:00-00:01", BANK_HOLIDAYS=""))
    app.extensions["handoff"].clock = lambda: dt.datetime(2026, 11, 26, 20, 0, tzinfo=dt.timezone.utc).timestamp()
    yield app
    app.extensions["waymark"].store.close()


def test_out_of_hours_offers_the_helplines_and_a_safe_callback(closed):
    person = WebChat(closed.test_client())
    person.start()
    reply = person.say("talk")
    assert ids(reply)[:3] == ["talk.kingston", "talk.closed", "talk.helplines"]
    assert [o["id"] for o in reply["options"]] == ["callback", "danger", "menu"]


def test_a_safe_callback_is_encrypted_at_rest_shown_to_staff_and_deleted_when_done(closed):
    person, worker = WebChat(closed.test_client()), Worker(closed)
    person.start()
    person.say("talk")
    assert ids(person.choose("callback"))[0] == "talk.callback_intro"
    person.say("07700 900555")
    person.say("weekdays 10am to 12pm")
    person.choose("no")
    person.choose("yes")
    done = person.say("bluebell")
    assert ids(done)[0] == "talk.callback_done"
    assert b"900555" not in database_bytes(closed) and b"bluebell" not in database_bytes(closed)

    worker.login()
    page = worker.client.get("/staff/").text
    assert "900555" not in page
    cid = re.search(r"/staff/callbacks/([0-9a-f]+)/open", page).group(1)
    details = worker.post(f"/staff/callbacks/{cid}/open").text
    assert "07700 900555" in details and "bluebell" in details and "weekdays 10am" in details
    audit = closed.extensions["waymark"].store.db.execute("SELECT * FROM audit").fetchall()
    assert "900555" not in repr(audit) and "bluebell" not in repr(audit)
    assert worker.post(f"/staff/callbacks/{cid}/done").status_code == 302
    assert closed.extensions["waymark"].store.db.execute("SELECT COUNT(*) FROM callbacks").fetchone()[0] == 0


def test_callbacks_expire_after_the_retention_time(closed):
    person = WebChat(closed.test_client())
    person.start()
    person.say("talk")
    person.choose("callback")
    for answer in ("07700 900555", "any time"):
        person.say(answer)
    person.choose("yes"), person.choose("yes"), person.choose("skip")
    desk = closed.extensions["handoff"]
    start = desk.clock()
    desk.clock = lambda: start + 8 * 86400
    with desk.store.transaction():
        desk.purge()
    assert desk.store.db.execute("SELECT COUNT(*) FROM callbacks").fetchone()[0] == 0


# -- opening hours, counts ---------------------------------------------------------------------------------------------


def test_opening_hours_are_read_and_checked():
    assert parse_hours("Mon-Fri 09:00-17:00; Sat 10:00-13:00") == [({0, 1, 2, 3, 4}, 540, 1020), ({5}, 600, 780)]
    assert parse_hours("Fri-Mon 00:00-24:00")[0][0] == {4, 5, 6, 0}
    for bad in ("Mon-Fri 9-5", "Funday 09:00-17:00", "Mon 17:00-09:00"):
        with pytest.raises(HoursError):
            parse_hours(bad)


def test_a_bank_holiday_and_evenings_are_closed(tmp_path):
    app = create_app(handoff_config(tmp_path, HANDOFF_HOURS="Mon-Fri 09:00-17:00", BANK_HOLIDAYS="2026-12-25"))
    desk = app.extensions["handoff"]
    at = lambda *a: dt.datetime(*a, tzinfo=dt.timezone.utc).timestamp()  # noqa: E731 - London is UTC in winter
    assert desk.is_open(at(2026, 11, 26, 10, 0))
    assert not desk.is_open(at(2026, 11, 26, 18, 0))
    assert not desk.is_open(at(2026, 11, 28, 10, 0))  # Saturday
    assert not desk.is_open(at(2026, 12, 25, 10, 0))  # Christmas Day, a Friday
    app.extensions["waymark"].store.close()


def test_opening_hours_follow_london_time_across_the_clock_change(tmp_path):
    app = create_app(handoff_config(tmp_path, HANDOFF_HOURS="Mon-Fri 09:00-17:00"))
    desk = app.extensions["handoff"]
    at = lambda *a: dt.datetime(*a, tzinfo=dt.timezone.utc).timestamp()  # noqa: E731
    # Friday 27 March 2026 is GMT: 08:30 UTC is 08:30 in London, closed. On Monday 30 March (BST), 08:30
    # UTC is 09:30 in London, open; 16:30 UTC is 17:30, closed.
    assert not desk.is_open(at(2026, 3, 27, 8, 30))
    assert desk.is_open(at(2026, 3, 30, 8, 30)) and not desk.is_open(at(2026, 3, 30, 16, 30))
    assert desk.is_open(at(2026, 10, 26, 9, 30)) and not desk.is_open(at(2026, 10, 26, 8, 30))  # GMT again
    app.extensions["waymark"].store.close()


def test_without_the_kingston_service_there_is_no_live_chat(app):
    assert not app.extensions["handoff"].is_open()
    reply = WebChat(app.test_client()).say("talk")
    assert "talk.helplines" in ids(reply) and "person" not in [o["id"] for o in reply["options"]]


def test_small_numbers_are_shown_as_under_five():
    assert [shown(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]


def test_the_median_wait_comes_from_minute_counters(happ):
    desk = happ.extensions["handoff"]
    with desk.store.transaction():
        for minute in (1, 2, 2, 9):
            desk.count(f"wait.{minute}")
    week = desk.weeks()[0]
    assert desk.median_wait(week) == 2
    with desk.store.transaction():
        desk.count("wait.9")
        desk.count("wait.10")
    assert desk.median_wait(week) == 5.5


# -- notifications, quick exit, failures ----------------------------------------------------------------------------


def test_the_on_call_number_is_told_someone_is_waiting_and_nothing_more(tmp_path):
    app = create_app(handoff_config(tmp_path, STAFF_NOTIFY_TO="+447700900999"))
    app.fake = FakeHttp()
    app.extensions["twilio_out"].http_client = app.fake
    person = WebChat(app.test_client())
    person.start()
    ask_for_a_person(person, note="a private note")
    app.extensions["handoff"].notifier.join(5)
    [text] = app.fake.bodies("+447700900999")
    assert "waiting" in text and "private" not in text
    app.extensions["waymark"].store.close()


def test_quick_exit_on_the_web_closes_the_chat_for_the_worker(happ):
    person, worker, item = claimed_on_the_web(happ)
    assert person.exit() == 204
    assert worker.queue() == []
    store = happ.extensions["waymark"].store
    assert store.db.execute("SELECT COUNT(*) FROM relay").fetchone()[0] == 0


def test_a_text_that_cannot_be_sent_is_shown_to_the_worker(happ):
    sms, worker, item = claimed_by_text(happ)
    happ.config["SMS_FROM"] = None  # Twilio refuses a message with no sender

    class Refuses(FakeHttp):
        def request(self, *args, **kwargs):
            return Response(400, json.dumps({"code": 21212, "message": "invalid from"}))

    happ.extensions["twilio_out"].http_client = Refuses()
    response = worker.say(item["id"], "hello")
    assert response.status_code == 302 and response.headers["Location"].endswith("?failed=1")
    assert "could not be sent" in worker.client.get(response.headers["Location"]).text


def test_someone_waiting_too_long_is_offered_a_callback(happ):
    person = WebChat(happ.test_client())
    person.start()
    ask_for_a_person(person)
    desk = happ.extensions["handoff"]
    start = desk.clock()
    desk.clock = lambda: start + 11 * 60
    assert ids(person.say("hello?"))[0] == "talk.no_one_free"


def test_someone_waiting_quietly_on_the_web_is_told_once_that_nobody_is_free(happ):
    person = WebChat(happ.test_client())
    person.start()
    ask_for_a_person(person)
    desk = happ.extensions["handoff"]
    start = desk.clock()
    desk.clock = lambda: start + 11 * 60
    assert [m["id"] for m in updates(person)["messages"]] == ["talk.no_one_free"]
    assert updates(person)["messages"] == []


def test_waiting_with_the_page_open_keeps_the_conversation(happ):
    person = WebChat(happ.test_client())
    person.start()
    ask_for_a_person(person)
    store = happ.extensions["waymark"].store
    store.db.execute("UPDATE conversations SET updated_at = updated_at - 29 * 60")
    assert updates(person)["live"] is True
    assert store.db.execute("SELECT updated_at FROM conversations").fetchone()[0] > store.clock() - 60


def test_a_conversation_that_expires_leaves_the_queue(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    ask_for_a_person(person)
    happ.extensions["waymark"].store.db.execute("DELETE FROM conversations")  # expired and purged
    worker.login()
    assert worker.queue() == []
    assert counts(happ)["handoff.abandoned"] == 1


def test_the_workers_last_words_reach_the_web_chat_even_when_they_end_at_once(happ):
    person, worker, item = claimed_on_the_web(happ)
    worker.say(item["id"], "Take care. Goodbye.")
    worker.end(item["id"])
    got = [m["text"] for m in updates(person)["messages"]]
    assert got[-2] == "Take care. Goodbye." and "ended the chat" in got[-1]
    assert happ.extensions["waymark"].store.db.execute("SELECT COUNT(*) FROM relay").fetchone()[0] == 0


def test_a_whatsapp_conversation_is_answered_on_whatsapp(happ):
    happ.config["WHATSAPP_FROM"] = "whatsapp:+447700900000"
    address = "whatsapp:" + NUMBER
    chat, worker = SmsClient(happ, from_=address), Worker(happ)
    ask_for_a_person(chat)
    worker.login()
    [item] = worker.queue()
    assert item["channel"] == "whatsapp"
    worker.claim(item["id"])
    worker.say(item["id"], "Hello on WhatsApp.")
    sent = [r["data"] for r in happ.fake.requests if r["data"].get("To") == address]
    assert sent[-1]["From"] == "whatsapp:+447700900000" and sent[-1]["Body"].endswith("Hello on WhatsApp.")
    assert address.encode() not in database_bytes(happ)
