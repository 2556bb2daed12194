"""A Babel extractor for flow YAML, so `pybabel extract` sees message ids in flows like any source."""

from __future__ import annotations

import yaml

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
