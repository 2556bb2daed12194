"""The staff console's doors: login, lockout, TOTP, CSRF, sessions, idle timeout, logout, roles, counts, the CLI."""

from __future__ import annotations

import time

import pyotp
import pytest

from bot import create_app
from bot.cli import cli

from .conftest import WebChat
from .test_handoff import PASSWORD, Worker, ask_for_a_person, csrf_of, handoff_config


@pytest.fixture
def happ(tmp_path):
    app = create_app(handoff_config(tmp_path))
    yield app
    app.extensions["waymark"].store.close()


def db(app):
    return app.extensions["waymark"].store.db


def test_the_console_without_login_goes_to_the_login_page(happ):
    client = happ.test_client()
    for path in ("/staff/", "/staff/counts", "/staff/handoffs/abc"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/staff/login")
    assert client.get("/staff/queue.json").status_code == 401


def test_there_are_no_default_accounts(happ):
    assert db(happ).execute("SELECT COUNT(*) FROM staff").fetchone()[0] == 0


def test_passwords_are_argon2id_with_at_least_the_owasp_minimum(happ):
    Worker(happ)
    [stored] = db(happ).execute("SELECT pw_hash FROM staff").fetchone()
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored and PASSWORD not in stored


def test_a_login_gets_a_fresh_strict_httponly_session_cookie(happ):
    worker = Worker(happ)
    page = worker.client.get("/staff/login")
    before = page.headers["Set-Cookie"].split(";")[0]
    response = worker.client.post("/staff/login", data={"csrf": csrf_of(page.text), "name": "amy", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert response.status_code == 302
    assert cookie.split(";")[0] != before  # not the pre-login session
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/staff" in cookie
    assert worker.client.get("/staff/").status_code == 200


def test_the_cookie_is_secure_over_https(happ):
    client = happ.test_client()
    response = client.get("/staff/login", base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(happ):
    Worker(happ)
    wrong = Worker(happ, create=False).login("not the password at all")
    unknown = Worker(happ, name="nobody", create=False).login()
    assert wrong.status_code == unknown.status_code == 401
    assert "don&#39;t match" in wrong.text and "don&#39;t match" in unknown.text


def test_repeated_failures_lock_the_account(happ):
    worker = Worker(happ)
    for _ in range(5):
        assert worker.login("wrong password here").status_code == 401
    locked = worker.login()  # even the right password, while locked
    assert locked.status_code == 429 and "locked" in locked.text
    actions = [r[0] for r in db(happ).execute("SELECT action FROM audit WHERE staff = 'amy'")]
    assert "locked" in actions


def test_the_lock_lifts_after_its_time(happ):
    worker = Worker(happ)
    for _ in range(5):
        worker.login("wrong password here")
    db(happ).execute("UPDATE staff SET locked_until = ?", [time.time() - 1])
    assert worker.login().status_code == 302


def test_admins_need_a_totp_code(happ):
    admin = Worker(happ, name="ada", role="admin")
    assert admin.totp
    response = admin.login()
    assert response.headers["Location"].endswith("/staff/totp")
    assert admin.client.get("/staff/").status_code == 302  # half logged in is not logged in
    page = admin.client.get("/staff/totp")
    bad = admin.client.post("/staff/totp", data={"csrf": csrf_of(page.text), "code": "000000"})
    assert bad.status_code == 401
    good = admin.client.post("/staff/totp", data={"csrf": csrf_of(page.text), "code": pyotp.TOTP(admin.totp).now()})
    assert good.status_code == 302 and good.headers["Location"].endswith("/staff/")
    assert admin.client.get("/staff/counts").status_code == 200


def test_staff_can_be_made_to_use_totp_too(tmp_path):
    app = create_app(handoff_config(tmp_path, STAFF_TOTP=True))
    worker = Worker(app)
    assert worker.totp and worker.login().headers["Location"].endswith("/staff/totp")
    app.extensions["waymark"].store.close()


def test_every_form_needs_its_csrf_token(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    ask_for_a_person(person)
    page = worker.client.get("/staff/login")
    assert worker.client.post("/staff/login", data={"name": "amy", "password": PASSWORD}).status_code == 400
    worker.login()
    [item] = worker.queue()
    assert worker.client.post(f"/staff/handoffs/{item['id']}/claim").status_code == 400
    assert worker.client.post(f"/staff/handoffs/{item['id']}/claim", data={"csrf": "forged"}).status_code == 400
    assert worker.client.post("/staff/logout", data={"csrf": csrf_of(page.text)}).status_code == 400
    assert worker.queue()[0]["status"] == "waiting"


def test_an_idle_session_ends(happ):
    worker = Worker(happ)
    worker.login()
    db(happ).execute("UPDATE staff_sessions SET last_seen = last_seen - 31 * 60")
    response = worker.client.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/login")


def test_a_session_seen_in_the_future_ends_after_the_clock_is_set_back(happ):
    worker = Worker(happ)
    worker.login()
    assert worker.client.get("/staff/").status_code == 200
    db(happ).execute("UPDATE staff_sessions SET last_seen = last_seen + 2 * 3600")  # the clock went back 2 hours
    response = worker.client.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/login")
    assert db(happ).execute("SELECT COUNT(*) FROM staff_sessions").fetchone()[0] == 0


def test_logout_ends_the_session_on_the_server(happ):
    worker = Worker(happ)
    worker.login()
    cookie = worker.client.get_cookie("waymark_staff", path="/staff").value
    assert worker.post("/staff/logout").status_code == 302
    assert db(happ).execute("SELECT COUNT(*) FROM staff_sessions WHERE staff_id IS NOT NULL").fetchone()[0] == 0
    replay = happ.test_client()
    replay.set_cookie("waymark_staff", cookie, path="/staff")
    assert replay.get("/staff/").status_code == 302


def test_counts_are_for_admins_only_with_small_numbers_hidden(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    ask_for_a_person(person)
    worker.login()
    assert worker.client.get("/staff/counts").status_code == 403
    admin = Worker(happ, name="ada", role="admin")
    page = admin.client.get("/staff/login")
    admin.client.post("/staff/login", data={"csrf": csrf_of(page.text), "name": "ada", "password": PASSWORD})
    page = admin.client.get("/staff/totp")
    admin.client.post("/staff/totp", data={"csrf": csrf_of(page.text), "code": pyotp.TOTP(admin.totp).now()})
    html = admin.client.get("/staff/counts").text
    assert "handoff.asked" in html and "&lt;5" in html
    csv = admin.client.get("/staff/counts.csv")
    assert csv.mimetype == "text/csv"
    lines = csv.text.splitlines()
    assert lines[0] == "week,measure,count"
    assert any(line.endswith(",handoff.asked,<5") for line in lines)
    assert any(",conversations.channel.web,<5" in line for line in lines)


def test_the_audit_log_holds_actions_and_aliases_only(happ):
    person, worker = WebChat(happ.test_client()), Worker(happ)
    person.start()
    ask_for_a_person(person, note="my private words")
    worker.login()
    [item] = worker.queue()
    worker.claim(item["id"])
    worker.say(item["id"], "words from the worker")
    worker.end(item["id"])
    rows = db(happ).execute("SELECT staff, action, target FROM audit").fetchall()
    assert ("amy", "claim", item["alias"]) in rows and ("amy", "end", item["alias"]) in rows
    assert "private" not in repr(rows) and "worker" not in repr([r[2] for r in rows])


def test_console_pages_carry_the_strict_headers(happ):
    response = happ.test_client().get("/staff/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "script-src" not in response.headers["Content-Security-Policy"] or "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.text and "style=" not in response.text


def test_the_cli_adds_an_account_with_the_password_from_stdin(tmp_path, monkeypatch):
    config = handoff_config(tmp_path)
    app = create_app(config)
    monkeypatch.setattr("bot.cli._app", lambda: app)
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["staff", "add", "ada", "--role", "admin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/" in result.output and PASSWORD not in result.output
    short = runner.invoke(cli, ["staff", "add", "bo"], input="short\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    demo = runner.invoke(cli, ["staff", "demo"])
    password = demo.output.rsplit("password: ", 1)[1].strip()
    assert Worker(app, name="demo", password=password, create=False).login().status_code == 302
    again = runner.invoke(cli, ["staff", "demo"])
    assert again.output.rsplit("password: ", 1)[1].strip() != password  # a fresh one each run
    app.extensions["waymark"].store.close()
