"""Whatever a text holds, the webhook answers 200 with valid TwiML of at most three texts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import create_app

from .conftest import FIXTURES, SmsClient, make_config

# Anything a phone can send: every character but lone surrogates (which no phone can encode).
CHARS = st.characters(exclude_categories=("Cs",))
BODIES = st.one_of(
    st.text(CHARS, max_size=200),
    st.text(CHARS, min_size=1590, max_size=1600),
    st.sampled_from(["", " ", "\u200f1\u200f", "\u202eTIXE", "1\x00", "\x07\x1b[31m", "🆘🆘", "EXIT\n", "stop",
                     "ｅｘｉｔ", "١", "2\r\n", "<Response/>", "]]>&amp;", "\ufeffmenu", "\ud7ff"]),
)
SENDERS = st.sampled_from(["+447700900001", "+447700900002", "whatsapp:+447700900003", "+1 (555) 0100", "x"])


@pytest.fixture(scope="module", params=["small", "shipped"])
def fuzz_client(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    extra = {"SMS_RATE_PER_CONVERSATION": 10**6, "SMS_RATE_OVERALL": 10**6}
    if request.param == "small":
        extra.update(FLOWS_DIR=str(FIXTURES / "flows"), LOCALES_DIR=str(FIXTURES / "locales"))
    app = create_app(make_config(tmp, **extra))
    yield SmsClient(app)
    app.extensions["waymark"].store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, sender=SENDERS, media=st.sampled_from(["0", "1", "", "lots"]))
def test_any_body_gets_200_and_valid_twiml(fuzz_client, body, sender, media):
    texts = fuzz_client.send(body, from_=sender, NumMedia=media)  # asserts 200 and parses the XML
    assert len(texts) <= 3
    assert all(len(t) <= 1600 for t in texts)
