"""Floors for bench/sms_load.py: what a webhook doing only part of the bot's work reaches under the same load.

Run: python bench/sms_load.py --seconds 12 --app 'sms_floor:app("signed")'   (or "stored")
- "signed": parse Twilio's form and check X-Twilio-Signature (as the bot does), then answer fixed TwiML;
- "stored": the same, plus one SQLite write transaction per text (WAL, behind a file lock as the bot's
  store does: BEGIN IMMEDIATE, read one row by a keyed hash of From, upsert it, COMMIT).
Everything else the bot does per text (the retry check and record, the engine's step, reading free text,
rendering and splitting the reply) comes on top of "stored".
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
import time

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

REPLY = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hello. Reply with a number to choose, '
         'or tell us in your own words.</Message></Response>')


def app(level: str = "signed") -> Flask:
    flask = Flask(__name__)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    path = os.environ["WAYMARK_DATABASE"] + f".{level}"
    opened: dict = {}

    def store():
        if "db" not in opened:  # one connection a worker, opened after the fork, as the bot's store does
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS turns (key TEXT PRIMARY KEY, data TEXT, at REAL) WITHOUT ROWID")
            opened.update(db=db, lock=open(path + ".lock", "a+b"))  # noqa: SIM115
        return opened["db"], opened["lock"]

    @flask.post("/sms")
    def sms():
        form = request.form
        if not hmac.compare_digest(validator.compute_signature(request.url, form),
                                   request.headers.get("X-Twilio-Signature", "")):
            return Response("", 403)
        if level == "stored":
            db, lock = store()
            key = hmac.new(b"bench", form.get("From", "").encode(), hashlib.sha256).hexdigest()
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT data FROM turns WHERE key = ?", [key]).fetchone()
                data = json.loads(row[0]) if row else {"turns": 0, "history": []}
                data["turns"] += 1
                db.execute("INSERT INTO turns VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, "
                           "at = excluded.at", [key, json.dumps(data), time.time()])
                db.execute("COMMIT")
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return Response(REPLY, mimetype="text/xml")

    @flask.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return flask
