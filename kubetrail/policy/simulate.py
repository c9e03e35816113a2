"""What a policy would have made of a captured log: per rule, events and bytes in, kept, dropped.

Bytes are the size of each event as one JSON line, before (as captured) and after the policy
(as the apiserver would have written it). The volume per day scales the kept bytes by the span
of the log's `requestReceivedTimestamp`s. Events the policy would record at a higher level than
they were captured at are counted as `short`: for them the estimate is a lower bound.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from kubetrail.parse import read_events
from kubetrail.parse.timestamps import to_rfc3339_utc
from kubetrail.policy.apply import apply_config, short_of
from kubetrail.policy.checker import Policy
from kubetrail.policy.model import Level

SECONDS_PER_DAY = 86_400


@dataclass(slots=True)
class RuleStats:
    rule: int | None  # None: the events no rule matched (the policy's default, None)
    level: str
    omit_stages: frozenset[str]
    events: int = 0
    bytes: int = 0
    kept_events: int = 0
    kept_bytes: int = 0
    stage_omitted: int = 0  # of the dropped events, those dropped for their stage
    short: int = 0  # kept events captured at a lower level than the rule asks

    @property
    def dropped_events(self) -> int:
        return self.events - self.kept_events

    @property
    def dropped_bytes(self) -> int:
        return self.bytes - self.kept_bytes


@dataclass(slots=True)
class Simulation:
    rules: dict[int | None, RuleStats] = field(default_factory=dict)
    invalid: list[tuple[str, int, str]] = field(default_factory=list)  # (source, line, why)
    first: datetime | None = None
    last: datetime | None = None

    @property
    def events(self) -> int:
        return sum(r.events for r in self.rules.values())

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.rules.values())

    @property
    def kept_events(self) -> int:
        return sum(r.kept_events for r in self.rules.values())

    @property
    def kept_bytes(self) -> int:
        return sum(r.kept_bytes for r in self.rules.values())

    @property
    def span_seconds(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return (self.last - self.first).total_seconds()

    def per_day(self, amount: int) -> float | None:
        """`amount` (over the log) scaled to a day; None when the log spans under a second."""
        span = self.span_seconds
        return amount * SECONDS_PER_DAY / span if span >= 1 else None

    def ordered(self) -> list[RuleStats]:
        """Rule rows in policy order, the unmatched row last."""
        return sorted(self.rules.values(), key=lambda r: (r.rule is None, r.rule or 0))


def simulate(
    policy: Policy,
    events: Iterable[tuple[str, int, bytes]],
    out: IO[bytes] | None = None,
) -> Simulation:
    """Run `policy` over `(source, line, raw JSON)` events; write the reduced log to `out`.

    Lines that are not JSON objects are reported in `invalid` and, with `out`, written through
    unchanged: the policy cannot judge them, and a reduced log must not lose them silently.
    """
    result = Simulation()
    for index, rule in enumerate(policy.rules):
        result.rules[index] = RuleStats(index, rule.level.value, policy.rule_omit_stages(index))
    for source, line, data in events:
        raw = data.rstrip(b"\r\n")
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            event, why = None, f"not JSON: {exc}"
        else:
            why = "not a JSON object"
        if not isinstance(event, dict):
            result.invalid.append((source, line, why))
            if out is not None:
                out.write(raw + b"\n")
            continue
        _observe_time(result, event)
        config = policy.config_for(event)
        stats = result.rules.get(config.rule)
        if stats is None:
            stats = result.rules[None] = RuleStats(None, Level.NONE.value, config.omit_stages)
        size = len(raw) + 1
        stats.events += 1
        stats.bytes += size
        reduced = apply_config(config, event)
        if reduced is None:
            stats.stage_omitted += config.level is not Level.NONE
            continue
        # unchanged events keep their exact bytes; only reduced ones are serialized anew
        written = raw if reduced == event else orjson.dumps(reduced)
        stats.kept_events += 1
        stats.kept_bytes += len(written) + 1
        stats.short += short_of(event, config)
        if out is not None:
            out.write(written + b"\n")
    return result


def _observe_time(result: Simulation, event: dict[str, Any]) -> None:
    stamp = event.get("requestReceivedTimestamp")
    if not isinstance(stamp, str):
        return
    text = to_rfc3339_utc(stamp)
    if text is None:
        return
    moment = datetime.fromisoformat(text)
    if result.first is None or moment < result.first:
        result.first = moment
    if result.last is None or moment > result.last:
        result.last = moment


@contextmanager
def _opened(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with Path(path).open("rb") as handle:
        yield handle


def raw_events(paths: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
    """`(source, line, raw JSON)` of every event in the logs at `paths` (.gz, EventList...)."""
    for path in paths:
        with _opened(path) as handle:
            for raw in read_events(handle):
                yield path, raw.line, raw.data
