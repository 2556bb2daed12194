"""The engine: one shared `transitions` machine for the whole flow library, and a pure `step`."""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Callable

from rapidfuzz import fuzz
from transitions import Machine

from .library import MENU, START, Library, Option, State

logging.getLogger("transitions").setLevel(logging.WARNING)  # it narrates every state change at INFO

HISTORY = 10
FUZZY_CUTOFF = 80  # rapidfuzz score (0-100) an answer must reach to count as an option's words
FUZZY_MARGIN = 8  # and how far ahead of the next option it must be, so a guess is never a coin toss
MISSES_BEFORE_HELP = 2
NUMBER = re.compile(r"\s*(\d{1,3})\s*[.)]?\s*")  # "2", " 2 ", "2." and "2)" all mean option 2
PHONE_OF = re.compile(r"\{(\w+)\.phone\}")  # a service's number in a message: {ndah.phone}
RISK_MESSAGES = {
    "danger_now": "common.risk_danger_now",
    "self_harm": "common.risk_self_harm",
    "child_at_risk": "common.risk_child",
    "recent_sexual_assault": "common.risk_recent_sexual_assault",
}


@dataclass
class Conversation:
    """The small record that is all Waymark keeps of a conversation: no text, no address."""

    key: str
    channel: str
    state: str | None = None
    lang: str = "en"
    history: tuple[str, ...] = ()
    misses: int = 0
    risk: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    discreet: bool = False
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Message:
    id: str
    params: tuple[tuple[str, object], ...] = ()
    lang: str | None = None  # said in this language rather than the conversation's (a language offer)


@dataclass(frozen=True)
class Turn:
    """What one step returns: the new record, the messages to say and the options to offer."""

    conversation: Conversation
    messages: tuple[Message, ...]
    options: tuple[Option, ...] = ()
    ended: bool = False
    action: str | None = None  # the entered state's `action:`, for the app to carry out
    captured: tuple[tuple[str, str], ...] = ()  # (name, answer) from a state's `capture:`
    nav: bool = True  # end with the BACK, MENU, EXIT line when there are choices


@dataclass(frozen=True)
class Understanding:
    """What the safety layer understood of free text: risks to interrupt for, topics to route to."""

    risks: frozenset[str] = frozenset()
    topics: tuple[str, ...] = ()  # () nothing; (topic,) confident; 2-3 topics: ask which
    language: str | None = None  # the language the text is clearly written in, when known


def _nothing_understood(text: str, lang: str) -> Understanding:
    return Understanding()


def normalize(text: str) -> str:
    """Casefold, drop Latin accents and punctuation, and squeeze spaces, keeping other scripts whole."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("'", "").replace("\u2019", ""))
    out = []
    for ch in text:
        kind = unicodedata.category(ch)[0]
        if kind == "M" and out and out[-1].isascii():
            continue  # an accent on a Latin letter; marks in other scripts (Tamil vowel signs) carry meaning
        out.append(ch if kind in "LNM" else " ")
    return unicodedata.normalize("NFC", re.sub(r"\s+", " ", "".join(out)).strip())


def word_list(text: str) -> list[str]:
    """The normalized words or phrases of a catalog list ("yes|yeah|yes please")."""
    return [w for w in map(normalize, text.split("|")) if w]


def score(words: str, label: str) -> float:
    """Score how well an answer matches a label (0-100): typos by edit distance, extra words by token sets.

    Token sets count only when the label's words all appear in the answer ("no they can't" for "No"),
    or the answer is real words inside the label, a single word only where the label opens with it
    ("yes" for "Yes, they might", but not "what" for "Understand what is happening"); never a few
    letters inside another word ("no" inside "know"), which is where partial matching goes wrong.
    """
    result = fuzz.ratio(words, label)
    said, offered = set(words.split()), set(label.split())
    inside = said <= offered and len(words) >= 3 and (len(said) > 1 or label.startswith(words + " "))
    if offered <= said or inside:
        result = max(result, fuzz.token_set_ratio(words, label))
    return result


class Engine:
    """Drive every conversation through one Machine built once from the flow library."""

    def __init__(self, library: Library, texts: Callable[[str, str], str], languages: list[str],
                 available: set[str], understand: Callable[[str, str], Understanding] = _nothing_understood):
        self.library = library
        self.available = available
        # Conditions that change over time (opening hours), read when a state is shown: name -> callable.
        self.conditions: dict[str, Callable[[], bool]] = {}
        self.understand = understand
        self.machine = Machine(model=None, states=list(library.states), initial=None,
                               auto_transitions=False, send_event=False)
        for state in library.states.values():
            for option in state.options:
                self.machine.add_transition(f"opt_{option.id}", state.name, option.go)
            if state.any:
                self.machine.add_transition("any", state.name, state.any)
        for command in library.commands.values():
            if command.go:
                self.machine.add_transition(f"cmd_{command.name}", "*", command.go)
        # Words are matched in the conversation's language and in English, normalized once here;
        # the exit words of every language work in every conversation.
        self.languages = languages
        self.command_words: dict[str, dict[str, str]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.answers: dict[str, dict[str, str]] = {}
        for lang in languages:
            words = {}
            for command in library.commands.values():
                sources = {texts(command.words, "en"), texts(command.words, lang)}
                if command.name == "exit":
                    sources |= {texts(command.words, other) for other in languages}
                words.update(dict.fromkeys((w for source in sources for w in word_list(source)), command.name))
            self.command_words[lang] = words
            label_ids = {o.label for s in library.states.values() for o in s.options}
            label_ids |= {f"topic.{t}" for t in library.topics}
            self.labels[lang] = {label: normalize(texts(label, lang)) for label in label_ids}
            # "yeah", "nope", "nah", "thanks": yes, no and thank you said any way, in the language or in
            # English (its own words win)
            self.answers[lang] = {w: kind for kind in ("no", "yes", "thanks") for source in ("en", lang)
                                  for w in word_list(texts(f"common.words_{kind}", source))}
        # Each language's own name (`language.name_<code>`, the same in every catalog) switches to it.
        self.names = {code: texts(f"language.name_{code}", "en") for code in languages}
        self.by_name = {normalize(name): code for code, name in self.names.items()}
        # The services whose numbers each topic's page always gives, in order (not 999, said on every first reply).
        self.numbers = {topic: [s for say in library.states[state].say if not (say.if_ or say.unless)
                                for s in PHONE_OF.findall(texts(say.msg, "en")) if s in available and s != "emergency_999"]
                        for topic, state in library.topics.items()}

    # -- the pure step ------------------------------------------------------------------------

    def start(self, conv: Conversation) -> Turn:
        """Begin a conversation at the welcome."""
        return self.enter(replace(conv, history=(), misses=0), START)

    def enter(self, conv: Conversation, name: str) -> Turn:
        """Show a state as if the person had just arrived there."""
        return self._enter(conv, name, push=False)

    def switch(self, conv: Conversation, lang: str) -> Turn:
        """Change the conversation's language and show where the person is again, in it.

        Showing a state again is not entering it: its action (asking for a worker) is not repeated.
        """
        conv = replace(conv, lang=lang)
        if conv.state not in self.library.states:
            return self.start(conv)
        return replace(self.enter(conv, conv.state), action=None)

    def read(self, text: str, lang: str) -> Understanding:
        """Understand free text in the conversation's language, or in the language it is clearly written in."""
        understood = self.understand(text, lang)
        if understood.language in self.languages and understood.language != lang:
            # Read again with that language's lexicon; a risk the first reading found still stands
            again = self.understand(text, understood.language)
            return replace(again, risks=again.risks | understood.risks)
        return understood

    def step(self, conv: Conversation, text: str) -> Turn:
        """Return the next record and replies for one message; do no I/O."""
        if conv.state not in self.library.states:
            return self._first(conv, text)
        words = normalize(text)
        command = self.command(words, conv.lang)
        if command == "exit":
            return Turn(conv, (Message("common.exit_done"),), ended=True)
        state = self.library.states[conv.state]
        named = self.by_name.get(words)
        if named and not any(dict(o.set).get("lang") == named for o in self._options(state)):
            return self.switch(conv, named)
        # A command or a bare number is a choice, not words to read for risk or topic.
        understood = Understanding() if command or NUMBER.fullmatch(text) else self.read(text, conv.lang)
        turn = self._answer(conv, state, text, command, understood)
        return self._offer(turn, understood.language)

    def _answer(self, conv: Conversation, state: State, text: str, command: str | None,
                understood: Understanding) -> Turn:
        if understood.risks:
            if not self._chose_help_for(state, text, conv.lang, understood.risks):
                return self._interrupt(conv, understood, understood.language)
            conv = replace(conv, risk=tuple(sorted(set(conv.risk) | understood.risks)))  # still flagged for the queue
        if command == "back":
            target = conv.history[-1] if conv.history else MENU
            return self._enter(replace(conv, history=conv.history[:-1]), target, push=False)
        if command:
            return self._trigger(conv, f"cmd_{command}")
        if conv.pending:
            option = self.match_option(self._topic_options(conv.pending), text, conv.lang)
            if option:
                return self._enter(conv, option.go, push=True, previous=conv.state)
        option = self.match_option(self._options(state), text, conv.lang)
        if option:
            conv = replace(conv, **dict(option.set))
            turn = self._trigger(conv, f"opt_{option.id}")
            return replace(turn, captured=((state.capture, option.id),)) if state.capture else turn
        if state.any == START:  # starting again: read the message as a first message
            return self._first(replace(conv, history=()), text)
        if state.any:
            turn = self._trigger(conv, "any")
            return replace(turn, captured=((state.capture, text),)) if state.capture else turn
        if not understood.topics and self.answer(normalize(text), conv.lang) == "thanks":
            return Turn(replace(conv, misses=0), (Message("common.thanks_reply"),), self.offered(conv))
        return self._route_or_reprompt(conv, state, understood.topics)

    def _chose_help_for(self, state: State, text: str, lang: str, risks: frozenset[str]) -> bool:
        """Say whether the words pick an option that leads where a risk would ("I'm in danger now"):
        then the option is taken, and its flow gives the emergency information."""
        option = self.match_option(self._options(state), text, lang)
        return bool(option) and option.go in {self.library.topics.get(r) for r in risks}

    def _first(self, conv: Conversation, text: str) -> Turn:
        """Answer a new person's first message: danger first, their topic if it is clear, else the welcome.

        Someone who opens with what is happening gets the right number at once, after one line on how
        to leave and the emergency route; everyone else gets the welcome and its safety check.
        """
        words = normalize(text)
        named = self.by_name.get(words)
        if named:
            return self.switch(conv, named)
        if self.command(words, conv.lang) == "language":  # "i dont speak english": the languages we speak
            turn = self._trigger(self.start(conv).conversation, "cmd_language")
            return replace(turn, messages=(Message("common.first_words"), Message("common.emergency"), *turn.messages))
        return self.first_reply(conv, self.read(text, conv.lang) if words else Understanding())

    def first_reply(self, conv: Conversation, understood: Understanding) -> Turn:
        """Answer what was understood of a new person's first message, in the language it was written in
        when we speak it (offering the usual one back). `waymark flows check` measures these replies too."""
        lang = understood.language if understood.language in self.languages else conv.lang
        turn = self._opening(replace(conv, lang=lang), understood)
        if lang != conv.lang:
            turn = replace(turn, messages=(*turn.messages, self.offer(conv.lang)))
        return turn

    def _opening(self, conv: Conversation, understood: Understanding) -> Turn:
        welcome = self.start(conv)
        if understood.risks:
            interrupt = self._interrupt(welcome.conversation, understood)
            ask = self.library.states[START].ask
            # The emergency first; the line on how to leave already names EXIT, so no navigation line.
            return Turn(interrupt.conversation,
                        (*interrupt.messages[:-1], Message("common.first_words"), Message(ask)), welcome.options,
                        nav=False)
        routed = self._route_or_reprompt(welcome.conversation, self.library.states[START], understood.topics)
        if routed.messages[0].id in ("common.no_match", "common.no_match_twice"):
            return welcome
        first = (Message("common.first_words"), Message("common.emergency"))
        return Turn(routed.conversation, first + routed.messages, routed.options)

    def answer(self, words: str, lang: str) -> str | None:
        """Return "yes", "no" or "thanks" when a normalized message is one of those said any way."""
        return self.answers.get(lang, self.answers["en"]).get(words)

    def command(self, words: str, lang: str) -> str | None:
        """Return the global command a normalized message is, in its language or English, if any."""
        return self.command_words.get(lang, self.command_words["en"]).get(words)

    def match_option(self, options: tuple[Option, ...], text: str, lang: str) -> Option | None:
        """Find the option a person meant: its number, or its words forgiving case, accents and typos."""
        number = NUMBER.fullmatch(text)
        if number:
            n = int(number.group(1))
            return options[n - 1] if 1 <= n <= len(options) else None
        words = normalize(text)
        if not options or not words:
            return None
        labels = self.labels.get(lang, self.labels["en"])
        choices = {}
        for option in options:
            for text in {labels.get(option.label), self.labels["en"].get(option.label)}:
                if text == words:
                    return option
                if text:
                    choices[text] = option
        kind = self.answer(words, lang)
        meant = [o for o in options if kind and o.answer == kind]
        if len(meant) == 1:  # "no" to "Is it safe to talk? 1 Yes, it's safe 2 Not now"
            return meant[0]
        ranked = sorted(((score(words, text), text) for text in choices), reverse=True)
        best = [r for r in ranked if r[0] >= FUZZY_CUTOFF]
        if not best:
            return None
        runner_up = next((r[0] for r in ranked if choices[r[1]] is not choices[best[0][1]]), 0)
        return choices[best[0][1]] if best[0][0] - runner_up >= FUZZY_MARGIN else None

    # -- helpers --------------------------------------------------------------------------------

    def _trigger(self, conv: Conversation, event: str) -> Turn:
        previous = conv.state
        cursor = _Cursor(previous)
        self.machine.events[event].trigger(cursor)
        return self._enter(conv, cursor.state, push=True, previous=previous)

    def _enter(self, conv: Conversation, name: str, push: bool, previous: str | None = None) -> Turn:
        state = self.library.states[name]
        history = conv.history
        if push and previous and previous != name:
            history = (history + (previous,))[-HISTORY:]
        topics = conv.topics
        tag = state.topic or state.flow
        if tag not in {"welcome", "main", "help", "language"} and tag not in topics:
            topics = topics + (tag,)
        conv = replace(conv, state=name, history=history, misses=0, topics=topics, pending=())
        messages = [Message(s.msg) for s in state.say if self._shown(s)]
        if state.ask:
            messages.append(Message(state.ask))
        return Turn(conv, tuple(messages), self._options(state), action=state.action)

    def holds(self, flag: str) -> bool:
        """Say whether a service is available or a condition (like opening hours) holds now."""
        if flag in self.available:
            return True
        condition = self.conditions.get(flag)
        return bool(condition and condition())

    def _shown(self, say) -> bool:
        """Say whether a `say` item or an option is shown, by its `if` and `unless`."""
        if say.if_ and not self.holds(say.if_):
            return False
        return not (say.unless and self.holds(say.unless))

    def _options(self, state: State) -> tuple[Option, ...]:
        return tuple(o for o in state.options if self._shown(o))

    def _interrupt(self, conv: Conversation, understood: Understanding, lang: str | None = None) -> Turn:
        """Put emergency information first, then say the person can carry on where they were.

        Of several risks, the likeliest (the topic the reading routes to) is said first. The state
        stays as it was, so the choices offered last turn still work; they are not repeated, to keep
        the emergency information short enough to read at once. It is said in the language the
        person wrote in when that is not the conversation's.
        """
        risks = understood.risks
        conv = replace(conv, risk=tuple(sorted(set(conv.risk) | risks)), misses=0)
        lang = lang if lang in self.languages else None
        likeliest_first = sorted(risks, key=lambda r: (r not in understood.topics[:1], r))
        messages = [Message(RISK_MESSAGES[r], lang=lang) for r in likeliest_first if r in RISK_MESSAGES]
        return Turn(conv, (*messages, Message("common.carry_on", lang=lang)))

    def _offer(self, turn: Turn, lang: str | None) -> Turn:
        """Offer, in their language, to carry on in the language a person is writing in."""
        if lang not in self.languages or lang == turn.conversation.lang or turn.ended:
            return turn
        return replace(turn, messages=(*turn.messages, self.offer(lang)))

    def offer(self, lang: str) -> Message:
        """The line that offers a language, said in it."""
        return Message("common.language_offer", (("language", self.names[lang]),), lang=lang)

    def offered(self, conv: Conversation) -> tuple[Option, ...]:
        """Return the choices on offer now: the topics being clarified, else the state's own options."""
        if conv.pending:
            return self._topic_options(conv.pending)
        state = self.library.states.get(conv.state)
        return self._options(state) if state else ()

    def _topic_options(self, topics: tuple[str, ...]) -> tuple[Option, ...]:
        """Offer topics as choices, each labelled by its `topic.<name>` message."""
        return tuple(Option(f"topic_{t}", f"topic.{t}", self.library.topics[t]) for t in topics)

    def _route_or_reprompt(self, conv: Conversation, state: State, topics: tuple[str, ...]) -> Turn:
        known = tuple(t for t in topics if t in self.library.topics)
        if len(known) == 1:
            return self._enter(conv, self.library.topics[known[0]], push=True, previous=conv.state)
        if len(known) > 1:
            conv = replace(conv, pending=known[:3])
            return Turn(conv, (*self._number_meanwhile(conv.pending), Message("common.clarify")),
                        self._topic_options(conv.pending))
        misses = conv.misses + 1
        conv = replace(conv, misses=misses, pending=())
        first = "common.no_match_twice" if misses >= MISSES_BEFORE_HELP else "common.no_match"
        messages = [Message(first)] + ([Message(state.ask)] if state.ask else [])
        return Turn(conv, tuple(messages), self._options(state))

    def _number_meanwhile(self, topics: tuple[str, ...]) -> tuple[Message, ...]:
        """A number to call while choosing: the first one every choice's page gives, else the first choice's."""
        first = next((self.numbers[t] for t in topics if self.numbers[t]), [])
        shared = [s for s in first if all(s in self.numbers[t] for t in topics)] or first
        return (Message("common.clarify_call", (("service", "@" + shared[0]),)),) if shared else ()


class _Cursor:
    """A throwaway model: the shared Machine reads and writes its `state` for one trigger."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


