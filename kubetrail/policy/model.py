"""The parts of an `audit.k8s.io/v1` Policy, as kube-apiserver holds them after decoding.

Field names and meanings follow k8s.io/apiserver `pkg/apis/audit/types.go`. Lists are tuples so a
loaded policy can be shared between threads (the agent evaluates one policy on every event).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final


class Level(Enum):
    """How much of a request the apiserver records; ordered, `None` records nothing."""

    NONE = "None"
    METADATA = "Metadata"
    REQUEST = "Request"
    REQUEST_RESPONSE = "RequestResponse"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank


_RANK: Final = {
    Level.NONE: 0,
    Level.METADATA: 1,
    Level.REQUEST: 2,
    Level.REQUEST_RESPONSE: 3,
}

LEVELS: Final = tuple(level.value for level in Level)
# the stages an event can be emitted at, in the order a request goes through them
STAGES: Final = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str = ""  # "" is the core API group
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    level: Level
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()  # "" matches cluster-scoped requests
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()  # the rule's own, before the policy's are added
    omit_managed_fields: bool | None = None  # None: the policy's setting applies
    line: int = 0  # where the rule starts in its file, for messages


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """What the policy decides for one request (the apiserver's RequestAuditConfig)."""

    level: Level
    omit_stages: frozenset[str]
    omit_managed_fields: bool
    rule: int | None  # index of the rule that matched; None when none did
