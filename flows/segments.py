"""SMS arithmetic: which encoding a text needs and how many segments it costs."""

from __future__ import annotations

# The GSM 03.38 default alphabet; the extension table's characters cost two septets each.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")
GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SEGMENTS = 3


def is_gsm(text: str) -> bool:
    """Say whether every character fits the GSM-7 alphabet."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def units(text: str) -> int:
    """Count the encoding units a text costs: septets in GSM-7, UTF-16 code units in UCS-2."""
    if is_gsm(text):
        return sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """Count the SMS segments a text needs."""
    size = units(text)
    single, part = (GSM_SINGLE, GSM_PART) if is_gsm(text) else (UCS2_SINGLE, UCS2_PART)
    if size <= single:
        return 1
    return -(-size // part)
