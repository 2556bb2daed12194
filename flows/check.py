"""`waymark flows check`: everything that must hold for every flow, state, message, service and language."""

from __future__ import annotations

import gettext
import re
from collections import deque
from pathlib import Path


import yaml
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from .catalog import Catalogs, placeholders
from .directory import FIELDS, Service
from .engine import RISK_MESSAGES, Conversation, Message, Turn, Understanding, normalize
from .library import MENU, START, Library
from .render import Renderer
from .readability import flesch_reading_ease
from .segments import over_budget

BLAMING_DIR = Path(__file__).resolve().parent.parent / "safety" / "blaming"
ENGINE_IDS = ("common.first_words", "common.emergency", "common.language_offer", "common.no_match", "common.no_match_twice", "common.nav", "common.carry_on", "common.exit_done",
              "common.error", "common.clarify", "common.clarify_call",
              "common.words_yes", "common.words_no", "common.words_thanks", "common.thanks_reply", *RISK_MESSAGES.values())
# Said by the app itself during a live chat with a worker (bot/handoff.py).
APP_IDS = ("talk.likely_wait", "talk.joined", "talk.transferred", "talk.no_one_free", "talk.risk_alert")
# Placeholders the app fills itself (not from the directory): the language offer, a wait, a length limit.
APP_PARAMS = {"language", "number", "minutes", "max"}
# Placeholders whose service the engine names when it says the message ({service.phone}: a number to call).
SERVICE_PARAMS = {"service"}
# Twilio answers these itself (opt-out and opt-in): never a command word or an option label.
TWILIO_RESERVED = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "start", "unstop"}
MIN_READING_EASE = 60
MIN_WORDS_FOR_READING_EASE = 10  # Flesch scores of a handful of words swing wildly; shorter lines pass


def reachable(library: Library, start: str, with_commands: bool) -> set[str]:
    """Return the states reachable from `start` through options, `any`, and optionally global commands (and app entries)."""
    edges = {name: {o.go for o in s.options} | ({s.any} if s.any else set()) for name, s in library.states.items()}
    if with_commands:
        for name in edges:
            edges[name] |= {c.go for c in library.commands.values() if c.go}
    if with_commands:  # states the app enters itself (`entry: true`, the end of a live chat) are reached like commands
        for name, state in library.states.items():
            if state.entry:
                edges[start] = edges[start] | {name}
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in edges.get(todo.popleft(), ()):
            if nxt in library.states and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def blaming_phrases() -> dict[str, list[str]]:
    """Load the victim-blaming phrase lists, normalized, per language."""
    lists = (yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(BLAMING_DIR.glob("*.yaml")))
    return {data["language"]: [normalize(p) for p in data["phrases"]] for data in lists}


def opening(renderer: Renderer, lang: str) -> str:
    """The neutral line every text in `lang` opens with (the SMS channel's default)."""
    return renderer.message(Message("sms.opening"), lang)


def check_structure(library: Library) -> list[str]:
    """Check that every state is reachable and can reach the main menu through its own options."""
    problems = []
    from_start = reachable(library, START, with_commands=True)
    for name, state in library.states.items():
        if name not in from_start:
            problems.append(f"{state.where}: {name}: unreachable from {START}")
        if MENU not in reachable(library, name, with_commands=False):
            problems.append(f"{state.where}: {name}: cannot reach {MENU} through its own options")
    if "exit" not in library.commands:
        problems.append("commands.yaml: exit: missing, so there is no way to leave")
    return problems


def check_messages(library: Library, catalogs: Catalogs, services: dict[str, Service]) -> list[str]:
    """Check message ids, placeholders, services, words and SMS budgets in every language."""
    problems = []
    english = catalogs.messages["en"]
    used = library.message_ids()
    used.update({mid: "engine" for mid in ENGINE_IDS})
    if any(state.action == "handoff" for state in library.states.values()):  # the app will say these too
        used.update({mid: "bot/handoff.py" for mid in APP_IDS})
    used.update({f"topic.{t}": f"topic {t}" for t in library.topics})
    for mid, where in sorted(used.items()):
        if mid not in english:
            problems.append(f"{where}: {mid}: message id not in the English catalog")
    guarded = {s.msg: s.if_ for st in library.states.values() for s in st.say if s.if_}
    blaming = blaming_phrases()
    renderer = Renderer(catalogs, services)
    for lang, messages in catalogs.messages.items():
        phrases = blaming.get(lang, []) + (blaming["en"] if lang != "en" else [])
        for mid in sorted(messages):  # every message: each one is shown to someone, flow or not
            text = messages[mid]
            where = f"locales/{lang}: {mid}"
            fields = placeholders(text)
            if lang != "en" and set(fields) != set(placeholders(english.get(mid, ""))):
                problems.append(f"{where}: placeholders {sorted(fields)} differ from English")
            for name in fields:
                sid, _, attr = name.partition(".")
                service = services.get(sid)
                if service is None or attr not in FIELDS:
                    if name not in APP_PARAMS and not (sid in SERVICE_PARAMS and attr in FIELDS):
                        problems.append(f"{where}: {{{name}}} names no directory entry or field")
                    continue
                if not service.available:
                    if guarded.get(mid.removesuffix(".discreet")) != sid:
                        problems.append(f"{where}: {{{name}}}: {sid} is not verified or configured, "
                                        f"so the message must be shown only `if: {sid}`")
                    continue
                if getattr(service, attr) is None:
                    problems.append(f"{where}: {{{name}}}: {sid} has no {attr}")
                if attr == "hours" and "UNVERIFIED" in (service.hours or ""):
                    problems.append(f"{where}: {{{name}}}: these hours are unverified and must not be quoted")
            if re.search(r"\d{3}[ -]?\d{3,4}[ -]?\d{3,4}", re.sub(r"\{[^}]*\}", "", text)):
                problems.append(f"{where}: a phone number is typed into the text; use {{service.phone}}")
            words = f" {normalize(text)} "
            for phrase in phrases:
                if f" {phrase} " in words:
                    problems.append(f"{where}: victim-blaming words: {phrase!r}")
            if ".words_" in mid:
                for word in text.split("|"):
                    if normalize(word) in TWILIO_RESERVED:
                        problems.append(f"{where}: {word!r} is a Twilio opt-out/opt-in word")
                continue
            try:
                rendered = renderer.message(Message(mid), lang)
            except (KeyError, AttributeError, ValueError, IndexError):
                continue  # reported above, or a parameter the engine fills (language offer)
            too_long = over_budget(rendered, opening(renderer, lang))
            if too_long:
                problems.append(f"{where}: {too_long} when rendered")
            if lang == "en" and len(rendered.split()) >= MIN_WORDS_FOR_READING_EASE:
                ease = flesch_reading_ease(rendered)
                if ease < MIN_READING_EASE:
                    problems.append(f"{where}: Flesch reading ease {ease:.0f} (at least {MIN_READING_EASE}); "
                                    "use shorter sentences and words")
    for state in library.states.values():
        for option in state.options:
            label = normalize(english.get(option.label, ""))
            if label in TWILIO_RESERVED:
                problems.append(f"{state.where}: {state.name}.options.{option.id}: label {label!r} is a Twilio word")
    return problems


def check_catalogs(catalogs: Catalogs) -> list[str]:
    """Check every catalog against English: all translated, nothing fuzzy or stale, plural forms
    right for the language, each language's own name identical everywhere, a blaming list each."""
    problems = []
    english = catalogs.messages["en"]
    blaming = blaming_phrases()
    for lang in catalogs.languages:
        if english.get(f"language.name_{lang}") is None:
            problems.append(f"locales/en: language.name_{lang}: missing, so {lang} cannot be chosen by name")
        if lang not in blaming:
            problems.append(f"safety/blaming/{lang}.yaml: missing: every language needs its victim-blaming list")
        problems += _lexicon_problems(lang)
        if lang == "en":
            continue
        path = catalogs.locales_dir / lang / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        where = f"locales/{lang}"
        done = {_id(m): m for m in catalog if m.id and m.string and not m.fuzzy}
        for m in catalog:
            if m.id and m.fuzzy:
                problems.append(f"{where}: {_id(m)}: marked fuzzy: translate it and remove the flag")
        for mid in sorted(set(english) - set(done)):
            problems.append(f"{where}: {mid}: not translated")
        for mid in sorted(set(done) - set(english)):
            problems.append(f"{where}: {mid}: not in the English catalog (stale)")
        for mid in (m for m in done if m.startswith("language.name_")):
            if done[mid].string != english.get(mid):
                problems.append(f"{where}: {mid}: a language's own name is the same in every catalog")
        problems += _plural_problems(where, catalog, lang)
    return problems


def _lexicon_problems(lang: str) -> list[str]:
    """Check that a language has a lexicon for reading risks and topics, and that it compiles."""
    from safety.understand import LEXICONS, understand

    if not (LEXICONS / f"{lang}.yaml").exists():
        return [f"safety/lexicons/{lang}.yaml: missing: risks written in {lang} would go unnoticed"]
    try:
        understand("hello", lang)
    except ValueError as error:
        return [str(error)]
    return []


def _plural_problems(where: str, catalog, lang: str) -> list[str]:
    """Check the header's plural rule against CLDR's for the language, and every plural message's forms."""
    expected, expr = get_plural(lang)
    header = catalog.mime_headers
    rule = dict(header).get("Plural-Forms", "")
    found = re.fullmatch(r"\s*nplurals=(\d+);\s*plural=(.+?);?\s*", rule)
    if not found:
        return [f"{where}: the Plural-Forms header is missing or malformed: {rule!r}"]
    problems = []
    count = int(found.group(1))
    try:
        ours, theirs = gettext.c2py(found.group(2)), gettext.c2py(expr)
        if count != expected or any(ours(n) != theirs(n) for n in range(1000)):
            problems.append(f"{where}: Plural-Forms {rule!r} differs from CLDR's (nplurals={expected}; plural={expr})")
    except (ValueError, SyntaxError):
        problems.append(f"{where}: Plural-Forms {rule!r} is not a valid expression")
    for m in catalog:
        if m.pluralizable and m.id and (len(m.string) != count or not all(m.string)):
            problems.append(f"{where}: {_id(m)}: needs {count} plural forms")
    return problems


def _id(message) -> str:
    """A message's id; a plural message's is its singular."""
    return message.id if isinstance(message.id, str) else message.id[0]


def check_budgets(runtime) -> list[str]:
    """Check that every state's whole reply, as a text message shows it, fits the SMS budget."""
    problems = []
    for lang in runtime.catalogs.languages:
        first_line = opening(runtime.renderer, lang)

        def cost(turn: Turn) -> str | None:
            return over_budget(runtime.renderer.turn(turn).as_text(), first_line)

        for name, state in runtime.library.states.items():
            too_long = cost(runtime.engine.enter(Conversation(key="check", channel="check", lang=lang), name))
            if too_long:
                problems.append(f"{state.where}: {name} [{lang}]: the reply costs {too_long}: split it into steps")
        for risk, msg in RISK_MESSAGES.items():
            too_long = cost(Turn(Conversation(key="check", channel="check", lang=lang),
                                 (Message(msg), Message("common.carry_on"))))
            if too_long:
                problems.append(f"locales/{lang}: {msg}: the {risk} interrupt costs {too_long}")
            # A new person's first message at risk, in this language: the interrupt, how to leave, the
            # safety question and its choices, and (answered in a language they wrote in) English offered back.
            too_long = cost(runtime.engine.first_reply(Conversation(key="check", channel="check"),
                                                       Understanding(frozenset({risk}), (), lang)))
            if too_long:
                problems.append(f"locales/{lang}: {msg}: a new person's first reply at this risk costs {too_long}")
    return problems


def check_all(runtime) -> list[str]:
    """Run every check and return the problems found (empty when the library is sound)."""
    return (check_structure(runtime.library) + check_catalogs(runtime.catalogs)
            + check_messages(runtime.library, runtime.catalogs, runtime.services) + check_budgets(runtime))
