"""The SMS and WhatsApp channel: Twilio's webhook, signed, idempotent, segment-aware and fail-safe."""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import traceback
from dataclasses import fields, replace
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from flows.engine import Conversation, Message, normalize
from flows.render import Reply
from flows.segments import split

from .store import Store
from .waymark import LAST_RESORT, Waymark, waymark

bp = Blueprint("sms", __name__)
log = logging.getLogger(__name__)

# Twilio's own keywords (matched on the whole message, like Twilio does); never menu words.
OPT_OUT = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
OPT_IN = {"start", "unstop"}
HELP = "help"
DISCREET = "discreet"  # turns discreet mode on or off; translations come from the catalogs' sms.words_discreet
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # XML 1.0 cannot carry these
WINDOW_S = 60.0


class Limiter:
    """Count messages a minute per conversation and overall, in memory, keyed only by the keyed hash."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.lock = threading.Lock()
        self._reset(clock())

    def _reset(self, now: float) -> None:
        self.started, self.total, self.counts, self.told = now, 0, {}, set()

    def check(self, key: str, per_conversation: int, overall: int) -> str:
        """Say "ok", "wait" (the first message over a limit in this minute) or "quiet" (the ones after it)."""
        with self.lock:
            now = self.clock()
            if now - self.started >= WINDOW_S:
                self._reset(now)
            self.total += 1
            self.counts[key] = self.counts.get(key, 0) + 1
            if self.counts[key] <= per_conversation and self.total <= overall:
                return "ok"
            if key in self.told:
                return "quiet"
            self.told.add(key)
            return "wait"


class Once:
    """Keep one text's reply for a few minutes under a keyed hash of its id, so a retry gets it again."""

    def __init__(self, msg_hash: str, key: str, ttl_s: float):
        self.id, self.key, self.ttl_s = msg_hash, key, ttl_s

    def recall(self, store: Store) -> Reply | None:
        """Return the reply this message already got, if it is still kept."""
        row = store.db.execute("SELECT reply FROM sms_replies WHERE id = ? AND created_at >= ?",
                               [self.id, store.clock() - self.ttl_s]).fetchone()
        if not row:
            return None
        return Reply(**{k: _tuples(v) for k, v in json.loads(row[0]).items()})

    def keep(self, store: Store, reply: Reply) -> None:
        """Record the reply (call inside the turn's transaction); expired ones go in the store's purge."""
        if reply.ended:  # the conversation is gone: keep nothing of it
            drop_replies(store, self.key)
            return
        store.db.execute("INSERT OR REPLACE INTO sms_replies (id, key, reply, created_at) VALUES (?, ?, ?, ?)",
                         [self.id, self.key, json.dumps({f.name: getattr(reply, f.name) for f in fields(reply)}),
                          store.clock()])


def drop_replies(store: Store, key: str) -> None:
    """Delete every reply kept for a conversation (call inside a transaction)."""
    store.db.execute("DELETE FROM sms_replies WHERE key = ?", [key])


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class Words:
    """What the channel looks for in each message, worked out once from the engine and the catalogs."""

    def __init__(self, w: Waymark):
        catalogs = w.runtime.catalogs
        # EXIT in every language: the engine's own command words, so there is one list, in the catalogs.
        self.exit = {word for table in w.runtime.engine.command_words.values()
                     for word, command in table.items() if command == "exit"}
        self.discreet = {DISCREET}
        for lang in catalogs.languages:
            text = catalogs.text("sms.words_discreet", lang)
            if text != "sms.words_discreet":
                self.discreet |= {normalize(word) for word in text.split("|") if normalize(word)}


@bp.record_once
def _setup(state) -> None:
    state.app.extensions["sms_limiter"] = Limiter()
    store, ttl_s = state.app.extensions["waymark"].store, float(state.app.config["SMS_REPLAY_MINUTES"]) * 60
    # Expired replies are never served (recall checks the time); the store's purge frees their space.
    store.purgers.append(lambda now: store.db.execute("DELETE FROM sms_replies WHERE created_at < ?", [now - ttl_s]))
    store.timestamps.append(("sms_replies", "created_at"))
    from .twilio_out import Outbound

    Outbound().init_app(state.app)


def _words() -> Words:
    words = current_app.extensions.get("sms_words")
    if words is None:
        words = current_app.extensions["sms_words"] = Words(waymark())
    return words


# -- the webhook -------------------------------------------------------------------------------


@bp.post("/sms")
def inbound():
    """Answer one message from Twilio with TwiML; refuse anything Twilio did not sign."""
    if not _signed():
        abort(403)
    try:
        texts = _answer(request.form, request.headers.get("I-Twilio-Idempotency-Token"))
    except Exception as err:  # fail safe: a reply with 999, never a stack trace, never silence
        where = traceback.extract_tb(err.__traceback__)[-1]
        log.error("the SMS webhook failed (%s at %s:%s); sent the safe reply", type(err).__name__,
                  where.filename.rsplit("/", 1)[-1], where.lineno)  # no message text: it may quote the person
        texts = [_safe_text()]
    return twiml(texts)


def _signed() -> bool:
    """Check X-Twilio-Signature against the URL Twilio called (WAYMARK_PUBLIC_URL behind a proxy)."""
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature")
    if not token or not signature:
        return False
    url = request.url
    public = current_app.config.get("PUBLIC_URL")
    if public:
        query = request.query_string.decode("latin-1")
        url = public.rstrip("/") + request.path + (f"?{query}" if query else "")
    try:
        validator = RequestValidator(token)
        if hmac.compare_digest(validator.compute_signature(url, request.form), signature):
            return True  # the usual case, in one HMAC; validate() also tries the URL with and without the port
        return validator.validate(url, request.form, signature)
    except Exception:
        return False


def _answer(form, token: str | None) -> list[str]:
    """Decide the texts to send back for one inbound message."""
    w, cfg = waymark(), current_app.config
    address, body = form.get("From", ""), form.get("Body", "")
    if not address:
        return []  # nowhere to answer
    channel = "whatsapp" if address.lower().startswith("whatsapp:") else "sms"
    key = w.key(channel, address)
    words, known = normalize(body), _words()

    if words in OPT_OUT or words in known.exit:
        _forget(w, key)
        return [cfg["EXIT_REPLY"]] if cfg["EXIT_REPLY"] and words not in OPT_OUT else []

    msg_id = form.get("MessageSid") or token
    once = Once(w.key("message", msg_id), key, float(cfg["SMS_REPLAY_MINUTES"]) * 60) if msg_id else None
    seen = once.recall(w.store) if once else None
    if seen is not None:  # a retry: the same answer, nothing stepped again, not counted as flooding
        return texts_for(seen, channel)

    verdict = current_app.extensions["sms_limiter"].check(
        key, int(cfg["SMS_RATE_PER_CONVERSATION"]), int(cfg["SMS_RATE_OVERALL"]))
    if verdict == "quiet":
        return []
    if verdict == "wait":
        return texts_for(_line(w, "sms.wait", _lang(w, key)), channel)

    if words == HELP:
        return texts_for(_line(w, "sms.help", _lang(w, key)), channel)
    if words in known.discreet:
        return texts_for(_toggle_discreet(w, key, channel, once), channel)
    if words in OPT_IN:
        _forget(w, key)
        reply = w.converse(key, channel, None, once)
    elif _media(form) and not body.strip():
        return texts_for(_line(w, "sms.media", _lang(w, key)), channel)
    else:
        reply = w.converse(key, channel, body, once)
    if _media(form):
        media = _line(w, "sms.media", reply.lang)
        reply = replace(reply, messages=media.messages + reply.messages, ids=media.ids + reply.ids)
    return texts_for(reply, channel)


def _media(form) -> bool:
    try:
        return int(form.get("NumMedia") or 0) > 0
    except ValueError:
        return True  # odd value: say we cannot receive files rather than ignore it


def _forget(w: Waymark, key: str) -> None:
    """Delete the conversation (the one quick-exit path) and every reply kept for it."""
    w.forget(key)
    with w.store.transaction():
        drop_replies(w.store, key)


def _lang(w: Waymark, key: str) -> str:
    conv = w.store.load(key)
    return conv.lang if conv else "en"


def _line(w: Waymark, msg_id: str, lang: str) -> Reply:
    return Reply(lang, (w.runtime.renderer.message(Message(msg_id), lang),), (msg_id,))


def _toggle_discreet(w: Waymark, key: str, channel: str, once: Once | None) -> Reply:
    """Turn discreet mode on or off, once per message even if Twilio retries it."""
    with w.store.transaction():
        seen = once.recall(w.store) if once else None
        if seen is not None:
            return seen
        conv = w.store.load(key) or Conversation(key=key, channel=channel)
        conv = replace(conv, discreet=not conv.discreet)
        w.store.save(conv)
        reply = _line(w, "sms.discreet_on" if conv.discreet else "sms.discreet_off", conv.lang)
        if once:
            once.keep(w.store, reply)
    return reply


def _safe_text() -> str:
    try:
        text = waymark().safe_reply().as_text()
    except Exception:
        text = LAST_RESORT
    return text if "999" in text else LAST_RESORT


# -- laying out texts ----------------------------------------------------------------------------


def opening(lang: str) -> str:
    """Return the neutral first line every text starts with (config, else the catalog's sms.opening)."""
    configured = current_app.config.get("SMS_OPENING")
    if configured is not None:
        return configured
    return waymark().runtime.renderer.message(Message("sms.opening"), lang)


def texts_for(reply: Reply, channel: str) -> list[str]:
    """Lay a reply out as at most SMS_MAX_MESSAGES texts, each opening with the neutral line."""
    cfg = current_app.config
    text = reply.as_text().strip()
    if not text:
        return []
    first = opening(reply.lang).strip()
    prefix = f"{first}\n" if first else ""
    most = int(cfg["SMS_MAX_MESSAGES"])
    parts = split(text, None if channel == "whatsapp" else int(cfg["SMS_SEGMENTS_PER_MESSAGE"]), prefix=prefix)
    if len(parts) > most:  # longer texts (Twilio joins their segments) rather than lose words
        parts = split(text, None, prefix=prefix)
    if len(parts) > most:
        log.warning("a reply (%s) was longer than %d texts; cut", ",".join(reply.ids), most)
    return parts[:most]


def twiml(texts: list[str]) -> Response:
    """Wrap texts in TwiML <Message> elements; no texts is an empty <Response/> (send nothing).

    Written out directly: the twilio library's MessagingResponse builds an ElementTree for the same
    few bytes at about a tenth of a text's whole cost.
    """
    messages = "".join(f"<Message>{escape(XML_INVALID.sub('', text))}</Message>" for text in texts)
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{messages}</Response>', mimetype="text/xml")
