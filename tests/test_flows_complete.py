"""Completeness over the shipped library: every flow, state, message, service and language."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.check import blaming_phrases, check_all, opening, reachable
from flows.engine import Conversation, normalize
from flows.library import MENU, START
from flows.runtime import build
from flows.segments import is_gsm, over_budget, segments

RUNTIME = build()
LIBRARY = RUNTIME.library
STATES = sorted(LIBRARY.states)
MESSAGES = sorted(LIBRARY.message_ids())
LANGUAGES = RUNTIME.catalogs.languages
SHARED_CONTACTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "uk-support-contacts.yaml"


def test_the_whole_library_passes_its_checks():
    assert check_all(RUNTIME) == []


@pytest.mark.parametrize("state", STATES)
def test_state_is_reachable_and_gets_back_to_the_menu(state):
    assert state in reachable(LIBRARY, START, with_commands=True)
    assert MENU in reachable(LIBRARY, state, with_commands=False)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("state", STATES)
def test_state_reply_fits_the_sms_budget_and_offers_a_way_on(state, lang):
    turn = RUNTIME.engine.enter(Conversation(key="k", channel="t", lang=lang), state)
    reply = RUNTIME.renderer.turn(turn)
    text = reply.as_text()
    assert over_budget(text, opening(RUNTIME.renderer, lang)) is None
    if is_gsm(text):
        assert segments(text) <= 3
    assert reply.options or LIBRARY.states[state].any, "every state ends in choices or waits for any message"


@pytest.mark.parametrize("msg", MESSAGES)
def test_message_exists_in_english_and_blames_no_one(msg):
    text = RUNTIME.catalogs.messages["en"].get(msg)
    assert text, f"{msg} has no English text"
    words = f" {normalize(text)} "
    assert not [p for p in blaming_phrases()["en"] if f" {p} " in words]


def test_welcome_says_how_to_leave_and_the_emergency_route_precisely():
    text = RUNTIME.renderer.turn(RUNTIME.engine.start(Conversation(key="k", channel="t"))).as_text()
    assert "999" in text and "press 55 when you are asked" in text and "EXIT" in text
    assert "dial 55" not in text.lower()


def test_no_message_says_dial_55():
    for lang, messages in RUNTIME.catalogs.messages.items():
        for mid, text in messages.items():
            assert "dial 55" not in text.lower(), (lang, mid)


def test_every_directory_number_matches_its_verified_source():
    shared = {e["id"]: e for e in yaml.safe_load(SHARED_CONTACTS.read_text())}
    for sid, service in RUNTIME.services.items():
        assert sid in shared, f"{sid} is not in the verified contacts list"
        assert service.phone == shared[sid].get("phone"), sid
        assert service.verified == shared[sid]["verified"], sid
        assert service.sources and service.last_checked


def test_unverified_local_services_are_not_available_without_configuration():
    unverified = [s for s in RUNTIME.services.values() if not s.verified]
    assert unverified and not any(s.available for s in unverified)


@pytest.mark.parametrize("answer,state", [("dont know", "welcome.seen"), ("i don't know", "welcome.seen"),
                                          ("im not sure", "welcome.tip"), ("no they cant", "main.menu"),
                                          ("No", "main.menu"), ("yes", "welcome.tip"), ("3", "welcome.tip")])
def test_short_labels_are_not_matched_by_letters_inside_other_words(answer, state):
    turn = RUNTIME.engine.enter(Conversation(key="k", channel="t"), "welcome.seen")
    assert RUNTIME.engine.step(turn.conversation, answer).conversation.state == state


def test_a_configured_service_missing_a_field_never_shows_none():
    runtime = build(services={"kingston_vawg_service": {"name": "Test Service"}})
    for name in LIBRARY.states:
        reply = runtime.renderer.turn(runtime.engine.enter(Conversation(key="k", channel="t"), name))
        for msg_id, text in zip(reply.ids, reply.messages):
            assert text.count("None") == runtime.catalogs.text(msg_id).count("None"), (name, msg_id)
