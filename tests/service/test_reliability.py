"""Acknowledged means committed: a kill -9 in the middle of a load loses nothing acknowledged."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import orjson

from kubetrail.demo.generate import generate
from tests.service.conftest import Server, kubetrail


def test_kill_9_during_load_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    key = kubetrail(tmp_path, "intakes", "create", "load")
    token = kubetrail(tmp_path, "tokens", "create", "check", "--role", "viewer")
    # the sample is from 2025: keep it through the retention pass at restart
    server = Server(tmp_path, extra_env={"KUBETRAIL_RETENTION_DAYS": "36500"}).start()
    events = [orjson.dumps(e) for e in generate(minutes=30, seed=5)]
    acknowledged: list[str] = []
    lock = threading.Lock()

    def post(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for start in range(worker * 200, len(events), 4 * 200):
                try:
                    reply = client.post(
                        "/plain/batch",
                        content=b"\n".join(events[start : start + 200]),
                        headers={"X-SEKOIAIO-INTAKE-KEY": key},
                    )
                except httpx.TransportError:
                    return  # the server is gone: what was not acknowledged may be lost
                if reply.status_code == 200:
                    with lock:
                        acknowledged.extend(reply.json()["event_ids"])

    workers = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    while len(acknowledged) < 1500:
        time.sleep(0.01)
    server.stop(signal.SIGKILL)
    for worker in workers:
        worker.join()
    assert 1500 <= len(acknowledged) < len(events)

    server.start()
    stored: set[str] = set()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        cursor = None
        while True:
            params: dict[str, str | int] = {
                "q": "*",
                "from": "2000-01-01T00:00:00Z",
                "to": "2100-01-01T00:00:00Z",
                "limit": 1000,
            }
            if cursor:
                params["cursor"] = cursor
            page = api.get("/api/v1/events", params=params).json()
            stored |= {e["kubetrail"]["event_id"] for e in page["events"]}
            cursor = page["next_cursor"]
            if not cursor:
                break
    server.stop()
    assert set(acknowledged) <= stored
