"""Turn the engine's message ids into words in the conversation's language, numbers filled in."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .catalog import Catalogs, render_text
from .directory import Service
from .engine import Message, Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A rendered reply: texts in order (and their message ids), and the choices as (number, option id, label)."""

    lang: str
    messages: tuple[str, ...]
    ids: tuple[str, ...] = ()
    options: tuple[tuple[str, str, str], ...] = ()
    ended: bool = False
    nav: str = ""
    langs: tuple[str, ...] = ()  # each message's language (an offer to switch is said in the offered one)

    def as_text(self) -> str:
        """Lay the reply out as one text: messages, numbered choices, then the navigation line."""
        choices = "\n".join(f"{n} {label}" for n, _, label in self.options)
        return "\n\n".join(part for part in (*self.messages, choices, self.nav) if part)


class Renderer:
    """Render turns with one language's catalog and the directory's verified or configured entries."""

    def __init__(self, catalogs: Catalogs, services: dict[str, Service]):
        self.catalogs = catalogs
        self.services = services

    def message(self, msg: Message, lang: str, discreet: bool = False) -> str:
        """Render one message (its neutral `<id>.discreet` wording in discreet mode, where there is one).

        A message naming an unavailable service raises KeyError.
        """
        text = self.catalogs.text(msg.id, lang)
        if discreet:
            neutral = self.catalogs.text(f"{msg.id}.discreet", lang)
            text = text if neutral == f"{msg.id}.discreet" else neutral
        return render_text(text, self.services, dict(msg.params))

    def turn(self, turn: Turn) -> Reply:
        """Render a whole turn in the conversation's language."""
        lang, discreet = turn.conversation.lang, turn.conversation.discreet
        texts, ids, langs = [], [], []
        for msg in turn.messages:
            try:
                texts.append(self.message(msg, msg.lang or lang, discreet))
                ids.append(msg.id)
                langs.append(msg.lang or lang)
            except KeyError:  # a service was unconfigured after the check ran: leave it out, never guess
                log.warning("message %s names an unavailable service; left out", msg.id)
        options = tuple(
            (str(i), o.id, render_text(self.catalogs.text(o.label, lang), self.services))
            for i, o in enumerate(turn.options, 1)
        )
        nav = self.message(Message("common.nav"), lang) if options and turn.nav else ""
        return Reply(lang, tuple(texts), tuple(ids), options, turn.ended, nav, tuple(langs))
