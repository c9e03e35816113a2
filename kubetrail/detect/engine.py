"""The detection engine: every event through every rule that can match it, in memory.

    engine = Engine.from_paths(rules=["my-rules/"], lists=["my-lists/"])
    for match in engine.process(raw, doc, event_id):   # raw audit dict, its ECS document
        ...                                            # -> AlertStore.upsert(match, window)
    engine.flush()                                     # at the end of a finite input

Rules are indexed by the verbs, resources and subresources their conditions require, so an
event is only tried against the rules that name its verb, resource and subresource (or name
none): the cost grows with the rules that could match, not with the size of the pack. One
audit ID alerts once per rule (exec and attach are logged at ResponseStarted and at
ResponseComplete).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from kubetrail.detect.correlate import Correlator
from kubetrail.detect.event import Event
from kubetrail.detect.gates import Gates
from kubetrail.detect.loader import load
from kubetrail.detect.match import Entity, Match
from kubetrail.detect.rules import CompiledRule, RuleSet

DEDUPE_SIZE: Final = 200_000  # (rule, auditID) pairs remembered: far more than one window
HISTORY_SIZE: Final = 100_000  # first-seen tuples remembered per rule
ANY: Final = "*"
Key = tuple[str, str, str]  # verb, resource, subresource: lower case, "" when absent


class FirstSeen:
    """The value tuples a first-seen rule has met, each with when it was last met (LRU)."""

    def __init__(self, history: float, size: int = HISTORY_SIZE) -> None:
        self.history = history
        self.size = size
        self.seen: OrderedDict[tuple[str, ...], float] = OrderedDict()

    def is_new(self, key: tuple[str, ...], now: float) -> bool:
        last = self.seen.pop(key, None)
        self.seen[key] = now
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return last is None or now - last > self.history


class _Plan:
    """The candidates of one (verb, resource, subresource): gates, and the rules without one."""

    __slots__ = ("_tried", "gates", "rules", "ungated")

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        self.rules = rules
        self.gates = Gates([r.gate for r in rules])
        self.ungated = [r for r in rules if r.gate is None]
        self._tried: dict[frozenset[int], list[CompiledRule]] = {}

    def tried(self, event: Event) -> list[CompiledRule]:
        """The rules to evaluate on `event`, in load order: the ungated and the opened."""
        opened = self.gates.opened(event)
        if not opened:
            return self.ungated
        key = frozenset(opened)
        found = self._tried.get(key)
        if found is None:
            if len(self._tried) > 1024:  # bounded; few gate combinations occur in practice
                self._tried.clear()
            found = [self.rules[n] for n in sorted(opened | self.gates.ungated)]
            self._tried[key] = found
        return found


class Engine:
    def __init__(self, ruleset: RuleSet, dedupe_size: int = DEDUPE_SIZE) -> None:
        self.ruleset = ruleset
        self.rules = ruleset.rules
        self._index: dict[Key, list[CompiledRule]] = {}
        for rule in self.rules:
            verbs, resources, subresources = (
                (ANY,) if b is None else b for b in (rule.verbs, rule.resources, rule.subresources)
            )
            for key in itertools.product(verbs, resources, subresources):
                self._index.setdefault(key, []).append(rule)
        self._order = {id(rule): n for n, rule in enumerate(self.rules)}
        self._candidates: dict[Key, tuple[CompiledRule, ...]] = {}
        self._plans: dict[Key, _Plan] = {}
        self._dedupe: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._dedupe_size = dedupe_size
        self._first_seen = {
            r.info.id: FirstSeen(r.new_value.history) for r in self.rules if r.new_value
        }
        self._correlators: dict[str, list[Correlator]] = {}
        self.correlators = [Correlator(c) for c in ruleset.correlations]
        for correlator in self.correlators:
            for rule_id in set(correlator.rule.rules):
                self._correlators.setdefault(rule_id, []).append(correlator)

    @classmethod
    def from_paths(
        cls,
        rules: Iterable[Path | str] = (),
        lists: Iterable[Path | str] = (),
        builtin: bool = True,
    ) -> Engine:
        """The built-in pack plus `rules`; invalid rules are reported in `.ruleset.problems`."""
        return cls(load(rules, lists, builtin))

    def candidates(
        self, verb: str, resource: str, subresource: str = ""
    ) -> tuple[CompiledRule, ...]:
        """The rules an event with this verb, resource and subresource can match, in load order."""
        key = (verb, resource, subresource)
        found = self._candidates.get(key)
        if found is None:
            index = self._index
            pool = {
                id(r): r
                for k in itertools.product((verb, ANY), (resource, ANY), (subresource, ANY))
                for r in index.get(k, ())
            }
            found = tuple(sorted(pool.values(), key=lambda r: self._order[id(r)]))
            if len(self._candidates) > 4096:  # bounded: verbs and resources come from senders
                self._candidates.clear()
                self._plans.clear()
            self._candidates[key] = found
            self._plans[key] = _Plan(found)
        return found

    def process(self, raw: dict[str, Any], doc: dict[str, Any], event_id: str) -> list[Match]:
        """The detections `raw` (a decoded audit event) with `doc` (its ECS document) fires."""
        verb = raw.get("verb")
        ref = raw.get("objectRef")
        resource = subresource = None
        if isinstance(ref, dict):
            resource, subresource = ref.get("resource"), ref.get("subresource")
        key = (
            verb.lower() if isinstance(verb, str) else "",
            resource.lower() if isinstance(resource, str) else "",
            subresource.lower() if isinstance(subresource, str) else "",
        )
        plan = self._plans.get(key)
        if plan is None:
            self.candidates(*key)
            plan = self._plans[key]
        if not plan.rules:
            return []
        event = Event(raw, doc, event_id)
        out: list[Match] = []
        for rule in plan.tried(event):
            if rule.predicate(event):
                out.extend(self._matched(rule, event))
        return out

    def _matched(self, rule: CompiledRule, event: Event) -> list[Match]:
        info = rule.info
        key = (info.id, event.audit_id)
        if key in self._dedupe:
            return []
        self._dedupe[key] = None
        if len(self._dedupe) > self._dedupe_size:
            self._dedupe.popitem(last=False)
        if rule.new_value is not None:
            values = tuple(
                ",".join(sorted(map(str, event.values(f)))) for f in rule.new_value.fields
            )
            if not self._first_seen[info.id].is_new(values, event.time):
                return []
        out: list[Match] = []
        if rule.generate:
            out.append(Match(info, Entity.of(event), (event.event_id,), event.time))
        for correlator in self._correlators.get(info.id, ()):
            out.extend(correlator.feed(info.id, event))
        return out

    def flush(self) -> list[Match]:
        """The correlation windows still open, judged now (call at the end of a finite input)."""
        return [m for c in self.correlators for m in c.flush()]
