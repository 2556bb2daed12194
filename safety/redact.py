"""Redaction on every log record: no message text, numbers, addresses, emails, postcodes, tokens or secrets in logs.

`install()` redacts each record as it is made (a log record factory), so it holds for every logger, every
handler and every formatter, including ones added later (werkzeug's and gunicorn's own, pytest's caplog) and
loggers that do not propagate (gunicorn's). It also puts `RedactingFilter` on the root logger's handlers.

- An exception's message is never logged (it may quote the person: `ValueError("... 'their words' ...")`):
  a traceback keeps its frames and the exception's type only.
- Access logs (werkzeug's, gunicorn's) lose the client address and the query string.
"""

from __future__ import annotations

import logging
import re
import traceback
from urllib.parse import unquote

PATTERNS = [
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;]+"), "Bearer [redacted]"),
    (re.compile(r"(?i)\b(token|secret|password|passwd|signature|authorization|auth|api_?key|csrf|cookie|body|"
                r"from|to|text|note)=[^&\s\"']+"), r"\1=[redacted]"),
    (re.compile(r"whatsapp:\+?\d+", re.I), "[whatsapp]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
    (re.compile(r"\b(?!127\.0\.0\.1\b|0\.0\.0\.0\b)\d{1,3}(?:\.\d{1,3}){3}\b"), "[ip]"),  # not a server's own
    # IPv6: two colons or more, and a hex letter or "::" (so clock times like 14:05:33 are left alone)
    (re.compile(r"(?i)(?<![\w:])(?=[0-9a-f:]*(?:::|[a-f][0-9a-f]*:|:[0-9a-f]*[a-f]))(?:[0-9a-f]{0,4}:){2,7}"
                r"[0-9a-f]{0,4}(?![\w:])"), "[ip]"),
    # phone numbers: 9 digits or more, not starting inside a word or as the port of an address ("1.2.3.4:8000 (pid)")
    (re.compile(r"(?<![\w.])(?<![\d\]]:)\+?\d[\d ()-]{7,}\d"),
     lambda m: "[number]" if sum(c.isdigit() for c in m[0]) >= 9 else m[0]),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", re.I), "[postcode]"),
    # Long random strings (ids, tokens, keyed hashes, Twilio SIDs): letters and digits mixed, 20 or more
    (re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{20,}(?![\w-])"), "[token]"),
]
# werkzeug: '127.0.0.1 - - [26/Nov/2026 14:05:33] "GET /path?query HTTP/1.1" 200 -'
ACCESS_ADDRESS = re.compile(r"^\S+ - \S+ (?=\[)")
QUERY = re.compile(r"\?[^\s\"]*")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
WITHHELD = "[message withheld]"


def redact(text: str) -> str:
    """Replace anything that looks identifying with a neutral marker."""
    text = unquote(str(text))  # so %2B44..., %40 and the like are seen for what they are
    for pattern, marker in PATTERNS:
        text = pattern.sub(marker, text)
    return text


def redact_access(text: str) -> str:
    """Drop the client address and the query string from an access log line, then redact the rest."""
    return redact(QUERY.sub("?[query]", ACCESS_ADDRESS.sub("", str(text))))


def safe_traceback(exc: BaseException) -> str:
    """Format an exception chain with its frames and types only: never an exception's message."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = "".join(traceback.format_tb(exc.__traceback__))
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        parts.append(f"Traceback (most recent call last):\n{frames}{name}: {WITHHELD}")
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return redact("\n\nThe exception above led to this one:\n\n".join(reversed(parts)))


def scrub(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place, once: its message, its traceback and its stack; no arguments left to leak."""
    if getattr(record, "redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: say so, without the arguments
        message = f"{record.msg!s} [arguments withheld]"
    record.msg = redact_access(message) if record.name in ACCESS_LOGGERS else redact(message)
    record.args = ()
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = safe_traceback(record.exc_info[1])
        record.exc_info = None  # so no formatter can print the real message
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record.redacted = True
    return record


class RedactingFilter(logging.Filter):
    """Redact each record that reaches a handler or logger (a second line behind the record factory)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub(record)
        return True


def _factory(make):
    def make_record(*args, **kwargs):
        return scrub(make(*args, **kwargs))

    make_record.waymark_redacting = True
    return make_record


def install(logger: logging.Logger | None = None) -> None:
    """Redact every record from now on, and put the filter on the handlers of `logger` (default: root), once."""
    if not getattr(logging.getLogRecordFactory(), "waymark_redacting", False):
        logging.setLogRecordFactory(_factory(logging.getLogRecordFactory()))
    logger = logger or logging.getLogger()
    if logger is logging.getLogger() and not logger.handlers:
        logging.basicConfig(level=logging.INFO)
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
