"""Engine units on the small fixture library: matching, commands, back, re-prompts, risk, routing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flows.engine import Conversation, Understanding, normalize
from flows.runtime import build

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def runtime():
    return build(FIXTURES / "flows", FIXTURES / "locales")


def understood(risks=(), topics=(), when="knife"):
    """A stand-in for the safety layer that understands only messages containing `when`."""
    return lambda text, lang: Understanding(frozenset(risks), tuple(topics)) if when in text else Understanding()


def walk(runtime, *inputs, conv=None):
    turn = runtime.engine.start(conv or Conversation(key="k", channel="test"))
    for text in inputs:
        turn = runtime.engine.step(turn.conversation, text)
    return turn


def ids(turn):
    return [m.id for m in turn.messages]


def test_start_shows_welcome_with_999_and_how_to_leave(runtime):
    turn = walk(runtime)
    text = runtime.renderer.turn(turn).as_text()
    assert turn.conversation.state == "welcome.start"
    assert "999" in text and "press 55 when you are asked" in text and "EXIT" in text


@pytest.mark.parametrize("answer", ["1", "Yes, it is safe", "yes it is safe", "YES ITS SAFE", "yes, its saef",
                                    "  yes   it's safe!! ", "yés it is safe"])
def test_option_by_number_words_case_accents_typos(runtime, answer):
    assert walk(runtime, answer).conversation.state == "main.menu"


@pytest.mark.parametrize("answer", ["0", "3", "99", "-1", "", "   ", "🙂", "\u202e\x00", "x" * 2000])
def test_unmatched_input_gets_a_kind_reprompt_with_the_choices(runtime, answer):
    turn = walk(runtime, answer)
    assert turn.conversation.state == "welcome.start"
    assert ids(turn) == ["common.no_match", "welcome.safe_q"]
    assert [o.id for o in turn.options] == ["safe", "not_now"]


def test_second_miss_in_a_row_offers_a_person_and_key_numbers(runtime):
    turn = walk(runtime, "blah", "blah again")
    assert ids(turn)[0] == "common.no_match_twice"
    text = runtime.renderer.turn(turn).as_text()
    assert "0808 2000 247" in text and "999" in text and "TALK" in text


def test_a_match_resets_the_miss_count(runtime):
    turn = walk(runtime, "blah", "1", "blah")
    assert ids(turn)[0] == "common.no_match"


@pytest.mark.parametrize("state_inputs", [(), ("1",), ("1", "1"), ("1", "1", "1"), ("2",), ("1", "2")])
@pytest.mark.parametrize("command,target", [("menu", "main.menu"), ("help", "help.start"),
                                            ("talk", "talk.start"), ("language", "language.choose"),
                                            ("MENU", "main.menu"), ("Talk to someone", "talk.start")])
def test_global_commands_work_in_every_state(runtime, state_inputs, command, target):
    assert walk(runtime, *state_inputs, command).conversation.state == target


@pytest.mark.parametrize("state_inputs", [(), ("1",), ("1", "1", "1"), ("2",)])
@pytest.mark.parametrize("word", ["exit", "EXIT", "Exit!", "leave"])
def test_exit_ends_the_conversation_from_every_state(runtime, state_inputs, word):
    turn = walk(runtime, *state_inputs, word)
    assert turn.ended and ids(turn) == ["common.exit_done"]


def test_back_returns_to_the_previous_state_and_then_the_one_before(runtime):
    turn = walk(runtime, "1", "1", "1")
    assert turn.conversation.state == "danger.steps"
    turn = runtime.engine.step(turn.conversation, "back")
    assert turn.conversation.state == "danger.start"
    turn = runtime.engine.step(turn.conversation, "back")
    assert turn.conversation.state == "main.menu"


def test_back_with_no_history_goes_to_the_menu(runtime):
    assert walk(runtime, "back").conversation.state == "main.menu"


def test_not_now_goes_quiet_with_one_line_then_wakes_on_the_next_message(runtime):
    turn = walk(runtime, "not now")
    assert ids(turn) == ["welcome.paused"] and turn.options == ()
    turn = runtime.engine.step(turn.conversation, "hello again")
    assert turn.conversation.state == "welcome.start"


def test_an_option_can_switch_language_and_words_then_match_in_it(runtime):
    turn = walk(runtime, "1", "polski")
    assert turn.conversation.lang == "pl"
    assert runtime.renderer.turn(turn).messages == ("Co chcesz zrobić?",)
    assert walk(runtime, "1", "polski", "jestem teraz w niebezpieczenstwie").conversation.state == "danger.start"
    assert walk(runtime, "1", "polski", "wyjdź").ended
    assert walk(runtime, "1", "polski", "exit").ended  # English exit words work in every language


def test_unconfigured_local_service_falls_back_to_the_national_helpline(runtime):
    turn = walk(runtime, "1", "local help")
    assert ids(turn) == ["main.local_fallback", "common.next_q"]


def test_configured_local_service_is_shown(tmp_path):
    configured = build(FIXTURES / "flows", FIXTURES / "locales",
                       services={"local_service": {"phone": "020 0000 0000", "name": "Test Service"}})
    turn = walk(configured, "1", "2")
    assert ids(turn)[0] == "main.local_service"
    assert "020 0000 0000" in configured.renderer.turn(turn).as_text()


def test_risk_interrupt_puts_emergency_first_then_carries_on_where_they_were():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood(risks=["danger_now"]))
    turn = walk(rt, "1", "he is outside with a knife")
    assert ids(turn) == ["common.risk_danger_now", "common.carry_on"]
    assert turn.conversation.state == "main.menu" and turn.conversation.risk == ("danger_now",)
    assert rt.engine.step(turn.conversation, "1").conversation.state == "danger.start"  # choices still work
    assert "999" in rt.renderer.turn(turn).messages[0]


def test_exit_wins_over_a_risk_interrupt():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood(risks=["danger_now"]))
    assert walk(rt, "exit").ended
    assert not walk(rt, "exit with a knife").ended


def test_confident_topic_routes_straight_there():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood(topics=["safety_planning"], when="safe"))
    assert walk(rt, "1", "how do i keep safe").conversation.state == "danger.steps"


def test_unsure_topic_asks_one_clarifying_question_and_takes_the_answer():
    rt = build(FIXTURES / "flows", FIXTURES / "locales",
               understand=understood(topics=["danger_now", "safety_planning"], when="know"))
    turn = walk(rt, "1", "i dont know what to do")
    assert ids(turn) == ["common.clarify"]
    assert [o.label for o in turn.options] == ["topic.danger_now", "topic.safety_planning"]
    assert rt.engine.step(turn.conversation, "2").conversation.state == "danger.steps"


def test_step_is_pure_and_leaves_the_input_record_alone(runtime):
    conv = walk(runtime).conversation
    before = (conv.state, conv.history, conv.misses)
    runtime.engine.step(conv, "1")
    runtime.engine.step(conv, "nonsense")
    assert (conv.state, conv.history, conv.misses) == before


def test_a_state_removed_from_the_flows_restarts_gently(runtime):
    turn = runtime.engine.step(Conversation(key="k", channel="t", state="gone.away"), "1")
    assert turn.conversation.state == "welcome.start"


def test_one_machine_is_shared_and_no_model_is_attached(runtime):
    walk(runtime, "1", "1")
    assert runtime.engine.machine.models == []


@pytest.mark.parametrize("raw,expected", [("  Héllo, WORLD!! ", "hello world"), ("don't", "dont"), ("it’s", "its"),
                                          ("한국어", "한국어"), ("தமிழ்", "தமிழ்"), ("العربية", "العربية")])
def test_normalize_keeps_other_scripts_whole(raw, expected):
    assert normalize(raw) == expected


def test_first_message_in_danger_gets_emergency_information_first_then_the_safety_check():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood(risks=["danger_now"]))
    turn = rt.engine.step(Conversation(key="k", channel="t"), "hes outside with a knife")
    assert ids(turn) == ["common.risk_danger_now", "common.first_words", "welcome.safe_q"]
    assert turn.conversation.state == "welcome.start" and turn.conversation.risk == ("danger_now",)
    assert [o.id for o in turn.options] == ["safe", "not_now"]


def test_first_message_with_a_clear_topic_goes_straight_there_after_how_to_leave():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood(topics=["safety_planning"], when="safe"))
    turn = rt.engine.step(Conversation(key="k", channel="t"), "how can i stay safe")
    assert ids(turn) == ["common.first_words", "common.emergency", "danger.steps", "common.next_q"]
    assert turn.conversation.state == "danger.steps"
    assert rt.engine.step(turn.conversation, "back").conversation.state == "welcome.start"


def test_first_message_that_could_mean_two_things_asks_which():
    rt = build(FIXTURES / "flows", FIXTURES / "locales",
               understand=understood(topics=["danger_now", "safety_planning"], when="know"))
    turn = rt.engine.step(Conversation(key="k", channel="t"), "i dont know what to do")
    assert ids(turn) == ["common.first_words", "common.emergency", "common.clarify"]
    assert rt.engine.step(turn.conversation, "1").conversation.state == "danger.start"


def test_writing_again_after_not_now_is_read_like_a_first_message():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood(topics=["safety_planning"], when="safe"))
    turn = walk(rt, "not now", "how can i stay safe")
    assert turn.conversation.state == "danger.steps"
    assert ids(turn)[:2] == ["common.first_words", "common.emergency"]


def test_first_message_understood_as_nothing_gets_the_welcome(runtime):
    turn = runtime.engine.step(Conversation(key="k", channel="t"), "hi")
    assert ids(turn) == ["welcome.hello", "welcome.safe_q"] and turn.conversation.state == "welcome.start"


# -- languages ------------------------------------------------------------------------------------


def written_in(lang, risks=()):
    """A stand-in for the safety layer that recognises one language (and, optionally, a risk)."""
    return lambda text, _: Understanding(frozenset(risks), (), lang if "ę" in text or "ą" in text else None)


def test_a_language_typed_by_its_own_name_anywhere_switches_and_shows_the_same_step_again(runtime):
    turn = walk(runtime, "1", "1", "POLSKI")  # in danger.start, which offers no language
    assert (turn.conversation.state, turn.conversation.lang) == ("danger.start", "pl")
    assert runtime.renderer.turn(turn).messages[0].startswith("Zadzwoń teraz pod 999")
    back = runtime.engine.step(turn.conversation, "english")
    assert (back.conversation.state, back.conversation.lang) == ("danger.start", "en")
    assert walk(runtime, "polski").conversation.lang == "pl"  # as a first message too


def test_a_first_message_in_a_language_we_speak_is_answered_in_it_with_the_usual_one_offered_back():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=written_in("pl"))
    turn = rt.engine.step(Conversation(key="k", channel="t"), "dzień dobry, potrzebuję pomocy")
    reply = rt.renderer.turn(turn)
    assert turn.conversation.lang == "pl" and turn.conversation.state == "welcome.start"
    assert reply.messages[0].startswith("Dzień dobry. Odpisz WYJDŹ")
    assert reply.messages[-1] == "To carry on in English, reply English."


def test_words_in_another_language_mid_conversation_get_an_offer_in_that_language():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=written_in("pl"))
    turn = walk(rt, "1", "nie wiem, co mam zrobić, proszę")
    reply = rt.renderer.turn(turn)
    assert turn.conversation.lang == "en" and reply.ids[0] == "common.no_match"
    assert reply.messages[-1] == "Aby pisać dalej po polsku (Polski), odpisz Polski."
    assert rt.engine.step(turn.conversation, "Polski").conversation.lang == "pl"
    assert ids(walk(rt, "1", "hello")) == ["common.no_match", "main.menu_q"]  # English: no offer


def test_a_risk_in_another_language_is_answered_in_that_language_first():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=written_in("pl", {"danger_now"}))
    reply = rt.renderer.turn(walk(rt, "1", "on tu jest, boję się"))
    assert reply.messages[0] == "Jeśli grozi Ci niebezpieczeństwo, zadzwoń pod 999."
    assert reply.ids[-1] == "common.language_offer"


def test_typing_the_danger_option_takes_it_rather_than_interrupting_and_still_flags_the_risk():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood({"danger_now"}, when="danger"))
    turn = walk(rt, "1", "I'm in danger now")
    assert turn.conversation.state == "danger.start" and ids(turn)[0] == "danger.call"
    assert turn.conversation.risk == ("danger_now",)
    assert ids(walk(rt, "1", "2", "danger everywhere"))[0] == "common.risk_danger_now"  # not an option: interrupt


def test_exit_words_of_every_language_work_in_every_conversation(runtime):
    assert walk(runtime, "1", "wyjdź").ended  # Polish exit in an English conversation
    assert walk(runtime, "1", "polski", "exit").ended


def test_a_switch_shows_the_step_again_without_repeating_its_action():
    rt = build()  # the shipped library: asking for a worker is an action
    conv = Conversation(key="k", channel="t", state="talk.wait")
    assert rt.engine.enter(conv, "talk.wait").action == "handoff"
    turn = rt.engine.switch(conv, "en")
    assert turn.action is None and turn.conversation.state == "talk.wait"


def test_a_first_message_at_risk_puts_the_emergency_first_without_the_navigation_line():
    rt = build(FIXTURES / "flows", FIXTURES / "locales", understand=understood({"danger_now"}))
    reply = rt.renderer.turn(rt.engine.step(Conversation(key="k", channel="t"), "hes here with a knife"))
    assert reply.ids[0] == "common.risk_danger_now" and "common.first_words" in reply.ids
    assert reply.options and reply.nav == ""  # the line on how to leave names EXIT already
    assert rt.renderer.turn(walk(rt, "1")).nav  # every other reply with choices keeps it


@pytest.mark.parametrize("topics,service", [
    (["someone_else", "domestic_abuse"], "ndah"),  # both pages give the National Domestic Abuse Helpline
    (["online_abuse", "stalking"], "revenge_porn_helpline"),  # none in common: the first choice's
    (["recovery", "sexual_violence"], "rape_crisis_247"),  # the first choice's page gives none: the next one's
])
def test_a_clarifying_first_reply_gives_a_number_to_call_meanwhile(topics, service):
    rt = build(understand=understood(topics=topics, when="stuff"))
    turn = rt.engine.step(Conversation(key="k", channel="t"), "some stuff is going on")
    assert ids(turn) == ["common.first_words", "common.emergency", "common.clarify_call", "common.clarify"]
    text = " ".join(rt.renderer.turn(turn).messages)
    assert rt.services[service].phone in text and "{" not in text


def test_a_number_to_call_meanwhile_is_left_out_when_its_service_is_not_available():
    rt = build(understand=understood(topics=["online_abuse", "stalking"], when="stuff"))
    rt.services["revenge_porn_helpline"] = replace(rt.services["revenge_porn_helpline"], phone=None)
    reply = rt.renderer.turn(rt.engine.step(Conversation(key="k", channel="t"), "some stuff"))
    assert "common.clarify_call" not in reply.ids and "common.clarify" in reply.ids


@pytest.mark.parametrize("answer", ["what", "is", "my"])
def test_one_word_inside_a_label_is_not_a_choice_unless_the_label_opens_with_it(answer):
    rt = build()
    menu = walk(rt, "1", "2")  # safe to talk; no one else can see: the main menu
    assert menu.conversation.state == "main.menu"
    turn = rt.engine.step(menu.conversation, answer)
    assert turn.conversation.state == "main.menu" and ids(turn)[0] == "common.no_match"
    assert rt.engine.step(walk(rt).conversation, "yes").conversation.state == "welcome.seen"  # "Yes, it's safe"
