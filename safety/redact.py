"""A logging filter on every handler: no message text, numbers, addresses, emails or secrets in logs."""

from __future__ import annotations

import logging
import re

PATTERNS = [
    (re.compile(r"whatsapp:\+?\d+", re.I), "[whatsapp]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
    (re.compile(r"\+?\d[\d ()-]{7,}\d"), "[number]"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "[ip]"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", re.I), "[postcode]"),
    (re.compile(r"(?i)(token|secret|password|signature|authorization|body)=[^&\s]+"), r"\1=[redacted]"),
]


def redact(text: str) -> str:
    """Replace anything that looks identifying with a neutral marker."""
    for pattern, marker in PATTERNS:
        text = pattern.sub(marker, text)
    return text


class RedactingFilter(logging.Filter):
    """Render each record, redact it, and pass it on with no arguments left to leak."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of the root logger (and its own), once."""
    logger = logger or logging.getLogger()
    if not logger.handlers:
        logging.basicConfig(level=logging.INFO)
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
