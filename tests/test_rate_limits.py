"""Rate limits on the web API: per conversation and per client, in memory, the client known only by a salted hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import create_app
from bot.web import RateLimits

from .conftest import WebChat, make_config

API = "/api/v1/conversations"
ADDRESS = "203.0.113.77"  # a documentation address (RFC 5737), the canary for "never stored"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limited(tmp_path):
    """The shipped app with small limits and a clock the test moves."""
    app = create_app(make_config(tmp_path, WEB_RATE_PER_CONVERSATION=3, WEB_RATE_PER_CLIENT=8))
    app.clock = Clock()
    app.extensions["web_limits"] = RateLimits(clock=app.clock)
    yield app
    app.extensions["waymark"].store.close()


def client_at(app, address: str = ADDRESS):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_busy(response):
    assert response.status_code == 429
    data = response.get_json()
    assert data["error"] == "too_many_requests"
    assert "wait a minute" in data["message"]
    assert "999" in data["emergency"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["Cache-Control"] == "no-store"


def test_a_conversation_over_its_limit_gets_a_kind_429_with_999_and_retry_after(limited):
    chat = WebChat(client_at(limited))
    chat.start()
    for _ in range(3):
        chat.say("hello")
    assert_busy(chat.post({"text": "hello"}))
    other = WebChat(client_at(limited, "198.51.100.1"))
    other.start()
    assert other.post({"text": "hello"}).status_code == 200  # someone else's conversation is not slowed
    limited.clock.now += 30
    assert int(chat.post({"text": "hello"}).headers["Retry-After"]) == 30
    limited.clock.now += 31  # the minute is up: the conversation carries on where it was
    assert chat.post({"text": "hello"}).status_code == 200


def test_a_client_over_its_limit_gets_429_and_other_clients_do_not(limited):
    client = client_at(limited)
    for _ in range(8):
        assert client.post(API).status_code == 201
    assert_busy(client.post(API))
    assert_busy(client.get("/api/v1/openapi.json"))
    assert client_at(limited, "198.51.100.2").post(API).status_code == 201
    limited.clock.now += 60
    assert client.post(API).status_code == 201


def test_quick_exit_is_never_rate_limited(limited):
    chat = WebChat(client_at(limited))
    chat.start()
    for _ in range(10):
        chat.post({"text": "hello"})
    assert_busy(chat.post({"text": "hello"}))
    assert chat.exit() == 204  # over both limits, and still deleted at once
    chat2 = WebChat(client_at(limited, "198.51.100.3"))
    chat2.start()
    limited.config["WEB_RATE_PER_CLIENT"] = 1
    beacon = chat2.client.post(f"{API}/{chat2.id}/exit", data={"token": chat2.token})
    assert beacon.status_code == 204


def test_the_address_is_kept_only_as_a_hash_whose_salt_rotates_hourly(limited, tmp_path):
    limits = limited.extensions["web_limits"]
    client_at(limited).post(API)
    assert ADDRESS not in repr(limits.__dict__)
    first = limits.client(ADDRESS)
    assert ADDRESS not in first and first == limits.client(ADDRESS)
    limited.clock.now += 3600
    assert limits.client(ADDRESS) != first  # a new salt: last hour's hashes cannot be matched any more
    assert RateLimits().client(ADDRESS) != RateLimits().client(ADDRESS)  # each process has its own salt
    written = b"".join(p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file())
    assert ADDRESS.encode() not in written and first.encode() not in written


def test_forwarded_addresses_count_only_behind_the_configured_proxies(limited):
    spoofed = client_at(limited, "10.0.0.1")
    for n in range(8):  # no proxy trusted: a made-up X-Forwarded-For does not escape the limit
        assert spoofed.post(API, headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code == 201
    assert_busy(spoofed.post(API, headers={"X-Forwarded-For": "192.0.2.200"}))
    limited.config["WEB_PROXY_HOPS"] = 1  # behind one proxy: the address it saw is the client
    proxy = client_at(limited, "10.0.0.2")
    for _ in range(8):
        assert proxy.post(API, headers={"X-Forwarded-For": "9.9.9.9, 192.0.2.1"}).status_code == 201
    assert_busy(proxy.post(API, headers={"X-Forwarded-For": "192.0.2.1"}))
    assert proxy.post(API, headers={"X-Forwarded-For": "192.0.2.1, 192.0.2.2"}).status_code == 201


def test_the_defaults_are_generous_and_the_api_documents_429(app):
    assert app.config["WEB_RATE_PER_CONVERSATION"] == 30 and app.config["WEB_RATE_PER_CLIENT"] == 300
    chat = WebChat(app.test_client())
    chat.start()
    for _ in range(30):
        chat.say("menu")
    assert chat.post({"text": "menu"}).status_code == 429
    paths = chat.client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "429" in paths["/api/v1/conversations/{id}/messages"]["post"]["responses"]
    assert "429" in paths["/api/v1/conversations"]["post"]["responses"]
