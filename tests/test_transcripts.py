"""Transcript tests: recorded conversations replayed through the one path every channel takes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONVERSATIONS = sorted((Path(__file__).parent / "conversations").glob("*.yaml"))


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert data.get("version") == 1 and data.get("turns"), f"{path.name}: needs version: 1 and turns"
    return data


@pytest.mark.parametrize("path", CONVERSATIONS, ids=[p.stem for p in CONVERSATIONS])
def test_transcript(app, path):
    script = load(path)
    waymark = app.extensions["waymark"]
    key = waymark.key("test", path.stem)
    with app.app_context():
        for n, turn in enumerate(script["turns"], 1):
            reply = waymark.converse(key, "test", str(turn["say"]))
            where = f"{path.name} turn {n} ({turn['say']!r})"
            for msg in turn.get("expect", []):
                assert msg in reply.ids, f"{where}: expected {msg}, got {list(reply.ids)}"
            text = reply.as_text()
            for number in turn.get("numbers", []):
                assert str(number) in text, f"{where}: expected the number {number}"
            if turn.get("ended"):
                assert reply.ended, f"{where}: expected the conversation to end"
