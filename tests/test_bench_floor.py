"""bench/sms_floor.py's webhooks do the work they claim: a floor that skipped the signature would flatter."""

from __future__ import annotations

import sqlite3

import pytest
from twilio.request_validator import RequestValidator

from bench.sms_floor import app


@pytest.mark.parametrize("level", ["signed", "stored"])
def test_a_floor_refuses_an_unsigned_text_and_answers_a_signed_one(monkeypatch, tmp_path, level):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "floor-token")
    monkeypatch.setenv("WAYMARK_DATABASE", str(tmp_path / "floor.db"))
    client = app(level).test_client()
    form = {"MessageSid": "SM1", "From": "+447700900123", "Body": "hello"}
    assert client.post("/sms", data=form).status_code == 403
    signature = RequestValidator("floor-token").compute_signature("http://localhost/sms", form)
    for _ in range(2):
        response = client.post("/sms", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200 and b"<Message>" in response.data
    if level == "stored":  # both texts went through the transaction
        (data,) = sqlite3.connect(tmp_path / "floor.db.stored").execute("SELECT data FROM turns").fetchone()
        assert '"turns": 2' in data
