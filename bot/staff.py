"""The staff console at /staff/: login (argon2id, TOTP, lockout), the queue, the live relay, callbacks, counts."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
import time
from functools import wraps

import pyotp
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import (Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request,
                   url_for)

from .handoff import desk, shown
from .store import CLOCK_SKEW_S

bp = Blueprint("staff", __name__, url_prefix="/staff")

COOKIE = "waymark_staff"
ROLES = ("staff", "admin")
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
MAX_SAY = 1600
# A hash to verify against for unknown names, so a wrong name takes as long as a wrong password.
_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


# -- accounts (also used by `waymark staff`) -------------------------------------------------------------------


def add_account(store, name: str, role: str, password: str, totp: bool) -> str | None:
    """Create (or reset) an account; return its new TOTP secret when it has a second factor."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 12:
        raise ValueError("the password must be at least 12 characters")
    secret = pyotp.random_base32() if (totp or role == "admin" or current_app.config["STAFF_TOTP"]) else None
    sealed = desk().seal(secret) if secret else None
    with store.transaction():
        store.db.execute("DELETE FROM staff_sessions WHERE staff_id IN (SELECT id FROM staff WHERE name = ?)", [name])
        store.db.execute("DELETE FROM staff WHERE name = ?", [name])
        store.db.execute("INSERT INTO staff (name, role, pw_hash, totp, failures, locked_until, created_at) "
                         "VALUES (?, ?, ?, ?, 0, 0, ?)", [name, role, HASHER.hash(password), sealed, time.time()])
        desk().audit("cli", "account_set", name)
    return secret


def _needs_totp(account: dict) -> bool:
    return account["role"] == "admin" or bool(current_app.config["STAFF_TOTP"])


# -- sessions: a table of random ids; the cookie holds the id, the table holds a hash of it --------------------------


def _sid_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_session(staff_id: int | None, stage: str) -> tuple[str, dict]:
    token = secrets.token_urlsafe(32)
    now = time.time()
    row = {"id": _sid_hash(token), "staff_id": staff_id, "stage": stage, "csrf": secrets.token_urlsafe(32),
           "created_at": now, "last_seen": now}
    store = desk().store
    with store.transaction():
        store.db.execute("INSERT INTO staff_sessions (id, staff_id, stage, csrf, created_at, last_seen) "
                         "VALUES (:id, :staff_id, :stage, :csrf, :created_at, :last_seen)", row)
    return token, row


def _set_cookie(response: Response, token: str) -> Response:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/staff")
    return response


def _load_session() -> dict | None:
    """Return the request's session row, ending it if it has idled too long."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    store = desk().store
    rows = store.rows("SELECT * FROM staff_sessions WHERE id = ?", [_sid_hash(token)])
    if not rows:
        return None
    row = rows[0]
    idle = float(current_app.config["STAFF_IDLE_MINUTES"]) * 60
    now = time.time()
    with store.transaction():
        # A session seen "in the future" outlived a clock set back: it ends too, rather than never idling out.
        store.db.execute("DELETE FROM staff_sessions WHERE last_seen < ? OR last_seen > ?", [now - idle, now + CLOCK_SKEW_S])
        if not now - idle <= row["last_seen"] <= now + CLOCK_SKEW_S:
            return None
        store.db.execute("UPDATE staff_sessions SET last_seen = ? WHERE id = ?", [now, row["id"]])
    return row


def _account(staff_id) -> dict | None:
    rows = desk().store.rows("SELECT * FROM staff WHERE id = ?", [staff_id])
    return rows[0] if rows else None


def login_required(admin: bool = False):
    def wrap(view):
        @wraps(view)
        def inner(*args, **kwargs):
            session = _load_session()
            account = _account(session["staff_id"]) if session and session["stage"] == "in" else None
            if account is None:
                if request.path.endswith(".json"):
                    return jsonify({"error": "login"}), 401
                return redirect(url_for("staff.login"))
            if admin and account["role"] != "admin":
                abort(403)
            g.session, g.account = session, account
            if request.method == "POST":
                _check_csrf(session)
            return view(*args, **kwargs)
        return inner
    return wrap


def _check_csrf(session: dict) -> None:
    sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
    if not session or not hmac.compare_digest(sent.encode(), session["csrf"].encode()):
        abort(400, "The form had expired. Please try again.")


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; "
                                "frame-ancestors 'none'; form-action 'self'")
    return response


# -- login, second factor, logout ---------------------------------------------------------------------------------


@bp.get("/login")
def login():
    """Show the login form (with a fresh pre-login session holding its CSRF token)."""
    token, row = _new_session(None, "anon")
    return _set_cookie(Response(render_template("staff/login.html", csrf=row["csrf"], error=None)), token)


def _again(error: str, status: int = 200) -> Response:
    token, row = _new_session(None, "anon")
    page = render_template("staff/login.html", csrf=row["csrf"], error=error)
    return _set_cookie(Response(page, status=status), token)


def _fail(account: dict) -> None:
    cfg, store = current_app.config, desk().store
    failures = account["failures"] + 1
    locked = time.time() + float(cfg["STAFF_LOCK_MINUTES"]) * 60 if failures >= int(cfg["STAFF_MAX_FAILURES"]) else 0
    with store.transaction():
        store.db.execute("UPDATE staff SET failures = ?, locked_until = ? WHERE id = ?",
                         [0 if locked else failures, locked or account["locked_until"], account["id"]])
        desk().audit(account["name"], "locked" if locked else "login_failed")


@bp.post("/login")
def login_post():
    """Check the name and password; then the second factor, or straight in."""
    session = _load_session()
    _check_csrf(session)
    _end(session)
    name, password = request.form.get("name", "")[:100], request.form.get("password", "")[:1000]
    rows = desk().store.rows("SELECT * FROM staff WHERE name = ?", [name])
    account = rows[0] if rows else None
    if account and account["locked_until"] > time.time():
        return _again("This account is locked for a while after too many tries. Please try later.", 429)
    try:
        HASHER.verify(account["pw_hash"] if account else _DUMMY, password)
        ok = account is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok:
        if account:
            _fail(account)
        return _again("That name and password don't match. Please try again.", 401)
    if _needs_totp(account) and not account["totp"]:
        return _again("This account needs a second factor. Ask an admin to run `waymark staff add` again.", 401)
    stage = "totp" if account["totp"] else "in"
    token, row = _new_session(account["id"], stage)  # a fresh session at login
    if stage == "in":
        _logged_in(account)
        return _set_cookie(redirect(url_for("staff.queue")), token)
    return _set_cookie(redirect(url_for("staff.totp")), token)


def _logged_in(account: dict) -> None:
    store = desk().store
    with store.transaction():
        store.db.execute("UPDATE staff SET failures = 0, locked_until = 0 WHERE id = ?", [account["id"]])
        desk().audit(account["name"], "login")


@bp.get("/totp")
def totp():
    session = _load_session()
    if not session or session["stage"] != "totp":
        return redirect(url_for("staff.login"))
    return render_template("staff/totp.html", csrf=session["csrf"], error=None)


@bp.post("/totp")
def totp_post():
    """Check the six-digit code from the authenticator app."""
    session = _load_session()
    if not session or session["stage"] != "totp":
        return redirect(url_for("staff.login"))
    _check_csrf(session)
    account = _account(session["staff_id"])
    if account is None or account["locked_until"] > time.time():
        _end(session)
        return _again("This account is locked for a while after too many tries. Please try later.", 429)
    code = request.form.get("code", "").replace(" ", "")[:10]
    secret = desk().unseal(account["totp"])
    if not (secret and pyotp.TOTP(secret).verify(code, valid_window=1)):
        _fail(account)
        return Response(render_template("staff/totp.html", csrf=session["csrf"],
                                        error="That code didn't work. Please try the newest one."), status=401)
    _end(session)
    token, _ = _new_session(account["id"], "in")
    _logged_in(account)
    return _set_cookie(redirect(url_for("staff.queue")), token)


def _end(session: dict | None) -> None:
    if session:
        store = desk().store
        with store.transaction():
            store.db.execute("DELETE FROM staff_sessions WHERE id = ?", [session["id"]])


@bp.post("/logout")
@login_required()
def logout():
    """End the session on the server and forget the cookie."""
    _end(g.session)
    with desk().store.transaction():
        desk().audit(g.account["name"], "logout")
    response = redirect(url_for("staff.login"))
    response.delete_cookie(COOKIE, path="/staff")
    return response


# -- the queue and the live chat ------------------------------------------------------------------------------------


def _page(template: str, **values):
    return render_template(template, me=g.account, csrf=g.session["csrf"], **values)


@bp.get("/")
@login_required()
def queue():
    """Show who is waiting (at risk first) and the open safe callbacks."""
    with desk().store.transaction():
        items = desk().queue()
    return _page("staff/queue.html", items=items, callbacks=desk().callbacks())


@bp.get("/queue.json")
@login_required()
def queue_json():
    """The queue for the page's live updates."""
    with desk().store.transaction():
        items = desk().queue()
    return jsonify({"items": items, "callbacks": len(desk().callbacks())})


def _act(fn, *args):
    store = desk().store
    with store.transaction():
        result = fn(*args)
    g.send_failed = desk().flush() > 0
    return result


@bp.post("/handoffs/<hid>/claim")
@login_required()
def claim(hid: str):
    """Take a waiting chat."""
    if not _act(desk().claim, hid, g.account["name"]):
        return _page("staff/gone.html"), 409
    return redirect(url_for("staff.chat", hid=hid))


def _mine(hid: str) -> dict:
    row = desk().get(hid)
    if row is None:
        abort(Response(_page("staff/gone.html"), status=410))
    if row["status"] != "live" or row["worker"] != g.account["name"]:
        abort(Response(_page("staff/gone.html"), status=409))
    return row


@bp.get("/handoffs/<hid>")
@login_required()
def chat(hid: str):
    """Show a live chat: what the person chose to share, then the messages."""
    with desk().store.transaction():
        desk().sweep()
        row = _mine(hid)
    return _page("staff/chat.html", h=desk().view(row), messages=desk().messages(hid),
                 failed=request.args.get("failed") == "1")


@bp.get("/handoffs/<hid>/messages.json")
@login_required()
def chat_json(hid: str):
    """The chat's messages after `after`, for the page's live updates."""
    after = request.args.get("after", "0")
    with desk().store.transaction():
        desk().sweep()
        row = desk().get(hid)
    if row is None or row["worker"] != g.account["name"]:
        return jsonify({"open": False, "messages": []})
    with desk().store.transaction():
        desk().acknowledge(hid)
    return jsonify({"open": row["status"] == "live", "alert": bool(row["alert"]),
                    "messages": desk().messages(hid, int(after) if after.isdigit() else 0)})


@bp.post("/handoffs/<hid>/say")
@login_required()
def say(hid: str):
    """Send the worker's words to the person."""
    text = request.form.get("text", "").strip()[:MAX_SAY]
    if text and not _act(desk().say, hid, g.account["name"], text):
        return _page("staff/gone.html"), 410
    failed = bool(g.get("send_failed"))
    if request.headers.get("X-CSRF-Token"):
        return jsonify({"ok": not failed}), 502 if failed else 200
    if failed:
        return redirect(url_for("staff.chat", hid=hid, failed=1))
    return redirect(url_for("staff.chat", hid=hid))


@bp.post("/handoffs/<hid>/transfer")
@login_required()
def transfer(hid: str):
    """Give the chat back to the queue for another worker."""
    _act(desk().transfer, hid, g.account["name"])
    return redirect(url_for("staff.queue"))


@bp.post("/handoffs/<hid>/end")
@login_required()
def end(hid: str):
    """End the chat: the person is told and returns to Waymark; the chat is deleted."""
    _act(desk().end, hid, g.account["name"])
    return redirect(url_for("staff.queue"))


# -- safe callbacks ------------------------------------------------------------------------------------------------


@bp.post("/callbacks/<cid>/open")
@login_required()
def callback(cid: str):
    """Show one callback's details (audited without them)."""
    items = desk().callbacks(reveal=cid)
    item = next((i for i in items if i["id"] == cid), None)
    if item is None:
        return _page("staff/gone.html"), 410
    with desk().store.transaction():
        desk().audit(g.account["name"], "callback_open", item["alias"])
    return _page("staff/callback.html", item=item)


@bp.post("/callbacks/<cid>/done")
@login_required()
def callback_done(cid: str):
    """Mark a callback done: its details are deleted at once."""
    _act(desk().callback_done, cid, g.account["name"])
    return redirect(url_for("staff.queue"))


# -- counts for the partnership (admins) -----------------------------------------------------------------------------


def _table() -> list[tuple[str, str, str]]:
    rows = []
    for week in desk().weeks():
        counts = desk().counts(week)
        for name, n in counts.items():
            if not name.startswith("wait."):
                rows.append((week, name, shown(n)))
        answered = counts.get("handoff.answered", 0)
        median = desk().median_wait(week)
        rows.append((week, "handoff.median_wait_minutes",
                     f"{median:g}" if median is not None and answered >= 5 else "<5 answered"))
    return rows


@bp.get("/counts")
@login_required(admin=True)
def counts():
    """Weekly counts: conversations, handoffs, waits and feedback; numbers under 5 shown as <5."""
    return _page("staff/counts.html", rows=_table())


@bp.get("/counts.csv")
@login_required(admin=True)
def counts_csv():
    """The same counts as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["week", "measure", "count"])
    writer.writerows(_table())
    with desk().store.transaction():
        desk().audit(g.account["name"], "counts_export")
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=waymark-counts.csv"})
