"""Transcript tests: recorded conversations replayed through the one path every channel takes,
in English and again in every other language, with the person's words put into that language."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.catalog import Catalogs
from flows.engine import Conversation, normalize

CONVERSATIONS = sorted((Path(__file__).parent / "conversations").glob("*.yaml"))
LANGUAGES = Catalogs().languages


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert data.get("version") == 1 and data.get("turns"), f"{path.name}: needs version: 1 and turns"
    return data


def in_language(runtime, conv: Conversation | None, said: str, lang: str) -> str:
    """What a person writing in `lang` would send for an English turn: numbers stay; a command is its
    first word in that language; an option's words are its label in that language; anything else
    (a greeting) is sent as it is."""
    engine, catalogs = runtime.engine, runtime.catalogs
    words = normalize(said)
    if lang == "en" or said.isdigit():
        return said
    command = engine.command(words, "en")
    if command:
        return catalogs.text(runtime.library.commands[command].words, lang).split("|")[0]
    option = engine.match_option(engine.offered(conv), said, "en") if conv else None
    return catalogs.text(option.label, lang) if option else said


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("path", CONVERSATIONS, ids=[p.stem for p in CONVERSATIONS])
def test_transcript(app, path, lang):
    script = load(path)
    waymark = app.extensions["waymark"]
    key = waymark.key("test", path.stem)
    with app.app_context():
        with waymark.store.transaction():
            waymark.store.save(Conversation(key=key, channel="test", lang=lang))  # a person who chose `lang`
        chose_again = False  # until the person picks a language from the menu, the reply stays in theirs
        for n, turn in enumerate(script["turns"], 1):
            conv = waymark.store.load(key)
            said = in_language(waymark.runtime, conv, str(turn["say"]), conv.lang if conv else lang)
            reply = waymark.converse(key, "test", said)
            where = f"{path.name} [{lang}] turn {n} ({said!r})"
            for msg in turn.get("expect", []):
                assert msg in reply.ids, f"{where}: expected {msg}, got {list(reply.ids)}"
            text = reply.as_text()
            for number in turn.get("numbers", []):
                assert str(number) in text, f"{where}: expected the number {number}"
            if turn.get("ended"):
                assert reply.ended, f"{where}: expected the conversation to end"
            assert chose_again or reply.lang == lang, f"{where}: answered in {reply.lang}"
            chose_again = chose_again or "language.ask" in reply.ids
