"""Send labelled messages, each as a new person's first text, through the signed SMS webhook and the web chat API
(Flask's test client), and count the first replies that are right.

Run: .venv/bin/python bench/first_replies.py tests/data/heldout_english_h.yaml [more files]
For each file: risk messages whose first reply, by SMS and by web chat, is their risk's interrupt with every
number it names; messages without risk that land in their topic's state (or a clarifying question offering it),
and of those that land, how many carry every number the state always names. Only counts are printed (held-out
sets are read this way too; their messages are never shown).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import create_app  # noqa: E402
from safety import learned  # noqa: E402
from tests.conftest import SmsClient, WebChat, make_config  # noqa: E402
from tests.test_learned import missing_numbers, sms_interrupted, web_interrupted  # noqa: E402


def main() -> None:
    app = create_app(make_config(Path(tempfile.mkdtemp()), WEB_RATE_PER_CLIENT=10**6,
                                 SMS_RATE_OVERALL=10**9, SMS_RATE_PER_CONVERSATION=10**9))
    sms, w = SmsClient(app), app.extensions["waymark"]
    states = w.runtime.library.topics
    for f, name in enumerate(sys.argv[1:]):
        risky = by_sms = by_web = topical = offered = landed = numbered = 0
        for n, item in enumerate(learned.read(Path(name))):
            number = f"+4477{f:02d}{n:06d}"
            reply = " ".join(sms.send(item["text"], from_=number))
            conv = w.store.load(w.key("sms", number))
            if item["risk"] != "none":
                risky += 1
                by_sms += sms_interrupted(w, conv, reply, item["risk"])
                by_web += web_interrupted(WebChat(app.test_client()).say(item["text"]), item["risk"])
            elif item["topic"] in states and conv is not None:
                topical += 1
                offered += conv.state == states[item["topic"]] or item["topic"] in conv.pending
                if conv.state == states[item["topic"]]:
                    landed += 1
                    numbered += not missing_numbers(w, conv.state, reply, conv.lang)
        print(f"{Path(name).name}: risk messages interrupted in the first reply {by_sms}/{risky} by SMS, "
              f"{by_web}/{risky} by web chat; without risk, topic landed or offered {offered}/{topical}, "
              f"landed {landed}, of them with every number {numbered}")


if __name__ == "__main__":
    main()
