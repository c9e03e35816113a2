"""The behaviour of a state store, once per backend: embedded SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubetrail.auth import Role
from kubetrail.detect.alerts import AlertNotFound
from kubetrail.detect.errors import DetectError
from kubetrail.detect.match import Entity, Match
from kubetrail.detect.rules import RuleInfo
from kubetrail.store.base import StateStore, StoreError
from tests.store.backends import STATE_BACKENDS, state_store

T0 = 1_757_840_000.0


@pytest.fixture(params=STATE_BACKENDS)
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    store = state_store(request, request.param, tmp_path)
    yield store
    store.close()


def test_intakes_are_created_found_by_key_and_revoked(state: StateStore) -> None:
    first = state.create_intake("prod-eu", "hash-1")
    second = state.create_intake("lab", "hash-2")
    assert [i.name for i in state.list_intakes()] == ["prod-eu", "lab"]
    assert first.created_at.endswith("Z") and first.revoked_at is None
    found = state.intake_by_key_hash("hash-2")
    assert found is not None and found.id == second.id
    assert state.intake_by_key_hash("hash-x") is None
    with pytest.raises(StoreError, match="prod-eu"):
        state.create_intake("prod-eu", "hash-3")
    assert state.revoke_intake("prod-eu")
    assert not state.revoke_intake("prod-eu")
    assert state.intake_by_key_hash("hash-1") is None
    # a revoked name may be reused, with a new key
    assert state.create_intake("prod-eu", "hash-4").name == "prod-eu"
    assert [i.revoked_at is not None for i in state.list_intakes()] == [True, False, False]


def test_tokens_keep_their_role_and_stop_working_when_revoked(state: StateStore) -> None:
    state.create_token("ci", Role.VIEWER, "t-1")
    state.create_token("oncall", Role.ANALYST, "t-2")
    token = state.token_by_hash("t-2")
    assert token is not None and (token.name, token.role) == ("oncall", Role.ANALYST)
    with pytest.raises(StoreError, match="ci"):
        state.create_token("ci", Role.ADMIN, "t-3")
    assert state.revoke_token("oncall") and not state.revoke_token("nobody")
    assert state.token_by_hash("t-2") is None
    assert [(t.name, t.revoked_at is None) for t in state.list_tokens()] == [
        ("ci", True),
        ("oncall", False),
    ]


def rule(rule_id: str, level: str = "high") -> RuleInfo:
    return RuleInfo(rule_id, f"Rule {rule_id}", level, Path("r.yml"), 1, techniques=("T1609",))


def match(rule_id: str, user: str, at: float, event: str, level: str = "high") -> Match:
    entity = Entity(user=user, source_ip="10.0.0.7", namespace="prod", object=f"pods/{event}")
    return Match(rule(rule_id, level), entity, (event,), at)


def test_matches_of_one_rule_and_entity_join_one_alert(state: StateStore) -> None:
    alerts = state.alerts
    first, created = alerts.upsert(match("exec", "mallory", T0, "e1"))
    assert created
    again, created = alerts.upsert(match("exec", "mallory", T0 + 60, "e2"))
    assert not created and again.id == first.id
    stored = alerts.get(first.id)
    assert (stored.count, stored.event_ids, stored.objects) == (
        2,
        ["e1", "e2"],
        ["pods/e1", "pods/e2"],
    )
    assert stored.first_seen == T0 and stored.last_seen == T0 + 60
    # another entity, another rule, or past the window: new alerts
    assert alerts.upsert(match("exec", "eve", T0, "e3"))[1]
    assert alerts.upsert(match("secrets", "mallory", T0, "e4"))[1]
    assert alerts.upsert(match("exec", "mallory", T0 + 60 + 7200, "e5"), window=3600)[1]


def test_closed_alerts_are_not_reopened(state: StateStore) -> None:
    alerts = state.alerts
    alert, _ = alerts.upsert(match("exec", "mallory", T0, "e1"))
    assert alerts.set_status(alert.id, "closed").status == "closed"
    fresh, created = alerts.upsert(match("exec", "mallory", T0 + 5, "e2"))
    assert created and fresh.id != alert.id
    assert alerts.get(alert.id).status == "closed"


def test_alert_lists_filter_by_status_and_level_newest_first(state: StateStore) -> None:
    alerts = state.alerts
    low, _ = alerts.upsert(match("discovery", "bob", T0, "e1", level="low"))
    high, _ = alerts.upsert(match("exec", "mallory", T0 + 10, "e2", level="high"))
    crit, _ = alerts.upsert(match("escape", "mallory", T0 + 20, "e3", level="critical"))
    assert [a.id for a in alerts.list()] == [crit.id, high.id, low.id]
    assert [a.id for a in alerts.list(min_level="high")] == [crit.id, high.id]
    alerts.set_status(high.id, "acknowledged")
    assert [a.id for a in alerts.list(status="acknowledged")] == [high.id]
    assert [a.id for a in alerts.list(status="open", limit=1)] == [crit.id]
    assert alerts.get(crit.id).to_dict()["threat"]["technique"]["id"] == ["T1609"]


def test_unknown_alerts_and_statuses_are_refused(state: StateStore) -> None:
    alert, _ = state.alerts.upsert(match("exec", "mallory", T0, "e1"))
    with pytest.raises(AlertNotFound):
        state.alerts.get("no-such-alert")
    with pytest.raises(AlertNotFound):
        state.alerts.set_status("no-such-alert", "closed")
    with pytest.raises(DetectError, match="status"):
        state.alerts.set_status(alert.id, "resolved")
    assert state.alerts.get(alert.id).status == "open"


@pytest.mark.parametrize("state", ["postgres"], indirect=True)
def test_the_same_detection_through_another_replica_counts_once(state: StateStore) -> None:
    # shared state only: one embedded service's engine already drops a retried audit ID
    first, _ = state.alerts.upsert(match("exec", "mallory", T0, "e1"))
    again, created = state.alerts.upsert(match("exec", "mallory", T0, "e1"))
    assert not created and again.id == first.id
    assert state.alerts.get(first.id).count == 1


def test_a_batch_of_matches_is_recorded_as_one_by_one(state: StateStore) -> None:
    """upsert_many (one transaction per detection batch) keeps upsert's meaning, in order:
    matches of one pair join, a replayed one counts once, a closed alert is not reopened."""
    closed, _ = state.alerts.upsert(match("escape", "eve", T0, "e0"))
    state.alerts.set_status(closed.id, "closed")
    batch = [
        match("exec", "mallory", T0, "e1"),
        match("exec", "mallory", T0 + 60, "e2"),
        match("exec", "mallory", T0 + 60, "e2"),  # the same events again: no change
        match("secrets", "mallory", T0 + 61, "e3"),
        match("escape", "eve", T0 + 62, "e4"),  # its alert is closed: a new one
        match("exec", "mallory", T0 + 60 + 7200, "e5"),  # past the window: a new one
    ]
    results = state.alerts.upsert_many(batch, window=3600)
    assert [created for _, created in results] == [True, False, False, True, True, True]
    exec_alert = state.alerts.get(results[0][0].id)
    assert (exec_alert.count, exec_alert.event_ids) == (2, ["e1", "e2"])
    assert results[4][0].id != closed.id
    assert state.alerts.get(closed.id).status == "closed"
    assert len(state.alerts.list()) == 5
    assert state.alerts.upsert_many([]) == []


def test_a_batch_over_many_pairs_joins_each_pair_s_newest_alert(state: StateStore) -> None:
    # a pair with two alerts (the second opened past the first's window): the batch joins the
    # newer; hundreds of other pairs in the same batch each open their own
    older, _ = state.alerts.upsert(match("exec", "mallory", T0, "e1"), window=3600)
    newer, created = state.alerts.upsert(match("exec", "mallory", T0 + 7200, "e2"), window=3600)
    assert created and newer.id != older.id
    batch = [match("exec", f"user-{n}", T0 + 7300, f"u{n}") for n in range(300)]
    batch.insert(150, match("exec", "mallory", T0 + 7300, "e3"))
    results = state.alerts.upsert_many(batch, window=3600)
    joined, created = results[150]
    assert not created and joined.id == newer.id
    assert state.alerts.get(newer.id).event_ids == ["e2", "e3"]
    assert state.alerts.get(older.id).event_ids == ["e1"]
    assert sum(created for _, created in results) == 300
    assert len({alert.id for alert, _ in results}) == 301
