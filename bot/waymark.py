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

    def init_app(self, app: Flask) -> None:
        app.extensions["waymark"] = self

    def key(self, channel: str, address: str) -> str:
        """Return the keyed hash that stands for an address; the address itself is never kept."""
        return keyed_hash(self.secret, channel, address)

    def converse(self, key: str, channel: str, text: str | None) -> Reply:
        """Take one message (None to start afresh) and return the rendered reply; never raise."""
        try:
            with self.store.transaction():
                conv = self.store.load(key) or Conversation(key=key, channel=channel)
                engine = self.runtime.engine
                turn = engine.start(conv) if text is None else engine.step(conv, text)
                if turn.ended:
                    self.store.delete(key)
                else:
                    self.store.save(turn.conversation)
            return self.runtime.renderer.turn(turn)
        except Exception:
            log.exception("a turn failed on channel %s; sent the safe reply", channel)
            return self.safe_reply()

    def forget(self, key: str) -> None:
        """Delete a conversation at once (quick exit)."""
        with self.store.transaction():
            self.store.delete(key)

    def safe_reply(self, lang: str = "en") -> Reply:
        """Return the fail-safe reply, which always carries the emergency line."""
        try:
            text = self.runtime.renderer.message(Message("common.error"), lang)
        except Exception:
            text = LAST_RESORT
        return Reply(lang, (text,))


def waymark() -> Waymark:
    """Return the current application's Waymark."""
    return current_app.extensions["waymark"]
