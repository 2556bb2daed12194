"""A learned second reading of free text, beside the lexicons: risks and topics, one model a language.

Two linear support-vector machines over TF-IDF character n-grams (2 to 5 letters, inside words)
and word n-grams (1 and 2 words): one picks the topic, one says whether a message carries a
risk and which. They are trained by `waymark model train` (scikit-learn, a development tool
only) from the labelled messages in `safety/training/*.yaml` and saved, weights and vocabulary,
to `safety/model/<lang>.npz`. Running it needs only NumPy: the features are computed here, the
same way scikit-learn computes them (tests/test_learned.py checks that they agree).

`safety/understand.py` uses the model of the language a text is written in (else the
conversation's) for text of four words or more: a risk is flagged when the model is fairly sure
by itself, or when the lexicon flags it and the model finds it at least plausible (this vetoes
the lexicon's matches on words used in a safe sense); topics are routed by the model's scores
when it has a clear one, else by the lexicon's. The thresholds are constants here, the same for
every language, chosen on tests/data/validation*.yaml; bench/understanding.py measures them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

TRAINING = Path(__file__).with_name("training")
MODELS = Path(__file__).with_name("model")
# A language with fewer labelled messages than this gets no model (its lexicon reads alone). Models trained on
# about 520 messages each (2026-11-27) caught more risks in the seven other languages but vetoed a danger
# message in Romanian that the lexicon caught, and cost topic accuracy (0.800 to 0.767); at 2,100 to 3,500
# they gain on every count.
MIN_EXAMPLES = 1000
MIN_WORDS = 4  # shorter messages (answers such as "no they cant", "text only please") are read by the lexicon alone
KNOWN = 0.35  # a message fewer of whose words than this the model has seen (markup, gibberish) is not its to read
VETO_WORDS = 40  # in longer messages the lexicon's risks always stand: a story's last line can be the danger
RISK_ALONE = -0.6   # a risk's decision value at least this flags it by itself (below 0: errs towards safety)
RISK_GAP = -0.2     # ... provided it is no more than this below the value for "no risk"
RISK_CONFIRM = -0.4  # a risk the lexicon flags stands when the model gives it at least this
TOPIC_MIN = -0.7  # below this best topic value the model has no topic to offer and the lexicon's are used
NONE_MIN = 0.0  # "nothing to route" overrules the lexicon's topics only when the model gives it at least this
CLARIFY = 0.2  # topics within this of the best one's value are offered as a clarifying question
CHARS, WORDS = (2, 5), (1, 2)  # n-gram lengths: letters inside words, and words
TOPIC_C, RISK_C = 0.5, 2.0  # the classifiers' regularisation (larger: fit the training messages more closely)
APOSTROPHES = dict.fromkeys(map(ord, "'’‘`´ʼ"), None)
SPACES = re.compile(r"\s\s+")
# A word: letters and digits with the combining marks some scripts write vowels with (Tamil, Hindi, Arabic's
# harakat, Latin accents typed apart). `\w` alone stops at each mark and reads "அடிக்கிறான்" as five pieces.
WORD = re.compile(r"[\w\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff]+")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML has it: six times faster
_lock = threading.Lock()
_models: dict = {}


def read(path: Path) -> list[dict]:
    """Return the labelled messages of one file, whichever key holds them (`messages`, `tuning`, `heldout`)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}  # noqa: S506 - a safe loader
    return [m for key in ("messages", "tuning", "heldout") for m in data.get(key) or []]


def labelled() -> list[dict]:
    """Return every labelled training message in safety/training/."""
    return [m for path in sorted(TRAINING.glob("*.yaml")) for m in read(path)]


def examples(lang: str = "en", messages: list[dict] | None = None) -> list[dict]:
    """Return every labelled training message in `lang` (of `messages`, when read already)."""
    return [m for m in (labelled() if messages is None else messages) if m.get("lang", "en") == lang]


def languages(messages: list[dict] | None = None) -> list[str]:
    """Return the languages with enough labelled messages for a model of their own."""
    counts = Counter(m.get("lang", "en") for m in (labelled() if messages is None else messages))
    return sorted(lang for lang, n in counts.items() if n >= MIN_EXAMPLES)


def digest(lang: str = "en", messages: list[dict] | None = None) -> str:
    """Return a hash of the training messages and settings, so a model can tell it is out of date."""
    return _digest(examples(lang, messages))


def _digest(messages: list[dict]) -> str:
    parts = [(m["text"], m["topic"], m["risk"]) for m in messages]
    return hashlib.sha256(repr((parts, CHARS, WORDS, WORD.pattern, TOPIC_C, RISK_C)).encode()).hexdigest()[:16]


def prepare(text: str) -> str:
    """Lower-case, drop apostrophes (so "he's" reads as "hes"), and squeeze runs of spaces."""
    return SPACES.sub(" ", text.lower().translate(APOSTROPHES))


def char_grams(text: str) -> list[str]:
    """Letter n-grams inside words, each word padded with a space: scikit-learn's char_wb."""
    grams = []
    for word in text.split():
        word = f" {word} "
        for n in range(CHARS[0], CHARS[1] + 1):
            grams += [word[i:i + n] for i in range(max(1, len(word) - n + 1))]
            if len(word) <= n:
                break
    return grams


def word_grams(text: str) -> list[str]:
    """Words and pairs of neighbouring words: scikit-learn's word analyser with ngram_range (1, 2)."""
    words = WORD.findall(text)
    return words + [" ".join(words[i:i + 2]) for i in range(len(words) - 1)]


class Model:
    """The saved vocabulary, inverse document frequencies and weights of both classifiers."""

    def __init__(self, arrays):
        self.index = [{g: i for i, g in enumerate(arrays[f"vocab_{b}"].tolist())} for b in ("chars", "words")]
        self.idf = [arrays["idf_chars"].astype(np.float64), arrays["idf_words"].astype(np.float64)]
        self.topics = [str(c) for c in arrays["topic_classes"]]
        self.risks = [str(c) for c in arrays["risk_classes"]]
        # (chars + words) x (topics + risks), kept as saved: float32 is half the memory, and NumPy widens it
        # exactly to float64 for the product, so the values are the same as with a float64 copy
        self.weights = arrays["weights"]
        self.bias = arrays["bias"].astype(np.float64)
        self.digest = str(arrays["digest"])

    def values(self, text: str) -> np.ndarray:
        """Return the decision value of every topic, then of every risk class, for one message."""
        return self._values(prepare(text))

    def _values(self, text: str) -> np.ndarray:
        rows, weights, offset = [], [], 0
        for block, grams in enumerate((char_grams(text), word_grams(text))):
            counts: dict[int, int] = {}
            for g in grams:
                i = self.index[block].get(g)
                if i is not None:
                    counts[i] = counts.get(i, 0) + 1
            if counts:
                idx = np.fromiter(counts, dtype=np.int64)
                tfidf = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * self.idf[block][idx]
                rows.append(idx + offset)
                weights.append(tfidf / np.sqrt(tfidf @ tfidf))
            offset += len(self.index[block])
        if not rows:
            return self.bias.copy()
        return np.concatenate(weights) @ self.weights[np.concatenate(rows)] + self.bias

    def read(self, text: str, lexicon_risks: frozenset[str]) -> tuple[tuple[str, ...], tuple[tuple[str, float], ...] | None]:
        """Return the risks to flag, most likely first (given the lexicon's; only those the model finds plausible,
        in messages up to VETO_WORDS words) and the topics: one scored 1.0 to route to, two or three close ones
        scored 0.5 to ask about, none, or None when the model has no topic to offer (then the lexicon's reading
        stands)."""
        text = prepare(text)
        words = WORD.findall(text)  # as written: "i don't know" is three words
        if len(words) < MIN_WORDS or sum(w in self.index[1] for w in words) < KNOWN * len(words):
            return tuple(sorted(lexicon_risks)), None
        veto = len(words) <= VETO_WORDS
        values = self._values(text)
        topic_values, risk_values = values[:len(self.topics)], dict(zip(self.risks, values[len(self.topics):]))
        none = risk_values.pop("none")
        flagged = [r for r, v in risk_values.items() if (v >= RISK_ALONE and v - none >= RISK_GAP)
                   or (r in lexicon_risks and (v >= RISK_CONFIRM or not veto))]
        risks = tuple(sorted(flagged, key=risk_values.get, reverse=True))
        order = topic_values.argsort()[::-1]
        best, top = self.topics[order[0]], float(topic_values[order[0]])
        if top < TOPIC_MIN or (best in risk_values and best not in risks) or (best == "none" and top < NONE_MIN):
            return risks, None  # unsure, a risk's topic without the risk, or an unsure "none": the lexicon's topics decide
        if best == "none":
            return risks, ()  # a greeting, thanks, or something off-topic: nothing to route
        close = [t for t in (self.topics[i] for i in order if top - topic_values[i] < CLARIFY)
                 if t != "none" and (t not in risk_values or t in risks)][:3]
        return risks, tuple((t, 1.0 if len(close) == 1 else 0.5) for t in close)  # 1.0 routes; 0.5 asks


def model(lang: str = "en") -> Model | None:
    """Return the saved model for `lang` (read once), or None when there is none."""
    with _lock:
        if lang not in _models:
            path = MODELS / f"{lang}.npz"
            _models[lang] = Model(np.load(path, allow_pickle=False)) if path.exists() else None
        return _models[lang]


def reload() -> None:
    """Forget the models read so far, so the next use reads the files again."""
    with _lock:
        _models.clear()


def fit(messages: list[dict]):
    """Fit the scikit-learn vectorisers and classifiers (a development tool: not needed to run Waymark)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union
    from sklearn.svm import LinearSVC

    vectoriser = make_union(
        TfidfVectorizer(analyzer="char_wb", ngram_range=CHARS, sublinear_tf=True, min_df=2, lowercase=False),
        TfidfVectorizer(analyzer="word", ngram_range=WORDS, sublinear_tf=True, min_df=2, lowercase=False,
                        token_pattern=WORD.pattern))
    x = vectoriser.fit_transform([prepare(m["text"]) for m in messages])
    topics = LinearSVC(C=TOPIC_C).fit(x, [m["topic"] for m in messages])
    risks = LinearSVC(C=RISK_C, class_weight="balanced").fit(x, [m["risk"] for m in messages])
    return vectoriser, topics, risks


def train(lang: str = "en", labelled_messages: list[dict] | None = None) -> Path:
    """Train on safety/training/ (or on `labelled_messages`, read from it already) and save the model for `lang`;
    return the file written."""
    messages = examples(lang, labelled_messages)
    if len(messages) < MIN_EXAMPLES:
        raise ValueError(f"{lang}: {len(messages)} labelled messages; a model needs at least {MIN_EXAMPLES}")
    vectoriser, topics, risks = fit(messages)
    chars, words = (v for _, v in vectoriser.transformer_list)
    weights = np.hstack([topics.coef_.T, risks.coef_.T]).astype(np.float32)
    out = MODELS / f"{lang}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, weights=weights, bias=np.concatenate([topics.intercept_, risks.intercept_]).astype(np.float32),
        vocab_chars=chars.get_feature_names_out().astype(str), vocab_words=words.get_feature_names_out().astype(str),
        idf_chars=chars.idf_.astype(np.float32), idf_words=words.idf_.astype(np.float32),
        topic_classes=topics.classes_.astype(str), risk_classes=risks.classes_.astype(str), digest=np.array(_digest(messages)))
    reload()
    return out
