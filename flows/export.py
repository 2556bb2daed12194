"""Write the flow library for reviewers who don't read YAML: every flow and message in reading order."""

from __future__ import annotations

import html
from collections import deque
from pathlib import Path

from .engine import Message
from .runtime import Runtime


def reading_order(runtime: Runtime) -> list[tuple[str, list[str]]]:
    """Return each flow with its states in the order a person meets them (breadth first from its start)."""
    library = runtime.library
    order = []
    for flow in ["welcome", "main"] + sorted(f for f in library.starts if f not in ("welcome", "main")):
        members = [n for n in library.states if n.startswith(flow + ".")]
        start = library.starts[flow]
        seen, todo, states = {start}, deque([start]), []
        while todo:
            name = todo.popleft()
            states.append(name)
            for nxt in [o.go for o in library.states[name].options] + [library.states[name].any or ""]:
                if nxt.startswith(flow + ".") and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        states += [n for n in members if n not in seen]
        order.append((flow, states))
    return order


def _state_lines(runtime: Runtime, name: str, lang: str) -> list[tuple[str, str]]:
    """Return (kind, text) pairs for one state: messages with their conditions, the question, the options."""
    state = runtime.library.states[name]
    render = runtime.renderer
    lines = []
    for say in state.say:
        try:
            text = render.message(Message(say.msg), lang)
        except KeyError:
            text = runtime.catalogs.text(say.msg, lang) + "  [numbers come from deployment configuration]"
        condition = (f" (only when {say.if_} is configured)" if say.if_ else
                     f" (only when {say.unless} is not configured)" if say.unless else "")
        lines.append(("say", f"{text}{condition}"))
    if state.ask:
        lines.append(("ask", render.message(Message(state.ask), lang)))
    for i, option in enumerate(state.options, 1):
        label = render.message(Message(option.label), lang)
        lines.append(("option", f"{i} {label} → {option.go}"))
    if state.any:
        lines.append(("option", f"(any reply) → {state.any}"))
    return lines


def export(runtime: Runtime, out: Path, lang: str = "en") -> tuple[Path, Path]:
    """Write review.md and review.html under `out` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# Waymark flows for review ({lang})", "",
          "Every flow and message in reading order, with its options and the numbers filled in.", ""]
    body = [f"<h1>Waymark flows for review ({html.escape(lang)})</h1>"]
    for flow, states in reading_order(runtime):
        md += [f"## {flow}", ""]
        body.append(f"<h2>{html.escape(flow)}</h2>")
        for name in states:
            topic = runtime.library.states[name].topic
            md += [f"### {name}" + (f" (topic: {topic})" if topic else ""), ""]
            body.append(f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3><ul>")
            for kind, text in _state_lines(runtime, name, lang):
                prefix = {"say": "", "ask": "**Question:** ", "option": "- "}[kind]
                md.append(f"{prefix}{text}")
                md.append("")
                body.append(f"<li class='{kind}'>{html.escape(text)}</li>")
            body.append("</ul>")
    md_path, html_path = out / "review.md", out / "review.html"
    md_path.write_text("\n".join(md), encoding="utf-8")
    html_path.write_text(
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>Waymark flows for review</title>"
        "<style>body{font:16px/1.5 sans-serif;max-width:50rem;margin:auto;padding:1rem}"
        "li.ask{font-weight:bold}li.option{color:#333}</style>" + "".join(body) + "</html>",
        encoding="utf-8",
    )
    return md_path, html_path
