"""Alerts: what analysts triage. Repeated matches of one rule on one entity update one alert.

`AlertStore` is the seam the service implements on its database; `MemoryAlertStore` is the
reference implementation `kubetrail scan` uses. Upsert rule: a match joins the newest alert of
the same rule and entity key when that alert is not closed and was last seen at most `window`
seconds before; otherwise it opens a new alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, get_args

from kubetrail.detect.errors import DetectError
from kubetrail.detect.match import Entity, Match
from kubetrail.detect.rules import level_rank

Status = Literal["open", "acknowledged", "closed"]
STATUSES: Final[tuple[str, ...]] = get_args(Status)
MAX_EVENT_IDS: Final = 100  # per alert: the first ones, enough to start an investigation
MAX_OBJECTS: Final = 20
DEFAULT_WINDOW: Final = 3600.0


class AlertNotFound(DetectError):
    """No alert has this id."""


def iso(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def from_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(slots=True)
class Alert:
    id: str
    rule_id: str
    rule_title: str
    level: str
    techniques: list[str]
    entity: Entity
    first_seen: float
    last_seen: float
    count: int = 1
    status: Status = "open"
    event_ids: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    tactics: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def entity_key(self) -> str:
        return self.entity.key

    @property
    def rank(self) -> int:
        return level_rank(self.level)

    @property
    def columns(self) -> tuple[str, str, str, int, str, float]:
        """The columns the alert stores keep beside its JSON: (id, rule_id, entity_key,
        level_rank, status, last_seen)."""
        return (self.id, self.rule_id, self.entity_key, self.rank, self.status, self.last_seen)

    @classmethod
    def open(cls, match: Match) -> Alert:
        rule = match.rule
        alert = cls(
            id=uuid.uuid4().hex,
            rule_id=rule.id,
            rule_title=rule.title,
            level=rule.level,
            techniques=list(rule.techniques),
            tactics=list(rule.tactics),
            description=rule.description,
            entity=match.entity,
            first_seen=match.time,
            last_seen=match.time,
            count=0,
        )
        alert.add(match)
        return alert

    def add(self, match: Match) -> None:
        self.count += 1
        self.first_seen = min(self.first_seen, match.time)
        self.last_seen = max(self.last_seen, match.time)
        room = MAX_EVENT_IDS - len(self.event_ids)
        if room > 0:
            self.event_ids.extend(match.event_ids[:room])
        obj = match.entity.object
        if obj and obj not in self.objects and len(self.objects) < MAX_OBJECTS:
            self.objects.append(obj)

    def to_dict(self) -> dict[str, Any]:
        """The alert as the API returns it; ATT&CK ids at ECS `threat.technique.id`."""
        return {
            "id": self.id,
            "status": self.status,
            "count": self.count,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "rule": {
                "id": self.rule_id,
                "name": self.rule_title,
                "level": self.level,
                "description": self.description,
            },
            "threat": {
                "framework": "MITRE ATT&CK",
                "technique": {"id": list(self.techniques)},
                "tactic": {"name": list(self.tactics)},
            },
            "entity": self.entity.to_dict(),
            "entity_key": self.entity_key,
            "event_ids": list(self.event_ids),
            "objects": list(self.objects),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The inverse of `to_dict` (for stores that keep alerts as JSON)."""
        rule, threat = data["rule"], data.get("threat", {})
        status = data.get("status", "open")
        if status not in STATUSES:
            raise DetectError(f"alert status must be one of {', '.join(STATUSES)}: {status!r}")
        return cls(
            id=str(data["id"]),
            rule_id=str(rule["id"]),
            rule_title=str(rule.get("name", "")),
            level=str(rule.get("level", "medium")),
            description=str(rule.get("description", "")),
            techniques=list(threat.get("technique", {}).get("id", [])),
            tactics=list(threat.get("tactic", {}).get("name", [])),
            entity=Entity.from_dict(data.get("entity", {})),
            first_seen=from_iso(data["first_seen"]),
            last_seen=from_iso(data["last_seen"]),
            count=int(data.get("count", 1)),
            status=status,
            event_ids=list(data.get("event_ids", [])),
            objects=list(data.get("objects", [])),
        )


class AlertStore(Protocol):
    """Where alerts live. The service implements it on SQLite; `scan` uses the memory one."""

    def upsert(self, match: Match, window: float = DEFAULT_WINDOW) -> tuple[Alert, bool]:
        """Add `match` to its open alert or open a new one; True when it is new."""
        ...

    def upsert_many(
        self, matches: Sequence[Match], window: float = DEFAULT_WINDOW
    ) -> list[tuple[Alert, bool]]:
        """`upsert` of each match, in order, in one transaction (one disk sync) where the
        store has them: a batch of events can match hundreds of times. Each alert is read
        and written once per batch; an alert returned for a match is the one the whole batch
        left (a later match of the batch may have joined it)."""
        ...

    def list(
        self, status: str | None = None, min_level: str | None = None, limit: int = 1000
    ) -> list[Alert]:
        """Alerts, most recently seen first."""
        ...

    def get(self, alert_id: str) -> Alert:
        """The alert with this id; raises `AlertNotFound`."""
        ...

    def set_status(self, alert_id: str, status: str) -> Alert:
        """Change an alert's status (open / acknowledged / closed)."""
        ...


def merge(current: Alert | None, match: Match, window: float) -> tuple[Alert, bool, bool]:
    """The upsert rule every AlertStore applies: `(alert, created, changed)`.

    A match joins `current` (the newest alert of its rule and entity) when that alert is not
    closed and was last seen at most `window` seconds before; a match whose events the alert
    already holds (replayed after a restart or a leader change) changes nothing. Otherwise a
    new alert opens.
    """
    if (
        current is not None
        and current.status != "closed"
        and (match.time - current.last_seen <= window)
    ):
        if match.event_ids and set(match.event_ids) <= set(current.event_ids):
            return current, False, False
        current.add(match)
        return current, False, True
    return Alert.open(match), True, True


def batch_upsert(
    matches: Sequence[Match],
    window: float,
    newest: Callable[[str, str], Alert | None],
    save: Callable[[Alert], None],
) -> list[tuple[Alert, bool]]:
    """`merge` of each match in order, for a store's `upsert_many` inside its transaction:
    `newest(rule_id, entity_key)` is read once per pair and `save` called once per alert that
    changed (a batch may match the same pair hundreds of times)."""
    current: dict[tuple[str, str], Alert | None] = {}
    changed: dict[str, Alert] = {}
    out: list[tuple[Alert, bool]] = []
    for match in matches:
        key = (match.rule.id, match.entity.key)
        if key not in current:
            current[key] = newest(*key)
        alert, created, was_changed = merge(current[key], match, window)
        current[key] = alert
        if was_changed:
            changed[alert.id] = alert
        out.append((alert, created))
    for alert in changed.values():
        save(alert)
    return out


def check_status(status: str) -> Status:
    if status not in STATUSES:
        raise DetectError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return status  # type: ignore[return-value]


class MemoryAlertStore:
    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}
        self._latest: dict[tuple[str, str], str] = {}  # (rule id, entity key) -> alert id

    def upsert_many(
        self, matches: Sequence[Match], window: float = DEFAULT_WINDOW
    ) -> list[tuple[Alert, bool]]:
        return [self.upsert(match, window) for match in matches]

    def upsert(self, match: Match, window: float = DEFAULT_WINDOW) -> tuple[Alert, bool]:
        key = (match.rule.id, match.entity.key)
        alert, created, _ = merge(self.alerts.get(self._latest.get(key, "")), match, window)
        if created:
            self.alerts[alert.id] = alert
            self._latest[key] = alert.id
        return alert, created

    def list(
        self, status: str | None = None, min_level: str | None = None, limit: int = 1000
    ) -> list[Alert]:
        floor = level_rank(min_level) if min_level else 0
        found = [
            a
            for a in self.alerts.values()
            if (status is None or a.status == status) and a.rank >= floor
        ]
        found.sort(key=lambda a: a.last_seen, reverse=True)
        return found[:limit]

    def get(self, alert_id: str) -> Alert:
        try:
            return self.alerts[alert_id]
        except KeyError:
            raise AlertNotFound(f"no alert {alert_id!r}") from None

    def set_status(self, alert_id: str, status: str) -> Alert:
        alert = self.get(alert_id)
        alert.status = check_status(status)
        return alert
