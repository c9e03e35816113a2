"""The intake and search API of a real `kubetrail serve`, once per backend pair:
embedded (SQLite + SQLite) and scaled out (ClickHouse events + PostgreSQL state)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.scale.service import Replica, cli, environment, post, serve, stream, wait_for

DENIAL_BURST = "df2cecef-c4e6-4b61-a668-0bccc7564894"


@pytest.fixture(params=["embedded", "clickhouse+postgres"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Replica, str, str]]:
    events_url = state_url = ""
    if request.param != "embedded":
        events_url = request.getfixturevalue("clickhouse_url")
        state_url = request.getfixturevalue("postgres_url")
    env = environment(tmp_path / "data", events_url, state_url)
    key = cli(env, "intakes", "create", "prod")
    token = cli(env, "tokens", "create", "hunter", "--role", "analyst")
    with serve(env, tmp_path / "serve.log") as replica:
        yield replica, key, token


def api(replica: Replica, token: str, path: str, **params: Any) -> Any:
    response = httpx.get(
        replica.url + path,
        params={"from": "now-1h", **params},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_events_posted_are_searchable_faceted_and_detected(
    service: tuple[Replica, str, str],
) -> None:
    replica, key, token = service
    sent = stream()
    post(replica.url, key, sent)
    post(replica.url, key, sent[:5])  # a sender's retry: stored once
    wait_for(
        lambda: len(api(replica, token, "/api/v1/events", limit=100)["events"]) == len(sent),
        what="the events to be searchable",
    )
    # search with paging, newest first
    pages, cursor = [], None
    while True:
        extra: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = api(replica, token, "/api/v1/events", q="user.name:mallory", limit=5, **extra)
        pages.extend(page["events"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(pages) == 16
    assert {e["kubetrail"]["event_id"] for e in pages} == {
        e["kubetrail"]["event_id"] for e in pages
    }
    stamps = [e["@timestamp"] for e in pages]
    assert stamps == sorted(stamps, reverse=True)
    one = api(replica, token, f"/api/v1/events/{pages[0]['kubetrail']['event_id']}")
    assert one["user"]["name"] == "mallory"
    # facets and histogram agree with what was sent
    facet = api(replica, token, "/api/v1/facets", field="kubernetes.resource")
    assert {v["value"]: v["count"] for v in facet["values"]} == dict(
        Counter(e["objectRef"]["resource"] for e in sent)
    )
    status = api(replica, token, "/api/v1/facets", field="http.response.status_code")
    assert {v["value"]: v["count"] for v in status["values"]} == {403: 16, 101: 2}
    histogram = api(replica, token, "/api/v1/histogram", interval="1m")
    assert sum(b["count"] for b in histogram["buckets"]) == len(sent)
    # detection: the exec alerts (one rule, one entity: one alert) and the burst fires once
    alerts = wait_for(
        lambda: [
            a
            for a in api(replica, token, "/api/v1/alerts")["alerts"]
            if a["rule"]["id"] == DENIAL_BURST
        ],
        what="the denial-burst correlation",
    )
    assert len(alerts) == 1 and alerts[0]["entity"]["user"] == "mallory"
    every = api(replica, token, "/api/v1/alerts")["alerts"]
    execs = [a for a in every if a["entity"]["user"] == "user@mail.com"]
    assert execs and all(a["count"] >= 1 for a in execs)
