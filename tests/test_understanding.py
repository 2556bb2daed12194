"""Unit tests of safety/understand.py: risks, routing, language detection, robustness."""

from __future__ import annotations

import builtins
import shutil
from pathlib import Path

import pytest
import yaml

from safety import understand as U
from safety.understand import (
    CONFIDENT, MARGIN, PLAUSIBLE, RISKS, TOPICS, Understanding, analyse, decide, detect_language, understand,
)

DATA = yaml.safe_load((Path(__file__).parents[1] / "safety" / "training" / "utterances.yaml").read_text(encoding="utf-8"))
TUNING = [{"lang": "en", **item} for item in DATA["tuning"]]
ENGLISH = [i for i in TUNING if i["lang"] == "en"]
FOREIGN = [{"lang": "en", **i} for i in DATA["tuning"] + DATA["heldout"] if i.get("lang", "en") != "en"]


def ids(item):
    return item["text"][:50]


# --- risk interrupts ------------------------------------------------------------------------

MUST_INTERRUPT = [
    ("hes outside with a knife", "danger_now"),
    ("he said if i leave he'll kill the kids", "child_at_risk"),  # read as nothing until 2026-11-27
    ("he's going to kill me", "danger_now"),
    ("HE'S GOING TO KILL ME!!!", "danger_now"),
    ("hes gonna kill me", "danger_now"),
    ("he is going to kill me", "danger_now"),
    ("hes outside wiv a knif", "danger_now"),
    ("hes outside 🔪", "danger_now"),
    ("i want to end it all", "self_harm"),
    ("i wnat to end it all", "self_harm"),
    ("i've been cutting myself", "self_harm"),
    ("ive been cuting myself", "self_harm"),
    ("i wanna kms", "self_harm"),
    ("im suicdal", "self_harm"),
    ("my dad hits my little brother", "child_at_risk"),
    ("my dad hitz my little brother", "child_at_risk"),
    ("i was raped last night", "recent_sexual_assault"),
    ("i was raped lastnight", "recent_sexual_assault"),
    ("someone spiked my drink and i woke up somewhere", "recent_sexual_assault"),
    ("sum1 spiked my drink n i woke up somewhere", "recent_sexual_assault"),
    # families, said in words no pattern spells out in that order
    ("she keeps saying shell stab me when i fall asleep", "danger_now"),
    ("he locked the doors and hid the keys and says im not leaving alive", "danger_now"),
    ("had his hands round my throat tonight and hes in the lounge now", "danger_now"),
    ("ive got the rope ready", "self_harm"),
    ("been stood on the bridge for ages thinking about jumping", "self_harm"),
    ("my partner shook the baby when she wouldnt stop crying", "child_at_risk"),
    ("im 12 and my uncle comes in my room at night", "child_at_risk"),
    ("he didnt stop when i said no. it was 2 days ago", "recent_sexual_assault"),
    ("he raped me", "recent_sexual_assault"),  # no time given: err towards the interrupt
]


@pytest.mark.parametrize("text,risk", MUST_INTERRUPT)
def test_interrupts(text, risk):
    assert risk in understand(text).risks


@pytest.mark.parametrize("text,topic", [
    ("how do I help a friend", "someone_else"),
    ("what is coercive control", "coercive_control"),
    ("i want to talk to someone", "talk_to_person"),
    ("my ex keeps following me", "stalking"),
    ("my family are taking me abroad to marry someone", "forced_marriage"),
    ("can i talk to someone real", "talk_to_person"),
])
def test_routes_without_interrupting(text, topic):
    u = understand(text)
    assert u.risks == frozenset()
    assert decide(u) == (topic,)


def test_a_long_story_with_danger_at_the_end_interrupts():
    story = "so we met at work and things were ok for a long time. " * 60 + "now hes outside with a knife"
    assert "danger_now" in understand(story).risks


@pytest.mark.parametrize("text", [
    "i will call you later", "we walked up the hill", "the bill came today", "i still love him",
    "he is skilled at lying", "i kissed him goodbye", "he wants me to cut my hair",
    "ive cut contact with him", "my back is killing me lol", "im not suicidal, just sad since i left",
    "my son hits me", "i hit my partner and i hate myself for it", "he strangled me once years ago",
    "what is the number for the havens", "1", "2", "yes", "no", "back", "menu",
    "my mum will kill me if i fail my exams lol", "this heat is killing me",
    "he used to say hed kill me, that was years ago", "i self harmed as a teenager, im ok now",
    "he raped me when we were together, 10 years ago", "my children saw him hit me",
    "my 15 year old son has started hitting me", "she stabbed me in the back at work",
])
def test_no_false_interrupt(text):
    assert understand(text).risks == frozenset()


@pytest.mark.parametrize("item", [i for i in ENGLISH if i["risk"] != "none"], ids=ids)
def test_tuning_risk_recall(item):
    assert item["risk"] in understand(item["text"], item["lang"]).risks


@pytest.mark.parametrize("item", [i for i in ENGLISH if i["risk"] == "none"], ids=ids)
def test_tuning_no_false_interrupt(item):
    assert understand(item["text"], item["lang"]).risks == frozenset()


def test_tuning_topic_accuracy():
    right = sum((decide(understand(i["text"]))[:1] or ("none",))[0] == i["topic"] for i in ENGLISH)
    assert right / len(ENGLISH) >= 0.95


# --- routing --------------------------------------------------------------------------------

def test_thresholds_are_sane():
    assert 0 < PLAUSIBLE < CONFIDENT <= 1 and 0 < MARGIN < 1


@pytest.mark.parametrize("topics,expected", [
    ((), ()),
    ((("stalking", 0.2),), ()),
    ((("stalking", 0.9),), ("stalking",)),
    ((("stalking", 0.4),), ("stalking",)),
    ((("stalking", 0.9), ("online_abuse", 0.5)), ("stalking",)),
    ((("stalking", 0.8), ("online_abuse", 0.7)), ("stalking", "online_abuse")),
    ((("stalking", 0.5), ("online_abuse", 0.4), ("tech_safety", 0.35), ("housing", 0.31)),
     ("stalking", "online_abuse", "tech_safety")),
])
def test_decide(topics, expected):
    assert decide(Understanding(frozenset(), topics, None)) == expected


def test_a_risk_is_also_its_topic_first():
    u = understand("i want to kill myself")
    assert u.topics[0] == ("self_harm", 1.0)
    assert decide(u) == ("self_harm",)


def test_an_audience_beats_the_kind_of_abuse():
    assert decide(understand("im a man and my wife hits me"))[0] == "men"
    assert decide(understand("im gay and my partner hits me"))[0] == "lgbt"


def test_ambiguous_message_offers_choices():
    u = understand("i think my mum is in an abusive relationship")
    assert set(decide(u)) == {"domestic_abuse", "someone_else"}


@pytest.mark.parametrize("text", ["hi", "thanks", "ok", "?", "", "   "])
def test_nothing_to_route(text):
    u = understand(text)
    assert decide(u) == () and u.risks == frozenset()


def test_result_shape():
    u = understand("he checks my phone and hes outside with a knife")
    assert isinstance(u, Understanding)
    assert u.risks <= set(RISKS)
    assert all(t in TOPICS and 0.0 <= s <= 1.0 for t, s in u.topics)
    assert [s for _, s in u.topics] == sorted((s for _, s in u.topics), reverse=True)
    with pytest.raises(AttributeError):
        u.risks = frozenset()  # frozen


def test_every_topic_has_a_lexicon_entry():
    lexicon = yaml.safe_load((U.LEXICONS / "en.yaml").read_text(encoding="utf-8"))
    assert lexicon["version"] == 1
    assert set(lexicon["topics"]) == set(TOPICS)
    assert set(lexicon["risks"]) == set(RISKS)


# --- language -------------------------------------------------------------------------------

@pytest.mark.parametrize("text,lang", [
    ("남편이 저를 때려요", "ko"),
    ("என் கணவர் என்னை அடிக்கிறார்", "ta"),
    ("زوجي يضربني كل يوم", "ar"),
    ("میرا شوہر مجھے مارتا ہے", "ur"),
    ("mój mąż mnie bije i nie wiem co robić", "pl"),
    ("soțul meu mă bate și nu știu ce să fac", "ro"),
    ("meu marido me bate todos os dias", "pt"),
    ("my husband hits me and i dont know what to do", "en"),
    ("hes outside wiv a knif", "en"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang
    assert understand(text).language == lang


@pytest.mark.parametrize("text", ["", " ", "ok", "hi", "🙂🙂", "123", "\x00\x01", "?"])
def test_detect_language_declines_when_unsure(text):
    assert detect_language(text) is None


def test_language_detection_on_labelled_messages():
    right = sum(detect_language(i["text"]) == i["lang"] for i in FOREIGN)
    assert right / len(FOREIGN) >= 0.9
    wrong = sum(detect_language(i["text"]) not in (None, "en") for i in ENGLISH)
    assert wrong / len(ENGLISH) <= 0.02


def test_english_lexicon_applies_in_any_conversation_language():
    assert "danger_now" in understand("hes outside with a knife", "pl").risks
    assert "danger_now" in understand("hes outside with a knife", "xx").risks


# --- robustness -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "", " ", "\n\t", "🙂", "🙂" * 500, "\x00\x1b[31m\x7f", "\u200b\u200d\ufeff", "a" * 100_000,
    "😭😭😭 he hit me 😭😭😭", "he" + "\u0301" * 50, "<script>alert(1)</script>", "' OR 1=1 --",
    "____", "\U0001F52A" * 3,
])
def test_odd_input_never_raises(text):
    u = understand(text)
    assert isinstance(u, Understanding)
    decide(u)


def test_control_characters_do_not_hide_risk():
    assert "danger_now" in understand("hes\x00 outside\u200b with\x1b a knife").risks


def test_very_long_message_is_bounded_and_still_read_at_the_end():
    # Only the first 16,000 and last 4,000 characters are read (U.MAX_CHARS), so a huge message costs
    # no more than a long one; speed itself is measured in bench/understanding.py, not here.
    assert "self_harm" in understand("blah " * 50_000 + "i want to kill myself").risks
    assert "self_harm" in understand("i want to kill myself " + "blah " * 50_000).risks
    assert understand("blah " * 10_000 + "i want to kill myself " + "blah " * 10_000).risks == frozenset()


def test_not_a_string_is_treated_as_nothing():
    assert understand(None).risks == frozenset()  # type: ignore[arg-type]
    assert detect_language(None) is None  # type: ignore[arg-type]


def test_pure_and_no_io_per_call(monkeypatch):
    understand("warm up")
    first = understand("my ex keeps following me")

    def no_io(*args, **kwargs):
        raise AssertionError("understand() did I/O")

    monkeypatch.setattr(builtins, "open", no_io)
    monkeypatch.setattr(Path, "read_text", no_io)
    assert understand("my ex keeps following me") == first


# --- lexicon files --------------------------------------------------------------------------

@pytest.fixture
def lexicons(tmp_path, monkeypatch):
    """A private lexicon folder holding a copy of en.yaml, with the caches emptied around it."""
    shutil.copy(U.LEXICONS / "en.yaml", tmp_path / "en.yaml")
    monkeypatch.setattr(U, "LEXICONS", tmp_path)
    U.reload()
    yield tmp_path
    U.reload()


def lexicon(text: str, lang: str):
    """Read with the lexicon alone: these tests are about its rules, which a learned model would weigh in on."""
    return analyse(text, lang, use_model=False)


def test_a_co_occurrence_rule_matches_in_any_order_within_its_window(lexicons):
    (lexicons / "zz.yaml").write_text(
        "version: 1\nwords:\n  blade: [razor]\n"
        "risks:\n  self_harm:\n    guarded:\n      - maybe: [[3, '@blade', 'tonight']]\n"
        "        unless: ['years ago']\n        urgent: ['again']\n",
        encoding="utf-8",
    )
    assert "self_harm" in lexicon("tonight the razor", "zz").risks
    assert "self_harm" in lexicon("the razor tonight", "zz").risks
    assert "self_harm" not in lexicon("razor a b c d e f tonight", "zz").risks
    assert "self_harm" not in lexicon("the razor tonight years ago", "zz").risks
    assert "self_harm" in lexicon("the razor tonight years ago again", "zz").risks


def test_a_new_language_is_just_a_file(lexicons):
    (lexicons / "pl.yaml").write_text(
        "version: 1\nlanguage: pl\nwords:\n  knife: [nóż, nożem]\n"
        "risks:\n  danger_now:\n    patterns: ['on ... @knife']\n"
        "topics:\n  stalking:\n    strong: ['śledzi']\n",
        encoding="utf-8",
    )
    assert "danger_now" in lexicon("on stoi pod drzwiami z nożem", "pl").risks
    assert "danger_now" in lexicon("on stoi pod drzwiami z nozem", "pl").risks  # no accents
    assert decide(lexicon("mój chłopak mnie śledzi", "pl")) == ("stalking",)
    assert lexicon("on stoi pod drzwiami z nożem", "en").risks == frozenset()


@pytest.mark.parametrize("content,message", [
    ("risks: {}\n", "version: 1"),
    ("version: 1\nrisks:\n  danger_soon:\n    patterns: [x]\n", "danger_soon"),
    ("version: 1\ntopics:\n  gardening:\n    strong: [x]\n", "gardening"),
    ("version: 1\ntopics:\n  stalking:\n    strong: ['@nowhere']\n", "words.nowhere"),
    ("version: 1\ntopics:\n  stalking:\n    strong: ['(a|b']\n", "parentheses"),
    ("version: 1\ntopics: [\n", "not valid YAML"),
    ("version: 1\ntopics:\n  stalking: [x]\n", "must be a mapping"),
    ("version: 1\nrisks:\n  self_harm:\n    patterns: [[x]]\n", "needs two parts"),
])
def test_bad_lexicon_names_the_file_and_the_problem(lexicons, content, message):
    (lexicons / "zz.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        understand("hello", "zz")
    assert "zz.yaml" in str(error.value) and message in str(error.value)


def test_a_word_prefix_matches_tamil_words_whose_letters_carry_vowel_signs(lexicons):
    # "கத்தி*" (knife) must match "கத்தியுடன்" (with a knife): Tamil vowel signs are not \w in Python.
    (lexicons / "ta.yaml").write_text(
        "version: 1\nlanguage: ta\nrisks:\n  danger_now:\n    patterns: ['கத்தி*']\n", encoding="utf-8")
    assert "danger_now" in understand("அவன் கத்தியுடன் வெளியே நிற்கிறான்", "ta").risks
    assert "danger_now" not in understand("அவன் வெளியே நிற்கிறான்", "ta").risks


def test_latin_text_the_detector_cannot_place_is_named_by_its_everyday_words():
    # Roman Urdu (Urdu in Latin letters) is no language to the detector; its everyday words place it.
    assert detect_language("mujhe bohat dar lag raha hai wo ghar pe hai") == "ur"
    assert detect_language("he is at the door again and i am scared") == "en"
    assert detect_language("ok ok ok ok") != "ur"


@pytest.mark.parametrize("text, lang", [
    ("on znowu stoi pod drzwiami i krzyczy ze mnie zabije", "pl"),  # Polish typed without its letters
    ("sotul meu ma bate si nu stiu ce sa fac", "ro"),
    ("wo mujhe maar raha hai aur mujhe dar lag raha hai", "ur"),
])
def test_latin_text_in_each_language_is_placed(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text, lang", [
    ("என் husband every day phone check பண்றார், what should I do", "ta"),  # a few words in its own script
    ("زوجي يضربني كل ليلة, I need help from the council", "ar"),
    ("I want to disappear forever. 죽고 싶어요", "ko"),
    ("ana 3ayza a7ky m3 7ad, jozi byedrabni kol youm", "ar"),  # Arabizi: under half its words are everyday ones
    ("بدي روح", "ar"),  # the detector cannot place two words; its model's everyday words can
    ("counselling Tamil la kidaikkuma?", "ta"), ("Urdu mein info hai?", "ur"),  # "tamil" in the English lexicon's requests for a language is not English
])
def test_mixed_and_romanised_messages_are_placed(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", [
    "rani f dar khti, rajli kaydour 3la lhouma w 3ando mouss",  # Darija, which the detector took for French
    "5allatni a7mel el tel w tesma3 kol shi",  # Levantine, which it took for Turkish
    "sa3douni 3afakom",  # too short for the detector to say
    "el7a2ooni howe hon",  # one such word in three
    "ana ma3 7ad hon",  # not taken for a postcode
])
def test_arabizi_is_placed_by_the_digits_it_writes_letters_with(text):
    assert detect_language(text) == "ar"


@pytest.mark.parametrize("text", [
    "he said he will be back at 7pm and then 9pm", "can we talk 2day around 3pm",
    "stuck on the a3 in traffic", "planning2leave nxt wk whn he goes2 his brothers",
    "my 2nd and 3rd kids are 5yo twins", "KT1 2EE", "KT2 7AB, KT5 9AB",
])
def test_english_times_and_text_speak_are_not_arabizi(text):
    assert detect_language(text) != "ar"


@pytest.mark.parametrize("text, lang", [
    ("انا خايفة منه", "ar"),  # Arabic's ة and ي: the detector took it for Urdu
    ("خايف", "ar"),
    ("مجھے ڈر لگتا ہے", "ur"),  # Urdu's ڈ and ے
    ("وہ گھر پر ہے", "ur"),
])
def test_arabic_and_urdu_are_told_apart_by_the_letters_only_one_writes(text, lang):
    assert detect_language(text) == lang


def test_languages_we_do_not_speak_are_not_taken_for_ones_we_do():
    assert detect_language("nežinau ką daryti") != "pl"  # Lithuanian shares ą and ę with Polish
    assert detect_language("mój mąż mnie bije") == "pl"
    assert detect_language("ich brauche hilfe bitte") == "de"  # Polish has the word "ich" too
    assert detect_language("yardıma ihtiyacım var lütfen") == "tr"


@pytest.mark.parametrize("text", ["inime uyiroda irukka pidikkala", "naan uyiroda irukka virumbala", "enakku vaazha pidikkala",
                                  "sagalaamnu irukku"])
def test_tanglish_says_what_tamil_script_says_about_not_wanting_to_live(text):
    assert "self_harm" in lexicon(text, "ta").risks


def test_sure_patterns_stand_when_the_model_vetoes_everything(monkeypatch):
    class Vetoing:
        def read(self, text, risks):
            return (), ()

    U._everyday()  # built from the real models first
    monkeypatch.setattr(U.learned, "model", lambda lang="en": Vetoing())
    assert "self_harm" in analyse("station la nikkum podhu train munnadi kudhikkalaamnu thonuchu", "ta").risks
    assert "self_harm" in analyse("naan uyiroda irukka virumbala", "ta").risks
    assert "child_at_risk" in analyse("i am 15 and my boyfriend is 25").risks
    assert analyse("he is at work and the kids are asleep").risks == frozenset()


def test_no_wish_to_be_alive_is_never_vetoed_by_the_model_whatever_follows():
    """The Tamil model had vetoed it with a clause after it; the lexicon's `sure` patterns now stand."""
    assert "self_harm" in understand("naan uyiroda irukka virumbala, enna pannanum nu theriyala", "ta").risks


@pytest.mark.parametrize("text,lang", [
    ("help me now", "en"), ("pls hurry", "en"), ("بسرعة ساعدوني", "ar"), ("sa3douni besor3a", "ar"),
    ("빨리 도와주세요", "ko"), ("ajutati-ma repede", "ro"), ("சீக்கிரம் உதவி பண்ணுங்க", "ta"), ("seekiram help pannunga", "ta"),
    ("pomocy", "pl"), ("socorro", "pt"), ("jaldi madad karo", "ur"),
])
def test_a_plea_for_help_in_a_hurry_is_danger_in_every_language(text, lang):
    assert "danger_now" in lexicon(text, lang).risks


@pytest.mark.parametrize("text,lang", [
    ("can you help me with my housing quickly", "en"), ("i need help now with universal credit", "en"),
    ("도와주셔서 빨리 해결됐어요 감사합니다", "ko"),
])
def test_help_and_a_hurry_in_an_ordinary_sense_is_not_danger(text, lang):
    assert not lexicon(text, lang).risks


def test_the_app_can_read_every_language_lexicon_before_anyone_writes():
    from flows.runtime import build

    runtime = build()
    U.reload()
    runtime.warm()
    assert U._bundle.cache_info().currsize == len(runtime.catalogs.languages) == 8
