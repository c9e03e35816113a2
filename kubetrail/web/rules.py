"""The rules page: the loaded rules, the files that did not load, and the ATT&CK matrix."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubetrail.detect import BUILTIN_RULES, LEVELS, RuleInfo, RuleSet, load

# the enterprise matrix's tactics in its own left-to-right order (the Kubernetes ones)
TACTICS: Final[tuple[str, ...]] = (
    "initial_access",
    "execution",
    "persistence",
    "privilege_escalation",
    "defense_evasion",
    "credential_access",
    "discovery",
    "lateral_movement",
    "collection",
    "command_and_control",
    "exfiltration",
    "impact",
)


@dataclass(frozen=True)
class RuleRow:
    info: RuleInfo
    source: str  # built-in | custom

    @property
    def file(self) -> str:
        try:
            return str(self.info.path.relative_to(BUILTIN_RULES))
        except ValueError:
            return str(self.info.path)


@dataclass(frozen=True)
class Cell:
    technique: str
    rules: list[str]  # titles


@dataclass(frozen=True)
class Matrix:
    tactics: list[str]
    columns: list[list[Cell]]  # one per tactic: the techniques covered, by rule count


class RuleCatalog:
    """The rules the detection process runs (the same folders), loaded on first view: the
    pack takes about a second to load and most page views never need it."""

    def __init__(self, custom_dir: str = "") -> None:
        self._custom = [Path(custom_dir)] if custom_dir else []
        self._lock = threading.Lock()
        self._ruleset: RuleSet | None = None

    def ruleset(self) -> RuleSet:
        with self._lock:
            if self._ruleset is None:
                self._ruleset = load(self._custom, (), True)
            return self._ruleset

    def rows(self) -> list[RuleRow]:
        infos = self.ruleset().infos()
        infos.sort(key=lambda i: (-LEVELS.index(i.level) if i.level in LEVELS else 0, i.title))
        return [RuleRow(i, _source(i.path)) for i in infos]

    def matrix(self) -> Matrix:
        by_tactic: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for info in self.ruleset().infos():
            for tactic in info.tactics:
                for technique in info.techniques:
                    by_tactic[tactic][technique].append(info.title)
        tactics = [t for t in TACTICS if t in by_tactic]
        tactics += sorted(t for t in by_tactic if t not in TACTICS)
        columns = [
            [
                Cell(technique, sorted(titles))
                for technique, titles in sorted(
                    by_tactic[t].items(), key=lambda kv: (-len(kv[1]), kv[0])
                )
            ]
            for t in tactics
        ]
        return Matrix(tactics, columns)


def _source(path: Path) -> str:
    return "built-in" if path.is_relative_to(BUILTIN_RULES) else "custom"
