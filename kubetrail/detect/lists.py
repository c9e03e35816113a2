"""Named lists (`%system_principals%`): built-in ones, extended by the user's without editing.

A list file is YAML:

    name: system_principals
    description: Control-plane and managed-platform identities.
    entries: ["system:kube-controller-manager", "system:node:*", "eks:*"]

Files are read in order (built-in first); a second file with the same name adds its entries.
Entries are strings: glob patterns with `*` for string fields, addresses or CIDR networks for
`|cidr` fields (IP lists such as Tor exit nodes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubetrail.detect.errors import Problem


@dataclass(slots=True)
class NamedLists:
    entries: dict[str, list[str]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[Path]] = field(default_factory=dict)

    def add(self, name: str, values: Iterable[str], source: Path, description: str = "") -> None:
        known = self.entries.setdefault(name, [])
        seen = set(known)
        for value in values:
            if value not in seen:
                seen.add(value)
                known.append(value)
        self.sources.setdefault(name, []).append(source)
        if description and name not in self.descriptions:
            self.descriptions[name] = description

    def get(self, name: str) -> list[str] | None:
        return self.entries.get(name)


def list_files(folders: Iterable[Path]) -> list[Path]:
    """The list files under `folders`, in a stable order (folder order, then path)."""
    out: list[Path] = []
    for folder in folders:
        if folder.is_file():
            out.append(folder)
        elif folder.is_dir():
            out.extend(sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml")))
    return out


def load_lists(folders: Iterable[Path], problems: list[Problem]) -> NamedLists:
    """Every list under `folders`; a bad file is reported in `problems` and skipped."""
    lists = NamedLists()
    for path in list_files(folders):
        try:
            doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 1
            problems.append(Problem(path, line, f"not valid YAML: {exc.problem}"))
            continue
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem(path, 1, f"cannot read: {exc}"))
            continue
        reason = _invalid(doc)
        if reason:
            problems.append(Problem(path, 1, reason))
            continue
        lists.add(doc["name"], map(str, doc["entries"]), path, str(doc.get("description") or ""))
    return lists


def _invalid(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "a list file is a mapping with `name` and `entries`"
    name = doc.get("name")
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        return "`name` must be a word of letters, digits and underscores"
    entries = doc.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, str | int) for e in entries):
        return f"list {name!r}: `entries` must be a list of strings"
    return ""
