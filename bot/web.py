"""The web chat's JSON API under /api/v1 (start, talk, leave, receive), its OpenAPI document and the web headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import re
import secrets
import threading
import time
from dataclasses import replace
from itertools import zip_longest

from babel import Locale
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from flows.catalog import DEFAULT_LANG, render_text
from flows.engine import Conversation
from flows.render import Reply

from .waymark import LAST_RESORT, waymark

log = logging.getLogger(__name__)
bp = Blueprint("web", __name__, url_prefix="/api/v1")

CHANNEL = "web"
MAX_TEXT = 1600  # the same ceiling as an SMS conversation: about ten texts
MAX_WAIT = 25  # seconds a receive call may be held open (under common proxy timeouts)
OPTION = r"^[a-z0-9_]{1,64}$"  # an option id, or its number
LANG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")
RTL = {"ar", "ur", "fa", "he", "ps", "ckb", "sd", "yi"}
DEFAULT_CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
               "form-action 'self'")

# Words of the web chat itself. A catalog entry with the same id wins, so these translate like flow messages.
WEB_WORDS = (  # the web chat's own words: message ids in the catalogs, like every other word
    "web.title",
    "web.subtitle",
    "web.launcher",
    "web.frame_title",
    "web.exit",
    "web.exit_hidden",
    "web.hide",
    "web.language",
    "web.conversation",
    "web.messages",
    "web.choices",
    "web.input",
    "web.send",
    "web.bot",
    "web.you",
    "web.typing",
    "web.shift_hint",
    "web.shift_2",
    "web.shift_1",
    "web.shift_expired",
    "web.start_again",
    "web.noscript",
    "web.offline",
    "web.error_auth",
    "web.error_gone",
    "web.error_json",
    "web.error_invalid",
    "web.error_origin",
    "web.error_not_found",
    "web.error_method",
    "web.error_rate",
)


class WebError(Exception):
    """An answer to give instead of a reply: a status, a short code and a kind message id."""

    def __init__(self, status: int, code: str, msg_id: str, headers: dict | None = None, **params):
        super().__init__(code)
        self.status, self.code, self.msg_id, self.headers, self.params = status, code, msg_id, headers or {}, params


# -- configuration ----------------------------------------------------------------------------------


@bp.record_once
def _check_config(state) -> None:
    """Refuse to start with an origin or exit page that could break a header or a page."""
    app = state.app
    raw = app.config.get("ALLOWED_ORIGINS") or ""
    origins = raw if isinstance(raw, (list, tuple)) else re.split(r"[\s,]+", str(raw))
    cleaned = []
    for origin in (o.strip().rstrip("/") for o in origins):
        if not origin:
            continue
        if not ORIGIN.fullmatch(origin):
            raise ValueError(f"WAYMARK_ALLOWED_ORIGINS: {origin!r} is not an origin like https://www.kingston.gov.uk")
        cleaned.append(origin)
    exit_url = app.config.get("EXIT_URL") or "https://www.bbc.co.uk/weather"
    if not re.fullmatch(r"https?://[^\s\"'<>`]+", exit_url):
        raise ValueError(f"WAYMARK_EXIT_URL: {exit_url!r} is not an http(s) address")
    app.extensions["web"] = {"origins": tuple(cleaned), "exit_url": exit_url}
    app.extensions["web_limits"] = RateLimits()


class RateLimits:
    """Count API calls a minute per conversation and per client, in this process's memory only.

    A client is known only by a keyed hash of its address under a random salt that is never written
    anywhere and is replaced every hour, so the same address cannot be linked across hours; the
    address itself is never kept, and every count is dropped when its minute is up.
    """

    WINDOW_S = 60.0
    ROTATE_S = 3600.0

    def __init__(self, clock=time.monotonic):
        self.clock, self.lock = clock, threading.Lock()
        now = clock()
        self.salt, self.salted = secrets.token_bytes(32), now
        self.started, self.counts = now, {}

    def client(self, address: str) -> str:
        """Return the keyed hash of a client address under the current salt (rotated hourly)."""
        with self.lock:
            now = self.clock()
            if now - self.salted >= self.ROTATE_S:
                self.salt, self.salted = secrets.token_bytes(32), now
            salt = self.salt
        return hmac.new(salt, address.encode(), hashlib.sha256).hexdigest()[:32]

    def hit(self, key: str, limit: int) -> int:
        """Count one call for `key`; return 0 if it is within `limit` this minute, else seconds to wait."""
        with self.lock:
            now = self.clock()
            if now - self.started >= self.WINDOW_S:
                self.started, self.counts = now, {}
            self.counts[key] = count = self.counts.get(key, 0) + 1
            if count <= limit:
                return 0
            return max(1, math.ceil(self.started + self.WINDOW_S - now))


def limit(key: str, setting: str) -> None:
    """Answer 429 (kind words, the 999 line, Retry-After) when `key` is over its setting's calls a minute."""
    wait = current_app.extensions["web_limits"].hit(key, int(current_app.config[setting]))
    if wait:
        raise WebError(429, "too_many_requests", "web.error_rate", {"Retry-After": str(wait)})


def client_address() -> str:
    """The client's address, for the rate limit only: the connection's, or the one WEB_PROXY_HOPS proxies saw."""
    hops = int(current_app.config.get("WEB_PROXY_HOPS") or 0)
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.remote_addr or ""


def settings() -> dict:
    """Return the checked web settings: allowed origins and the exit page."""
    return current_app.extensions["web"]


# -- words, languages and numbers -------------------------------------------------------------------


def text(msg_id: str, lang: str = DEFAULT_LANG, **params) -> str:
    """Render a web chat word in `lang` (catalog first, then the default above); never raise."""
    runtime = waymark().runtime
    raw = runtime.catalogs.text(msg_id, lang)
    try:
        return render_text(raw, runtime.services, params)
    except Exception:
        log.warning("web text %s could not be rendered", msg_id)
        return LAST_RESORT


def languages() -> list[dict]:
    """List the catalogs' languages (English first) with their own names and writing direction."""
    out = []
    for code in sorted(waymark().runtime.catalogs.languages, key=lambda c: (c != DEFAULT_LANG, c)):
        try:
            locale = Locale.parse(code)
            name, direction = locale.get_display_name(code), locale.text_direction
        except Exception:  # a code Babel does not know (a test language): still usable
            name, direction = code, "rtl" if code.split("_")[0] in RTL else "ltr"
        out.append({"code": code, "name": name[:1].upper() + name[1:], "dir": direction})
    return out


def direction(lang: str) -> str:
    """Say whether `lang` is written right to left."""
    return next((item["dir"] for item in languages() if item["code"] == lang),
                "rtl" if lang.split("-")[0] in RTL else "ltr")


def supported(lang: object) -> str | None:
    """Return `lang` if a catalog has it."""
    return lang if isinstance(lang, str) and lang in waymark().runtime.catalogs.languages else None


def _phones() -> tuple[re.Pattern | None, dict[str, str]]:
    """Build, once per app, a pattern finding the directory's shown phone numbers in text."""
    cache = current_app.extensions["web"]
    if "phones" not in cache:
        found = {}
        for service in waymark().runtime.services.values():
            number = re.match(r"\d[\d ]*\d|\d", service.phone or "") if service.available else None
            if number:
                found[number.group(0)] = "tel:" + number.group(0).replace(" ", "")
        names = sorted(found, key=len, reverse=True)
        pattern = re.compile(r"(?<![\d])(" + "|".join(map(re.escape, names)) + r")(?![\d])") if names else None
        cache["phones"] = (pattern, found)
    return cache["phones"]


def parts(words: str) -> list[dict]:
    """Split text into plain runs and the directory's phone numbers as tel: links."""
    pattern, hrefs = _phones()
    out, at = [], 0
    for match in pattern.finditer(words) if pattern else ():
        if match.start() > at:
            out.append({"text": words[at:match.start()]})
        out.append({"text": match.group(0), "href": hrefs[match.group(0)]})
        at = match.end()
    if at < len(words) or not out:
        out.append({"text": words[at:]})
    return out


def reply_json(reply: Reply) -> dict:
    """Lay a reply out for the API: messages with their tel: links, then the choices."""
    return {
        "lang": reply.lang,
        "dir": direction(reply.lang),
        "messages": [{"id": mid, "text": words, "parts": parts(words), "lang": lang or reply.lang}
                     for words, mid, lang in zip_longest(reply.messages, reply.ids[:len(reply.messages)],
                                                         reply.langs[:len(reply.messages)])],
        "options": [{"number": number, "id": oid, "label": label} for number, oid, label in reply.options],
        "nav": reply.nav,
        "ended": reply.ended,
        "live": False,  # the handoff issue sets this while a worker is in the conversation
    }


# -- the conversation's id, token and record ------------------------------------------------------------


def token_for(cid: str) -> str:
    """Derive the conversation's token from its id under the app secret, so nothing about it is stored."""
    digest = hmac.new(waymark().secret.encode(), f"web-token:{cid}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(cid: str, token: str | None = None) -> str:
    """Check the bearer token for a conversation and return its store key."""
    if token is None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise WebError(401, "unauthorized", "web.error_auth", {"WWW-Authenticate": 'Bearer realm="waymark"'})
    if not ID.fullmatch(cid):
        raise WebError(404, "not_found", "web.error_auth")
    if not hmac.compare_digest(token.strip().encode(), token_for(cid).encode()):
        raise WebError(403, "forbidden", "web.error_auth")
    return waymark().key(CHANNEL, cid)


def live(key: str) -> Conversation:
    """Load the record, or answer 410: deleted by quick exit, ended, or expired."""
    conv = waymark().store.load(key)
    if conv is None:
        raise WebError(410, "gone", "web.error_gone")
    return conv


def body(allowed: tuple[str, ...], required: bool) -> dict:
    """Parse a JSON object holding at most one of `allowed` (exactly one if required), checked as the schema says."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise WebError(400, "bad_request", "web.error_json")
        return {}
    data = request.get_json(silent=True)
    if data is None:
        raise WebError(400, "bad_request", "web.error_json")
    if not isinstance(data, dict) or not set(data) <= set(allowed) or len(data) > 1 or (required and not data):
        raise WebError(422, "invalid", "web.error_invalid", max=MAX_TEXT)
    for name, value in data.items():
        ok = isinstance(value, str) and {
            "text": lambda v: 1 <= len(v) <= MAX_TEXT,
            "option": lambda v: re.search(OPTION, v),
            "lang": lambda v: re.search(LANG, v),
        }[name](value)
        if not ok:
            raise WebError(422, "invalid", "web.error_invalid", max=MAX_TEXT)
    return data


def option_text(conv: Conversation, option: str) -> str:
    """Turn an option id (or number) into the number the engine matches; an id not on offer matches nothing."""
    if option.isdigit():
        return option
    offered = waymark().runtime.engine.offered(conv)
    number = next((str(i) for i, o in enumerate(offered, 1) if o.id == option), None)
    return number or ""  # nothing: the engine answers with its kind re-prompt and the choices again


# -- routes -----------------------------------------------------------------------------------------------


@bp.post("/conversations")
def start():
    """Start a conversation and return its id, token and first messages."""
    lang = supported(body(("lang",), required=False).get("lang")) or DEFAULT_LANG
    cid = secrets.token_urlsafe(24)
    key = waymark().key(CHANNEL, cid)
    reply = waymark().converse(key, CHANNEL, None, lang=lang)
    preferred = request.accept_languages.best_match(waymark().runtime.catalogs.languages)
    if preferred and preferred != reply.lang:  # the browser prefers a language we speak: offer it
        engine, renderer = waymark().runtime.engine, waymark().runtime.renderer
        reply = replace(reply, messages=(*reply.messages, renderer.message(engine.offer(preferred), preferred)),
                        ids=(*reply.ids, "common.language_offer"), langs=(*reply.langs, preferred))
    out = {"id": cid, "token": token_for(cid), "languages": languages(), **reply_json(reply)}
    return jsonify(out), 201


@bp.post("/conversations/<cid>/messages")
def say(cid: str):
    """Take one message (text, an option, or a language) and return the replies."""
    key = authorize(cid)
    limit("conversation:" + key, "WEB_RATE_PER_CONVERSATION")
    data = body(("text", "option", "lang"), required=True)
    conv = live(key)
    if "lang" in data:
        reply = waymark().converse(key, CHANNEL, None, lang=supported(data["lang"]) or conv.lang)
    else:
        words = data["text"] if "text" in data else option_text(conv, data["option"])
        reply = waymark().converse(key, CHANNEL, words)
    from .handoff import desk

    # live: waiting for, or talking with, a worker: the chat then listens on /updates for their words
    return jsonify({**reply_json(reply), "live": desk().is_waiting_or_live(key)})


@bp.delete("/conversations/<cid>")
def delete(cid: str):
    """Delete the conversation at once (quick exit)."""
    key = authorize(cid)
    live(key)
    waymark().forget(key)
    return "", 204


@bp.post("/conversations/<cid>/exit")
def exit_beacon(cid: str):
    """Delete the conversation at once, for navigator.sendBeacon (a POST) with the token in the body."""
    token = request.form.get("token")
    if token is None and request.is_json and request.get_data(cache=True).strip():
        data = request.get_json(silent=True)
        if data is None:
            raise WebError(400, "bad_request", "web.error_json")
        if not isinstance(data, dict) or not isinstance(data.get("token", ""), str):
            raise WebError(422, "invalid", "web.error_invalid", max=MAX_TEXT)
        token = data.get("token")
    key = authorize(cid, token) if token else authorize(cid)
    live(key)
    waymark().forget(key)
    return "", 204


@bp.get("/conversations/<cid>/updates")
def updates(cid: str):
    """Return messages from a worker since the last call (long-poll, up to `wait` seconds)."""
    key = authorize(cid)
    wait = request.args.get("wait", "0")
    if not re.fullmatch(r"\d{1,2}", wait) or int(wait) > MAX_WAIT:
        raise WebError(422, "invalid", "web.error_invalid", max=MAX_TEXT)
    conv = live(key)
    from .handoff import desk

    found, open_ = desk().updates(key, int(wait))  # a worker's words (and the end of the chat) since the last call
    conv = waymark().store.load(key) or conv
    messages = [{"id": m["id"], "text": m["text"], "parts": parts(m["text"])} for m in found]
    return jsonify({"messages": messages, "live": open_, "lang": conv.lang, "dir": direction(conv.lang)})


@bp.get("/openapi.json")
def openapi():
    """Describe this API as OpenAPI 3.1."""
    return jsonify(openapi_document())


# -- errors, origins and headers ------------------------------------------------------------------------------


def error_response(status: int, code: str, msg_id: str, headers: dict | None = None, **params):
    """Answer an error as JSON with a kind message and the emergency line."""
    lang = DEFAULT_LANG
    response = jsonify({"error": code, "message": text(msg_id, lang, **params),
                        "emergency": text("common.emergency", lang)})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(WebError)
def _web_error(err: WebError):
    return error_response(err.status, err.code, err.msg_id, err.headers, **err.params)


@bp.errorhandler(Exception)
def _unexpected(err: Exception):
    if isinstance(err, HTTPException):
        return _http_error(err)
    log.exception("the web API failed")
    response = jsonify({"error": "server_error", "message": waymark().safe_reply().messages[0],
                        "emergency": text("common.emergency")})
    response.status_code = 500
    return response


@bp.app_errorhandler(HTTPException)
def _http_error(err: HTTPException):
    """Answer HTTP errors under /api/ as JSON; leave the rest of the app's pages as they were."""
    if not request.path.startswith("/api/"):
        return err
    codes = {404: ("not_found", "web.error_not_found"), 405: ("method_not_allowed", "web.error_method"),
             400: ("bad_request", "web.error_json"), 413: ("invalid", "web.error_invalid"),
             415: ("bad_request", "web.error_json")}
    code, msg_id = codes.get(err.code or 500, ("error", "web.error_json"))
    headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
    return error_response(err.code or 500, code, msg_id, headers, max=MAX_TEXT)


def _same_origin(origin: str) -> bool:
    return origin.split("://", 1)[-1] == request.host


@bp.before_request
def _check_origin():
    """Refuse browsers on sites that are not allowed; answer their preflights."""
    origin = request.headers.get("Origin")
    if origin and not _same_origin(origin) and origin not in settings()["origins"]:
        raise WebError(403, "origin", "web.error_origin")
    if request.method == "OPTIONS" and origin and request.headers.get("Access-Control-Request-Method"):
        return "", 204
    if request.endpoint not in ("web.delete", "web.exit_beacon"):  # quick exit always works
        limit("client:" + current_app.extensions["web_limits"].client(client_address()), "WEB_RATE_PER_CLIENT")
    return None


@bp.after_app_request
def _headers(response):
    """Send the safety headers everywhere, and no-store plus CORS on the API."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
        origin = request.headers.get("Origin")
        if origin and not _same_origin(origin) and origin in settings()["origins"]:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
            response.vary.add("Origin")
    return response


# -- the OpenAPI document -----------------------------------------------------------------------------------


def openapi_document() -> dict:
    """Build the OpenAPI 3.1 document for /api/v1."""
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    error = lambda why: {"description": why, "content": {"application/json": {"schema": ref("Error")}}}  # noqa: E731
    cid = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "The conversation id from POST /conversations."}
    guarded = {
        "401": error("No bearer token."),
        "403": error("The token is not this conversation's, or the page's origin is not allowed."),
        "404": error("Not a conversation id."),
        "410": error("The conversation was deleted (quick exit, EXIT) or expired after idling."),
    }
    busy = {"429": error("Too many calls a minute from this client or this conversation; "
                         "the Retry-After header says how many seconds to wait.")}
    reply = {"description": "The replies.", "content": {"application/json": {"schema": ref("Reply")}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Waymark web chat API",
            "version": "1.0.0",
            "description": (
                "The API behind Waymark's embedded chat. Start a conversation, then send each message with "
                "`Authorization: Bearer <token>`. Nothing identifying is kept: the conversation is a small record "
                "keyed by a keyed hash of its random id, deleted by quick exit or after idling. Every response has "
                "`Cache-Control: no-store`; no cookies are used. Browsers may call it only from Waymark's own "
                "origin and the configured WAYMARK_ALLOWED_ORIGINS. Every error carries a kind `message` and the "
                "`emergency` line."),
        },
        "paths": {
            "/api/v1/conversations": {"post": {
                "operationId": "startConversation",
                "summary": "Start a conversation.",
                "description": "Returns an unguessable id, the token for every later call, the languages on offer "
                               "and the first messages with their choices. `lang` picks a starting language; one "
                               "that is not on offer starts in English.",
                "requestBody": {"required": False, "content": {"application/json": {"schema": ref("Start")}}},
                "responses": {
                    "201": {"description": "Started.", "content": {"application/json": {"schema": ref("Started")}}},
                    "400": error("The body is not JSON."),
                    "403": error("The page's origin is not allowed."),
                    "422": error("The body is not as described."),
                    **busy,
                },
            }},
            "/api/v1/conversations/{id}/messages": {"post": {
                "operationId": "sendMessage",
                "summary": "Send one message and get the replies.",
                "description": "Send free `text`, or an `option` (its id or number, as offered in the last reply), "
                               "or a `lang` to switch language (the current question is asked again in it). An "
                               "option that is no longer on offer gets the kind re-prompt with the choices.",
                "parameters": [cid],
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Message")}}},
                "responses": {"200": reply, "400": error("The body is not JSON."),
                              "422": error("The body is not as described."), **guarded, **busy},
            }},
            "/api/v1/conversations/{id}": {"delete": {
                "operationId": "deleteConversation",
                "summary": "Quick exit: delete the conversation at once.",
                "parameters": [cid],
                "security": [{"bearer": []}],
                "responses": {"204": {"description": "Deleted."}, **guarded},
            }},
            "/api/v1/conversations/{id}/exit": {"post": {
                "operationId": "exitConversation",
                "summary": "Quick exit for navigator.sendBeacon: delete the conversation at once.",
                "description": "The same as DELETE, as a POST (sendBeacon can only POST and cannot set headers): "
                               "the token goes in the body as a form field or JSON, or in the Authorization header.",
                "parameters": [cid],
                "requestBody": {"required": False, "content": {
                    "application/x-www-form-urlencoded": {"schema": ref("Exit")},
                    "application/json": {"schema": ref("Exit")},
                }},
                "responses": {"204": {"description": "Deleted."}, "400": error("The JSON body is not JSON."),
                              "422": error("The JSON body is not as described."), **guarded},
            }},
            "/api/v1/conversations/{id}/updates": {"get": {
                "operationId": "receiveUpdates",
                "summary": "Receive a worker's messages during a handoff (long-poll).",
                "description": "While a reply says `live: true`, call this again and again: it answers when a worker "
                               "writes, or after `wait` seconds with no messages. When the conversation is not "
                               "waiting for or talking with a worker, it answers at once (`live: false`).",
                "parameters": [cid, {"name": "wait", "in": "query", "required": False,
                                     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT, "default": 0}}],
                "security": [{"bearer": []}],
                "responses": {
                    "200": {"description": "Messages since the last call.",
                            "content": {"application/json": {"schema": ref("Updates")}}},
                    "422": error("`wait` is not a whole number of seconds up to 25."),
                    **guarded,
                    **busy,
                },
            }},
            "/api/v1/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {"200": {"description": "OpenAPI 3.1.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}, **busy},
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "The token from POST /conversations."}},
            "schemas": {
                "Start": {"type": "object", "additionalProperties": False, "properties": {
                    "lang": {"type": "string", "pattern": LANG}}},
                "Message": {"type": "object", "oneOf": [
                    {"required": ["text"], "additionalProperties": False, "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}}},
                    {"required": ["option"], "additionalProperties": False, "properties": {
                        "option": {"type": "string", "pattern": OPTION}}},
                    {"required": ["lang"], "additionalProperties": False, "properties": {
                        "lang": {"type": "string", "pattern": LANG}}},
                ]},
                "Exit": {"type": "object", "properties": {"token": {"type": "string"}}},
                "Part": {"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string"},
                    "href": {"type": "string", "pattern": r"^tel:\+?[0-9]+$",
                             "description": "A tel: link for a phone number from the service directory."}}},
                "ChatMessage": {"type": "object", "required": ["id", "text", "parts"], "properties": {
                    "id": {"type": ["string", "null"], "description": "The message id (stable across rewording)."},
                    "text": {"type": "string"},
                    "parts": {"type": "array", "items": ref("Part"),
                              "description": "The text in runs; build links from these, never HTML."},
                    "lang": {"type": "string", "description": "The message's language, when it is not the "
                             "reply's (an offer to switch language is said in that language)."}}},
                "Option": {"type": "object", "required": ["number", "id", "label"], "properties": {
                    "number": {"type": "string"}, "id": {"type": "string"}, "label": {"type": "string"}}},
                "Reply": {"type": "object",
                          "required": ["lang", "dir", "messages", "options", "nav", "ended", "live"],
                          "properties": {
                              "lang": {"type": "string"},
                              "dir": {"enum": ["ltr", "rtl"]},
                              "messages": {"type": "array", "items": ref("ChatMessage")},
                              "options": {"type": "array", "items": ref("Option")},
                              "nav": {"type": "string", "description": "How to move about; empty when no choices."},
                              "ended": {"type": "boolean",
                                        "description": "True when the person typed EXIT: already deleted; leave."},
                              "live": {"type": "boolean",
                                       "description": "True while a worker is in the conversation: poll /updates."}}},
                "Language": {"type": "object", "required": ["code", "name", "dir"], "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}, "dir": {"enum": ["ltr", "rtl"]}}},
                "Started": {"allOf": [ref("Reply"), {
                    "type": "object", "required": ["id", "token", "languages"], "properties": {
                        "id": {"type": "string"}, "token": {"type": "string"},
                        "languages": {"type": "array", "items": ref("Language")}}}]},
                "Updates": {"type": "object", "required": ["messages", "live", "lang", "dir"], "properties": {
                    "messages": {"type": "array", "items": ref("ChatMessage")},
                    "live": {"type": "boolean"}, "lang": {"type": "string"}, "dir": {"enum": ["ltr", "rtl"]}}},
                "Error": {"type": "object", "required": ["error", "message", "emergency"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"},
                    "emergency": {"type": "string", "description": "The emergency line, always."}}},
            },
        },
    }
