"""YAML to plain Python values, remembering the line of every value.

PyYAML's composed nodes carry their position; the constructed objects do not. Walking the node
tree ourselves keeps both, so a finding about `rules[3].verbs[1]` can point at its line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(slots=True)
class Located:
    """A YAML document as Python values plus the 1-based line of each path in it."""

    value: Any
    lines: dict[Path, int] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)  # (key path, line)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 0)


def load_documents(text: str) -> list[Located]:
    """Every document in `text`; raises yaml.YAMLError (with a mark) when it is not YAML."""
    loader = yaml.SafeLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            located = Located(None)
            located.value = _convert(loader, node, (), located)
            documents.append(located)
        return documents
    finally:
        loader.dispose()


class RecursiveAliasError(yaml.YAMLError):
    """An alias refers to a node that contains it: the document has no finite value."""

    def __init__(self, mark: yaml.Mark) -> None:
        self.problem_mark = mark
        self.problem = "an alias refers to a node that contains it"
        super().__init__(self.problem)


def _convert(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path,
    out: Located,
    open_nodes: frozenset[int] = frozenset(),
) -> Any:
    out.lines[path] = node.start_mark.line + 1
    if id(node) in open_nodes:
        raise RecursiveAliasError(node.start_mark)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        open_nodes = open_nodes | {id(node)}
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merges
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            child = (*path, key)
            if key in result:
                out.duplicates.append((child, key_node.start_mark.line + 1))
            result[key] = _convert(loader, value_node, child, out, open_nodes)
            out.lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(loader, item, (*path, i), out, open_nodes) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def render(path: Path) -> str:
    """`("rules", 2, "verbs", 0)` -> `rules[2].verbs[0]`, the apiserver's field notation."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
