"""The webhook under gunicorn (the Procfile's worker settings) on 127.0.0.1: the real HTTP stack end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from bench.sms_load import free_port, procfile_options
from bot.store import Store, keyed_hash

from .conftest import FIXTURES, messages

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "gunicorn-test-token"
SECRET = "gunicorn-test-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = {**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "WAYMARK_SECRET_KEY": SECRET,
           "WAYMARK_DATABASE": str(tmp / "waymark.db"), "WAYMARK_FLOWS_DIR": str(FIXTURES / "flows"),
           "WAYMARK_LOCALES_DIR": str(FIXTURES / "locales")}
    log = open(tmp / "gunicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", *procfile_options(), "--bind", f"127.0.0.1:{port}",
                             "bot:create_app()"], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp / "gunicorn.log").read_text())
                time.sleep(0.05)
        yield base, tmp / "waymark.db"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def post(base: str, params: dict, signed: bool = True) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(base + "/sms", params)
    request = urllib.request.Request(base + "/sms", data=urllib.parse.urlencode(params).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def params(body: str, sender: str, sid: str) -> dict:
    return {"MessageSid": sid, "From": sender, "To": "+447700900000", "Body": body, "NumMedia": "0"}


def load(db: Path, sender: str):
    store = Store(db)
    try:
        return store.load(keyed_hash(SECRET, "sms", sender))
    finally:
        store.close()


def test_signed_unsigned_retried_and_concurrent_under_gunicorn(server):
    base, db = server
    sender = "+447700900321"
    status, body = post(base, params("hello", sender, "SM" + "1" * 32))
    assert status == 200 and "999" in messages(body)[0]
    assert post(base, params("1", sender, "SM" + "2" * 32), signed=False)[0] == 403
    assert load(db, sender).state == "welcome.start"

    with ThreadPoolExecutor(8) as pool:  # one message, retried 8 times at once, across both workers
        replies = list(pool.map(lambda _: post(base, params("1", sender, "SM" + "3" * 32)), range(8)))
    assert {r for r in replies} == {replies[0]} and replies[0][0] == 200
    assert load(db, sender).state == "main.menu" and load(db, sender).history == ("welcome.start",)

    with ThreadPoolExecutor(6) as pool:  # six different messages at once: none lost
        list(pool.map(lambda n: post(base, params(f"blah {n}", sender, f"SM{n:032d}")), range(6)))
    assert load(db, sender).misses == 6
