"""An intake that cannot keep up says so with 503 + Retry-After, never a 4xx, and loses nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from kubetrail.auth import new_secret, secret_hash
from kubetrail.demo.generate import generate
from kubetrail.ingest.pipeline import prepare
from kubetrail.ingest.writer import Writer
from kubetrail.metrics import Metrics
from kubetrail.server.app import Service, create_app
from kubetrail.settings import load
from kubetrail.store.base import Encoded, StoreBusy
from kubetrail.store.open import open_stores
from kubetrail.store.sqlite.events import SqliteEvents


class GatedStore(SqliteEvents):
    """The real store, whose appends wait until the test opens the gate."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()

    def append_unsynced(self, events: list[tuple[Encoded, str]]) -> int:
        self.gate.wait(10)  # (the writer's commits, and `append`'s, come through here)
        return super().append_unsynced(events)


def test_the_writer_refuses_beyond_its_pending_limit(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "events.db")
    writer = Writer(store, max_pending_events=90)

    events = [
        prepare(orjson.dumps(e).decode(), 1, "x", None, 0) for e in generate(minutes=1, seed=1)
    ][:160]
    first = writer.submit(events[:60])
    while writer.pending_events:  # taken by the writer, which now waits at the gate
        threading.Event().wait(0.01)
    second = writer.submit(events[60:120])
    with pytest.raises(StoreBusy):
        writer.submit(events[120:160])
    store.gate.set()
    assert first.result(10) + second.result(10) == 120
    writer.close()


def test_the_writer_says_when_commits_follow_each_other(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "events.db")
    saturated = threading.Event()
    writer = Writer(store, max_pending_events=1000, on_saturated=saturated.set)
    events = [
        prepare(orjson.dumps(e).decode(), 1, "x", None, 0) for e in generate(minutes=1, seed=1)
    ]
    store.gate.set()
    writer.submit(events[:10]).result(10)  # one batch at a time: the writer waits for work
    assert not saturated.is_set()
    store.gate.clear()
    first = writer.submit(events[10:20])
    while writer.pending_events:  # taken, and held at the gate
        threading.Event().wait(0.01)
    second = writer.submit(events[20:30])  # waits while the first commits
    store.gate.set()
    assert first.result(10) + second.result(10) == 20
    assert saturated.is_set()
    writer.close()


def test_an_overloaded_intake_answers_503_with_retry_after(tmp_path: Path) -> None:
    config = load({"data_dir": str(tmp_path), "max_pending_events": "50"})
    _, state = open_stores(config)
    key = new_secret("kti")
    state.create_intake("x", secret_hash(key))
    store = GatedStore(tmp_path / "events.db")
    service = Service(config, store, state, Writer(store, config.max_pending_events), Metrics())
    sample = [orjson.dumps(e) for e in list(generate(minutes=1, seed=2))[:120]]
    queued = [prepare(line.decode(), 1, "x", None, 0) for line in sample[:80]]
    with TestClient(create_app(config, service, detection=False)) as client:
        taken = service.writer.submit(queued[:40])
        while service.writer.pending_events:  # the writer holds it, waiting at the gate
            threading.Event().wait(0.01)
        waiting = service.writer.submit(queued[40:80])
        busy = client.post(
            "/plain/batch", content=b"\n".join(sample[80:]), headers={"X-SEKOIAIO-INTAKE-KEY": key}
        )
        store.gate.set()
        assert taken.result(10) + waiting.result(10) == 80
        retried = client.post(
            "/plain/batch", content=b"\n".join(sample[80:]), headers={"X-SEKOIAIO-INTAKE-KEY": key}
        )
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "overloaded"
    assert retried.status_code == 200
