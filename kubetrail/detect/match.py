"""What the engine reports for one detection: the rule, the events, the entity, the time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubetrail.detect.event import Event
from kubetrail.detect.rules import RuleInfo


@dataclass(frozen=True, slots=True)
class Entity:
    """Who and what a detection is about; alerts are aggregated per rule and `key`."""

    user: str = ""
    source_ip: str = ""
    namespace: str = ""
    object: str = ""  # resource/name, e.g. secrets/db-password

    @property
    def key(self) -> str:
        # the object is left out: one user reading many secrets is one alert, not one per secret
        return f"{self.user}|{self.source_ip}|{self.namespace}"

    def to_dict(self) -> dict[str, str]:
        return {
            "user": self.user,
            "source_ip": self.source_ip,
            "namespace": self.namespace,
            "object": self.object,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entity:
        return cls(
            **{k: str(data.get(k) or "") for k in ("user", "source_ip", "namespace", "object")}
        )

    @classmethod
    def of(cls, event: Event) -> Entity:
        doc = event.doc
        user = doc.get("user", {}).get("name") or event.first("user.username") or ""
        ip = doc.get("source", {}).get("ip") or event.first("sourceIPs") or ""
        ref = event.raw.get("objectRef")
        ref = ref if isinstance(ref, dict) else {}
        resource = "/".join(str(ref[k]) for k in ("resource", "subresource") if ref.get(k))
        name = ref.get("name") or doc.get("kubernetes", {}).get("object", {}).get("name") or ""
        obj = f"{resource}/{name}" if resource and name else resource or str(name)
        return cls(str(user), str(ip), str(ref.get("namespace") or ""), obj)


@dataclass(frozen=True, slots=True)
class Match:
    """One firing of one rule (or correlation): the engine's output, the store's input."""

    rule: RuleInfo
    entity: Entity
    event_ids: tuple[str, ...]
    time: float  # seconds since the epoch, of the last event
