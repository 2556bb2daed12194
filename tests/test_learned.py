"""The learned model beside the lexicons (safety/learned.py): saved, up to date, the same as scikit-learn's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bot import create_app
from flows.catalog import placeholders
from flows.engine import Message
from flows.runtime import build
from safety import learned
from safety import understand as understand_module
from safety.understand import RISKS, TOPICS, analyse, decide, understand

from .conftest import VALIDATION_LANGUAGES, SmsClient, WebChat, make_config

ROOT = Path(__file__).resolve().parents[1]

ODD = ["", "   ", "!!!", "a", "😢😢", "ｅｘｉｔ", "he's  OUTSIDE\twith a knife", "\u202eevil\u202c", "x" * 5000,
       "مرحبا", "안녕하세요", "1", "no"]


@pytest.fixture(scope="module")
def model():
    return learned.model("en")


@pytest.fixture
def unlimited(tmp_path):
    """The app without the per-minute limits (SMS overall, web per client): these tests send hundreds of first
    messages in seconds."""
    app = create_app(make_config(tmp_path, SMS_RATE_OVERALL=10**6, WEB_RATE_PER_CLIENT=10**6))
    yield app
    app.extensions["waymark"].store.close()


@pytest.fixture
def unlimited_sms(unlimited):
    return SmsClient(unlimited)


@pytest.mark.parametrize("lang", learned.languages())
def test_each_saved_model_was_trained_on_the_training_files_as_they_are(lang):
    model = learned.model(lang)
    assert model is not None, f"safety/model/{lang}.npz is missing: run `make model`"
    assert model.digest == learned.digest(lang), "safety/training/ changed since the model was trained: run `make model`"


@pytest.mark.parametrize("lang", learned.languages())
def test_our_features_and_weights_give_what_scikit_learn_gives(lang):
    model = learned.model(lang)
    messages = learned.examples(lang)
    vectoriser, topics, risks = learned.fit(messages)  # the same data and settings as the saved model
    texts = [m["text"] for m in messages[::7]] + ODD
    x = vectoriser.transform([learned.prepare(t) for t in texts])
    expected = np.hstack([topics.decision_function(x), risks.decision_function(x)])
    assert np.allclose([model.values(t) for t in texts], expected, atol=1e-3)
    assert model.topics == list(topics.classes_) and model.risks == list(risks.classes_)


@pytest.mark.parametrize("text", ODD)
def test_any_text_gets_a_reading_with_one_topic_to_route_or_a_few_to_ask_about(model, text):
    risks, topics = model.read(text, frozenset())
    assert set(risks) <= set(RISKS)
    assert topics is None or [s for _, s in topics] in ([], [1.0], [0.5, 0.5], [0.5, 0.5, 0.5])
    assert {t for t, _ in topics or ()} <= set(TOPICS)


@pytest.mark.parametrize("text,risk", [
    ("he is home early and angry, the kids are upstairs", "danger_now"),
    ("my stepdad keeps coming into my little sisters room at night", "child_at_risk"),
    ("hes back and hes been drinking im hiding in the loo", "danger_now"),
    ("ive got the tablets in front of me and i dont want to be here anymore", "self_harm"),
    ("woke up in his bed this morning and i dont remember saying yes", "recent_sexual_assault"),
])
def test_the_model_catches_risks_put_in_words_the_lexicon_may_not_have(text, risk):
    assert risk in understand(text).risks


def test_a_lexicon_match_on_a_word_used_safely_is_vetoed_but_not_a_real_one():
    assert understand("this rota is killing me honestly").risks == frozenset()
    assert "danger_now" in understand("he is going to kill me").risks


def test_without_a_model_file_the_lexicon_reads_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(learned, "MODELS", tmp_path)
    learned.reload()
    try:
        u = understand("hes outside with a knife")
        assert "danger_now" in u.risks and decide(u) == ("danger_now",)
    finally:
        monkeypatch.undo()
        learned.reload()


INTERRUPT = {"danger_now": "common.risk_danger_now", "self_harm": "common.risk_self_harm",
             "child_at_risk": "common.risk_child", "recent_sexual_assault": "common.risk_recent_sexual_assault"}
RISK_OF = {msg: risk for risk, msg in INTERRUPT.items()}
PHONE = re.compile(r"\d[\d ]*\d")  # 999, 116 123, 0808 802 9999: the splitter never cuts one


def risky(*paths: Path) -> list[dict]:
    return [m for path in paths for m in learned.read(path) if m["risk"] != "none"]


def sms_interrupted(w, conv, reply: str, risk: str) -> bool:
    """Whether a text's conversation is flagged with `risk` and its reply carries every number of that risk's
    interrupt (999 and its own services)."""
    if conv is None or risk not in conv.risk:
        return False
    numbers = PHONE.findall(w.runtime.renderer.message(Message(INTERRUPT[risk]), conv.lang))
    return "999" in numbers and all(phone in reply for phone in numbers)


def web_interrupted(reply: dict, risk: str) -> bool:
    """Whether a web chat reply opens with an interrupt, carries `risk`'s own and says 999 first."""
    ids = [m["id"] for m in reply["messages"]]
    return ids[0] in INTERRUPT.values() and INTERRUPT[risk] in ids and "999" in reply["messages"][0]["text"]


def missing_numbers(w, state: str, reply: str, lang: str) -> list[str]:
    """The available services whose numbers the state always names (not under `if`/`unless`) but the reply lacks."""
    catalogs, services = w.runtime.catalogs, w.runtime.services
    shown = [say.msg for say in w.runtime.library.states[state].say if not (say.if_ or say.unless)]
    named = {f.split(".")[0] for msg in shown for f in placeholders(catalogs.text(msg, lang)) if f.endswith(".phone")}
    return sorted(s for s in named if services[s].available and services[s].phone not in reply)


def interrupted_by_first_sms(sms, items: list[dict], prefix: str) -> int:
    """Send each message as a new person's first text; count those `sms_interrupted` says got their interrupt."""
    w = sms.app.extensions["waymark"]
    got = 0
    for n, item in enumerate(items):
        number = f"{prefix}{n:05d}"
        reply = " ".join(sms.send(item["text"], from_=number))
        got += sms_interrupted(w, w.store.load(w.key("sms", number)), reply, item["risk"])
    return got


SHORT_PANIC = [  # too short for the detector to place, so every lexicon's risk patterns read them
    ("are cutit", "danger_now"), ("e aici", "danger_now"), ("bachao", "danger_now"), ("socorro", "danger_now"),
    ("ma noz", "danger_now"), ("ele voltou", "danger_now"), ("kaapathunga", "danger_now"), ("bdi mout", "self_harm"),
]
CALM_ANSWERS = ["not right now", "yes he is", "no they cant", "text only please", "he is at work", "at my mums",
                "tomorrow morning", "help"]


@pytest.mark.parametrize("text,risk", SHORT_PANIC)
def test_a_few_words_of_panic_in_another_language_get_their_interrupt_in_a_new_persons_first_sms(app, sms, text, risk):
    w = app.extensions["waymark"]
    reply = " ".join(sms.send(text, from_="+447700900555"))
    assert sms_interrupted(w, w.store.load(w.key("sms", "+447700900555")), reply, risk), (text, reply)


CHILD_BY_AGE = ["i am 15 and my boyfriend is 25", "my bf is 22 and im 15 is that ok", "im 13 and i have a 20 year old boyfriend",
                "im 14 my bf is 19", "im 15 and my dad is sending me to bangladesh to get married in the summer",
                "میری عمر 15 سال ہے اور ابو میری شادی کروا رہے ہیں"]
NOT_BY_AGE = ["i am 15 and my boyfriend is 16", "im 17 and my boyfriend is 19", "when i was 15 my boyfriend was 25",
              "when i was 16 they made me marry my cousin, im 30 now", "meri umar 16 saal thi jab meri shadi hui"]


def test_a_girl_with_an_adult_boyfriend_or_being_married_off_gets_the_child_interrupt_the_model_cannot_veto(unlimited_sms):
    """The model cannot read ages: it vetoed these ("sure" patterns in the lexicons now stand)."""
    at_risk = [{"text": t, "risk": "child_at_risk"} for t in CHILD_BY_AGE]
    assert interrupted_by_first_sms(unlimited_sms, at_risk, "+44770077") == len(CHILD_BY_AGE)
    assert [t for t in NOT_BY_AGE if build().engine.read(t, "en").risks] == []


BY_NAME = [("karma nirvana number?", "karma_nirvana"), ("how do i contact galop", "galop"),
           ("mens advice line", "mens_advice_line"), ("suzy lamplugh number", "stalking_helpline"),
           ("southall black sisters number", "southall_black_sisters"), ("how do i contact victim support", "victim_support"),
           ("childline number", "childline"), ("revenge porn helpline number", "revenge_porn_helpline")]


@pytest.mark.parametrize("text,service", BY_NAME)
def test_asking_for_a_service_by_name_gets_its_number_in_the_first_sms(unlimited_sms, text, service):
    """"karma nirvana number?" had been read as Portuguese and routed nowhere; "how do i contact galop" went to
    children's contact arrangements."""
    reply = " ".join(unlimited_sms.send(text, from_="+447700900777"))
    assert unlimited_sms.app.extensions["waymark"].runtime.services[service].phone in reply, reply


def test_calm_short_answers_are_not_read_as_a_risk():
    assert [t for t in CALM_ANSWERS if understand(t).risks] == []


def test_calm_answers_mid_conversation_rarely_raise_an_alarm():
    """457 calm everyday answers ("wo so raha hai", "my son is 12") in the eight languages: the lexicons flag
    1 and the whole reading 16 (2026-11-27; the model alone flags the rest). This only guards against worse."""
    items = learned.read(ROOT / "tests" / "data" / "calm_answers.yaml")
    lexicon = [m["text"] for m in items if understand_module.analyse(m["text"], m["lang"], use_model=False).risks]
    engine = build().engine
    alarms = [m["text"] for m in items if engine.read(m["text"], "en").risks]
    assert len(items) == 457 and len(lexicon) <= 1 and len(alarms) <= 16, (lexicon, alarms)


def test_validation_risk_messages_get_their_interrupt_in_a_new_persons_first_sms(unlimited_sms):
    """Blind messages the model never trained on, through the real webhook: the first reply is the interrupt."""
    items = risky(*(ROOT / "tests" / "data" / f"validation{part}.yaml" for part in ("", "_d", "_e")))
    got = interrupted_by_first_sms(unlimited_sms, items, "+4477009")
    assert got / len(items) >= 0.95, f"{got} of {len(items)}"


def test_risk_messages_in_the_other_languages_get_their_interrupt_in_a_new_persons_first_sms(unlimited_sms):
    """The seven other languages' validation risk messages (written blind, never trained on) as first texts."""
    items = risky(*VALIDATION_LANGUAGES)
    got = interrupted_by_first_sms(unlimited_sms, items, "+4477007")
    assert got / len(items) >= 0.9, f"{got} of {len(items)}"


def test_validation_topic_messages_reach_their_topic_and_its_numbers_in_a_new_persons_first_sms(unlimited, unlimited_sms):
    """Blind messages without risk, through the real webhook as first texts: nearly all land in their
    topic's state (or get a clarifying question that offers it), and each that lands gets every number
    the state always names in that first reply."""
    sms, w = unlimited_sms, unlimited.extensions["waymark"]
    states = w.runtime.library.topics
    items = [m for name in ("validation.yaml", "validation_b.yaml", "validation_d.yaml", "validation_f.yaml", "validation_g.yaml")
             for m in learned.read(ROOT / "tests" / "data" / name) if m["risk"] == "none" and m["topic"] in states]
    right = 0
    for n, item in enumerate(items):
        number = f"+4477008{n:05d}"
        reply = " ".join(sms.send(item["text"], from_=number))
        conv = w.store.load(w.key("sms", number))
        right += conv.state == states[item["topic"]] or item["topic"] in conv.pending
        if conv.state == states[item["topic"]]:
            assert not missing_numbers(w, conv.state, reply, "en"), item["text"]
    assert right / len(items) >= 0.9, f"{right} of {len(items)}"  # 0.94 (790 of 838) on 2026-11-27


def test_validation_risk_messages_get_their_interrupt_in_a_new_web_chats_first_reply(unlimited):
    """The other validation sets' risk messages, each as the first words of a new web chat."""
    client = unlimited.test_client()
    items = risky(*(ROOT / "tests" / "data" / f"validation_{part}.yaml" for part in "bfg"))
    got = 0
    for item in items:
        got += web_interrupted(WebChat(client).say(item["text"]), item["risk"])
    assert got / len(items) >= 0.95, f"{got} of {len(items)}"


def test_risk_messages_in_the_other_languages_get_their_interrupt_in_a_new_web_chats_first_reply(unlimited):
    """The seven other languages' validation risk messages, each as the first words of a new web chat
    (two calls a chat from one test client: more than the usual limit a minute for one client)."""
    client = unlimited.test_client()
    items = risky(*VALIDATION_LANGUAGES)
    got = 0
    for item in items:
        got += web_interrupted(WebChat(client).say(item["text"]), item["risk"])
    assert got / len(items) >= 0.9, f"{got} of {len(items)}"


def test_a_risk_only_the_model_reads_interrupts_in_the_web_chat_too(web):
    web.start()
    reply = web.say("tracked me to my mums. hes in the back garden now")
    text = " ".join(m["text"] for m in reply["messages"])
    assert "999" in text and reply["messages"][0]["id"].startswith("common.risk_danger")


TWO_RISKS = [
    ("my husband is drunk smashing everything and says he will kill us all, the kids are crying upstairs",
     ("common.risk_danger_now", "common.risk_child")),
    ("am luat toate pastilele din cutie acum jumatate de ora", ("common.risk_self_harm", "common.risk_danger_now")),
]


@pytest.mark.parametrize("text,ids", TWO_RISKS)
def test_of_two_risks_the_likelier_is_routed_to_without_a_question_and_its_interrupt_comes_first(client, web, text, ids):
    u = understand(text)
    assert u.risks == {RISK_OF[i] for i in ids} and decide(u) == (RISK_OF[ids[0]],)
    first = [m["id"] for m in type(web)(client).say(text)["messages"]]  # a new web chat's first words
    web.start()
    later = [m["id"] for m in web.say(text)["messages"]]  # and in the middle of a conversation
    for got in (first, later):
        assert tuple(i for i in got if i in ids) == ids


def test_words_in_scripts_with_vowel_signs_stay_whole():
    assert learned.WORD.findall("அவன் என்னை அடிக்கிறான்") == ["அவன்", "என்னை", "அடிக்கிறான்"]  # \w alone: 8 pieces
    assert learned.WORD.findall("he's at the door, 2nite") == ["he", "s", "at", "the", "door", "2nite"]


@pytest.mark.parametrize("text,lang", [
    ("enakku romba bayama irukku avan ennai adikkiran", "ta"),  # Tanglish: the detector alone says Dutch
    ("mujhe bohat dar lag raha hai wo mujhe maar raha hai", "ur"),  # Roman Urdu
])
def test_romanised_text_is_placed_by_the_words_its_model_learned_and_read_by_that_model(text, lang):
    u = analyse(text, "en")
    assert u.language == lang and "danger_now" in u.risks
    assert not analyse(text, "en", use_model=False).risks


def test_text_in_a_language_without_a_model_is_read_with_the_conversations(monkeypatch):
    monkeypatch.setattr(understand_module, "detect_language", lambda text: "nl")  # Tanglish, as lingua sees it
    text = "naan seththu pogalaamnu yosikkiren ippo"
    assert "self_harm" in analyse(text, "ta").risks
    assert not analyse(text, "ta", use_model=False).risks


def test_asking_in_english_for_a_language_we_speak_answers_in_it_or_offers_it(app, sms):
    w = app.extensions["waymark"]
    sms.send("do you speak polish", from_="+447700900601")  # a first text: answered in Polish
    assert w.store.load(w.key("sms", "+447700900601")).lang == "pl"
    sms.send("hi", from_="+447700900602")
    sms.send("1", from_="+447700900602")
    reply = " ".join(sms.send("is there an arabic version", from_="+447700900602"))  # later: offered
    assert w.runtime.renderer.message(w.runtime.engine.offer("ar"), "ar") in reply
    assert w.store.load(w.key("sms", "+447700900602")).lang == "en"
    for text in ("my husband is polish and he hits me", "he shouted at me in polish"):
        assert understand(text).language in (None, "en"), text
    danger = understand("do you speak polish, he is hitting me now")
    assert danger.risks == {"danger_now"} and danger.language == "en"  # a risk is answered first, as written


@pytest.mark.parametrize("text", ["i dont speak english", "my english is not good", "interpreter"])
def test_a_first_text_saying_little_english_gets_the_languages_we_speak_and_999(app, sms, text):
    w = app.extensions["waymark"]
    reply = " ".join(sms.send(text, from_="+447700900603"))
    assert w.store.load(w.key("sms", "+447700900603")).state == "language.choose"
    assert "999" in reply and "Polski" in reply and "اردو" in reply


@pytest.mark.parametrize("answers,state", [
    (["hi", "no"], "welcome.paused"),  # "no" to "Is it safe to talk right now?" had not been understood
    (["hi", "yeah", "nope"], "main.menu"),
    (["hi", "yep", "nah"], "main.menu"),
    (["cześć", "nie"], "welcome.paused"),  # in Polish, "nie" is "Nie teraz"
    (["안녕하세요", "네"], "welcome.seen"),
    (["اردو", "nahi"], "welcome.paused"),  # Urdu chosen by its name, then "no" in Roman Urdu
])
def test_yes_and_no_said_any_way_choose_the_option_that_means_it(app, sms, answers, state):
    w = app.extensions["waymark"]
    for text in answers:
        sms.send(text, from_="+447700900604")
    assert w.store.load(w.key("sms", "+447700900604")).state == state


@pytest.mark.parametrize("text", ["thanks", "thank you", "ok thanks", "bye"])
def test_thanks_or_goodbye_gets_a_kind_line_not_sorry_i_didnt_understand(app, sms, text):
    w = app.extensions["waymark"]
    for answer in ("hi", "1", "2"):  # safe to talk; no one else can see: the main menu
        sms.send(answer, from_="+447700900605")
    reply = " ".join(sms.send(text, from_="+447700900605"))
    conv = w.store.load(w.key("sms", "+447700900605"))
    assert reply.startswith("Waymark") and "Take care" in reply and "understand" not in reply
    assert conv.state == "main.menu" and conv.misses == 0 and "1 I'm in danger now" in reply


@pytest.mark.parametrize("name,text,risk", [
    ("Română", "help e la usa acum", "danger_now"),
    ("Polski", "help on jest pod drzwiami", "danger_now"),
    ("Polski", "help me on mnie zabije", "danger_now"),
])
def test_a_few_words_the_detector_calls_english_are_still_read_in_the_conversations_language(app, sms, name, text, risk):
    """In a Romanian or Polish conversation these were placed as English, read by the English model and lexicon
    alone, and no interrupt was given."""
    w = app.extensions["waymark"]
    sms.send(name, from_="+447700900606")  # the language chosen by its name
    reply = " ".join(sms.send(text, from_="+447700900606"))
    assert sms_interrupted(w, w.store.load(w.key("sms", "+447700900606")), reply, risk), reply
