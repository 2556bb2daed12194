"""Measure the engine: step many conversations through the whole flow library, against a Machine per turn.

Run: python bench/engine.py [--conversations N] [--turns T]
The last line is: engine median_us=M p99_us=P machine_per_turn_us=X ratio=R startup_ms=S
Targets: median step <= 50 us; start-up build of the library <= 1 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transitions import Machine  # noqa: E402

from flows.engine import Conversation  # noqa: E402
from flows.runtime import build  # noqa: E402

COMMANDS = ["menu", "back", "help", "talk", "language"]


def inputs(rng: random.Random, options: int) -> str:
    """Pick what a person might send: mostly an option number, sometimes words, a command or nonsense."""
    roll = rng.random()
    if roll < 0.7 and options:
        return str(rng.randint(1, options))
    if roll < 0.85:
        return rng.choice(COMMANDS)
    return rng.choice(["not sure", "hello?", "what do i do", "ok", "thanks"])


def naive_step(library, conv: Conversation, event: str) -> None:
    """The naive way: build a Machine for this conversation on every turn, then trigger one event."""
    machine = Machine(model=conv, states=list(library.states), initial=conv.state, auto_transitions=False)
    for state in library.states.values():
        for option in state.options:
            machine.add_transition(f"opt_{option.id}", state.name, option.go)
    conv.trigger(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--flows", default=None, help="another flow library (default: the shipped one)")
    parser.add_argument("--locales", default=None, help="other catalogs (default: the shipped ones)")
    args = parser.parse_args()
    paths = {k: v for k, v in (("flows_dir", args.flows), ("locales_dir", args.locales)) if v}

    started = time.perf_counter()
    runtime = build(**paths)
    startup_ms = (time.perf_counter() - started) * 1000
    engine = runtime.engine
    rng = random.Random(7)

    timings = []
    for n in range(args.conversations):
        turn = engine.start(Conversation(key=f"k{n}", channel="bench"))
        for _ in range(args.turns):
            text = inputs(rng, len(turn.options))
            t0 = time.perf_counter_ns()
            turn = engine.step(turn.conversation, text)
            timings.append(time.perf_counter_ns() - t0)
            if turn.ended:
                turn = engine.start(turn.conversation)

    naive = []
    library = runtime.library
    states_with_options = [s for s in library.states.values() if s.options]
    for i in range(200):
        state = states_with_options[i % len(states_with_options)]
        conv = Conversation(key="naive", channel="bench", state=state.name)
        t0 = time.perf_counter_ns()
        naive_step(library, conv, f"opt_{state.options[0].id}")
        naive.append(time.perf_counter_ns() - t0)

    timings.sort()
    median_us = statistics.median(timings) / 1000
    p99_us = timings[int(len(timings) * 0.99)] / 1000
    machine_us = statistics.median(naive) / 1000
    print(f"library: {len(library.states)} states, {sum(len(s.options) for s in library.states.values())} options, "
          f"{len(runtime.catalogs.languages)} language(s)")
    print(f"steps measured: {len(timings)} ({args.conversations} conversations x {args.turns} turns)")
    print(f"engine median_us={median_us:.1f} p99_us={p99_us:.1f} machine_per_turn_us={machine_us:.0f} "
          f"ratio={machine_us / median_us:.0f} startup_ms={startup_ms:.0f}")


if __name__ == "__main__":
    main()
