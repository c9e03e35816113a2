"""Two `kubetrail serve` replicas sharing one ClickHouse and one PostgreSQL, fed a split stream."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.scale.service import LAG_MS, Replica, cli, environment, post, serve, stream, wait_for

DENIAL_BURST = "df2cecef-c4e6-4b61-a668-0bccc7564894"
LEADER_LINE = "now runs the fleet-wide detection rules"


def get(replica: Replica, token: str, path: str, **params: Any) -> Any:
    response = httpx.get(
        replica.url + path,
        params={"from": "now-1h", **params},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_split_stream_is_stored_once_and_correlated_once(
    clickhouse_url: str, postgres_url: str, tmp_path: Path
) -> None:
    env = environment(tmp_path / "data", clickhouse_url, postgres_url)
    key = cli(env, "intakes", "create", "fleet")  # one intake, known to both replicas
    token = cli(env, "tokens", "create", "hunter")
    with serve(env, tmp_path / "a.log") as a, serve(env, tmp_path / "b.log") as b:
        sent = stream()
        # the load balancer alternates; then a sender retries a batch through the other one
        post(a.url, key, sent[0::2])
        post(b.url, key, sent[1::2])
        post(b.url, key, sent[0:6:2])

        def stored() -> list[Any] | None:
            events: list[Any] = get(a, token, "/api/v1/events", limit=100)["events"]
            return events if len(events) >= len(sent) else None

        ids = {e["kubetrail"]["event_id"] for e in wait_for(stored, what="the whole stream")}
        assert len(ids) == len(sent)
        assert len(get(b, token, "/api/v1/events", limit=100)["events"]) == len(sent)

        def bursts() -> list[Any]:
            alerts = get(b, token, "/api/v1/alerts")["alerts"]
            return [x for x in alerts if x["rule"]["id"] == DENIAL_BURST]

        # each replica saw 8 distinct URIs (the rule needs more than 10): only the fleet's
        # view of all 16 can fire, and it fires once
        assert len(wait_for(bursts, what="the fleet-wide correlation")) == 1
        time.sleep(LAG_MS / 1000 + 2)  # two polls past the lag: no second firing
        assert len(bursts()) == 1
        # the single-event exec rule ran on both replicas, into one shared alert
        execs = [
            x
            for x in get(a, token, "/api/v1/alerts")["alerts"]
            if x["entity"]["user"] == "user@mail.com"
        ]
        assert execs and {x["count"] for x in execs} == {2}
        leaders = [r for r in (a, b) if LEADER_LINE in r.log.read_text()]
        assert len(leaders) == 1

        # the leader goes away: PostgreSQL frees its lock, the other replica takes over at
        # the shared watermark and counts the next burst
        leader = leaders[0]
        survivor = b if leader is a else a
        leader.process.terminate()
        leader.process.wait(30)
        post(survivor.url, key, stream(user="eve"))

        def eve() -> list[Any]:
            alerts = get(survivor, token, "/api/v1/alerts")["alerts"]
            return [
                x
                for x in alerts
                if x["rule"]["id"] == DENIAL_BURST and x["entity"]["user"] == "eve"
            ]

        assert len(wait_for(eve, what="the burst after failover")) == 1
        assert LEADER_LINE in survivor.log.read_text()
