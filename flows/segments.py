"""SMS arithmetic: which encoding a text needs and how many segments it costs."""

from __future__ import annotations

import re

# The GSM 03.38 default alphabet; the extension table's characters cost two septets each.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")
GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SEGMENTS = 3  # a reply in GSM-7 (English) fits 3 segments, 459 characters
MAX_TEXTS = 3  # a reply that needs Unicode fits 3 texts of 3 segments each: the SMS channel's defaults


GSM_ALL = frozenset(GSM_BASIC | GSM_EXTENDED)


def is_gsm(text: str) -> bool:
    """Say whether every character fits the GSM-7 alphabet."""
    return GSM_ALL.issuperset(text)  # set operations run in C: the webhook lays out every reply with them


def units(text: str) -> int:
    """Count the encoding units a text costs: septets in GSM-7, UTF-16 code units in UCS-2."""
    if is_gsm(text):
        return len(text) + sum(map(text.count, GSM_EXTENDED))
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """Count the SMS segments a text needs."""
    gsm = is_gsm(text)
    size = len(text) + sum(map(text.count, GSM_EXTENDED)) if gsm else len(text.encode("utf-16-le")) // 2
    single, part = (GSM_SINGLE, GSM_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    if size <= single:
        return 1
    return -(-size // part)


TWILIO_MAX_CHARS = 1600  # Twilio refuses a longer message body
_BREAKS = ("\n\n", "\n", " ")


def _words(text: str) -> list[str]:
    """Split at spaces, except a space between two digits, so "0808 2000 247" stays whole."""
    return re.split(r"(?<!\d) | (?!\d)", text)


def split(text: str, max_segments: int | None = MAX_SEGMENTS, max_chars: int = TWILIO_MAX_CHARS,
          prefix: str = "") -> list[str]:
    """Cut a text into parts that each start with `prefix` and fit the budget (None: characters only)."""
    # Parts break at paragraphs, then lines, then spaces; a word or a phone number is cut only
    # when it alone is longer than a part.

    def fits(part: str) -> bool:
        whole = prefix + part
        return len(whole) <= max_chars and (max_segments is None or segments(whole) <= max_segments)

    def pack(chunk: str, level: int) -> list[str]:
        if fits(chunk):
            return [chunk]
        if level == len(_BREAKS):  # one unbreakable run longer than a part: cut it by characters
            parts, current = [], ""
            for ch in chunk:
                if current and not fits(current + ch):
                    parts.append(current)
                    current = ""
                current += ch
            return parts + [current]
        sep = _BREAKS[level]
        pieces = _words(chunk) if sep == " " else chunk.split(sep)
        parts: list[str] = []
        for piece in pieces:
            packed = pack(piece, level + 1)
            if parts and fits(parts[-1] + sep + packed[0]):
                parts[-1] += sep + packed.pop(0)
            parts.extend(packed)
        return parts

    return [prefix + part for part in pack(text.strip(), 0) if part.strip()] or [prefix.rstrip()]


def over_budget(text: str, opening: str = "") -> str | None:
    """Say how a reply breaks the SMS budget, or None when it fits.

    In GSM-7 a reply fits MAX_SEGMENTS segments. A reply that needs Unicode (every non-English
    catalog here) gets what the SMS channel sends whole by default: MAX_TEXTS texts of
    MAX_SEGMENTS segments, each opening with the neutral line; at 67 characters a segment, 3
    segments would hold a third of what the English says.
    """
    if is_gsm(text):
        count = segments(text)
        return None if count <= MAX_SEGMENTS else f"{count} SMS segments ({len(text)} characters; at most {MAX_SEGMENTS})"
    count = len(split(text, MAX_SEGMENTS, prefix=f"{opening}\n" if opening else ""))
    return None if count <= MAX_TEXTS else (f"{count} texts of {MAX_SEGMENTS} Unicode segments "
                                            f"({units(text)} characters; at most {MAX_TEXTS} texts)")
