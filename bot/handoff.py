"""Talking to a person: the queue, the live relay, safe callbacks and the partnership's weekly counts.

What is kept, and for how long:
- a handoff row while the person waits or talks: an alias, channel, language, the topics they chose to share,
  their note (encrypted), a risk flag; deleted when the chat closes (or after HANDOFF_RETENTION_DAYS);
- relay messages (encrypted), deleted with their handoff;
- for SMS and WhatsApp only, the person's address, encrypted, while the chat is live: the only way to text them
  a worker's reply. It goes when the chat closes. (The other exception is a safe callback's details.)
- a safe callback (number, time, voicemail, withheld, safe word), encrypted, deleted when marked done or after
  HANDOFF_RETENTION_DAYS;
- weekly counters only, never a row per person.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import replace
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app, has_app_context, has_request_context, request

from flows.engine import Conversation, Message, Turn, normalize
from flows.library import MENU

log = logging.getLogger(__name__)

ALIAS_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
OPEN = ("waiting", "live")
ENDED_STATE = "talk.ended"
ON_CALL_TEXT = "Waymark: someone is waiting to talk in the staff console."  # never a detail of who or why
FEEDBACK = {"1", "2", "3", "4", "5"}


class HoursError(ValueError):
    """Raised at start-up for opening hours that cannot be read."""


def parse_hours(text: str) -> list[tuple[set[int], int, int]]:
    """Read opening hours like "Mon-Fri 09:00-17:00; Sat 10:00-13:00" into (weekdays, from, to) in minutes."""
    out = []
    for part in re.split(r"[;,]", text or ""):
        part = part.strip().lower()
        if not part:
            continue
        match = re.fullmatch(r"([a-z]{3})(?:-([a-z]{3}))?\s+(\d{1,2}):(\d\d)-(\d{1,2}):(\d\d)", part)
        if not match or match.group(1) not in DAYS or (match.group(2) and match.group(2) not in DAYS):
            raise HoursError(f"WAYMARK_HANDOFF_HOURS: {part!r} is not like 'Mon-Fri 09:00-17:00'")
        first = DAYS.index(match.group(1))
        last = DAYS.index(match.group(2)) if match.group(2) else first
        days = {d % 7 for d in range(first, last + 1 if last >= first else last + 8)}
        start = int(match.group(3)) * 60 + int(match.group(4))
        end = int(match.group(5)) * 60 + int(match.group(6))
        if not 0 <= start < end <= 24 * 60:
            raise HoursError(f"WAYMARK_HANDOFF_HOURS: {part!r}: the times must run forwards within a day")
        out.append((days, start, end))
    return out


def _dates(value) -> set[str]:
    items = value if isinstance(value, (list, tuple, set)) else re.split(r"[\s,]+", str(value or ""))
    dates = set()
    for item in items:
        item = str(item).strip()
        if item:
            dt.date.fromisoformat(item)  # raises on a date that is not YYYY-MM-DD
            dates.add(item)
    return dates


def week_of(ts: float) -> str:
    """Name the ISO week a moment falls in, like 2026-W48."""
    year, week, _ = dt.datetime.fromtimestamp(ts, dt.timezone.utc).isocalendar()
    return f"{year}-W{week:02d}"


class Desk:
    """The handoff desk: one per app, reading and writing the same store as the conversations."""

    def __init__(self, app: Flask, waymark, clock=time.time):
        cfg = app.config
        self.w = waymark
        self.store = waymark.store
        self.clock = clock
        self.hours = parse_hours(cfg["HANDOFF_HOURS"])
        self.holidays = _dates(cfg["BANK_HOLIDAYS"])
        self.zone = ZoneInfo(cfg["HANDOFF_TIMEZONE"])
        self.retention_s = float(cfg["HANDOFF_RETENTION_DAYS"]) * 86400
        self.give_up_s = float(cfg["HANDOFF_GIVE_UP_MINUTES"]) * 60
        self.draft_s = float(cfg["IDLE_MINUTES"]) * 60
        self.enabled = bool(cfg["HANDOFF_ENABLED"])
        key = cfg.get("DATA_KEY") or base64.urlsafe_b64encode(
            hashlib.sha256(f"waymark-data-key:{cfg['SECRET_KEY']}".encode()).digest()).decode()
        try:
            self.fernet = Fernet(key)
        except ValueError:
            raise ValueError("WAYMARK_DATA_KEY: not a Fernet key; make one with "
                             "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
                             ) from None
        self.store.purgers.append(self.purge)
        self.store.timestamps += [("handoffs", "created_at"), ("callbacks", "created_at"), ("drafts", "updated_at")]
        self.outbound_errors = 0
        self.notifier: threading.Thread | None = None  # the last on-call text in flight (tests join it)

    def init_app(self, app: Flask) -> None:
        app.extensions["handoff"] = self
        self.w.desk = self
        self.w.runtime.engine.conditions["handoff_open"] = self.is_open

    # -- opening hours ---------------------------------------------------------------------------------

    def is_open(self, now: float | None = None) -> bool:
        """Say whether a worker can be asked for now: the service configured, within hours, not a bank holiday."""
        if not self.enabled or "kingston_vawg_service" not in self.w.runtime.engine.available:
            return False
        local = dt.datetime.fromtimestamp(self.clock() if now is None else now, self.zone)
        if local.date().isoformat() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in days and start <= minute < end for days, start, end in self.hours)

    # -- encryption ------------------------------------------------------------------------------------

    def seal(self, value) -> str:
        """Encrypt a value (any JSON) for the store."""
        return self.fernet.encrypt(json.dumps(value).encode()).decode()

    def unseal(self, token: str | None, default=None):
        """Decrypt a stored value; a missing or unreadable one gives `default`."""
        if not token:
            return default
        try:
            return json.loads(self.fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError):
            log.warning("a stored value could not be decrypted (another data key?)")
            return default

    # -- counters --------------------------------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        """Add to this week's counter `name` (an aggregate; never a row per person)."""
        self.store.db.execute("INSERT INTO counts (week, name, n) VALUES (?, ?, ?) "
                              "ON CONFLICT(week, name) DO UPDATE SET n = n + excluded.n",
                              [week_of(self.clock()), name, n])

    def audit(self, staff: str, action: str, target: str = "") -> None:
        """Record a staff action: who, what, and an alias at most; never a number or a message."""
        self.store.db.execute("INSERT INTO audit (at, staff, action, target) VALUES (?, ?, ?, ?)",
                              [self.clock(), staff, action, target])

    # -- the hook in Waymark.converse --------------------------------------------------------------------

    def live(self, key: str) -> dict | None:
        """Return the open handoff a worker has claimed for this conversation, if any."""
        return self._one("SELECT * FROM handoffs WHERE key = ? AND status = 'live'", [key])

    def relay(self, handoff: dict, conv: Conversation, text: str) -> Turn:
        """Pass a person's message to the worker and keep the bot quiet, except for EXIT and risk."""
        engine = self.w.runtime.engine
        if engine.command(normalize(text), conv.lang) == "exit":
            return Turn(conv, (Message("common.exit_done"),), ended=True)
        now = self.clock()
        self._add(handoff, "person", text)
        understood = engine.read(text, conv.lang)
        if understood.risks:  # the person still sees 999 at once; the worker is alerted
            self._add(handoff, "system", msg="talk.risk_alert")
            self.store.db.execute("UPDATE handoffs SET risk = 1, alert = 1, updated_at = ? WHERE id = ?",
                                  [now, handoff["id"]])
            return engine.step(conv, text)
        self.store.db.execute("UPDATE handoffs SET updated_at = ? WHERE id = ?", [now, handoff["id"]])
        return Turn(replace(conv, updated_at=now), ())

    def after(self, before: Conversation | None, turn: Turn, channel: str) -> Turn:
        """Count, keep captured answers, and carry out the entered state's action; return the turn to say."""
        conv = turn.conversation
        if before is None or before.state is None:
            self.count(f"conversations.channel.{channel}")
            self.count(f"conversations.lang.{conv.lang}")
        for topic in conv.topics:
            if before is None or topic not in before.topics:
                self.count(f"conversations.topic.{topic}")
        if turn.ended:
            self.forget(conv.key)
            return turn
        captured = dict(turn.captured)
        if captured and turn.action not in ("feedback",):
            self._capture(conv.key, captured)
        extra: list[Message] = []
        if turn.action == "handoff":
            extra += self._ask(conv, channel)
        elif turn.action == "handoff_cancel":
            self._cancel(conv.key)
        elif turn.action == "callback":
            self._callback(conv)
        elif turn.action == "feedback":
            score = normalize(captured.get("feedback", ""))
            if score in FEEDBACK:
                self.count(f"feedback.{score}")
        elif conv.state in ("talk.waiting", "talk.helplines"):
            waiting = self._one("SELECT created_at FROM handoffs WHERE key = ? AND status = 'waiting'", [conv.key])
            if waiting and self.clock() - waiting["created_at"] > self.give_up_s:
                extra.append(Message("talk.no_one_free"))
        if extra:
            turn = replace(turn, messages=tuple(extra) + turn.messages)
        return turn

    # -- captured answers ---------------------------------------------------------------------------------

    def _capture(self, key: str, values: dict) -> None:
        row = self._one("SELECT data FROM drafts WHERE key = ?", [key])
        data = self.unseal(row["data"], {}) if row else {}
        data.update(values)
        self.store.db.execute("INSERT OR REPLACE INTO drafts (key, data, updated_at) VALUES (?, ?, ?)",
                              [key, self.seal(data), self.clock()])

    def _take_draft(self, key: str) -> dict:
        row = self._one("SELECT data FROM drafts WHERE key = ?", [key])
        self.store.db.execute("DELETE FROM drafts WHERE key = ?", [key])
        return self.unseal(row["data"], {}) if row else {}

    # -- the queue ------------------------------------------------------------------------------------------

    def _ask(self, conv: Conversation, channel: str) -> list[Message]:
        """Put the person in the queue with what they chose to share; say the likely wait."""
        if self._one("SELECT id FROM handoffs WHERE key = ? AND status IN ('waiting', 'live')", [conv.key]):
            return []  # already waiting (came back to this state): nothing twice
        draft = self._take_draft(conv.key)
        share = draft.get("share_topics") == "yes"
        note = (draft.get("note") or "").strip()
        if normalize(note) in ("skip", ""):
            note = ""
        topics = [t for t in conv.topics if t not in ("talk", "talk_to_person")] if share else []
        now = self.clock()
        address = _address(self.w, conv.key, channel)
        self.store.db.execute(
            "INSERT INTO handoffs (id, key, alias, channel, lang, topics, note, risk, alert, status, worker, address, "
            "created_at, claimed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'waiting', NULL, ?, ?, NULL, ?)",
            [secrets.token_hex(16), conv.key, self._alias(), channel, conv.lang, json.dumps(topics),
             self.seal(note[:500]) if note else None, 1 if conv.risk else 0,
             self.seal(address) if address else None, now, now])
        self.count("handoff.asked")
        self._notify_on_call()
        return [Message("talk.likely_wait", (("minutes", self.likely_wait()),))]

    def _notify_on_call(self) -> None:
        """Text the on-call number (WAYMARK_STAFF_NOTIFY_TO) that someone is waiting, in the background."""
        if not has_app_context() or not current_app.config.get("STAFF_NOTIFY_TO"):
            return
        app = current_app._get_current_object()
        to, cfg = app.config["STAFF_NOTIFY_TO"], app.config
        sender = cfg.get("SMS_FROM")
        origin = {"messaging_service_sid": sender} if str(sender).startswith("MG") else {"from_": sender}

        def send() -> None:
            with app.app_context():
                try:
                    app.extensions["twilio_out"].client().messages.create(to=to, body=ON_CALL_TEXT, **origin)
                except Exception as err:
                    log.warning("the on-call text could not be sent (%s)", type(err).__name__)

        self.notifier = threading.Thread(target=send, daemon=True)
        self.notifier.start()

    def likely_wait(self) -> int:
        """Estimate the wait in whole minutes from this week's median (5 when there is none yet)."""
        median = self.median_wait(week_of(self.clock()))
        ahead = self.store.db.execute("SELECT COUNT(*) FROM handoffs WHERE status = 'waiting'").fetchone()[0]
        return max(1, round(median if median is not None else 5) * max(1, ahead))

    def _alias(self) -> str:
        for _ in range(50):
            alias = "".join(secrets.choice(ALIAS_LETTERS) for _ in range(4))
            if not self._one("SELECT id FROM handoffs WHERE alias = ?", [alias]):
                return alias
        return secrets.token_hex(3).upper()

    def _cancel(self, key: str) -> None:
        for row in self._all("SELECT * FROM handoffs WHERE key = ? AND status = 'waiting'", [key]):
            self.count("handoff.abandoned")
            self._delete(row["id"])

    def forget(self, key: str) -> None:
        """Close everything of a conversation at once (EXIT, quick exit): handoff, messages, drafts."""
        for row in self._all("SELECT * FROM handoffs WHERE key = ?", [key]):
            self.count("handoff.abandoned" if row["status"] == "waiting" else "handoff.person_left")
            self._delete(row["id"])
        self.store.db.execute("DELETE FROM drafts WHERE key = ?", [key])
        self.store.db.execute("DELETE FROM relay WHERE key = ?", [key])

    def _delete(self, hid: str) -> None:
        # What a worker said that the web chat has not fetched yet stays until it is fetched (or the chat goes).
        self.store.db.execute("UPDATE relay SET handoff = NULL WHERE handoff = ? AND sender != 'person' "
                              "AND delivered = 0 AND key IN (SELECT key FROM conversations)", [hid])
        self.store.db.execute("DELETE FROM relay WHERE handoff = ?", [hid])
        self.store.db.execute("DELETE FROM handoffs WHERE id = ?", [hid])

    def queue(self) -> list[dict]:
        """List open handoffs for the console: at risk first, then longest waiting; never an address."""
        self.sweep()
        now = self.clock()
        rows = self._all("SELECT * FROM handoffs WHERE status IN ('waiting', 'live') "
                         "ORDER BY risk DESC, created_at ASC")
        return [self.view(r, now) for r in rows]

    def view(self, row: dict, now: float | None = None) -> dict:
        """Lay a handoff out for staff: alias, channel, language, shared topics and note, wait, risk."""
        now = self.clock() if now is None else now
        return {"id": row["id"], "alias": row["alias"], "channel": row["channel"], "lang": row["lang"],
                "language": language_label(row["lang"]),
                "topics": [self.topic_label(t) for t in json.loads(row["topics"] or "[]")],
                "note": self.unseal(row["note"], ""),
                "risk": bool(row["risk"]), "alert": bool(row["alert"]), "status": row["status"],
                "worker": row["worker"], "wait_minutes": int(((row["claimed_at"] or now) - row["created_at"]) // 60)}

    def topic_label(self, topic: str) -> str:
        """Name a topic for staff in plain English: its topic label, else the main menu's words for its flow."""
        runtime = self.w.runtime
        label = runtime.catalogs.text(f"topic.{topic}")
        if label != f"topic.{topic}":
            return label
        start = runtime.library.starts.get(topic)
        menu = runtime.library.states[MENU].options
        return next((runtime.catalogs.text(o.label) for o in menu if o.go == start), topic)

    def is_waiting_or_live(self, key: str) -> bool:
        """Say whether this conversation is in the queue or with a worker."""
        return self._one("SELECT id FROM handoffs WHERE key = ? AND status IN ('waiting', 'live')", [key]) is not None

    def get(self, hid: str) -> dict | None:
        return self._one("SELECT * FROM handoffs WHERE id = ?", [hid])

    def messages(self, hid: str, after: int = 0) -> list[dict]:
        """Return a chat's messages after id `after`, decrypted, for the worker's screen."""
        out = []
        for r in self._all("SELECT id, sender, msg, body, created_at FROM relay WHERE handoff = ? AND id > ? "
                           "ORDER BY id", [hid, after]):
            text = self.unseal(r["body"], "") if r["body"] else self.w.runtime.catalogs.text(r["msg"], "en")
            out.append({"id": r["id"], "sender": r["sender"], "text": text, "at": r["created_at"]})
        return out

    def _add(self, handoff: dict, sender: str, text: str | None = None, msg: str | None = None,
             delivered: bool = False) -> None:
        """Add a relay message: person (to the worker), worker or system (to the person), or a note for staff."""
        self.store.db.execute(
            "INSERT INTO relay (handoff, key, sender, msg, body, delivered, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [handoff["id"] if handoff else None, handoff["key"], sender, msg, self.seal(text) if text else None,
             int(delivered), self.clock()])

    # -- worker actions (called by the console, each in a store transaction) --------------------------------

    def claim(self, hid: str, worker: str) -> dict | None:
        """Let a worker take a waiting chat; tell the person someone is here."""
        row = self._one("SELECT * FROM handoffs WHERE id = ? AND status = 'waiting'", [hid])
        if row is None or self.store.load(row["key"]) is None:
            return None
        now = self.clock()
        self.store.db.execute("UPDATE handoffs SET status = 'live', worker = ?, claimed_at = ?, updated_at = ? "
                              "WHERE id = ?", [worker, now, now, hid])
        if row["claimed_at"] is None:  # a transferred chat was answered already
            self.count("handoff.answered")
            self.count(f"wait.{min(int((now - row['created_at']) // 60), 240)}")
        row = self.get(hid)
        self._to_person(row, msg="talk.joined")
        self.audit(worker, "claim", row["alias"])
        return row

    def say(self, hid: str, worker: str, text: str) -> bool:
        """Send a worker's words to the person on their channel."""
        row = self._one("SELECT * FROM handoffs WHERE id = ? AND status = 'live' AND worker = ?", [hid, worker])
        if row is None or self.store.load(row["key"]) is None:
            return False
        self._to_person(row, text=text)
        self.store.db.execute("UPDATE conversations SET updated_at = ? WHERE key = ?", [self.clock(), row["key"]])
        return True

    def transfer(self, hid: str, worker: str) -> bool:
        """Put a live chat back in the queue for another worker; tell the person."""
        row = self._one("SELECT * FROM handoffs WHERE id = ? AND status = 'live'", [hid])
        if row is None:
            return False
        self.store.db.execute("UPDATE handoffs SET status = 'waiting', worker = NULL, updated_at = ? WHERE id = ?",
                              [self.clock(), hid])
        self._to_person(row, msg="talk.transferred")
        self.audit(worker, "transfer", row["alias"])
        return True

    def end(self, hid: str, worker: str) -> bool:
        """End a chat: the person is told and returns to the bot; everything of the chat is deleted."""
        row = self._one("SELECT * FROM handoffs WHERE id = ? AND status IN ('waiting', 'live')", [hid])
        if row is None:
            return False
        conv = self.store.load(row["key"])
        self._delete(hid)
        self.count("handoff.ended")
        self.audit(worker, "end", row["alias"])
        if conv is not None:
            engine = self.w.runtime.engine
            turn = engine.enter(conv, ENDED_STATE) if ENDED_STATE in engine.library.states else engine.enter(conv, "main.menu")
            self.store.save(turn.conversation)
            text = self.w.runtime.renderer.turn(turn).as_text()
            self._to_person({**row, "id": None}, text=text)
        return True

    def acknowledge(self, hid: str) -> None:
        self.store.db.execute("UPDATE handoffs SET alert = 0 WHERE id = ?", [hid])

    # -- delivery to the person -------------------------------------------------------------------------------

    def _to_person(self, row: dict, text: str | None = None, msg: str | None = None) -> None:
        """Web: queue for the chat's long-poll. SMS/WhatsApp: send after the transaction (kept only as transcript)."""
        texted = row["channel"] in ("sms", "whatsapp") and row.get("address")
        if texted:
            words = text if text else self.w.runtime.renderer.message(Message(msg), row["lang"])
            self.pending_sends.append((self.unseal(row["address"]), words))
            if not row.get("id"):
                return  # the chat is closed: nothing of it stays
        self._add(row if row.get("id") else {"id": None, "key": row["key"]}, "worker" if text else "system",
                  text=text, msg=msg, delivered=bool(texted))

    @property
    def pending_sends(self) -> list:
        from flask import g

        if "handoff_sends" not in g:
            g.handoff_sends = []
        return g.handoff_sends

    def flush(self) -> int:
        """Send the texts queued by worker actions (call after the transaction); return how many failed."""
        from .twilio_out import outbound

        failed = 0
        sends, self.pending_sends[:] = list(self.pending_sends), []
        for address, words in sends:
            try:
                outbound().send(address, words)
            except Exception as err:  # no address or words in the log: only what went wrong
                failed += 1
                self.outbound_errors += 1
                log.warning("a worker's text could not be sent (%s)", type(err).__name__)
        return failed

    def updates(self, key: str, wait: float = 0) -> tuple[list[dict], bool]:
        """Return (and mark delivered) what workers said to a web chat, waiting up to `wait` seconds for some."""
        self._offer_callback_if_long(key)
        deadline = time.monotonic() + (wait if self.is_waiting_or_live(key) else 0)
        while True:
            rows = self._all("SELECT id, handoff, msg, body FROM relay WHERE key = ? AND sender != 'person' "
                             "AND delivered = 0 ORDER BY id", [key])
            if rows or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        out = []
        lang = (self.store.load(key) or Conversation(key=key, channel="web")).lang
        for r in rows:
            text = self.unseal(r["body"], "") if r["body"] else self.w.runtime.renderer.message(Message(r["msg"]), lang)
            out.append({"id": r["msg"], "text": text})
        open_ = self.is_waiting_or_live(key)
        if open_:  # someone waiting or talking with the page open is not idle
            with self.store.transaction():
                self.store.db.execute("UPDATE conversations SET updated_at = ? WHERE key = ?", [self.clock(), key])
        if rows:
            with self.store.transaction():
                ids = [r["id"] for r in rows]
                marks = ",".join("?" * len(ids))
                self.store.db.execute(f"UPDATE relay SET delivered = 1 WHERE id IN ({marks})", ids)
                self.store.db.execute(f"DELETE FROM relay WHERE handoff IS NULL AND id IN ({marks})", ids)
        return out, open_

    def _offer_callback_if_long(self, key: str) -> None:
        """Tell someone waiting on the web, once, that nobody has been free, and how to ask for a callback."""
        row = self._one("SELECT * FROM handoffs WHERE key = ? AND status = 'waiting' AND claimed_at IS NULL", [key])
        if row is None or self.clock() - row["created_at"] <= self.give_up_s:
            return
        with self.store.transaction():
            told = self._one("SELECT id FROM relay WHERE handoff = ? AND msg = 'talk.no_one_free'", [row["id"]])
            if not told:
                self._add(row, "system", msg="talk.no_one_free")

    # -- safe callbacks ------------------------------------------------------------------------------------------

    def _callback(self, conv: Conversation) -> None:
        draft = self._take_draft(conv.key)
        details = {k.removeprefix("callback_"): v for k, v in draft.items() if k.startswith("callback_")}
        if not details.get("number"):
            return
        if normalize(details.get("word", "")) == "skip":
            details["word"] = ""
        self.store.db.execute("INSERT INTO callbacks (id, alias, lang, data, status, worker, created_at) "
                              "VALUES (?, ?, ?, ?, 'open', NULL, ?)",
                              [secrets.token_hex(16), self._alias(), conv.lang, self.seal(details), self.clock()])
        self.count("callback.requested")

    def callbacks(self, reveal: str | None = None) -> list[dict]:
        """List open callbacks (the details only for `reveal`, the one a worker opened)."""
        out = []
        for r in self._all("SELECT * FROM callbacks WHERE status = 'open' ORDER BY created_at"):
            item = {"id": r["id"], "alias": r["alias"], "lang": r["lang"], "language": language_label(r["lang"]),
                    "age_hours": int((self.clock() - r["created_at"]) // 3600)}
            if r["id"] == reveal:
                item["details"] = self.unseal(r["data"], {})
            out.append(item)
        return out

    def callback_done(self, cid: str, worker: str) -> bool:
        row = self._one("SELECT alias FROM callbacks WHERE id = ?", [cid])
        if row is None:
            return False
        self.store.db.execute("DELETE FROM callbacks WHERE id = ?", [cid])
        self.count("callback.done")
        self.audit(worker, "callback_done", row["alias"])
        return True

    # -- housekeeping ----------------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Close handoffs whose conversation is gone (EXIT by text, expiry): the person has left."""
        for row in self._all("SELECT id, status FROM handoffs WHERE key NOT IN (SELECT key FROM conversations)"):
            self.count("handoff.abandoned" if row["status"] == "waiting" else "handoff.person_left")
            self._delete(row["id"])

    def purge(self, now: float | None = None) -> None:
        """Delete what has outlived its time: old handoffs and callbacks, stale drafts, orphan messages.

        The store runs this with its own purge (registered in __init__); call it inside a transaction.
        """
        now = self.clock() if now is None else now
        db = self.store.db
        db.execute("DELETE FROM relay WHERE handoff IN (SELECT id FROM handoffs WHERE created_at < ?)",
                   [now - self.retention_s])
        db.execute("DELETE FROM handoffs WHERE created_at < ?", [now - self.retention_s])
        db.execute("DELETE FROM callbacks WHERE created_at < ?", [now - self.retention_s])
        db.execute("DELETE FROM drafts WHERE updated_at < ?", [now - self.draft_s])
        db.execute("DELETE FROM relay WHERE handoff IS NULL AND key NOT IN (SELECT key FROM conversations)")
        self.sweep()

    # -- counts for the partnership ------------------------------------------------------------------------------------

    def weeks(self) -> list[str]:
        return [r[0] for r in self.store.db.execute("SELECT DISTINCT week FROM counts ORDER BY week DESC")]

    def counts(self, week: str) -> dict[str, int]:
        return {r[0]: r[1] for r in self.store.db.execute("SELECT name, n FROM counts WHERE week = ? ORDER BY name",
                                                          [week])}

    def median_wait(self, week: str) -> float | None:
        """Return the week's median wait in minutes, from the minute-bucket counters."""
        buckets = sorted((int(name.split(".")[1]), n) for name, n in self.counts(week).items()
                         if name.startswith("wait."))
        total = sum(n for _, n in buckets)
        if not total:
            return None

        def at(position: int) -> int:
            seen = 0
            for minute, n in buckets:
                seen += n
                if seen > position:
                    return minute
            return buckets[-1][0]

        return (at((total - 1) // 2) + at(total // 2)) / 2

    # -- sql helpers -------------------------------------------------------------------------------------------------

    def _one(self, sql: str, params: list) -> dict | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _all(self, sql: str, params: list | None = None) -> list[dict]:
        return self.store.rows(sql, params or [])


def _address(w, key: str, channel: str) -> str | None:
    """Return the texting address of the message being answered, if it is this conversation's (SMS, WhatsApp)."""
    if channel not in ("sms", "whatsapp") or not has_request_context():
        return None
    address = request.form.get("From") if request.method == "POST" else None
    return address if address and w.key(channel, address) == key else None


def desk() -> Desk:
    """Return the current application's handoff desk."""
    return current_app.extensions["handoff"]


def shown(n: int) -> str:
    """Show a count for the partnership: under 5 (but not 0) as "<5", so nobody can be singled out."""
    return "<5" if 0 < n < 5 else str(n)


def language_label(code: str) -> str:
    """Name a language for staff in English and in its own words ("Polish (polski)"), to book an interpreter."""
    try:
        locale = Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return code
    english, own = locale.get_display_name("en"), locale.get_display_name()
    return english if english == own else f"{english} ({own})"
