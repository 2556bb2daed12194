"""The one path every channel takes: key, load, step, render, save, and a safe reply on any error."""

from __future__ import annotations

import logging

from flask import Flask, current_app

from flows.engine import Conversation, Message
from flows.render import Reply
from flows.runtime import Runtime

from .store import Store, keyed_hash

log = logging.getLogger(__name__)
LAST_RESORT = "Sorry, something went wrong. If you are in danger call 999."


class Waymark:
    """Bind the shared runtime (flows, directory, catalogs, engine) to the store and the secret."""

    def __init__(self, runtime: Runtime, store: Store, secret: str):
        self.runtime = runtime
        self.store = store
        self.secret = secret
        self.desk = None  # the handoff desk (bot/handoff.py), when talking to a person is set up

    def init_app(self, app: Flask) -> None:
        app.extensions["waymark"] = self

    def key(self, channel: str, address: str) -> str:
        """Return the keyed hash that stands for an address; the address itself is never kept."""
        return keyed_hash(self.secret, channel, address)

    def converse(self, key: str, channel: str, text: str | None, once=None, lang: str | None = None) -> Reply:
        """Take one message (None to start afresh; with `lang`, switch to that language) and return the
        rendered reply; never raise."""
        # With `once` (a bot.sms.Once) a retried message gets its first reply again and changes nothing;
        # the check and the record share the turn's transaction, so two racing retries step once.
        try:
            with self.store.transaction():
                seen = once.recall(self.store) if once else None
                if seen is not None:
                    return seen
                before = self.store.load(key)
                conv = before or Conversation(key=key, channel=channel)
                engine = self.runtime.engine
                # While a worker has the chat, the person's words go to them and the bot stays quiet
                # (EXIT and risk messages still get their answer): see bot/handoff.py.
                live = self.desk.live(key) if self.desk and text is not None else None
                if lang:
                    turn = engine.switch(conv, lang)
                elif live:
                    turn = self.desk.relay(live, conv, text)
                else:
                    turn = engine.start(conv) if text is None else engine.step(conv, text)
                if self.desk:
                    turn = self.desk.after(before, turn, channel)
                if turn.ended:
                    self.store.delete(key)
                else:
                    self.store.save(turn.conversation)
                reply = self.runtime.renderer.turn(turn)
                if once:
                    once.keep(self.store, reply)
            return reply
        except Exception:
            log.exception("a turn failed on channel %s; sent the safe reply", channel)
            return self.safe_reply()

    def forget(self, key: str) -> None:
        """Delete a conversation at once (quick exit)."""
        with self.store.transaction():
            self.store.delete(key)
            if self.desk:
                self.desk.forget(key)

    def safe_reply(self, lang: str = "en") -> Reply:
        """Return the fail-safe reply, which always carries the emergency line."""
        try:
            text = self.runtime.renderer.message(Message("common.error"), lang)
        except Exception:
            text = LAST_RESORT
        return Reply(lang, (text,), ("common.error",))


def waymark() -> Waymark:
    """Return the current application's Waymark."""
    return current_app.extensions["waymark"]
