"""A loaded audit policy and its evaluation: the first matching rule wins, no match is `None`.

As NewPolicyRuleEvaluator does, each rule's omitted stages are unioned with the policy's once,
at construction; a rule's `omitManagedFields`, when set, overrides the policy's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubetrail.policy.match import Attributes, rule_matches
from kubetrail.policy.model import AuditConfig, Level, Rule


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False
    name: str = ""  # metadata.name, informative only
    # each rule's omitted stages unioned with the policy's, computed once
    _effective: tuple[frozenset[str], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        effective = tuple(self.omit_stages | rule.omit_stages for rule in self.rules)
        object.__setattr__(self, "_effective", effective)

    def rule_omit_stages(self, index: int) -> frozenset[str]:
        """The stages omitted for the events rule `index` matches: the rule's and the policy's."""
        return self._effective[index]

    def config_for(self, event: dict[str, Any]) -> AuditConfig:
        """The level, omitted stages and managed-fields choice for a raw audit event."""
        return self.config_for_attributes(Attributes.from_event(event))

    def config_for_attributes(self, attrs: Attributes) -> AuditConfig:
        for index, rule in enumerate(self.rules):
            if rule_matches(rule, attrs):
                omit_fields = (
                    self.omit_managed_fields
                    if rule.omit_managed_fields is None
                    else rule.omit_managed_fields
                )
                return AuditConfig(rule.level, self._effective[index], omit_fields, index)
        return AuditConfig(Level.NONE, self.omit_stages, self.omit_managed_fields, None)

    def level_for(self, event: dict[str, Any]) -> Level:
        """The level of the first rule that matches `event`; `Level.NONE` when none does."""
        return self.config_for(event).level
