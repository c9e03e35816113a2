"""Sigma correlations over a stream, in windows whose memory is bounded.

Per correlation, state is kept per group (the `group-by` values) in an LRU of at most
`max_groups` groups; each group holds at most what its condition needs (timestamps up to the
threshold, distinct values up to the threshold, one time per base rule).

- event_count / value_count with gt/gte: sliding window, fires as soon as the threshold is
  reached, then the group starts over (one firing per burst; alerts aggregate the rest);
- event_count / value_count with lt/lte/eq/neq: a window opened by the group's first event,
  judged when it closes (an event past its end, or `flush()` at the end of the input);
- temporal: every base rule matched within `timespan`; temporal_ordered: in the order written.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Final

from kubetrail.detect.event import Event
from kubetrail.detect.match import Entity, Match
from kubetrail.detect.rules import CompiledCorrelation

MAX_GROUPS: Final = 10_000
MAX_EVENT_IDS: Final = 100
_ON_ARRIVAL: Final = frozenset({"gt", "gte"})


def _holds(op: str, value: float, bound: float) -> bool:
    return {
        "gt": value > bound,
        "gte": value >= bound,
        "lt": value < bound,
        "lte": value <= bound,
        "eq": value == bound,
        "neq": value != bound,
    }[op]


@dataclass(slots=True)
class _Group:
    start: float
    times: deque[float] = field(default_factory=deque)
    values: dict[str, float] = field(default_factory=dict)  # value_count: value -> last time
    steps: dict[str, float] = field(default_factory=dict)  # temporal: rule id -> time/start
    event_ids: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_EVENT_IDS))
    entity: Entity = field(default_factory=Entity)
    last: float = 0.0


class Correlator:
    """The streaming state of one correlation rule."""

    def __init__(self, rule: CompiledCorrelation, max_groups: int = MAX_GROUPS) -> None:
        self.rule = rule
        self.max_groups = max_groups
        self.groups: OrderedDict[tuple[str, ...], _Group] = OrderedDict()
        # keep the threshold (plus one, for gt) of timestamps/values: enough to decide
        self.keep = int(rule.count) + 2

    def _key(self, rule_id: str, event: Event) -> tuple[str, ...]:
        key = []
        for name in self.rule.group_by:
            field_name = self.rule.aliases.get(name, {}).get(rule_id, name)
            value = event.first(field_name)
            key.append("" if value is None else str(value))
        return tuple(key)

    def feed(self, rule_id: str, event: Event) -> list[Match]:
        """A base rule matched `event`: update its group, return any firing."""
        now = event.time
        out = self.expire(now)
        key = self._key(rule_id, event)
        group = self.groups.get(key)
        span = self.rule.timespan
        if group is None or (self.rule.op not in _ON_ARRIVAL and now - group.start > span):
            group = _Group(start=now)
            self.groups[key] = group
            if len(self.groups) > self.max_groups:
                self.groups.popitem(last=False)
        self.groups.move_to_end(key)
        group.event_ids.append(event.event_id)
        group.entity = Entity.of(event)
        group.last = now
        fired = self._update(group, rule_id, event, now)
        if fired:
            out.append(self._match(group))
            del self.groups[key]
        return out

    def _update(self, group: _Group, rule_id: str, event: Event, now: float) -> bool:
        rule, span = self.rule, self.rule.timespan
        if rule.type == "event_count":
            group.times.append(now)
            while group.times and now - group.times[0] > span:
                group.times.popleft()
            while len(group.times) > self.keep:
                group.times.popleft()
            return rule.op in _ON_ARRIVAL and _holds(rule.op, len(group.times), rule.count)
        if rule.type == "value_count":
            for value in event.values(rule.field or ""):
                group.values.pop(str(value), None)
                group.values[str(value)] = now  # re-inserted: dict order is recency
            for value, seen in list(group.values.items()):
                if now - seen <= span and len(group.values) <= self.keep:
                    break
                del group.values[value]
            return rule.op in _ON_ARRIVAL and _holds(rule.op, len(group.values), rule.count)
        if rule.type == "temporal":
            group.steps[rule_id] = now
            return all(now - group.steps.get(r, -1e18) <= span for r in rule.rules)
        # temporal_ordered: steps[r] is the start time of the latest chain reaching rule r
        index = rule.rules.index(rule_id)
        if index == 0:
            group.steps[rule_id] = now
        else:
            started = group.steps.get(rule.rules[index - 1])
            if started is not None and now - started <= span:
                group.steps[rule_id] = started
        return rule.rules[-1] in group.steps and now - group.steps[rule.rules[-1]] <= span

    def _match(self, group: _Group) -> Match:
        return Match(self.rule.info, group.entity, tuple(group.event_ids), group.last)

    def expire(self, now: float) -> list[Match]:
        """Judge the windows that closed before `now` (lt/lte/eq/neq conditions)."""
        if self.rule.op in _ON_ARRIVAL or self.rule.type.startswith("temporal"):
            return []
        out: list[Match] = []
        for key in list(self.groups):
            group = self.groups[key]
            if now - group.start <= self.rule.timespan:
                continue
            del self.groups[key]
            size = len(group.times) if self.rule.type == "event_count" else len(group.values)
            if _holds(self.rule.op, size, self.rule.count):
                out.append(self._match(group))
        return out

    def flush(self) -> list[Match]:
        return self.expire(float("inf"))
