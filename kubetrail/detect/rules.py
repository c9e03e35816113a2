"""What the engine runs: compiled rules and correlations with the metadata alerts carry."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubetrail.detect.errors import Problem
from kubetrail.detect.gates import Gate
from kubetrail.detect.lists import NamedLists
from kubetrail.detect.matcher import Predicate

LEVELS: Final = ("informational", "low", "medium", "high", "critical")


def level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else LEVELS.index("medium")


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What an analyst sees of a rule: in `rules list`, in alerts."""

    id: str
    title: str
    level: str
    path: Path
    line: int
    name: str = ""
    description: str = ""
    status: str = ""
    techniques: tuple[str, ...] = ()  # ATT&CK ids, upper case: T1609, T1552.007
    tactics: tuple[str, ...] = ()  # ATT&CK tactic tags: execution, credential-access
    falsepositives: tuple[str, ...] = ()
    kind: str = "rule"  # "rule" | "correlation"


@dataclass(frozen=True, slots=True)
class NewValue:
    """kubetrail.new_value: fire only for a tuple of values not seen within `history` seconds."""

    fields: tuple[str, ...]
    history: float


@dataclass(slots=True)
class CompiledRule:
    info: RuleInfo
    predicate: Predicate
    verbs: frozenset[str] | None  # prefilter: the verbs it can match (None: any)
    resources: frozenset[str] | None
    new_value: NewValue | None = None
    generate: bool = True  # False when it only feeds a correlation
    subresources: frozenset[str] | None = None
    gate: Gate | None = None  # a field value it cannot match without (see gates.py)


@dataclass(frozen=True, slots=True)
class CompiledCorrelation:
    info: RuleInfo
    type: str  # event_count | value_count | temporal | temporal_ordered
    rules: tuple[str, ...]  # ids of the base rules, in the order written
    group_by: tuple[str, ...]
    timespan: float
    op: str  # gt | gte | lt | lte | eq | neq
    count: float
    field: str | None = None  # value_count: the field whose distinct values are counted
    aliases: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=dict
    )  # alias -> rule id -> field


@dataclass(slots=True)
class RuleSet:
    rules: list[CompiledRule] = dataclasses.field(default_factory=list)
    correlations: list[CompiledCorrelation] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    lists: NamedLists = dataclasses.field(default_factory=NamedLists)
    files: list[Path] = dataclasses.field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def infos(self) -> list[RuleInfo]:
        return [r.info for r in self.rules] + [c.info for c in self.correlations]


def split_for_fleet(ruleset: RuleSet) -> tuple[RuleSet, RuleSet]:
    """(per replica, once for the fleet): single-event rules / correlations + first-seen.

    A rule that both alerts and feeds a correlation alerts on every replica and feeds the
    fleet's correlation with `generate` off, so it alerts once.
    """
    fed = {rule_id for c in ruleset.correlations for rule_id in c.rules}
    inline = [r for r in ruleset.rules if r.new_value is None and r.generate]
    fleet = [
        r if r.new_value is not None else dataclasses.replace(r, generate=False)
        for r in ruleset.rules
        if r.new_value is not None or r.info.id in fed
    ]
    return (
        dataclasses.replace(ruleset, rules=inline, correlations=[]),
        dataclasses.replace(ruleset, rules=fleet),
    )
