"""Redaction on every logger: app, werkzeug's access log, gunicorn's error and access logs, and tracebacks."""

from __future__ import annotations

import datetime as dt
import io
import logging
import runpy
import threading
import urllib.request
from pathlib import Path

import pytest
from gunicorn.config import Config
from werkzeug.serving import make_server

from bot import create_app
from safety import redact

from .conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
CANARIES = ["+447700900123", "447700900123", "07700 900123", "whatsapp:+447700900456", "canary.person@example.org",
            "KT1 9ZZ", "kt19zz", "203.0.113.77", "2001:db8::77", "purple-elephant-canary-42",
            "Zebedee Quillfeather", "AC0123456789abcdef0123456789abcdef", "s3cr3t-t0ken-value-0123456789"]


@pytest.mark.parametrize("text, gone", [
    ("from +447700900123 now", "+447700900123"),
    ("digits 447700900123", "447700900123"),
    ("spaced 07700 900123", "900123"),
    ("to whatsapp:+447700900456", "447700900456"),
    ("call tel:+447700900123 or (020) 3000-0000", "900123"),
    ("call tel:+447700900123 or (020) 3000-0000", "3000"),
    ("phone:07700900123", "900123"),
    ("mail canary.person@example.org", "canary.person"),
    ("encoded canary.person%40example.org and %2B447700900123", "900123"),
    ("postcode KT1 9ZZ and kt19zz and SW1A 1AA", "9ZZ"),
    ("client 203.0.113.77 connected", "203.0.113.77"),
    ("client 2001:db8::77 and ::1 connected", "db8"),
    ("Authorization: Bearer abc.DEF-ghi_123", "abc.DEF"),
    ("token=abcdef&password=hunter2hunter2&Body=hello+there", "hunter2"),
    ("sid AC0123456789abcdef0123456789abcdef", "0123456789abcdef"),
    ("key 3f2a9c0d8b7e6f5a4c3b2a1908f7e6d5c4b3a291", "3f2a9c0d8b7e"),
])
def test_redact_removes_what_identifies(text, gone):
    assert gone.lower() not in redact.redact(text).lower()


def test_redact_leaves_ordinary_words_and_clock_times():
    line = "a turn failed on channel sms at 14:05:33; sent the safe reply (3 texts, web.error_json)"
    assert redact.redact(line) == line
    bound = "Listening at: http://127.0.0.1:8731 (89221) and 0.0.0.0:8000"  # the server's own address, a pid
    assert redact.redact(bound) == bound


def logged(logger: logging.Logger, *args, **kwargs) -> str:
    """Log through `logger` to a fresh handler of its own and return what it wrote."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger.addHandler(handler)
    try:
        logger.error(*args, **kwargs)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_every_logger_is_redacted_even_one_made_later_that_does_not_propagate(app):
    later = logging.getLogger("waymark.test.later")
    later.propagate = False
    out = logged(later, "from %s: %s %s", "+447700900123", "canary.person@example.org", {"ip": "203.0.113.77"})
    assert "[number]" in out and "[email]" in out and "[ip]" in out
    assert not any(c in out for c in CANARIES)


def test_a_traceback_keeps_its_frames_and_type_but_never_the_exceptions_message(app):
    def fails(text):
        try:
            raise KeyError(text)
        except KeyError as err:
            raise ValueError(f"could not read {text!r}") from err

    try:
        fails("purple-elephant-canary-42 from +447700900123")
    except ValueError:
        out = logged(logging.getLogger("waymark.test"), "a turn failed", exc_info=True)
    assert "a turn failed" in out and "in fails" in out and "ValueError: [message withheld]" in out
    assert "KeyError: [message withheld]" in out
    assert not any(c in out for c in CANARIES)


def test_the_flask_error_log_and_a_stack_are_redacted(app):
    @app.get("/boom/<path:rest>")
    def boom(rest):
        raise RuntimeError(f"boom {rest}")

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    app.logger.addHandler(handler)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        app.test_client().get("/boom/purple-elephant-canary-42/203.0.113.77?to=+447700900123")
        logging.getLogger("waymark.test").warning("where %s", "canary.person@example.org", stack_info=True)
    finally:
        app.logger.removeHandler(handler)
    out = stream.getvalue()
    assert "RuntimeError: [message withheld]" in out
    assert not any(c in out for c in CANARIES)


def test_werkzeugs_access_log_has_no_client_address_and_no_query(app, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_port}/chat?lang=en&q=purple-elephant-canary-42%20KT1%209ZZ"
        request = urllib.request.Request(url, headers={"X-Forwarded-For": "203.0.113.77"})
        urllib.request.urlopen(request, timeout=10).read()  # noqa: S310 (a local test server)
    finally:
        srv.shutdown()
        thread.join(5)
    [line] = [r.getMessage() for r in caplog.records if r.name == "werkzeug" and "/chat" in r.getMessage()]
    assert "GET /chat?[query] HTTP/1.1" in line and " 200 " in line
    assert "127.0.0.1" not in line and not any(c in line for c in CANARIES)


def test_werkzeugs_line_format_loses_its_address_whatever_it_is():
    for address in ("203.0.113.77", "2001:db8::77", "::1", "proxy.example.org"):
        line = redact.redact_access(f'{address} - - [26/Nov/2026 14:05:33] "GET /x?to=1 HTTP/1.1" 200 -')
        assert line == '[26/Nov/2026 14:05:33] "GET /x?[query] HTTP/1.1" 200 -'


def gunicorn_logger(**options):
    """Build gunicorn's logger from gunicorn.conf.py (then `options`, like the command line) as gunicorn does."""
    cfg = Config()
    for name, value in {**runpy.run_path(str(ROOT / "gunicorn.conf.py")), **options}.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg, cfg.logger_class(cfg)


class FakeResponse:
    status = "200 OK"
    sent = 1234
    headers = [("Content-Type", "text/html"), ("Set-Cookie", "waymark_staff=s3cr3t-t0ken-value-0123456789")]


def test_gunicorns_access_and_error_logs_are_redacted(capfd):
    cfg, log = gunicorn_logger(accesslog="-")  # off by default; `--access-logfile -` turns it on
    assert "%(h)" not in cfg.access_log_format and "%(r)" not in cfg.access_log_format
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/sms?From=%2B447700900123", "PATH_INFO": "/sms",
               "QUERY_STRING": "From=%2B447700900123", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.77",
               "HTTP_X_FORWARDED_FOR": "203.0.113.77", "HTTP_USER_AGENT": "TwilioProxy/1.1",
               "HTTP_REFERER": "https://example.org/?q=purple-elephant-canary-42"}
    headers = [("X-Forwarded-For", "203.0.113.77"), ("X-Twilio-Signature", "s3cr3t-t0ken-value-0123456789")]
    log.access(FakeResponse(), headers, environ, dt.timedelta(milliseconds=12))
    log.error("Invalid request from ip=%s: %s", "203.0.113.77", "purple-elephant-canary-42 +447700900123")
    try:
        raise OSError("purple-elephant-canary-42 KT1 9ZZ")
    except OSError:
        log.exception("Error handling request /sms?Body=purple-elephant-canary-42")
    out = capfd.readouterr()
    text = out.out + out.err
    assert '"POST /sms HTTP/1.1" status=200 bytes=1234 ms=12' in text
    assert "OSError: [message withheld]" in text
    assert not any(c in text for c in CANARIES)


def test_gunicorn_uses_the_redacting_logger_and_writes_no_access_log_by_default():
    cfg, log = gunicorn_logger()
    assert type(log).__name__ == "RedactingLogger" and not log.access_log_enabled
    cfg, log = gunicorn_logger(accesslog="-")
    assert any(isinstance(f, redact.RedactingFilter) for h in log.access_log.handlers for f in h.filters)


def test_install_is_idempotent(tmp_path):
    create_app(make_config(tmp_path))
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "waymark_redacting", False)
    create_app(make_config(tmp_path))
    redact.install()
    assert logging.getLogRecordFactory() is factory  # not wrapped twice
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, redact.RedactingFilter) for f in handler.filters) <= 1
