"""Correlations, first-seen rules, once-per-auditID, exceptions and alert aggregation."""

from __future__ import annotations

from typing import Any

import pytest

from kubetrail.detect import Detector, Engine, MemoryAlertStore, load
from kubetrail.detect.errors import DetectError
from tests.detect.conftest import DATA, LISTS, RULES, brief_event, run


def event(
    n: int, user: str, resource: str, *, minute: int, name: str = "", sub: str = ""
) -> dict[str, Any]:
    raw = brief_event("exec_into_pod")
    raw["auditID"] = f"id-{n}"
    raw["verb"] = "create" if sub else "get"
    raw["user"]["username"] = user
    raw["objectRef"] = {"resource": resource, "namespace": "web", "name": name or f"obj-{n}"}
    if sub:
        raw["objectRef"]["subresource"] = sub
    raw["requestURI"] = f"/api/v1/namespaces/web/{resource}/{raw['objectRef']['name']}"
    raw["requestReceivedTimestamp"] = f"2025-09-14T09:{minute:02d}:00.000000Z"
    return raw


def engine() -> Engine:
    ruleset = load([RULES / "correlations.yml"], [LISTS], builtin=False)
    assert not ruleset.errors
    return Engine(ruleset)


def titles(events: list[dict[str, Any]]) -> list[str]:
    return [m.rule.title for m in run(engine(), events)]


@pytest.mark.parametrize(
    ("minutes", "bulk"),
    [([0, 1, 2], True), ([0, 1, 9], False), ([0, 4, 5], True)],
)
def test_event_count_in_a_window(minutes: list[int], bulk: bool) -> None:
    events = [event(n, "mallory", "secrets", minute=m) for n, m in enumerate(minutes)]
    assert ("Secrets read in bulk" in titles(events)) is bulk


def test_event_count_groups_by_user() -> None:
    events = [event(n, f"user{n}", "secrets", minute=0) for n in range(3)]
    assert "Secrets read in bulk" not in titles(events)


def test_base_rule_of_a_correlation_does_not_alert_by_itself() -> None:
    assert "Secret read" not in titles([event(1, "a", "secrets", minute=0)])


def test_value_count_counts_distinct_values() -> None:
    same = [event(n, "m", "secrets", minute=0, name="db") for n in range(4)]
    distinct = [event(n, "m", "secrets", minute=0, name=f"s{n}") for n in range(3)]
    assert "Many distinct secrets" not in titles(same)
    assert "Many distinct secrets" in titles(distinct)


@pytest.mark.parametrize(
    ("order", "temporal", "ordered"),
    [(["exec", "secret"], True, True), (["secret", "exec"], True, False)],
)
def test_temporal_and_ordered(order: list[str], temporal: bool, ordered: bool) -> None:
    make = {
        "exec": lambda n: event(n, "m", "pods", minute=n, sub="exec"),
        "secret": lambda n: event(n, "m", "secrets", minute=n),
    }
    fired = titles([make[kind](n) for n, kind in enumerate(order)])
    assert ("Exec then secrets" in fired) is temporal
    assert ("Exec before secrets, in order" in fired) is ordered


def test_lt_condition_is_judged_when_the_window_closes() -> None:
    fired = titles([event(1, "quiet", "secrets", minute=0)])
    assert fired.count("Fewer than two secret reads") == 1


def test_correlation_memory_is_bounded() -> None:
    eng = engine()
    for correlator in eng.correlators:
        correlator.max_groups = 50
    run(eng, [event(n, f"user{n}", "secrets", minute=0) for n in range(500)])
    assert all(len(c.groups) <= 50 for c in eng.correlators)


def test_exec_alerts_once_per_audit_id() -> None:
    eng = Engine(load([RULES / "exec.yml"], [LISTS], builtin=False))
    started = brief_event("exec_into_pod")
    started["stage"] = "ResponseStarted"
    assert len(run(eng, [started, brief_event("exec_into_pod")])) == 1


def test_first_seen_fires_once_per_history_window() -> None:
    eng = Engine(load([RULES / "newvalue.yml"], [LISTS], builtin=False))

    def at(n: int, day: int, ip: str) -> dict[str, Any]:
        raw = brief_event("exec_into_pod")
        raw.update(
            auditID=f"nv-{n}",
            sourceIPs=[ip],
            requestReceivedTimestamp=f"2025-09-{day:02d}T09:00:00Z",
        )
        return raw

    fired = run(
        eng, [at(1, 1, "1.1.1.1"), at(2, 1, "1.1.1.1"), at(3, 1, "2.2.2.2"), at(4, 3, "1.1.1.1")]
    )
    assert [m.event_ids[0] for m in fired] == ["0", "2", "3"]


def test_user_exception_filter_silences_one_principal() -> None:
    folders = [RULES / "exec.yml", DATA / "filters"]
    eng = Engine(load(folders, [LISTS], builtin=False))
    allowed = brief_event("exec_into_pod")
    allowed["user"]["username"] = "breakglass@example.com"
    assert run(eng, [allowed]) == []
    assert len(run(eng, [brief_event("exec_into_pod")])) == 1


def test_alerts_aggregate_per_entity_within_the_window() -> None:
    store = MemoryAlertStore()
    detector = Detector(engine(), store, window=600)
    for n, minute in enumerate([0, 1, 2, 3, 4, 5, 40, 41, 42]):
        raw = event(n, "mallory", "secrets", minute=minute)
        detector.ingest(raw, {}, f"e{n}")
    detector.finish()
    bulk = [a for a in store.list() if a.rule_title == "Secrets read in bulk"]
    assert sorted(a.count for a in bulk) == [1, 2]  # 09:00-09:05 grouped; 09:42 is a new alert
    alert = bulk[0]
    data = alert.to_dict()
    assert data["threat"]["technique"]["id"] == ["T1552.007"]
    assert data["entity"]["user"] == "mallory"
    assert store.set_status(alert.id, "acknowledged").status == "acknowledged"
    with pytest.raises(DetectError):
        store.set_status(alert.id, "deleted")
    assert type(alert).from_dict(data).to_dict() == data
