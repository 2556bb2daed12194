"""Measure safety/understand.py on the labelled messages: topics, risks, language, speed.

Run: .venv/bin/python bench/understanding.py   (add --verbose to list every miss in validation)

Three sets of English messages, never mixed:
- training: every file in safety/training/ (the lexicon was tuned on them; the learned model,
  safety/learned.py, is trained on them), so its figures are only a sanity check;
- validation: tests/data/validation.yaml and validation_b.yaml to _g, written blind
  and never trained on; the model's thresholds were chosen on them, so their figures flatter a little;
- held-out: tests/data/heldout_final.yaml, heldout_fresh.yaml, heldout_english_g.yaml, _h.yaml and _i.yaml,
  written blind, never trained or tuned on; only their aggregate figures are ever printed, never
  their messages (n/a without them).
In the seven other languages: validation_lang_a to _g (settings chosen on them; _d is romanised Arabic,
Urdu and Tamil) and, as a new person's first message, heldout_languages_d, _e, _f, _h, _i and _j (written blind; the older
held-out sets are now training).

Topic accuracy counts the topic the engine would act on (`decide(u)[0]`, or `none` when it
returns nothing) against the label; "offered" also counts a label that is among the clarifying
choices. Risk recall is the share of risk messages whose labelled risk is flagged; the false
interrupt rate is the share of no-risk messages that get any risk flag. Latency is one call of
`understand` per message with the typo cache emptied first, so it is the cold cost. The
ablation lines show what each technique adds: the lexicon alone, with typo correction, and with
the learned model. The last line's topic_accuracy, risk_recall and false_interrupt are over
validation; heldout_* are over the held-out set.

Maintenance: `--common-words` regenerates `common_words` in safety/lexicons/en.yaml from the
wordfreq package (install it anywhere; it is not a dependency of Waymark).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from safety import learned  # noqa: E402
from safety import understand as U  # noqa: E402
from tests.conftest import VALIDATION, VALIDATION_LANGUAGES  # noqa: E402  (the validation files, listed once)

HELD_OUT = tuple(ROOT / "tests" / "data" / f"heldout_{part}.yaml"
                 for part in ("final", "fresh", "english_g", "english_h", "english_i"))
# Written by helpers who saw no other labelled data, 60 first messages a language; never trained or tuned on
# (the README says how often it has been read).
LANGUAGES = tuple(ROOT / "tests" / "data" / f"heldout_languages_{part}.yaml" for part in "defhij")


def _items(path: Path) -> list[dict]:
    """Return the labelled messages of one file, each with its language (English unless it says)."""
    return [{**i, "lang": i.get("lang", "en")} for i in learned.read(path)]


def load() -> dict[str, list[dict]]:
    """Return the training, validation and held-out items (held-out empty without its file)."""
    training = [i for path in sorted(learned.TRAINING.glob("*.yaml")) for i in _items(path)]
    return {"training": training, "validation": [i for path in VALIDATION for i in _items(path)],
            "heldout": [{**i, "file": path.name} for path in HELD_OUT if path.exists() for i in _items(path)]}


def has_lexicon(lang: str) -> bool:
    return (U.LEXICONS / f"{lang}.yaml").exists()


def evaluate(items: list[dict], fuzzy: bool = True, use_model: bool = True) -> dict:
    """Score items and return the figures, plus the misses for --verbose."""
    n = correct = offered = risky = recalled = safe = interrupts = 0
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for item in items:
        u = U.analyse(item["text"], item["lang"], fuzzy=fuzzy, use_model=use_model)
        choice = U.decide(u)
        predicted = choice[0] if choice else "none"
        n += 1
        hit = predicted == item["topic"]
        correct += hit
        offered += item["topic"] in choice or (item["topic"] == "none" and not choice)
        per_topic[item["topic"]][0] += hit
        per_topic[item["topic"]][1] += 1
        if item["risk"] != "none":
            risky += 1
            recalled += item["risk"] in u.risks
        else:
            safe += 1
            interrupts += bool(u.risks)
        if not hit or (item["risk"] != "none") != bool(u.risks) or (
            item["risk"] != "none" and item["risk"] not in u.risks
        ):
            misses.append((item, predicted, choice, sorted(u.risks), u.topics[:3]))
    return {
        "n": n,
        "topic_accuracy": correct / n if n else 0.0,
        "offered": offered / n if n else 0.0,
        "risk_recall": recalled / risky if risky else 1.0,
        "risky": risky,
        "false_interrupt": interrupts / safe if safe else 0.0,
        "safe": safe,
        "per_topic": per_topic,
        "misses": misses,
    }


def latency(items: list[dict], rounds: int = 3) -> list[float]:
    """Return per-message milliseconds of understand(), typo cache emptied before each call."""
    times = []
    for _ in range(rounds):
        for item in items:
            for bundle in _bundles(item["lang"]):
                bundle.corrections.clear()
            start = time.perf_counter()
            U.understand(item["text"], item["lang"])
            times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def with_typo(text: str, rng: random.Random) -> str:
    """Return text with one typo (a dropped, doubled or swapped letter) in its longest word."""
    words = text.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    w = words[i]
    if len(w) < 4:
        return text
    j = rng.randrange(1, len(w) - 1)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        w = w[:j] + w[j + 1:]
    elif kind == "double":
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]
    return " ".join(words[:i] + [w] + words[i + 1:])


def _bundles(lang: str):
    return [U._bundle(lang)]


def language_figures(items: list[dict]) -> tuple[float, int, float, int]:
    """Return (accuracy on non-English, count, share of English given another language, count)."""
    foreign = [i for i in items if i["lang"] != "en"]
    english = [i for i in items if i["lang"] == "en"]
    right = sum(U.detect_language(i["text"]) == i["lang"] for i in foreign)
    wrong = sum(U.detect_language(i["text"]) not in (None, "en") for i in english)
    return (right / len(foreign) if foreign else 1.0, len(foreign),
            wrong / len(english) if english else 0.0, len(english))


def print_first(title: str, items: list[dict]) -> None:
    """Print the first-message figures of each language and of all of them: topic_acc counts a clarifying
    question as a miss; first_choice counts its first choice, as the validation figures do."""
    print(title)
    totals: dict[str, int] = defaultdict(int)
    for lang, f in sorted(first_messages(items).items()):
        print(f"  {lang} n={f['n']} language_detected={f['detected'] / f['n']:.2f} topic_acc={f['topic'] / f['n']:.2f} "
              f"risk_recall={f['recalled'] / f['risky']:.2f} false_interrupt={f['interrupts'] / f['safe']:.2f}")
        for key, value in f.items():
            totals[key] += value
    print(f"  all n={totals['n']} topic_acc={totals['topic'] / totals['n']:.3f} "
          f"first_choice={totals['first'] / totals['n']:.3f} "
          f"risk_recall={totals['recalled'] / totals['risky']:.3f} "
          f"false_interrupt={totals['interrupts'] / totals['safe']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every miss in validation")
    parser.add_argument("--common-words", action="store_true",
                        help="regenerate common_words in safety/lexicons/en.yaml (needs wordfreq)")
    args = parser.parse_args()
    if args.common_words:
        regenerate_common_words()
        return

    splits = load()
    start = time.perf_counter()
    U.understand("warm up", "en")
    U.detect_language("rozgrzewka przed pomiarem")
    load_ms = (time.perf_counter() - start) * 1000

    scored = {s: [i for i in items if has_lexicon(i["lang"])] for s, items in splits.items()}
    unscored = [i for items in splits.values() for i in items if not has_lexicon(i["lang"])]

    ablations = (("lexicon only", False, False), ("lexicon + fuzzy typos", True, False),
                 ("lexicon + fuzzy + model", True, True))
    results = {label: {s: evaluate(scored[s], fuzzy, model) for s in ("validation", "heldout")}
               for label, fuzzy, model in ablations}
    rng = random.Random(4)
    typos = [{**i, "text": with_typo(i["text"], rng)} for i in scored["validation"]]
    typo_results = {label: evaluate(typos, fuzzy, model) for label, fuzzy, model in ablations}
    final = {"training": evaluate(scored["training"]), **results["lexicon + fuzzy + model"]}  # the same reading

    print(f"messages: training {len(splits['training'])} (safety/training/), validation {len(splits['validation'])} "
          f"({', '.join(p.name for p in VALIDATION)}), held-out {len(splits['heldout'])} "
          f"({', '.join(p.name for p in HELD_OUT)}); other languages {len(unscored)}")
    print(f"first call (reads the lexicon, trains the model, builds the language detector) {load_ms:.0f} ms")
    print()
    print(f"validation {'topic':26} {'right':>5} / {'of':<3} accuracy")
    for topic, (right, of) in sorted(final["validation"]["per_topic"].items()):
        print(f"           {topic:26} {right:5} / {of:<3} {right / of:.2f}")
    print()
    for name, r in results.items():
        v, h = r["validation"], r["heldout"]
        print(f"ablation {name:24} validation topic_acc={v['topic_accuracy']:.3f} risk_recall={v['risk_recall']:.3f} "
              f"false_interrupt={v['false_interrupt']:.3f} | held-out " + (
                  f"topic_acc={h['topic_accuracy']:.3f} risk_recall={h['risk_recall']:.3f} "
                  f"false_interrupt={h['false_interrupt']:.3f}" if h["n"] else "n/a"))
    for name, r in typo_results.items():
        print(f"validation, one typo in the longest word, {name:24} topic_acc={r['topic_accuracy']:.3f} "
              f"risk_recall={r['risk_recall']:.3f} false_interrupt={r['false_interrupt']:.3f}")
    for name, r in final.items():
        if not r["n"]:
            print(f"{name:10} n/a (no messages)")
            continue
        print(f"{name:10} topic_acc={r['topic_accuracy']:.3f} offered={r['offered']:.3f} "
              f"risk_recall={r['risk_recall']:.3f} ({r['risky']} risk messages) "
              f"false_interrupt={r['false_interrupt']:.3f} ({r['safe']} without risk)")
    for path in HELD_OUT:
        r = evaluate([i for i in scored["heldout"] if i["file"] == path.name])
        if r["n"]:
            print(f"  {path.name:20} n={r['n']} topic_acc={r['topic_accuracy']:.3f} "
                  f"risk_recall={r['risk_recall']:.3f} false_interrupt={r['false_interrupt']:.3f}")
    if unscored:
        other = evaluate(unscored)
        langs = ", ".join(sorted({i["lang"] for i in unscored}))
        print(f"no lexicon yet ({langs}): risk_recall={other['risk_recall']:.3f} "
              f"({other['risky']} risk messages), topic_acc={other['topic_accuracy']:.3f}")
    acc, nf, wrong, ne = language_figures([i for items in splits.values() for i in items])
    print(f"language: {acc:.3f} of {nf} non-English messages detected right; "
          f"{wrong:.3f} of {ne} English messages given another language")

    languages = [i for path in VALIDATION_LANGUAGES for i in _items(path)]
    print("validation in the other languages (validation_lang_a to _g):")
    for lang in sorted({i["lang"] for i in languages}):
        r = evaluate([i for i in languages if i["lang"] == lang])
        print(f"  {lang} n={r['n']} topic_acc={r['topic_accuracy']:.2f} risk_recall={r['risk_recall']:.3f} "
              f"false_interrupt={r['false_interrupt']:.3f}")
    r = evaluate(languages)
    print(f"  all n={r['n']} topic_acc={r['topic_accuracy']:.3f} risk_recall={r['risk_recall']:.3f} "
          f"false_interrupt={r['false_interrupt']:.3f}")

    fresh = []
    for path in LANGUAGES:  # each set apart: they were written, and read, at different times
        if path.exists():
            items = _items(path)
            fresh += items
            print_first(f"first messages in the other languages, held out ({path.name}; never trained or tuned on):",
                        items)

    every = [i for items in splits.values() for i in items] + languages + fresh
    times = latency(every)
    p95 = times[int(0.95 * (len(times) - 1))]
    story = " ".join(i["text"] for i in every[:60])
    long_ms = min(_timed(story) for _ in range(5))
    print(f"latency per message: p50 {statistics.median(times):.3f} ms, p95 {p95:.3f} ms, "
          f"max {times[-1]:.3f} ms; a {len(story)}-character story {long_ms:.2f} ms")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS of this process {rss_mb:.0f} MB")
    if args.verbose:
        print()
        for item, predicted, choice, risks, topics in final["validation"]["misses"]:
            print(f"MISS {item['text'][:70]!r} want {item['topic']}/{item['risk']} "
                  f"got {predicted} {choice} {risks} {topics}")
    print()
    valid, heldout = final["validation"], final["heldout"]

    def held(key: str) -> str:
        return f"{heldout[key]:.3f}" if heldout["n"] else "n/a"

    print(f"understanding topic_accuracy={valid['topic_accuracy']:.3f} "
          f"risk_recall={valid['risk_recall']:.3f} false_interrupt={valid['false_interrupt']:.3f} "
          f"p95_ms={p95:.3f} heldout_topic_accuracy={held('topic_accuracy')} "
          f"heldout_risk_recall={held('risk_recall')} "
          f"heldout_false_interrupt={held('false_interrupt')}")


def first_messages(items: list[dict]) -> dict[str, dict]:
    """Score messages as a new person's first message, the way the engine reads one: in English first,
    then with the lexicon of the language it is clearly written in (flows.engine.Engine.read)."""
    from flows.runtime import build

    engine = build().engine
    out: dict[str, dict] = {}
    for item in items:
        u = engine.read(item["text"], "en")
        predicted = u.topics[0] if len(u.topics) == 1 else ("none" if not u.topics else "ask")
        f = out.setdefault(item["lang"], {"n": 0, "topic": 0, "first": 0, "risky": 0, "recalled": 0, "safe": 0,
                                          "interrupts": 0, "detected": 0})
        f["n"] += 1
        f["topic"] += predicted == item["topic"]
        f["first"] += (u.topics[0] if u.topics else "none") == item["topic"]  # as validation counts a question
        f["detected"] += u.language == item["lang"]
        if item["risk"] != "none":
            f["risky"] += 1
            f["recalled"] += item["risk"] in u.risks
        else:
            f["safe"] += 1
            f["interrupts"] += bool(u.risks)
    return out


def _timed(text: str) -> float:
    U._bundle("en").corrections.clear()
    start = time.perf_counter()
    U.understand(text)
    return (time.perf_counter() - start) * 1000


def regenerate_common_words(top: int = 1000, zipf: float = 3.0) -> None:
    """Write the most frequent English words, and common words a typo away from a lexicon word."""
    import wordfreq
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    path = U.LEXICONS / "en.yaml"
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("\ncommon_words:")]
    U.reload()
    bundle = U.Bundle([{**yaml.safe_load(head), "_path": str(path)}])
    words = set()
    for rank, word in enumerate(wordfreq.top_n_list("en", 100_000)):
        word = word.replace("'", "")
        if not (word.isascii() and word.isalpha()) or word in bundle.vocab:
            continue
        if rank < top:
            words.add(word)
        elif len(word) >= 4 and wordfreq.zipf_frequency(word, "en") >= zipf:
            near = process.extractOne(word, bundle.near.get(len(word), ()),
                                      scorer=OSA.distance, score_cutoff=U._typos(len(word)))
            if near:
                words.add(word)
    lines, line = [], ""
    for word in sorted(words):
        if len(line) + len(word) > 94:
            lines.append(line.rstrip())
            line = ""
        line += word + " "
    lines.append(line.rstrip())
    block = "\n".join("  " + line for line in lines)
    path.write_text(f"{head}\ncommon_words: >-\n{block}\n", encoding="utf-8")
    print(f"{path}: {len(words)} common words")


if __name__ == "__main__":
    main()
