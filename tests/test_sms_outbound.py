"""Sending outside a reply: through twilio.rest.Client with a fake HTTP client, only to people texting us."""

from __future__ import annotations


import pytest

from bot.twilio_out import NotInConversation, WindowClosed, outbound

from .conftest import FakeHttp, SmsClient


@pytest.fixture
def fake(small_app):
    small_app.config.update(TWILIO_ACCOUNT_SID="AC" + "1" * 32, SMS_FROM="+447700900000",
                            WHATSAPP_FROM="whatsapp:+447700900000")
    http = FakeHttp()
    small_app.extensions["twilio_out"].http_client = http
    return http


def test_a_person_in_a_conversation_gets_the_text_through_the_messages_api(small_app, fake):
    SmsClient(small_app).send("hello")
    with small_app.app_context():
        sids = outbound().send("+447700900123", "A worker from the service will call you at 3pm.")
    assert sids == ["SM" + "0" * 31 + "1"]
    [sent] = fake.requests
    assert sent["method"] == "POST" and sent["uri"].endswith(f"/Accounts/AC{'1' * 32}/Messages.json")
    assert sent["data"]["To"] == "+447700900123" and sent["data"]["From"] == "+447700900000"
    assert sent["data"]["Body"].startswith("sms.opening\n")  # the neutral first line, as in every reply
    assert sent["auth"] == ("AC" + "1" * 32, SmsClient.TOKEN)


def test_an_address_that_is_not_texting_us_is_never_sent_to(small_app, fake):
    with small_app.app_context(), pytest.raises(NotInConversation):
        outbound().send("+447700900999", "hello")
    assert fake.requests == []


def test_a_messaging_service_can_be_the_sender(small_app, fake):
    small_app.config["SMS_FROM"] = "MG" + "2" * 32
    SmsClient(small_app).send("hello")
    with small_app.app_context():
        outbound().send("+447700900123", "hi")
    assert fake.requests[0]["data"]["MessagingServiceSid"] == "MG" + "2" * 32


def test_whatsapp_inside_the_window_sends_free_text(small_app, fake):
    SmsClient(small_app).send("hello", from_="whatsapp:+447700900123")
    with small_app.app_context():
        outbound().send("whatsapp:+447700900123", "hi")
    assert fake.requests[0]["data"]["From"] == "whatsapp:+447700900000" and "Body" in fake.requests[0]["data"]


def test_whatsapp_after_24_hours_sends_the_template_or_nothing(small_app, fake):
    small_app.config["IDLE_MINUTES"] = 48 * 60
    store = small_app.extensions["waymark"].store
    store.idle_seconds = 48 * 3600
    SmsClient(small_app).send("hello", from_="whatsapp:+447700900123")
    sender = small_app.extensions["twilio_out"]
    later = store.clock() + 25 * 3600
    sender.clock = lambda: later
    with small_app.app_context():
        with pytest.raises(WindowClosed):
            sender.send("whatsapp:+447700900123", "hi")
        assert fake.requests == []
        small_app.config["WHATSAPP_TEMPLATE_SID"] = "HX" + "3" * 32
        sender.send("whatsapp:+447700900123", "hi")
    data = fake.requests[0]["data"]
    assert data["ContentSid"] == "HX" + "3" * 32 and "Body" not in data
