"""Line numbers for problems: where each YAML document starts and where each key sits.

pySigma reports what is wrong but not where; lint must say the line. The error text usually
quotes the offending key, modifier or identifier, which is looked up among the document's keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import yaml

_QUOTED: Final = re.compile(r"'([^']+)'")
# words in pySigma's messages -> the key whose line is the best answer
_TOPICS: Final = (
    ("condition", "condition"),
    ("condition", "detection"),
    ("timespan", "timespan"),
    ("group", "group-by"),
    ("correlation", "correlation"),
    ("log source", "logsource"),
    ("logsource", "logsource"),
    ("detection", "detection"),
    ("level", "level"),
    ("status", "status"),
    ("identifier", "id"),
    ("tag", "tags"),
    ("date", "date"),
    ("title", "title"),
)


@dataclass(slots=True)
class DocumentLines:
    start: int
    keys: list[tuple[str, int]] = field(default_factory=list)  # (key, 1-based line), in order
    values: list[tuple[str, int]] = field(default_factory=list)  # scalar values, likewise

    def line_of(self, key: str) -> int | None:
        for name, line in self.keys:
            if name == key:
                return line
        return None

    def locate(self, message: str) -> int:
        """The line `message` (a pySigma error text) is most likely about."""
        for token in _QUOTED.findall(message):
            for name, line in self.keys:
                if name == token or f"|{token}" in name or name.startswith(f"{token}|"):
                    return line
            for text, line in self.values:
                if token in text:
                    return line
        lowered = message.lower()
        for word, key in _TOPICS:
            if word in lowered:
                found = self.line_of(key)
                if found is not None:
                    return found
        return self.start


def document_lines(text: str) -> list[DocumentLines]:
    """One entry per YAML document of `text` (which must parse)."""
    out: list[DocumentLines] = []
    for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if node is None:
            out.append(DocumentLines(1))
            continue
        doc = DocumentLines(node.start_mark.line + 1)
        _keys(node, doc.keys, doc.values)
        out.append(doc)
    return out


def _keys(node: yaml.Node, keys: list[tuple[str, int]], values: list[tuple[str, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                keys.append((str(key.value), key.start_mark.line + 1))
            _keys(value, keys, values)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _keys(item, keys, values)
    elif isinstance(node, yaml.ScalarNode):
        values.append((str(node.value), node.start_mark.line + 1))
