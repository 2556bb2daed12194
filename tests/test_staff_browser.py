"""A worker in real headless Chromium: log in, see someone join the queue live, claim, talk both ways, end."""

from __future__ import annotations

import re

import pytest
from playwright import sync_api

from bot import create_app

from .conftest import SmsClient, WebChat
from .test_browser import axe_clean, serve
from .test_handoff import NUMBER, PASSWORD, FakeHttp, Worker, ask_for_a_person, counts, handoff_config, updates


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """Serve an app with the Kingston service open and one worker account; texts go to a fake Twilio."""
    app = create_app(handoff_config(tmp_path_factory.mktemp("console")))
    app.fake = FakeHttp()
    app.extensions["twilio_out"].http_client = app.fake
    Worker(app)  # creates the account "amy"
    httpd, app.base = serve(app)
    yield app
    httpd.shutdown()
    app.extensions["waymark"].store.close()


@pytest.fixture
def page(browser, console):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def log_in(page, base: str) -> None:
    page.goto(base + "/staff/")
    assert page.url.endswith("/staff/login")
    axe_clean(page, "staff-login")
    page.fill("#name", "amy")
    page.fill("#password", PASSWORD)
    page.click('[data-staff="login"]')
    page.wait_for_url(re.compile(r"/staff/$"))


def test_a_worker_in_the_browser_answers_a_web_chat(page, console):
    log_in(page, console.base)
    sync_api.expect(page.locator('[data-staff="empty"]')).to_be_visible()
    axe_clean(page, "staff-queue-empty")

    person = WebChat(console.test_client())
    person.start()
    ask_for_a_person(person, note="I want to talk about leaving safely")
    item = page.locator('[data-staff="item"]')  # the queue updates itself
    sync_api.expect(item).to_contain_text("I want to talk about leaving safely")
    sync_api.expect(item).not_to_contain_text("+44")
    axe_clean(page, "staff-queue")

    page.click('[data-staff="claim"]')
    page.wait_for_url(re.compile(r"/staff/handoffs/"))
    assert [m["id"] for m in updates(person)["messages"]] == ["talk.joined"]
    axe_clean(page, "staff-chat")

    assert person.say("Is anyone there?")["messages"] == []
    sync_api.expect(page.locator('[data-staff="messages"] li.person')).to_contain_text("Is anyone there?")

    page.fill("#text", "Yes, I'm here. You're safe to talk.")
    page.click('[data-staff="send"]')
    sync_api.expect(page.locator('[data-staff="messages"] li.worker')).to_contain_text("You're safe to talk.")
    assert [m["text"] for m in updates(person, wait=5)["messages"]] == ["Yes, I'm here. You're safe to talk."]

    page.click('[data-staff="end"]')
    page.wait_for_url(re.compile(r"/staff/$"))
    ended = updates(person)
    assert ended["live"] is False and "Did you feel listened to?" in ended["messages"][0]["text"]
    person.say("5")
    assert counts(console)["feedback.5"] >= 1

    page.click('[data-staff="logout"]')
    page.wait_for_url(re.compile(r"/staff/login$"))
    page.goto(console.base + "/staff/")
    assert page.url.endswith("/staff/login")


def test_a_worker_in_the_browser_answers_a_text_conversation(page, console):
    log_in(page, console.base)
    sms = SmsClient(console, from_=NUMBER)
    ask_for_a_person(sms, note="text only please")
    sync_api.expect(page.locator('[data-staff="item"]')).to_contain_text("text only please")
    page.click('[data-staff="claim"]')
    page.wait_for_url(re.compile(r"/staff/handoffs/"))
    assert NUMBER not in page.content()

    assert sms.send("hello from my phone") == []
    sync_api.expect(page.locator('[data-staff="messages"] li.person')).to_contain_text("hello from my phone")
    page.fill("#text", "Hello, this is the Kingston service.")
    page.click('[data-staff="send"]')
    sync_api.expect(page.locator('[data-staff="messages"] li.worker')).to_contain_text("Kingston service")
    assert console.fake.bodies(NUMBER)[-1].endswith("Hello, this is the Kingston service.")

    page.click('[data-staff="end"]')
    page.wait_for_url(re.compile(r"/staff/$"))
    assert "Did you feel listened to?" in console.fake.bodies(NUMBER)[-1]
    assert "Thank you" in sms.send("3")[0]


def test_a_person_in_the_web_chat_and_a_worker_in_the_console_talk_both_ways(browser, console, page):
    person = browser.new_context().new_page()
    person.set_default_timeout(10_000)
    person.goto(console.base + "/chat")
    log = person.locator('[data-waymark="log"]')
    log.get_by_text("Is it safe to talk right now?").wait_for()

    def say(words: str):
        person.fill('[data-waymark="input"]', words)
        person.click('[data-waymark="send"]')
        person.locator('[data-waymark="typing"]').wait_for(state="hidden")

    say("talk")
    person.get_by_role("button", name="Talk to a worker now").click()
    log.get_by_text("Can the worker see the topics").wait_for()
    person.get_by_role("button", name="Yes, they can see them").click()
    log.get_by_text("write a short note").wait_for()
    person.locator('[data-waymark="typing"]').wait_for(state="hidden")
    say("from the web chat page")
    log.get_by_text("You are in the queue").wait_for()

    log_in(page, console.base)
    sync_api.expect(page.locator('[data-staff="item"]')).to_contain_text("from the web chat page")
    page.click('[data-staff="claim"]')
    log.get_by_text("A worker from the Kingston service is here now").wait_for()
    sync_api.expect(person.locator('[data-waymark="options"] button')).to_have_count(0)

    say("hello worker")
    sync_api.expect(page.locator('[data-staff="messages"] li.person')).to_contain_text("hello worker")
    page.fill("#text", "Hello, I'm listening.")
    page.click('[data-staff="send"]')
    log.get_by_text("Hello, I'm listening.").wait_for()

    page.click('[data-staff="end"]')
    log.get_by_text("Did you feel listened to?").wait_for()
    say("4")
    sync_api.expect(log.locator("p", has_text="Thank you.")).to_have_count(2)  # the queue's, then the thanks
    assert counts(console)["feedback.4"] >= 1
    person.context.close()


def test_an_admin_logs_in_with_a_code_and_reads_the_counts(page, console):
    import pyotp

    admin = Worker(console, name="ada", role="admin")
    page.goto(console.base + "/staff/login")
    page.fill("#name", "ada")
    page.fill("#password", PASSWORD)
    page.click('[data-staff="login"]')
    page.wait_for_url(re.compile(r"/staff/totp$"))
    axe_clean(page, "staff-totp")
    page.fill("#code", pyotp.TOTP(admin.totp).now())
    page.click('[data-staff="verify"]')
    page.wait_for_url(re.compile(r"/staff/$"))
    page.get_by_role("link", name="Counts").click()
    sync_api.expect(page.locator('[data-staff="counts"]')).to_contain_text("conversations.channel")
    axe_clean(page, "staff-counts")
