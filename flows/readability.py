"""Flesch reading ease for English, computed offline (no dictionary downloads)."""

from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z']+")
SENTENCE_END = re.compile(r"[.!?:]+(?:\s|$)|\n+")


def syllables(word: str) -> int:
    """Estimate syllables by vowel groups, with the usual silent-e and -le corrections."""
    word = word.lower().strip("'")
    if len(word) <= 3:
        return 1
    groups = len(re.findall(r"[aeiouy]+", word))
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")):
        groups -= 1
    if word.endswith(("ed", "es")) and not word.endswith(("ted", "ded", "ses", "zes", "ces", "ges")):
        groups -= 1
    return max(1, groups)


def flesch_reading_ease(text: str) -> float:
    """Return 206.835 - 1.015 x words per sentence - 84.6 x syllables per word (higher is easier)."""
    words = WORD.findall(text)
    if not words:
        return 100.0
    sentences = max(1, len([s for s in SENTENCE_END.split(text) if WORD.search(s)]))
    return 206.835 - 1.015 * len(words) / sentences - 84.6 * sum(map(syllables, words)) / len(words)
