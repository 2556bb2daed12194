"""Hypothesis over the engine: from any state of the shipped library, any inputs never crash and always leave a way out."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.engine import Conversation
from flows.library import MENU
from flows.runtime import build

RUNTIME = build()  # once per module: the shipped library, catalogs and safety lexicons
ENGINE, LIBRARY, CATALOGS = RUNTIME.engine, RUNTIME.library, RUNTIME.catalogs
STATES = sorted(LIBRARY.states)
LANGS = sorted(CATALOGS.languages)
TOPICS = sorted(LIBRARY.topics)

# Words a person might send: every command word and every option label, in every catalog, as written.
COMMAND_WORDS = sorted({word.strip() for c in LIBRARY.commands.values() for lang in LANGS
                        for word in CATALOGS.text(c.words, lang).split("|") if word.strip()})
LABELS = sorted({CATALOGS.text(o.label, lang) for s in LIBRARY.states.values() for o in s.options for lang in LANGS}
                | {CATALOGS.text(f"topic.{t}", lang) for t in TOPICS for lang in LANGS})
CHARS = st.characters(exclude_categories=("Cs",))  # anything but lone surrogates, which no channel can carry
INPUTS = st.one_of(
    st.text(CHARS, max_size=80),
    st.integers(-5, 1000).map(str),
    st.sampled_from(COMMAND_WORDS),
    st.sampled_from(COMMAND_WORDS).map(lambda w: f"  {w.upper()}!! "),
    st.sampled_from(LABELS),
    st.sampled_from(LABELS).map(lambda label: label.lower()[:-1] if len(label) > 3 else label),  # a typo
    st.sampled_from(["", " ", "2.", "1)", "\u200f1\u200f", "١", "ｅｘｉｔ", "\ufeffmenu", "I am scared he will hurt me",
                     "I want to kill myself", "my child is not safe", "housing and money and the police"]),
)
CONVERSATIONS = st.builds(
    Conversation,
    key=st.just("fuzz"),
    channel=st.sampled_from(["sms", "whatsapp", "web"]),
    state=st.one_of(st.none(), st.sampled_from(STATES)),
    lang=st.sampled_from(LANGS),
    history=st.lists(st.sampled_from(STATES), max_size=4).map(tuple),
    misses=st.integers(0, 3),
    topics=st.lists(st.sampled_from(TOPICS), max_size=3, unique=True).map(tuple),
    pending=st.lists(st.sampled_from(TOPICS), max_size=3, unique=True).map(tuple),
    discreet=st.booleans(),
)
FUZZ = settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def check(conv: Conversation) -> None:
    """The record is one the engine could have made: a real state, language, history and topics."""
    assert conv.state in LIBRARY.states
    assert conv.lang in LANGS
    assert all(s in LIBRARY.states for s in conv.history)
    assert all(t in LIBRARY.topics for t in conv.pending)


def ways_out(conv: Conversation) -> None:
    """From here EXIT ends the conversation and MENU reaches the main menu, in its language and in English."""
    for word in {"EXIT", "exit", CATALOGS.text("common.words_exit", conv.lang).split("|")[0]}:
        assert ENGINE.step(conv, word).ended, (conv.state, word)
    for word in {"MENU", "menu", CATALOGS.text("common.words_menu", conv.lang).split("|")[0]}:
        turn = ENGINE.step(conv, word)
        assert turn.conversation.state == MENU and not turn.ended, (conv.state, word)
        assert RUNTIME.renderer.turn(turn).options


@FUZZ
@given(conv=CONVERSATIONS, inputs=st.lists(INPUTS, min_size=1, max_size=8))
def test_any_inputs_from_any_state_answer_and_leave_a_way_out(conv, inputs):
    for text in inputs:
        turn = ENGINE.step(conv, text)  # never raises
        reply = RUNTIME.renderer.turn(turn)  # and renders in the conversation's language
        assert turn.messages or turn.ended, (conv.state, text)
        assert reply.messages or turn.ended
        assert all(isinstance(m, str) and m.strip() for m in reply.messages)
        if turn.ended:  # EXIT: the app deletes the record; the next message starts afresh
            conv = Conversation(key=conv.key, channel=conv.channel)
            continue
        conv = turn.conversation
        check(conv)
        ways_out(conv)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(state=st.sampled_from(STATES), lang=st.sampled_from(LANGS), discreet=st.booleans())
def test_every_state_entered_shows_something_and_exits(state, lang, discreet):
    turn = ENGINE.enter(Conversation(key="fuzz", channel="sms", lang=lang, discreet=discreet), state)
    assert turn.messages and RUNTIME.renderer.turn(turn).messages
    check(turn.conversation)
    ways_out(turn.conversation)


def test_a_fresh_conversation_answers_anything_with_the_welcome_or_help():
    for text in ("", "hello", "EXIT", "MENU", "999", "\x00"):
        turn = ENGINE.step(Conversation(key="fuzz", channel="web"), text)
        assert turn.messages or turn.ended
        if not turn.ended:
            check(turn.conversation)
            ways_out(replace(turn.conversation))
