"""Shared fixtures: an app per test with its own temporary database, a client, a CLI runner."""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from bot import create_app

FIXTURES = Path(__file__).parent / "fixtures"
DATA = Path(__file__).parent / "data"
# Labelled messages written blind and never trained on (the models' settings are chosen on them): English, and
# the seven other languages. bench/understanding.py reads the same lists.
VALIDATION = tuple(DATA / f"validation{part}.yaml" for part in ("", "_b", "_c", "_d", "_e", "_f", "_g"))
VALIDATION_LANGUAGES = tuple(DATA / f"validation_lang_{part}.yaml" for part in "abcdefg")


def make_config(tmp_path: Path, **extra) -> dict:
    """Return a test configuration whose every file lives under tmp_path."""
    return {
        "TESTING": True,
        "DATABASE": str(tmp_path / "var" / "waymark.db"),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        **extra,
    }


@pytest.fixture
def app(tmp_path):
    """The app with the shipped flow library."""
    app = create_app(make_config(tmp_path))
    yield app
    app.extensions["waymark"].store.close()


@pytest.fixture
def small_app(tmp_path):
    """The app with the small fixture library under tests/fixtures, for engine and HTTP mechanics."""
    app = create_app(make_config(tmp_path, FLOWS_DIR=str(FIXTURES / "flows"), LOCALES_DIR=str(FIXTURES / "locales")))
    yield app
    app.extensions["waymark"].store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class SmsClient:
    """Post texts to /sms the way Twilio does (form fields, signed with RequestValidator); return the reply texts."""

    TOKEN = "test-twilio-auth-token"
    URL = "http://localhost/sms"
    _sids = itertools.count(1)

    def __init__(self, app, from_: str = "+447700900123"):
        app.config["TWILIO_AUTH_TOKEN"] = app.config.get("TWILIO_AUTH_TOKEN") or self.TOKEN
        self.app, self.from_ = app, from_
        self.client = app.test_client()
        self.validator = RequestValidator(app.config["TWILIO_AUTH_TOKEN"])
        self.response = None

    def post(self, params: dict, signed: bool = True, url: str | None = None, headers: dict | None = None):
        """Post form fields, signed for `url` (default: the test client's own URL); return the response."""
        headers = dict(headers or {})
        if signed:
            headers["X-Twilio-Signature"] = self.validator.compute_signature(url or self.URL, params)
        self.response = self.client.post("/sms", data=params, headers=headers)
        return self.response

    def params(self, text: str, from_: str | None = None, sid: str | None = None, **extra) -> dict:
        return {"MessageSid": sid or f"SM{next(self._sids):032x}", "AccountSid": "AC" + "0" * 32,
                "From": from_ or self.from_, "To": "+447700900000", "Body": text, "NumMedia": "0", **extra}

    def send(self, text: str, from_: str | None = None, sid: str | None = None, **extra) -> list[str]:
        """Send one signed text and return the texts of the TwiML <Message> elements."""
        response = self.post(self.params(text, from_, sid, **extra))
        assert response.status_code == 200, response.status_code
        return messages(response.data)


def messages(twiml: bytes) -> list[str]:
    """Parse TwiML and return the bodies of its <Message> elements."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


@pytest.fixture
def sms(app):
    """Text the shipped app: `sms.send("EXIT")` returns the reply texts."""
    return SmsClient(app)


class WebChat:
    """Talk to the web chat API (/api/v1) through the test client, as the widget does; replies come back as dicts."""

    def __init__(self, client):
        self.client = client
        self.id = self.token = None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, lang: str | None = None) -> dict:
        """Start a conversation and return the first reply (with its id and token)."""
        response = self.client.post("/api/v1/conversations", json={"lang": lang} if lang else {})
        assert response.status_code == 201, response.get_json()
        reply = response.get_json()
        self.id, self.token = reply["id"], reply["token"]
        return reply

    def post(self, body: dict):
        """Post one message body ({"text"}, {"option"} or {"lang"}) and return the raw response."""
        return self.client.post(f"/api/v1/conversations/{self.id}/messages", json=body, headers=self.headers)

    def say(self, text: str) -> dict:
        """Send free text (starting a conversation first if there is none) and return the reply."""
        if self.id is None:
            self.start()
        response = self.post({"text": text})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def choose(self, option: str) -> dict:
        """Choose an option by its id or number and return the reply."""
        response = self.post({"option": option})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def exit(self) -> int:
        """Quick exit: DELETE the conversation and return the status code."""
        return self.client.delete(f"/api/v1/conversations/{self.id}", headers=self.headers).status_code


@pytest.fixture
def web(client):
    """Chat with the shipped app over the web API: `web.start()`, `web.say("hi")`, `web.choose("safe")`."""
    return WebChat(client)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (Debian's where present); each test opens its own context."""
    from playwright import sync_api

    from .test_browser import ARGS, CHROMIUM

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class FakeHttp(HttpClient):
    """Record what the Twilio client would send and answer like the Messages API; nothing leaves the machine."""

    def __init__(self):
        super().__init__(logger=None, is_async=False)
        self.requests = []

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        self.requests.append({"method": method, "uri": uri, "data": dict(data or {}), "auth": auth})
        return Response(201, json.dumps({"sid": f"SM{len(self.requests):032d}", "status": "queued"}))

    def bodies(self, to: str) -> list[str]:
        """Return the texts sent to one address, in order."""
        return [r["data"]["Body"] for r in self.requests if r["data"].get("To") == to]
