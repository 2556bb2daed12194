"""A Babel extractor for flow YAML, so `pybabel extract` sees message ids in flows like any source,
and the step that completes the extracted template from the English catalog."""

from __future__ import annotations

from pathlib import Path

import yaml
from babel.messages.pofile import read_po, write_po

MESSAGE_KEYS = {"say", "ask", "label", "msg", "words"}


def extract_flows(fileobj, keywords, comment_tags, options):
    """Yield (line, funcname, message id, comments) for every message id in a flow file."""
    root = yaml.compose(fileobj.read().decode("utf-8"))

    def walk(node, key=None):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                yield from walk(v, k.value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from walk(item, key)
        elif isinstance(node, yaml.ScalarNode) and key in MESSAGE_KEYS and node.value:
            yield node.start_mark.line + 1, None, node.value, []

    if root is not None:
        yield from walk(root)


def complete_template(pot: Path, english: dict[str, str]) -> list[str]:
    """Add to an extracted template every English message it lacks, each with its English text as a
    note for translators, and return the ids extracted that have no English text.

    Some ids are built at run time (`topic.<name>`, `<id>.discreet`, the web chat's words), so
    extraction alone would let `pybabel update` retire them from every catalog; English is the
    source of truth for which messages exist.
    """
    with pot.open("rb") as fh:
        template = read_po(fh)
    missing = sorted(m.id for m in template if m.id and isinstance(m.id, str) and m.id not in english)
    for msg_id, text in english.items():
        message = template.get(msg_id) or template.add(msg_id)
        message.auto_comments = [f"English: {text}"]
    for msg_id in missing:
        template.delete(msg_id)
    with pot.open("wb") as fh:
        write_po(fh, template, width=None)
    return missing
