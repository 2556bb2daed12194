"""Understand one free-text message: risk interrupts, likely topics, and its language.

Everything a language needs is data in `safety/lexicons/<code>.yaml` (its header documents the
pattern syntax). The lexicons of the conversation's language and of English are always applied
together, because people mix languages. Files are read once, on first use, and cached; a call
does no I/O and keeps no state, so the engine can call it on every turn.

The engine routes with `decide(understand(text, lang))`: one confident topic goes straight to
its flow, two or three plausible ones get a clarifying question. Thresholds are constants here.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from rapidfuzz import process
from rapidfuzz.distance import OSA

from . import learned

RISKS = ("danger_now", "self_harm", "child_at_risk", "recent_sexual_assault")
TOPICS = (
    "danger_now", "self_harm", "domestic_abuse", "coercive_control", "physical_abuse",
    "sexual_violence", "recent_sexual_assault", "emotional_abuse", "economic_abuse",
    "online_abuse", "stalking", "harmful_practices", "forced_marriage", "fgm", "child_to_parent",
    "sexual_exploitation", "healthy_relationship", "housing", "children_affected",
    "child_at_risk", "men", "lgbt", "deaf_disabled", "migrant", "older_people",
    "substance_mental_health", "recovery", "legal_clares_law", "nights_out", "young_people",
    "image_sharing_young", "someone_else", "professional", "own_behaviour", "safety_planning",
    "tech_safety", "talk_to_person",
)

CONFIDENT = 0.6   # a top score at least this high, with MARGIN over the next, routes straight
MARGIN = 0.2      # how far the top topic must lead the second to skip the clarifying question
PLAUSIBLE = 0.3   # topics below this are not reported at all
STRONG = 0.75     # what one strong lexicon match adds (scores combine as 1 - prod(1 - w))
WEAK = 0.35       # what one weak match adds: plausible alone, confident only with three
DEMOTE = 0.6      # factor on a topic when a higher-ranked topic is confident
ENGLISH_SHARE = 0.6  # Latin-script text with this share of known English words is English
LANGUAGE_CONFIDENCE = 0.7  # lingua's confidence needed to name any other language
LANGUAGE_MARGIN = 0.2  # and its lead over the next most likely language
MIXED_SCRIPT = 0.1  # share of letters in Hangul, Tamil or Arabic script that decides the script
EVERYDAY_SHARE = 0.4  # share of a Latin-script message's words that are one language's everyday words
EVERYDAY_SHARE_UNPLACED = 0.25  # the same, for Latin or Arabic script the detector cannot place
# Letters that only one of the languages we expect uses, so a single one settles the question.
DISTINCTIVE = {"pl": "łńśźżćŁŃŚŹŻĆ", "ro": "ăşţșțĂŞŢȘȚ", "pt": "ãõÃÕ"}
# In Arabic script: letters Urdu writes and Arabic and Persian do not; and letters Arabic writes where Urdu and
# Persian write others (ة, and ي ى ك for their ی ک), which name Arabic when no Urdu or Persian letter is there
URDU_LETTERS = "ٹڈڑںےۓ"
ARABIC_LETTERS, PERSIAN_URDU_LETTERS = "ةيىك", URDU_LETTERS + "یکگپچژ"
NEAR_WINDOW = 10  # default span, in words, of a co-occurrence rule (a pattern that is a list)
MAX_CHARS = 20_000  # longer messages are read as their first 16,000 and last 4,000 characters

LEXICONS = Path(__file__).with_name("lexicons")
GAPS = {"..": 3, "...": 8}
APOSTROPHES = learned.APOSTROPHES
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
TOKEN = learned.WORD  # words, with the combining marks that Arabic, Indic and Tamil words are made of
NOT_ARABIC = re.compile(r"[^\u0600-\u06ff\u0750-\u077f\ufb50-\ufeff\s]+")
DIGITS_LETTERS = re.compile(r"^(\d+)([a-z]+)$")
LATIN_TOKEN = re.compile(r"[a-z0-9]+")
# Arabizi writes the Arabic letters Latin has none for as digits followed by more letters (3andi, wa7ed, el7a2ooni);
# English text-speak and times do that too, so these are not counted.
ARABIZI = re.compile(r"[a-z]*[23579][a-z][a-z0-9]*")
NOT_ARABIZI = re.compile(r"\d+(st|nd|rd|th|am|pm|s|k|x|h|hr|hrs|min|mins|yr|yrs|yo|kg|mg|ml|gb|mb|ft|cm|km|mph|p|ish)"
                         r"|2day|2moro|2morrow|2nite|2night|2gether|2go|2b")
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")  # KT1 2EE: its second half looks like Arabizi
LANG_CODE = re.compile(r"[a-z]{2,3}")
SAFE_LOADER = learned.SAFE_LOADER


@dataclass(frozen=True)
class Understanding:
    """What one message says: risks to interrupt for, topics to route to, its language."""

    risks: frozenset[str]                   # subset of RISKS; err towards safety
    topics: tuple[tuple[str, float], ...]   # (topic, score 0..1), best first, plausible only
    language: str | None                    # ISO 639-1 code when confidently detected


def understand(text: str, lang: str = "en") -> Understanding:
    """Return the risks, plausible topics and detected language of one message."""
    return analyse(text, lang)


def decide(u: Understanding) -> tuple[str, ...]:
    """Return () for nothing, (topic,) to route straight there, or 2-3 topics to ask about."""
    plausible = [t for t in u.topics if t[1] >= PLAUSIBLE]
    if not plausible:
        return ()
    if len(plausible) == 1 or (
        plausible[0][1] >= CONFIDENT and plausible[0][1] - plausible[1][1] >= MARGIN
    ):
        return (plausible[0][0],)
    return tuple(t for t, _ in plausible[:3])


def analyse(text: str, lang: str = "en", fuzzy: bool = True, use_model: bool = True) -> Understanding:
    """Understand a message; typo correction and the learned model can be switched off for the bench."""
    text = text if isinstance(text, str) else ""
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS * 4 // 5] + " " + text[-MAX_CHARS // 5:]
    bundle = _bundle(lang if isinstance(lang, str) and LANG_CODE.fullmatch(lang) else "en")
    matched = bundle.match(bundle.words(text, fuzzy))
    risks = bundle.risks(matched)
    language = detect_language(text)
    # The model of the language it is written in, else of the conversation's (Tanglish reads as Dutch to the detector)
    own = learned.model(lang) if use_model else None
    model = (language and learned.model(language) or own) if use_model else None
    likeliest, scores = model.read(text, risks) if model is not None else (tuple(risks), None)
    if own is not None and lang != "en" and language == "en":
        # In a conversation in another language, a few words the detector calls English ("a venit. e la usa",
        # "help pls e la usa") are read by that language's model too: a risk either model finds stands
        likeliest += tuple(r for r in own.read(text, risks)[0] if r not in likeliest)
    likeliest += tuple(sorted(r for kind, r in matched if kind == "sure" and r not in likeliest))  # never vetoed
    risks = frozenset(likeliest) | _unplaced_risks(text, lang, language, fuzzy)
    asked = {code for kind, code in matched if kind == "asks"}
    if len(asked) == 1 and not risks:
        language = asked.pop()  # "do you speak polish": the language to offer is the one asked for
    if scores is None:  # no model, or nothing it can say: the lexicon's reading stands
        return Understanding(risks, bundle.score(matched, risks), language)
    # A risk's own topic comes first, as the labels say; of two risks, the likelier one's, with no question
    ranked = dict(scores) | dict.fromkeys(likeliest, 0.5) | dict.fromkeys(likeliest[:1], 1.0)
    return Understanding(risks, tuple(sorted(ranked.items(), key=lambda ts: -ts[1])), language)


def _unplaced_risks(text: str, lang: str, language: str | None, fuzzy: bool) -> frozenset[str]:
    """Read text placed in none of our languages (too short to tell, or a language we have no lexicon for)
    with every other lexicon's risk patterns too: three words of panic in Romanian or Tanglish, sent before
    the conversation is in that language, are still a risk (the README has what it catches and costs)."""
    if language in _codes():
        return frozenset()
    words = [w for w in _bundle("en").words(text, fuzzy=False) if w.isalpha()]
    if words and all(map(_english, words)):
        return frozenset()  # "hello", "ok thanks": English words, too few to place, already read in English
    found: set[str] = set()
    for code in _codes():
        if code != lang:
            other = _bundle(code)
            found |= other.risks(other.match(other.words(text, fuzzy)))
    return frozenset(found)


def detect_language(text: str) -> str | None:
    """Return the ISO 639-1 code of the text's language when it is clear, else None."""
    if not isinstance(text, str):
        return None
    text = CONTROL.sub(" ", text[:2000])
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return None
    scripts = {"hangul": 0, "tamil": 0, "arabic": 0, "latin": 0}
    for c in letters:
        o = ord(c)
        if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
            scripts["hangul"] += 1
        elif 0x0B80 <= o <= 0x0BFF:
            scripts["tamil"] += 1
        elif 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0xFB50 <= o <= 0xFEFF:
            scripts["arabic"] += 1
        elif o < 0x0250:
            scripts["latin"] += 1
    script, count = max(scripts.items(), key=lambda kv: kv[1])
    if count * 2 <= len(letters):
        script = "other"
    # English words in another script ("council-கிட்ட homeless-னு apply பண்ணனும்") do not make it English
    own, many = max(((s, n) for s, n in scripts.items() if s != "latin"), key=lambda kv: kv[1])
    if many >= MIXED_SCRIPT * len(letters):
        script = own
        if own == "arabic":  # Arabic, Urdu and Persian share it: let the detector read that part alone
            text = NOT_ARABIC.sub(" ", text)
    if script == "hangul":
        return "ko"
    if script == "tamil":
        return "ta"
    if script not in ("latin", "arabic"):
        return _by_detector(text)
    if script == "arabic":
        if any(c in URDU_LETTERS for c in text):
            return "ur"
        if any(c in ARABIC_LETTERS for c in text) and not any(c in PERSIAN_URDU_LETTERS for c in text):
            return "ar"  # "انا خايفة منه", which the detector places as Urdu
    words = [w for w in _bundle("en").words(text, fuzzy=False) if w.isalpha()]
    if script == "latin":
        tokens = LATIN_TOKEN.findall(POSTCODE.sub(" ", text).lower())
        arabizi = sum(bool(ARABIZI.fullmatch(t)) and not NOT_ARABIZI.fullmatch(t) for t in tokens)
        if arabizi >= 2 or (arabizi and len(tokens) >= 2 and 3 * arabizi >= len(tokens)):
            return "ar"
        if len(words) >= 2 and sum(map(_english, words)) >= ENGLISH_SHARE * len(words):
            return "en"
        marked = {code for code, marks in DISTINCTIVE.items() if any(c in marks for c in text)}
        if len(marked) == 1:
            return marked.pop()
        if len(letters) < 10 or len(words) < 2:
            return None  # a word or two of Latin letters could be almost any language
        everyday = _by_everyday_words(words, EVERYDAY_SHARE)
        if everyday:
            return everyday
    named = _by_detector(text)
    if named is None and len(words) >= 2:
        # The detector cannot say ("بدي موت", much Tanglish): a fair share of one language's everyday words can.
        return _by_everyday_words(words, EVERYDAY_SHARE_UNPLACED)
    return named


def _by_detector(text: str) -> str | None:
    values = _detector().compute_language_confidence_values(text)
    if not values or values[0].value < LANGUAGE_CONFIDENCE:
        return None
    if len(values) > 1 and values[0].value - values[1].value < LANGUAGE_MARGIN:
        return None
    return values[0].language.iso_code_639_1.name.lower()


def _by_everyday_words(words: list[str], share: float) -> str | None:
    """Name the language whose everyday words (its lexicon's `common_words` and `normalise` keys in
    Latin letters, and the words its learned model knows that English does not) make up `share` of a
    message or more, when one clearly leads. This places Roman Urdu, Tanglish and Arabizi, which the
    detector takes for Polish, Dutch or Somali, and short Arabic-script messages it cannot place."""
    shares = sorted(((sum(w in everyday for w in words) / len(words), code)
                     for code, everyday in _everyday().items()), reverse=True)
    if shares and shares[0][0] >= share and (len(shares) == 1 or shares[0][0] - shares[1][0] >= LANGUAGE_MARGIN):
        return shares[0][1]
    return None


@lru_cache(maxsize=1)
def _everyday() -> dict[str, frozenset[str]]:
    out, english = {}, learned.model("en")
    for code in _codes():
        if code == "en":
            continue
        lex = _load(code)
        common = lex.get("common_words") or ""
        words = (common.split() if isinstance(common, str) else list(map(str, common))) + list(map(str, lex.get("normalise") or {}))
        everyday = {w for w in map(_fold, words) if w.isascii() and w.isalpha()}
        model = learned.model(code)
        if model is not None:  # the words its model learned; in Latin letters, only those English does not use
            everyday |= {w for w in map(_fold, model.index[1]) if w.isalpha() and len(w) > 1 and not (
                w.isascii() and ((english and w in english.index[1]) or _english(w)))}
        out[code] = frozenset(everyday)
    return out


def _english(word: str) -> bool:
    en = _bundle("en")
    return word in en.known or any(word[:n] in en.prefix for n in en.prefix_lengths)


@lru_cache(maxsize=1)
def _detector():
    from lingua import Language, LanguageDetectorBuilder

    # The languages people in Kingston are most likely to write in, so that a message in one
    # we do not support yet is not mistaken for its nearest neighbour that we do.
    names = (
        "ENGLISH POLISH ROMANIAN PORTUGUESE ARABIC URDU KOREAN TAMIL SPANISH FRENCH ITALIAN "
        "GERMAN DUTCH TURKISH SOMALI PERSIAN HINDI BENGALI CHINESE RUSSIAN UKRAINIAN ALBANIAN "
        "BULGARIAN LITHUANIAN PUNJABI GUJARATI"
    )
    languages = [getattr(Language, n) for n in names.split() if hasattr(Language, n)]
    # Low accuracy mode (trigram models only) takes about 50 MB instead of 600 MB for these
    # languages; it is unreliable on short Latin text, which detect_language answers without it.
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )


def warm(languages) -> None:
    """Read what the first messages would otherwise wait for: lexicons, models, everyday words, the detector."""
    for lang in languages:
        _bundle(lang)
        learned.model(lang)
    _everyday()
    _detector()


def reload() -> None:
    """Forget every lexicon read so far, so the next call reads the files again."""
    for cached in (_codes, _load, _bundle, _everyday):
        cached.cache_clear()
    learned.reload()


@lru_cache(maxsize=None)
def _regex(pattern: str) -> re.Pattern:
    """Compile a pattern once a process: every bundle holds the English patterns too (re's own cache is too small)."""
    return re.compile(pattern)


@lru_cache(maxsize=1)
def _codes() -> tuple[str, ...]:
    """The languages that have a lexicon file, listed once (reload() forgets them)."""
    return tuple(sorted(path.stem for path in LEXICONS.glob("*.yaml")))


@lru_cache(maxsize=16)
def _bundle(lang: str) -> Bundle:
    codes = ["en"] if lang == "en" else ["en", lang]
    return Bundle([_load(c) for c in codes if (LEXICONS / f"{c}.yaml").exists()])


@lru_cache(maxsize=16)
def _load(code: str) -> dict:
    """Read and check one language's lexicon file (once; callers must not change it)."""
    path = LEXICONS / f"{code}.yaml"
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"{path}: must be a mapping starting with `version: 1`")
    for section, known in (("risks", RISKS), ("topics", TOPICS)):
        for key, spec in (data.get(section) or {}).items():
            if key not in known:
                raise ValueError(f"{path}: {section}.{key}: not one of {', '.join(known)}")
            if not isinstance(spec, dict):
                raise ValueError(f"{path}: {section}.{key}: must be a mapping")
    data["_path"] = str(path)
    return data


class Bundle:
    """The compiled lexicons of one or more languages, applied together."""

    def __init__(self, lexicons: list[dict]):
        self.symbols: dict[str, str] = {}
        self.normalise: dict[str, list[str]] = {}
        self.rank: dict[str, int] = {}
        self.guards: dict[str, list[str]] = {}
        self.patterns: list[tuple[re.Pattern | tuple, tuple[str, str], float]] = []
        self.sources: list[str] = []  # each pattern as written, for error messages and debugging
        self.exact: dict[str, set[int]] = {}
        self.prefix: dict[str, set[int]] = {}
        self.always: set[int] = set()
        self.vocab: set[str] = set()
        self.risk_vocab: set[str] = set()
        known: set[str] = set()
        ignore: list[str] = []
        for lex in lexicons:
            where = lex["_path"]
            self.symbols.update(lex.get("symbols") or {})
            for key, value in (lex.get("normalise") or {}).items():
                key, value = _fold(str(key)), _fold(str(value)).split()
                self.normalise[key] = value
                known.add(key)
                known.update(value)
            compiler = Compiler(lex.get("words") or {}, where)
            self.window = int(lex.get("near_window", NEAR_WINDOW))
            for phrase in lex.get("ignore") or []:
                ignore.append(compiler.compile(phrase)[0])
            for risk, spec in (lex.get("risks") or {}).items():
                for p in spec.get("patterns") or []:
                    self._add(compiler, p, ("risk", risk), 0.0)
                for p in spec.get("sure") or []:
                    self._add(compiler, p, ("sure", risk), 0.0)
                # Each guard is maybe / unless / urgent: a maybe match flags the risk unless an
                # unless pattern of the same guard matches, and an urgent one overrides that.
                guards = [spec] + list(spec.get("guarded") or [])
                for n, guard in enumerate(guards):
                    if not isinstance(guard, dict):
                        raise ValueError(f"{where}: risks.{risk}.guarded: items must be mappings")
                    name = f"{risk}/{lex.get('language') or where}/{n}"  # guards never mix
                    self.guards.setdefault(risk, []).append(name)
                    for kind in ("maybe", "unless", "urgent"):
                        for p in guard.get(kind) or []:
                            self._add(compiler, p, (kind, name), 0.0)
            self.risk_vocab |= compiler.vocab
            # Its words stay out of the vocabulary: "tamil" must not make "Tamil la pesalaamaa?" English
            asking = Compiler(lex.get("words") or {}, where)
            for code, patterns in (lex.get("asks_for") or {}).items():
                for p in patterns:
                    self._add(asking, p, ("asks", code), 0.0)
            for topic, spec in (lex.get("topics") or {}).items():
                self.rank[topic] = max(self.rank.get(topic, 1), int(spec.get("rank", 1)))
                for tier, weight in (("strong", STRONG), ("weak", WEAK)):
                    for p in spec.get(tier) or []:
                        self._add(compiler, p, ("topic", topic), weight)
            self.vocab |= compiler.vocab
            common = lex.get("common_words") or ""
            common = common.split() if isinstance(common, str) else map(str, common)
            known.update(_fold(w) for w in common)
        self.known = known | self.vocab
        self.ignore = re.compile("|".join(f"(?: {r})" for r in ignore)) if ignore else None
        self.prefix_lengths = sorted({len(p) for p in self.prefix})
        by_length: dict[int, list[str]] = {}
        for w in sorted(self.vocab):
            if len(w) >= 3:
                by_length.setdefault(len(w), []).append(w)
        self.near = {
            n: [w for d in range(-_typos(n), _typos(n) + 1) for w in by_length.get(n + d, [])]
            for n in range(4, 40)
        }
        self.corrections: dict[str, str] = {}

    def _add(self, compiler: Compiler, pattern, key: tuple[str, str], weight: float):
        index = len(self.patterns)
        if isinstance(pattern, list):
            # A co-occurrence rule: every part somewhere within `window` words, in any order.
            window = pattern[0] if pattern and isinstance(pattern[0], int) else self.window
            parts = [compiler.compile(p) for p in pattern if not isinstance(p, int)]
            if len(parts) < 2:
                raise ValueError(f"{compiler.where}: co-occurrence {pattern!r}: needs two parts")
            regexes = tuple(_regex("(?=( " + r + "))") for r, _ in parts)
            anchors = next((a for _, a in parts if a is not None), None)
            self.patterns.append(((window, regexes), key, weight))
            self.sources.append(" & ".join(str(p) for p in pattern))
            if anchors is None:
                self.always.add(index)
            for word, is_prefix in anchors or ():
                (self.prefix if is_prefix else self.exact).setdefault(word, set()).add(index)
            return
        regex, anchors = compiler.compile(pattern)
        self.patterns.append((_regex(" " + regex), key, weight))
        self.sources.append(pattern)
        if anchors is None:
            self.always.add(index)
        for word, is_prefix in anchors or ():
            (self.prefix if is_prefix else self.exact).setdefault(word, set()).add(index)

    def words(self, text: str, fuzzy: bool) -> list[str]:
        """Split text into normal-form words: lowercase, no accents, text-speak expanded."""
        for symbol, word in self.symbols.items():
            if symbol in text:
                text = text.replace(symbol, f" {word} ")
        text = _fold(CONTROL.sub(" ", text))
        out: list[str] = []
        for token in TOKEN.findall(text.replace("_", " ")):
            for word in self.normalise.get(token, (token,)):
                split = DIGITS_LETTERS.match(word)
                pieces = split.groups() if split else (word,)
                for piece in pieces:
                    for w in self.normalise.get(piece, (piece,)) if split else (piece,):
                        out.append(self.correct(w) if fuzzy else w)
        return out

    def correct(self, word: str) -> str:
        """Return the lexicon word one typo away (two for long words), or the word itself."""
        if word in self.known or len(word) < 4 or not word.isascii() or not word.isalpha():
            return word
        found = self.corrections.get(word)
        if found is None:
            near = process.extract(
                word, self.near.get(len(word), ()), scorer=OSA.distance,
                score_cutoff=_typos(len(word)), limit=None,
            )
            # Among equally near words prefer swapped letters, the same first letter, then
            # a word that risk patterns use: a missed risk costs more than a missed topic.
            found = min(
                near, default=(word,),
                key=lambda m: (m[1], sorted(m[0]) != sorted(word), m[0][0] != word[0],
                               m[0] not in self.risk_vocab, abs(len(m[0]) - len(word)), m[0]),
            )[0]
            if len(self.corrections) > 50_000:
                self.corrections.clear()
            self.corrections[word] = found
        return found

    def match(self, words: list[str]) -> dict[tuple[str, str], list[float]]:
        """Return, for each (kind, name), the weights of the patterns that matched."""
        text = " " + " ".join(words) + " "
        if self.ignore is not None:
            text = self.ignore.sub(" ", text)
            words = text.split()
        present = set(words)
        candidates = set(self.always)
        for w in present:
            candidates.update(self.exact.get(w, ()))
            for n in self.prefix_lengths:
                if n > len(w):
                    break
                candidates.update(self.prefix.get(w[:n], ()))
        matched: dict[tuple[str, str], list[float]] = {}
        spaces: list[int] = []
        for i in sorted(candidates):
            regex, key, weight = self.patterns[i]
            if isinstance(regex, tuple):
                if not spaces:
                    spaces = [j for j, c in enumerate(text) if c == " "]
                hit = _near(regex[1], regex[0], text, spaces)
            else:
                hit = regex.search(text)
            if hit:
                matched.setdefault(key, []).append(weight)
        return matched

    def risks(self, matched) -> frozenset[str]:
        """Return the risks the matches flag: a pattern, or a guarded maybe that no unless (or an urgent) stops."""
        return frozenset(
            r for r in RISKS
            if ("risk", r) in matched or ("sure", r) in matched or any(
                ("maybe", g) in matched and (("unless", g) not in matched or ("urgent", g) in matched)
                for g in self.guards.get(r, ())
            )
        )

    def score(self, matched, risks: frozenset[str]) -> tuple[tuple[str, float], ...]:
        """Combine matched weights into topic scores, demote the less specific, rank them."""
        scores: dict[str, float] = {}
        for (kind, topic), weights in matched.items():
            if kind == "topic":
                miss = 1.0
                for w in weights:
                    miss *= 1.0 - w
                scores[topic] = 1.0 - miss
        for r in risks:
            scores[r] = 1.0
        confident_ranks = [self.rank.get(t, 1) for t, s in scores.items() if s >= CONFIDENT]
        top_rank = max(confident_ranks, default=0)
        for t in scores:
            if self.rank.get(t, 1) < top_rank:
                scores[t] *= DEMOTE
        ordered = sorted(
            ((t, round(s, 3)) for t, s in scores.items() if s >= PLAUSIBLE),
            key=lambda ts: (-ts[1], -self.rank.get(ts[0], 1), TOPICS.index(ts[0])),
        )
        return tuple(ordered)


def _near(regexes: tuple[re.Pattern, ...], window: int, text: str, spaces: list[int]) -> bool:
    """Return whether every regex matches with all matches within `window` words of the first."""
    found = []
    for regex in regexes:
        spans = [(bisect.bisect_left(spaces, m.start(1)), bisect.bisect_left(spaces, m.end(1)))
                 for m in regex.finditer(text)]
        if not spans:
            return False
        found.append(spans)
    for start, end in found[0]:
        if all(any(s - end <= window and start - e <= window for s, e in spans)
               for spans in found[1:]):
            return True
    return False


class Compiler:
    """Turn the lexicon pattern syntax into a regex over ' word word ' and its anchor words."""

    def __init__(self, lists: dict, where: str):
        self.lists = lists
        self.where = where
        self.vocab: set[str] = set()
        self.cache: dict[str, tuple[str, frozenset | None]] = {}

    def compile(self, pattern: str) -> tuple[str, frozenset | None]:
        """Return (regex, anchors): anchors are (word, is_prefix) pairs one of which must occur."""
        if not isinstance(pattern, str) or not pattern.split():
            raise ValueError(f"{self.where}: empty or non-text pattern {pattern!r}")
        regex, anchors, anchored = "", None, False
        for term in _terms(pattern, self.where):
            if term in GAPS:
                regex += r"(?:\S+ ){0,%d}" % GAPS[term]
                continue
            optional = term.startswith("?")
            piece, piece_anchors = self._term(term[1:] if optional else term, pattern)
            regex += f"(?:{piece})?" if optional else piece
            if not optional and not anchored:
                # Every match contains the first required term, so its words anchor the pattern.
                anchors, anchored = piece_anchors, True
        return regex, (frozenset(anchors) if anchors is not None else None)

    def _term(self, term: str, pattern: str) -> tuple[str, set | None]:
        if term.startswith("("):
            return self._group(term[1:-1], pattern)
        regexes, anchors = [], set()
        for alternative in term.split("|"):
            regex, more = self._alternative(alternative, pattern)
            regexes.append(regex)
            anchors = None if more is None or anchors is None else anchors | more
        return "(?:" + "|".join(regexes) + ")", anchors

    def _group(self, inner: str, pattern: str) -> tuple[str, set | None]:
        regexes, anchors = [], set()
        for alternative in _split_top(inner, "|"):
            regex, more = self.compile(alternative)
            regexes.append(regex)
            anchors = None if more is None or anchors is None else anchors | more
        return "(?:" + "|".join(regexes) + ")", anchors

    def _alternative(self, word: str, pattern: str) -> tuple[str, set | None]:
        if word.startswith("@"):
            name = word[1:]
            if name not in self.lists:
                raise ValueError(f"{self.where}: pattern {pattern!r}: no list words.{name}")
            if name not in self.cache:
                self.cache[name] = ("(?!)", set())  # guards against a list that names itself
                parts = [self.compile(str(item)) for item in self.lists[name]]
                anchors = set()
                for _, a in parts:
                    anchors = None if a is None or anchors is None else anchors | a
                self.cache[name] = ("(?:" + "|".join(r for r, _ in parts) + ")", anchors)
            regex, anchors = self.cache[name]
            return regex, (set(anchors) if anchors is not None else None)
        if word.startswith("#"):
            m = re.fullmatch(r"#(\d+)-(\d+)", word)
            if not m:
                raise ValueError(f"{self.where}: pattern {pattern!r}: bad number range {word}")
            numbers = [str(n) for n in range(int(m[1]), int(m[2]) + 1)]
            return "(?:" + "|".join(numbers) + ") ", {(n, False) for n in numbers}
        word = _fold(word)
        if not word or not TOKEN.fullmatch(word.rstrip("*")):
            raise ValueError(f"{self.where}: pattern {pattern!r}: bad word {word!r}")
        if word.endswith("*"):
            return re.escape(word[:-1]) + "[^ ]* ", {(word[:-1], True)}  # the rest of the word, whatever its script
        self.vocab.add(word)
        return re.escape(word) + " ", {(word, False)}


def _terms(pattern: str, where: str) -> list[str]:
    """Split a pattern into terms at spaces outside parentheses."""
    if pattern.count("(") != pattern.count(")"):
        raise ValueError(f"{where}: pattern {pattern!r}: unbalanced parentheses")
    return _split_top(pattern, " ")


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for c in text:
        depth += (c == "(") - (c == ")")
        if c == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += c
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _typos(length: int) -> int:
    return 1 if length < 7 else 2


def _fold(text: str) -> str:
    """Lowercase, drop apostrophes and the accents of Latin letters, as lexicons are written."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(APOSTROPHES)
    return text if text.isascii() else _strip_latin_accents(text)


def _strip_latin_accents(text: str) -> str:
    out = []
    for c in unicodedata.normalize("NFD", text.replace("ł", "l")):
        if unicodedata.category(c) == "Mn" and out and "a" <= out[-1] <= "z":
            continue
        out.append(c)
    return unicodedata.normalize("NFC", "".join(out))
