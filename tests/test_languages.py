"""A whole conversation in each of the eight languages, on SMS and on the web: choosing the language by
its own name, danger in the person's own words, asking for a person (the worker sees the language), exit."""

from __future__ import annotations

import pytest

from flows.catalog import Catalogs

from .conftest import SmsClient, WebChat
from .test_handoff import Worker, happ  # noqa: F401 - the app with the Kingston service open

CATALOGS = Catalogs()
# "He is outside with a knife", written by us (not from any labelled set) in each language.
DANGER = {
    "en": "hes outside with a knife",
    "ko": "그 사람이 칼을 들고 밖에 있어요",
    "ta": "அவன் கத்தியுடன் வெளியே நிற்கிறான்",
    "ar": "هو بالخارج ومعه سكين",
    "pl": "on stoi pod drzwiami z nożem",
    "ro": "e afară cu un cuțit",
    "ur": "وہ چاقو لے کر باہر کھڑا ہے",
    "pt": "ele está lá fora com uma faca",
}
LANGUAGE = {"en": "English", "ko": "Korean (한국어)", "ta": "Tamil (தமிழ்)", "ar": "Arabic (العربية)",
            "pl": "Polish (polski)", "ro": "Romanian (română)", "ur": "Urdu (اردو)", "pt": "Portuguese (português)"}


def say(msg_id: str, lang: str) -> str:
    """The opening words of a message (before any number; short, as a long one may span two texts)."""
    return CATALOGS.text(msg_id, lang).split("{")[0].strip()[:40]


def word(command: str, lang: str) -> str:
    return CATALOGS.text(f"common.words_{command}", lang).split("|")[0]


def test_every_shipped_language_is_here():
    assert sorted(CATALOGS.languages) == sorted(DANGER)


@pytest.mark.parametrize("lang", sorted(DANGER))
def test_a_whole_conversation_by_text(happ, lang):  # noqa: F811
    sms = SmsClient(happ, from_="+447700900555")
    first = "\n".join(sms.send(CATALOGS.text(f"language.name_{lang}")))  # the language's own name
    assert say("welcome.hello", lang) in first and "999" in first
    danger = "\n".join(sms.send(DANGER[lang]))
    assert say("common.risk_danger_now", lang) in danger and "999" in danger
    sms.send(word("talk", lang))
    for answer in ("1", "1", "1"):  # a person, yes share what I chose, then a note
        queued = "\n".join(sms.send(answer))
    assert say("talk.waiting", lang) in queued
    worker = Worker(happ)
    worker.login()
    [item] = worker.queue()
    assert item["language"] == LANGUAGE[lang] and item["risk"]
    assert sms.send(word("exit", lang)) == []
    assert worker.queue() == []


@pytest.mark.parametrize("lang", sorted(DANGER))
def test_a_whole_conversation_on_the_web(happ, lang):  # noqa: F811
    web = WebChat(happ.test_client())
    started = web.start(lang=lang)
    assert started["lang"] == lang and started["messages"][0]["text"].startswith(say("welcome.hello", lang))
    assert started["dir"] == ("rtl" if lang in ("ar", "ur") else "ltr")
    danger = web.say(DANGER[lang])
    assert [m["id"] for m in danger["messages"]][0] == "common.risk_danger_now" and danger["lang"] == lang
    assert "999" in danger["messages"][0]["text"]
    web.say(word("talk", lang))
    web.choose("person")
    web.choose("yes")
    web.choose("skip")
    worker = Worker(happ)
    worker.login()
    [item] = worker.queue()
    assert item["language"] == LANGUAGE[lang] and item["risk"] and item["channel"] == "web"
    assert web.say(word("exit", lang))["ended"]
    assert worker.queue() == []
