"""The web chat API (/api/v1) through the real HTTP endpoints: start, talk, leave, errors, origins and headers."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bot import create_app

from .conftest import FIXTURES, WebChat, make_config

API = "/api/v1/conversations"
ROOT = Path(__file__).resolve().parent.parent

ARABIC = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "welcome.hello"
msgstr "مرحبًا. هذه محادثة خاصة. يمكنك المغادرة في أي وقت."

msgid "welcome.safe_q"
msgstr "هل من الآمن التحدث الآن؟"

msgid "welcome.opt_safe"
msgstr "نعم، هذا آمن"

msgid "welcome.opt_safe_yes"
msgstr "نعم، هذا آمن"

msgid "welcome.opt_not_now"
msgstr "ليس الآن"

msgid "web.exit"
msgstr "خروج"
"""


def with_arabic(tmp_path: Path, locales: Path) -> Path:
    """Copy a catalog folder and add a small test-only Arabic catalog, to exercise right-to-left on the fixture library."""
    target = tmp_path / "locales"
    shutil.copytree(locales, target)
    po = target / "ar" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(ARABIC, encoding="utf-8")
    return target


def ids(reply: dict) -> list[str]:
    return [m["id"] for m in reply["messages"]]


def text(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def rows(app) -> int:
    with sqlite3.connect(app.config["DATABASE"]) as db:
        return db.execute("SELECT count(*) FROM conversations").fetchone()[0]


def assert_kind_error(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert data["error"] == code
    assert data["message"] and "Traceback" not in data["message"]
    assert "999" in data["emergency"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def small_web(small_app):
    return WebChat(small_app.test_client())


# -- starting and talking ---------------------------------------------------------------------------------


def test_start_returns_id_token_and_first_messages_with_choices(web, client):
    reply = web.start()
    assert len(reply["id"]) >= 32 and len(reply["token"]) >= 40 and reply["id"] != reply["token"]
    assert ids(reply) == ["welcome.hello", "common.emergency", "welcome.safe_q"]
    assert [o["id"] for o in reply["options"]] == ["safe", "not_now"]
    assert [o["number"] for o in reply["options"]] == ["1", "2"]
    assert reply["lang"] == "en" and reply["dir"] == "ltr" and reply["ended"] is False and reply["live"] is False
    assert [(item["code"], item["name"], item["dir"]) for item in reply["languages"]] == [
        ("en", "English", "ltr"), ("ar", "العربية", "rtl"), ("ko", "한국어", "ltr"), ("pl", "Polski", "ltr"),
        ("pt", "Português", "ltr"), ("ro", "Română", "ltr"), ("ta", "தமிழ்", "ltr"), ("ur", "اردو", "rtl")]
    assert reply["nav"]


def test_every_response_is_no_store_and_sets_no_cookie(web, client):
    reply = web.start()
    responses = [
        client.post(API, json={}),
        web.post({"text": "hello"}),
        client.get(f"{API}/{reply['id']}/updates", headers=web.headers),
        client.get("/api/v1/openapi.json"),
        client.post(f"{API}/{reply['id']}/messages", json={"text": "hi"}),
        client.get("/api/v1/nowhere"),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_two_starts_are_two_unlinkable_conversations(client):
    a, b = client.post(API).get_json(), client.post(API).get_json()
    assert a["id"] != b["id"] and a["token"] != b["token"]


@pytest.mark.parametrize("choice", ["safe", "1", {"text": "1"}, {"text": "yes its safe"}])
def test_choose_by_option_id_number_or_words(web, choice):
    web.start()
    reply = web.say(choice["text"]) if isinstance(choice, dict) else web.choose(choice)
    assert ids(reply) == ["welcome.seen_q"]
    assert [o["id"] for o in reply["options"]] == ["can_see", "cannot_see", "unsure"]


def test_an_option_no_longer_on_offer_gets_the_kind_reprompt(web):
    web.start()
    reply = web.choose("cannot_see")  # an option of the next question, not this one
    assert ids(reply)[0] == "common.no_match"
    assert [o["id"] for o in reply["options"]] == ["safe", "not_now"]


def test_a_whole_conversation_reaches_the_menu_and_danger_information(web):
    web.start()
    web.choose("safe")
    menu = web.choose("cannot_see")
    assert "main.menu_q" in ids(menu)
    danger = web.choose(menu["options"][0]["id"])
    assert "999" in text(danger)


def test_phone_numbers_come_as_tel_links_built_from_parts(web):
    reply = web.start()
    for message in reply["messages"]:
        assert "".join(p["text"] for p in message["parts"]) == message["text"]
    links = [p for m in reply["messages"] for p in m["parts"] if "href" in p]
    assert links == [{"text": "999", "href": "tel:999"}]  # "press 55" is not a number to call


def test_no_match_twice_links_the_helpline_from_the_directory(web):
    web.start()
    web.say("blah")
    reply = web.say("blah blah")
    hrefs = {p["href"] for m in reply["messages"] for p in m["parts"] if "href" in p}
    assert {"tel:08082000247", "tel:999"} <= hrefs


def test_typing_exit_ends_and_deletes_the_conversation(web, app):
    web.start()
    reply = web.say("exit")
    assert reply["ended"] is True and ids(reply) == ["common.exit_done"]
    assert rows(app) == 0
    assert_kind_error(web.post({"text": "hello"}), 410, "gone")


# -- leaving --------------------------------------------------------------------------------------------------


def test_delete_removes_the_conversation_at_once_and_every_call_then_gets_410(web, client, app):
    web.start()
    assert rows(app) == 1
    assert web.exit() == 204
    assert rows(app) == 0
    assert_kind_error(web.post({"text": "hello"}), 410, "gone")
    assert_kind_error(client.delete(f"{API}/{web.id}", headers=web.headers), 410, "gone")
    assert_kind_error(client.get(f"{API}/{web.id}/updates", headers=web.headers), 410, "gone")


@pytest.mark.parametrize("how", ["form", "json", "header"])
def test_beacon_exit_takes_the_token_in_the_body_or_header(web, client, app, how):
    web.start()
    url = f"{API}/{web.id}/exit"
    if how == "form":  # what navigator.sendBeacon(url, new URLSearchParams({token})) sends
        response = client.post(url, data={"token": web.token})
    elif how == "json":
        response = client.post(url, json={"token": web.token})
    else:
        response = client.post(url, headers=web.headers)
    assert response.status_code == 204
    assert rows(app) == 0
    assert client.post(url, data={"token": web.token}).status_code == 410


def test_beacon_exit_with_a_wrong_token_deletes_nothing(web, client, app):
    web.start()
    assert_kind_error(client.post(f"{API}/{web.id}/exit", data={"token": "x" * 43}), 403, "forbidden")
    assert_kind_error(client.post(f"{API}/{web.id}/exit"), 401, "unauthorized")
    assert rows(app) == 1


def test_an_expired_conversation_is_gone(tmp_path):
    app = create_app(make_config(tmp_path, IDLE_MINUTES=0))
    chat = WebChat(app.test_client())
    chat.start()
    assert_kind_error(chat.post({"text": "hello"}), 410, "gone")
    app.extensions["waymark"].store.close()


# -- tokens ----------------------------------------------------------------------------------------------------


def test_every_call_needs_the_token(web, client):
    web.start()
    for method, url in (("post", f"{API}/{web.id}/messages"), ("delete", f"{API}/{web.id}"),
                        ("get", f"{API}/{web.id}/updates")):
        call = getattr(client, method)
        missing = call(url, json={"text": "hi"} if method == "post" else None)
        assert_kind_error(missing, 401, "unauthorized")
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert_kind_error(call(url, json={"text": "hi"} if method == "post" else None,
                               headers={"Authorization": "Basic abc"}), 401, "unauthorized")
        wrong = call(url, json={"text": "hi"} if method == "post" else None,
                     headers={"Authorization": "Bearer " + web.token[:-1] + ("A" if web.token[-1] != "A" else "B")})
        assert_kind_error(wrong, 403, "forbidden")


def test_a_token_opens_only_its_own_conversation(client):
    a, b = WebChat(client), WebChat(client)
    a.start(), b.start()
    response = client.post(f"{API}/{a.id}/messages", json={"text": "1"}, headers=b.headers)
    assert_kind_error(response, 403, "forbidden")


def test_a_malformed_id_is_not_found(client):
    response = client.post(f"{API}/not-an-id/messages", json={"text": "hi"}, headers={"Authorization": "Bearer x"})
    assert_kind_error(response, 404, "not_found")


def test_the_store_keeps_neither_the_id_nor_the_token(web, app):
    web.start()
    web.say("hello there")
    raw = Path(app.config["DATABASE"]).read_bytes()
    for path in Path(app.config["DATABASE"]).parent.iterdir():
        raw += path.read_bytes()
    assert web.id.encode() not in raw and web.token.encode() not in raw and b"hello there" not in raw


# -- bad input gets a kind answer and loses nothing ------------------------------------------------------------------


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"", 400),
    (b"[]", 422),
    (b'"hello"', 422),
    (b"{}", 422),
    (b'{"text": ""}', 422),
    (b'{"text": 5}', 422),
    (b'{"text": null}', 422),
    (b'{"text": "hi", "option": "1"}', 422),
    (b'{"message": "hi"}', 422),
    (b'{"option": "Not An Id"}', 422),
    (b'{"option": 1}', 422),
    (b'{"lang": "english please"}', 422),
    (('{"text": "' + "x" * 1601 + '"}').encode(), 422),
])
def test_bad_bodies_get_a_kind_error_with_the_emergency_line(web, body, status, app):
    web.start()
    response = web.client.post(f"{API}/{web.id}/messages", data=body, headers={**web.headers,
                                                                               "Content-Type": "application/json"})
    assert_kind_error(response, status, "bad_request" if status == 400 else "invalid")
    assert web.say("1")["options"][0]["id"] == "can_see"  # the conversation carries on where it was


def test_the_longest_allowed_message_is_taken(web):
    web.start()
    assert web.say("x" * 1600)["messages"]


def test_not_json_at_all_is_a_kind_400(web):
    web.start()
    response = web.client.post(f"{API}/{web.id}/messages", data="text=hi", headers=web.headers,
                               content_type="application/x-www-form-urlencoded")
    assert_kind_error(response, 400, "bad_request")


def test_unknown_routes_and_methods_answer_json(client):
    assert_kind_error(client.get("/api/v1/nowhere"), 404, "not_found")
    response = client.put(API)
    assert_kind_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_an_internal_error_still_answers_with_999(web, monkeypatch):
    from bot import web as web_module

    web.start()

    def broken(reply):
        raise RuntimeError("boom")

    monkeypatch.setattr(web_module, "reply_json", broken)
    response = web.post({"text": "hello"})
    assert response.status_code == 500
    data = response.get_json()
    assert "999" in data["message"] and "999" in data["emergency"] and "boom" not in response.get_data(as_text=True)


# -- languages ---------------------------------------------------------------------------------------------------------


def test_switching_language_asks_the_current_question_again_in_it(small_web):
    small_web.start()
    small_web.choose("safe")
    reply = small_web.post({"lang": "pl"}).get_json()
    assert reply["lang"] == "pl" and reply["dir"] == "ltr"
    assert ids(reply) == ["main.menu_q"] and reply["messages"][0]["text"] == "Co chcesz zrobić?"
    assert small_web.say("menu")["lang"] == "pl"  # it sticks


def test_a_language_not_on_offer_changes_nothing(small_web):
    small_web.start()
    reply = small_web.post({"lang": "zz"}).get_json()
    assert reply["lang"] == "en" and ids(reply)[-1] == "welcome.safe_q"


def test_start_in_a_language_or_fall_back_to_english(small_app):
    client = small_app.test_client()
    assert client.post(API, json={"lang": "pl"}).get_json()["lang"] == "pl"
    assert client.post(API, json={"lang": "xx"}).get_json()["lang"] == "en"
    languages = client.post(API).get_json()["languages"]
    assert [(item["code"], item["dir"]) for item in languages] == [("en", "ltr"), ("pl", "ltr")]
    assert languages[1]["name"] == "Polski"


def test_a_browser_that_prefers_a_language_we_speak_is_offered_it_in_that_language(small_app):
    client = small_app.test_client()
    started = client.post(API, headers={"Accept-Language": "pl-PL,pl;q=0.9,en;q=0.8"}).get_json()
    offer = started["messages"][-1]
    assert started["lang"] == "en" and offer["id"] == "common.language_offer" and offer["lang"] == "pl"
    assert started["messages"][0]["lang"] == "en"
    assert offer["text"] == "Aby pisać dalej po polsku (Polski), odpisz Polski."
    headers = {"Authorization": f"Bearer {started['token']}"}
    reply = client.post(f"{API}/{started['id']}/messages", json={"text": "polski"}, headers=headers).get_json()
    assert reply["lang"] == "pl" and reply["messages"][0]["text"].startswith("Dzień dobry")
    for accept in ("en-GB,en;q=0.9", "de-DE", ""):  # English, or nothing we speak: no offer
        assert client.post(API, headers={"Accept-Language": accept}).get_json()["messages"][-1]["id"] != "common.language_offer"


def test_arabic_and_urdu_are_right_to_left(tmp_path):
    app = create_app(make_config(tmp_path, LOCALES_DIR=str(with_arabic(tmp_path, FIXTURES / "locales")),
                                 FLOWS_DIR=str(FIXTURES / "flows")))
    chat = WebChat(app.test_client())
    reply = chat.start(lang="ar")
    assert reply["lang"] == "ar" and reply["dir"] == "rtl"
    assert reply["messages"][0]["text"].startswith("مرحبًا")
    assert {"code": "ar", "name": "العربية", "dir": "rtl"} in reply["languages"]
    assert chat.post({"lang": "en"}).get_json()["dir"] == "ltr"
    page = app.test_client().get("/chat?lang=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page and "خروج" in page
    app.extensions["waymark"].store.close()


# -- receiving (handoff) ---------------------------------------------------------------------------------


def test_updates_is_an_empty_long_poll_until_handoff(web, client):
    web.start()
    response = client.get(f"{API}/{web.id}/updates?wait=0", headers=web.headers)
    assert response.status_code == 200
    assert response.get_json() == {"messages": [], "live": False, "lang": "en", "dir": "ltr"}
    assert_kind_error(client.get(f"{API}/{web.id}/updates?wait=99", headers=web.headers), 422, "invalid")
    assert_kind_error(client.get(f"{API}/{web.id}/updates?wait=soon", headers=web.headers), 422, "invalid")


# -- origins, CORS and headers ---------------------------------------------------------------------------


@pytest.fixture
def partner(tmp_path):
    app = create_app(make_config(tmp_path, ALLOWED_ORIGINS="https://www.kingston.gov.uk, https://partner.example"))
    yield app
    app.extensions["waymark"].store.close()


def test_cors_only_for_configured_origins(partner):
    client = partner.test_client()
    allowed = client.post(API, headers={"Origin": "https://partner.example"})
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://partner.example"
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    refused = client.post(API, headers={"Origin": "https://evil.example"})
    assert_kind_error(refused, 403, "origin")
    assert "Access-Control-Allow-Origin" not in refused.headers
    same = client.post(API, headers={"Origin": "http://localhost"})
    assert same.status_code == 201 and "Access-Control-Allow-Origin" not in same.headers


def test_preflight_from_an_allowed_origin(partner):
    response = partner.test_client().options(f"{API}/abc/messages", headers={
        "Origin": "https://www.kingston.gov.uk", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://www.kingston.gov.uk"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def csp(response) -> dict[str, str]:
    return {d.split()[0]: " ".join(d.split()[1:]) for d in response.headers["Content-Security-Policy"].split("; ")}


def test_the_chat_frame_may_be_framed_only_by_configured_origins(partner, client):
    default = csp(client.get("/chat"))
    assert default["frame-ancestors"] == "'self'"
    configured = csp(partner.test_client().get("/chat"))
    assert configured["frame-ancestors"] == "'self' https://www.kingston.gov.uk https://partner.example"
    for policy in (default, configured):
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
        assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'"
        assert policy["connect-src"] == "'self'"


@pytest.mark.parametrize("path", ["/", "/api/v1/openapi.json", "/healthz", "/widget.js", "/static/web/chat.js"])
def test_everything_else_may_not_be_framed(client, path):
    response = client.get(path)
    policy = csp(response)
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_exit_page_is_configurable_and_reaches_frame_and_widget(tmp_path):
    app = create_app(make_config(tmp_path, EXIT_URL="https://www.example.org/weather"))
    client = app.test_client()
    assert 'href="https://www.example.org/weather" target="_top"' in client.get("/chat").get_data(as_text=True)
    assert '"exitUrl": "https://www.example.org/weather"' in client.get("/widget.js").get_data(as_text=True)
    app.extensions["waymark"].store.close()


def test_the_default_exit_page_is_bbc_weather(client):
    assert 'href="https://www.bbc.co.uk/weather"' in client.get("/chat").get_data(as_text=True)


@pytest.mark.parametrize("setting", [{"ALLOWED_ORIGINS": "https://ok.example; script-src *"},
                                     {"ALLOWED_ORIGINS": "kingston.gov.uk"},
                                     {"EXIT_URL": "javascript:alert(1)"}])
def test_a_setting_that_could_break_a_header_stops_the_start(tmp_path, setting):
    with pytest.raises(ValueError):
        create_app(make_config(tmp_path, **setting))


def test_widget_js_is_served_for_any_host_page(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    body = response.get_data(as_text=True)
    assert "/*CONFIG*/null" not in body and '"chatPath": "/chat"' in body
    assert "/*SHIFT*/" not in body and "function waymarkShiftExit(" in body  # the one Shift x3, carried inside
    assert "innerHTML" not in body and "localStorage" not in body and "cookie" not in body


def test_the_frame_never_uses_html_insertion_or_browser_storage():
    source = (ROOT / "bot" / "static" / "web" / "chat.js").read_text()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "localStorage",
                   "sessionStorage", "indexedDB", "document.cookie", "eval("):
        assert banned not in source


def test_the_demo_page_embeds_the_widget_as_a_council_page_would(client):
    page = client.get("/").get_data(as_text=True)
    assert '<script src="/widget.js" data-lang="en" async></script>' in page
    assert "http://localhost/widget.js" in page  # the snippet to copy, with this deployment's address
    assert 'href="tel:999"' in page


def test_the_openapi_document_describes_every_route(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/api/v1/conversations", "/api/v1/conversations/{id}/messages",
                                 "/api/v1/conversations/{id}", "/api/v1/conversations/{id}/exit",
                                 "/api/v1/conversations/{id}/updates", "/api/v1/openapi.json"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_web_chat_word_is_in_the_english_catalog(app):
    from bot.web import WEB_WORDS

    english = app.extensions["waymark"].runtime.catalogs.messages["en"]
    assert [w for w in WEB_WORDS if w not in english] == []
