"""The search and alerts API over real HTTP, on an hour of a realistic cluster."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubetrail.demo.generate import ATTACKER_IP, generate, lines
from kubetrail.parse import normalize
from tests.service.conftest import Live, kubetrail, start_live

SPAN = {"from": "2025-09-14T09:00:00Z", "to": "2025-09-14T10:00:00Z"}
EVENTS = list(generate(minutes=60, seed=42))


@pytest.fixture(scope="module")
def hour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A service fed the demo hour (with its attack) through the intake."""
    live = start_live(tmp_path_factory.mktemp("hour"))
    body = list(lines(minutes=60, seed=42))
    for start in range(0, len(body), 2000):
        httpx.post(
            live.url + "/plain/batch",
            content=b"\n".join(body[start : start + 2000]),
            headers={"X-SEKOIAIO-INTAKE-KEY": live.key},
            timeout=60,
        ).raise_for_status()
    yield live
    live.server.stop()


def search(live: Live, q: str, **params: Any) -> dict[str, Any]:
    with live.client(live.viewer) as api:
        reply = api.get("/api/v1/events", params={"q": q, **SPAN, **params})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_a_field_search_finds_exactly_the_matching_events(hour: Live) -> None:
    want = [
        e
        for e in EVENTS
        if (e.get("objectRef") or {}).get("resource") == "secrets" and e["verb"] == "get"
    ]
    page = search(hour, "kubernetes.resource:secrets AND event.action:get", limit=1000)
    assert sorted(e["event"]["code"] for e in page["events"]) == sorted(e["auditID"] for e in want)
    assert page["query"]["description"] == (
        "kubernetes.resource is secrets and event.action is get"
    )
    newest = max(want, key=lambda e: e["requestReceivedTimestamp"])
    first = page["events"][0]
    assert first["event"]["code"] == newest["auditID"]
    assert first["kubetrail"]["description"].startswith(
        f"{newest['user']['username']} performed a get on secrets/"
    )
    assert first["kubetrail"]["intake"] == "test-cluster"


def test_keyset_paging_walks_every_event_once_newest_first(hour: Live) -> None:
    seen: list[str] = []
    times: list[str] = []
    cursor = None
    while True:
        page = search(
            hour, "event.action:update", limit=700, **({"cursor": cursor} if cursor else {})
        )
        seen += [e["kubetrail"]["event_id"] for e in page["events"]]
        times += [e["@timestamp"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == sum(e["verb"] == "update" for e in EVENTS)
    assert times == sorted(times, reverse=True)


def test_one_event_by_id(hour: Live) -> None:
    event = search(hour, "kubernetes.subresource:exec", limit=1)["events"][0]
    with hour.client(hour.viewer) as api:
        again = api.get(f"/api/v1/events/{event['kubetrail']['event_id']}").json()
        missing = api.get("/api/v1/events/" + "0" * 32)
    assert again == event
    assert missing.status_code == 404


def test_facets_count_like_the_events_do(hour: Live) -> None:
    with hour.client(hour.viewer) as api:
        reply = api.get(
            "/api/v1/facets", params={"field": "user.name", "q": "*", "size": 3, **SPAN}
        ).json()
        roles = api.get("/api/v1/facets", params={"field": "user.roles", "size": 50, **SPAN}).json()
    names = Counter(normalize(orjson.dumps(e))["user"]["name"] for e in EVENTS)
    assert [(v["value"], v["count"]) for v in reply["values"]] == names.most_common(3)
    role_counts = {v["value"]: v["count"] for v in roles["values"]}
    assert role_counts["system:authenticated"] == sum(
        "system:authenticated" in normalize(orjson.dumps(e))["user"].get("roles", [])
        for e in EVENTS
    )


def test_histogram_buckets_add_up(hour: Live) -> None:
    with hour.client(hour.viewer) as api:
        body = api.get(
            "/api/v1/histogram", params={"q": "event.action:get", "interval": "5m", **SPAN}
        ).json()
    assert body["interval_ms"] == 300_000
    assert len(body["buckets"]) == 12
    assert sum(b["count"] for b in body["buckets"]) == sum(e["verb"] == "get" for e in EVENTS)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": "user.name:((("}, "bad_query"),
        ({"q": "*", "from": "yesterday"}, "bad_time"),
        ({"q": "*", "from": "2025-09-15T00:00:00Z", "to": "2025-09-14T00:00:00Z"}, "bad_range"),
        ({"q": "*", "limit": "0"}, "bad_parameter"),
        ({"q": "*", "cursor": "not-a-cursor"}, "bad_request"),
    ],
)
def test_bad_searches_are_400_with_the_reason(
    hour: Live, params: dict[str, str], code: str
) -> None:
    with hour.client(hour.viewer) as api:
        reply = api.get("/api/v1/events", params=params)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code


def test_a_syntax_error_reports_its_position(hour: Live) -> None:
    with hour.client(hour.viewer) as api:
        error = api.get("/api/v1/events", params={"q": "user.name:((("}).json()["error"]
    assert error["position"] == 13
    assert error["caret"].endswith("^")


def test_injection_shaped_values_are_data(hour: Live) -> None:
    for q in ['user.name:"x\' OR 1=1 --"', 'user.name:"a\'; DROP TABLE events; --"']:
        assert search(hour, q)["events"] == []
    assert len(search(hour, "*", limit=5)["events"]) == 5


@pytest.mark.parametrize("token", [None, "ktt_unknown"])
def test_the_api_needs_a_valid_token(hour: Live, token: str | None) -> None:
    with hour.client(token) as api:
        reply = api.get("/api/v1/events")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"


def test_detection_raises_alerts_for_the_attack(hour: Live) -> None:
    deadline = time.monotonic() + 10
    alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with hour.client(hour.viewer) as api:
            alerts = api.get("/api/v1/alerts", params={"level": "high"}).json()["alerts"]
        if any(a["rule"]["name"].startswith("Binding to cluster-admin") for a in alerts):
            break
        time.sleep(0.3)
    attacker = [a for a in alerts if a["entity"]["source_ip"] == ATTACKER_IP]
    names = {a["rule"]["name"] for a in attacker}
    assert {
        "Privileged container in a pod",
        "Binding to cluster-admin or another privileged role",
    } <= names
    binding = next(a for a in attacker if a["rule"]["name"].startswith("Binding"))
    assert "T1098.006" in binding["threat"]["technique"]["id"]
    with hour.client(hour.viewer) as api:
        event = api.get(f"/api/v1/events/{binding['event_ids'][0]}").json()
    assert event["kubernetes"]["role"]["name"] == "cluster-admin"


def test_exec_alerts_once_per_audit_id(hour: Live) -> None:
    with hour.client(hour.viewer) as api:
        alerts = api.get("/api/v1/alerts").json()["alerts"]
    execs = [a for a in alerts if a["rule"]["name"] == "Exec into a pod"]
    assert len(execs) == 1
    assert execs[0]["count"] == 3  # three execs, each logged at two stages


def test_only_analysts_change_alert_status(hour: Live) -> None:
    with hour.client(hour.viewer) as api:
        alert = api.get("/api/v1/alerts").json()["alerts"][0]
        denied = api.patch(f"/api/v1/alerts/{alert['id']}", json={"status": "closed"})
    assert denied.status_code == 403
    with hour.client(hour.analyst) as api:
        bad = api.patch(f"/api/v1/alerts/{alert['id']}", json={"status": "done"})
        done = api.patch(f"/api/v1/alerts/{alert['id']}", json={"status": "acknowledged"})
        listed = api.get("/api/v1/alerts", params={"status": "acknowledged"}).json()["alerts"]
    assert bad.status_code == 400
    assert done.json()["status"] == "acknowledged"
    assert alert["id"] in {a["id"] for a in listed}


def test_the_alerts_cli_reads_the_same_store(hour: Live) -> None:
    out = kubetrail(hour.server.data_dir, "alerts", "list", "--json", "--level", "critical")
    assert orjson.loads(out)["rule"]["level"] == "critical"


def test_openapi_lists_every_api_route(hour: Live) -> None:
    spec = httpx.get(hour.url + "/openapi.json").json()
    assert {
        "/plain",
        "/plain/batch",
        "/jsons",
        "/batch",
        "/array",
        "/",
        "/webhook",
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/facets",
        "/api/v1/histogram",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}",
    } <= set(spec["paths"])


def test_metrics_count_what_happened(hour: Live) -> None:
    text = httpx.get(hour.url + "/metrics").text
    stored = next(
        line for line in text.splitlines() if line.startswith("kubetrail_events_stored_total")
    )
    assert float(stored.split()[-1]) == len(EVENTS)
    assert 'kubetrail_request_seconds_count{route="/plain/batch",status="200"}' in text


def test_unknown_routes_share_the_error_shape(hour: Live) -> None:
    reply = httpx.get(hour.url + "/nope")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


def test_search_cli_prints_a_table(hour: Live, tmp_path: Path) -> None:
    out = kubetrail(
        hour.server.data_dir,
        "search",
        "--since",
        "100000d",
        "--json",
        "--limit",
        "1",
        "kubernetes.resource:clusterrolebindings",
    )
    assert orjson.loads(out)["kubernetes"]["object"]["name"] == "backup-operator"
