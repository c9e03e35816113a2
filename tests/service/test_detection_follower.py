"""The detection process's loop: every stored event once, in order, resumable, below the intake."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from kubetrail.auth import new_secret, secret_hash
from kubetrail.demo.generate import generate
from kubetrail.detect.engine import Engine
from kubetrail.detect.pipeline import Detector
from kubetrail.ingest.pipeline import prepare
from kubetrail.server.app import build_service, create_app
from kubetrail.server.detection import (
    NICENESS,
    WATERMARK,
    Follower,
    IntakeLoad,
    start_process,
)
from kubetrail.settings import load
from kubetrail.store.open import open_state
from kubetrail.store.sqlite.events import SqliteEvents


def test_the_follower_evaluates_each_event_once_and_resumes(tmp_path: Path) -> None:
    events = SqliteEvents(tmp_path / "events.db")
    state = open_state(load({"data_dir": str(tmp_path)}))
    engine = Engine.from_paths()
    sample = [orjson.dumps(e).decode() for e in generate(minutes=60, seed=42)]
    half = len(sample) // 2
    events.append([prepare(t, 1, "x", None, 0) for t in sample[:half]])
    assert events.behind(None) == half

    first = Follower(events, state, Detector(engine, state.alerts))
    while first.step():
        pass
    mark = state.get_setting(WATERMARK)
    assert mark == str(half)
    assert first.step() == 0  # nothing new: nothing evaluated twice
    assert events.behind(mark) == 0

    events.append([prepare(t, 1, "x", None, 0) for t in sample[half:]])
    assert events.behind(mark) == len(sample) - half
    resumed = Follower(events, state, Detector(Engine.from_paths(), state.alerts))
    seen = 0
    while count := resumed.step():
        seen += count
    assert seen == len(sample) - half
    titles = {a.rule_title for a in state.alerts.list()}
    assert "Binding to cluster-admin or another privileged role" in titles
    execs = [a for a in state.alerts.list() if a.rule_title == "Exec into a pod"]
    assert len(execs) == 1 and execs[0].count == 3


def test_detection_waits_while_the_intake_is_saturated_but_not_for_long(tmp_path: Path) -> None:
    events = SqliteEvents(tmp_path / "events.db")
    state = open_state(load({"data_dir": str(tmp_path)}))
    sample = [orjson.dumps(e).decode() for e in generate(minutes=10, seed=42)]
    events.append([prepare(t, 1, "x", None, 0) for t in sample])
    intake = IntakeLoad()
    follower = Follower(events, state, Detector(Engine.from_paths(), state.alerts), intake, 0.3)
    assert not follower.deferring()  # a quiet intake: detection keeps up
    intake.mark_saturated()
    assert follower.deferring()
    time.sleep(0.35)
    intake.mark_saturated()
    assert not follower.deferring()  # waited long enough: it catches up, busy or not
    parent = threading.Thread(target=follower.run, daemon=True)
    parent.start()
    deadline = time.monotonic() + 30
    while events.behind(state.get_setting(WATERMARK)) and time.monotonic() < deadline:
        intake.mark_saturated()
        time.sleep(0.05)
    follower.running = False
    parent.join(10)
    assert events.behind(state.get_setting(WATERMARK)) == 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_detection_process_runs_below_the_intake(tmp_path: Path) -> None:
    ready = multiprocessing.get_context("spawn").Event()
    process = start_process(load({"data_dir": str(tmp_path)}), ready=ready)
    assert process.pid is not None
    try:
        assert ready.wait(30)  # set once it is ready to follow, its priority lowered
        assert _niceness(Path(f"/proc/{process.pid}/stat")) == min(19, os.nice(0) + NICENESS)
        if hasattr(os, "SCHED_IDLE"):  # Linux: only CPU time the intake leaves idle
            assert os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    finally:
        process.terminate()
        process.join(10)


def _niceness(stat: Path) -> int:
    return int(stat.read_text().rsplit(")", 1)[1].split()[16])


def test_metrics_show_how_far_detection_is_behind(tmp_path: Path) -> None:
    config = load({"data_dir": str(tmp_path)})
    service = build_service(config)
    key = new_secret("kti")
    service.state.create_intake("x", secret_hash(key))
    sample = [orjson.dumps(e) for e in generate(minutes=10, seed=4)]
    with TestClient(create_app(config, service, detection=False)) as client:
        client.post(
            "/plain/batch", content=b"\n".join(sample), headers={"X-SEKOIAIO-INTAKE-KEY": key}
        ).raise_for_status()
        assert _lag(client) == len(sample)
        events = SqliteEvents(tmp_path / "events.db")
        follower = Follower(events, service.state, Detector(Engine.from_paths(), service.alerts))
        while follower.step():
            pass
        assert _lag(client) == 0


def _lag(client: TestClient) -> float:
    text = client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("kubetrail_detection_lag_events "))
    return float(line.split()[-1])


def test_detection_evaluates_events_stored_again_after_the_store_lost_its_last_commits(
    tmp_path: Path,
) -> None:
    """The follower reads commits before their flush: a power cut in between (or a restored
    backup) leaves the watermark past the store's end, and the events the senders send again
    are numbered where the lost ones were."""
    config = load({"data_dir": str(tmp_path)})
    sample = [orjson.dumps(e).decode() for e in generate(minutes=60, seed=42)]
    half = len(sample) // 2
    events = SqliteEvents(tmp_path / "events.db")
    events.append([prepare(t, 1, "x", None, 0) for t in sample[:half]])
    events.close()  # checkpointed into events.db: the copy that survives
    survived = (tmp_path / "events.db").read_bytes()
    events = SqliteEvents(tmp_path / "events.db")
    events.append([prepare(t, 1, "x", None, 0) for t in sample[half:]])
    state = open_state(config)
    follower = Follower(events, state, Detector(Engine.from_paths(), state.alerts))
    while follower.step():
        pass
    assert state.get_setting(WATERMARK) == str(len(sample))
    events.close()
    state.close()
    (tmp_path / "events.db").write_bytes(survived)  # the second half is lost

    service = build_service(config)
    assert service.state.get_setting(WATERMARK) == str(half)
    resent = service.events.append([prepare(t, 1, "x", None, 0) for t in sample[half:]])
    assert resent == len(sample) - half
    follower = Follower(
        service.events,  # type: ignore[arg-type]
        service.state,
        Detector(Engine.from_paths(), service.state.alerts),
    )
    seen = 0
    while count := follower.step():
        seen += count
    assert seen == len(sample) - half
    # evaluated again, and counted once (the alerts of the lost commits were kept)
    execs = [a for a in service.state.alerts.list() if a.rule_title == "Exec into a pod"]
    assert len(execs) == 1 and execs[0].count == 3
    service.close()


def test_a_watermark_within_the_store_is_kept(tmp_path: Path) -> None:
    config = load({"data_dir": str(tmp_path)})
    events = SqliteEvents(tmp_path / "events.db")
    sample = [orjson.dumps(e).decode() for e in generate(minutes=10, seed=42)]
    events.append([prepare(t, 1, "x", None, 0) for t in sample])
    events.close()
    state = open_state(config)
    state.set_setting(WATERMARK, "7")
    state.close()
    service = build_service(config)
    assert service.state.get_setting(WATERMARK) == "7"
    service.close()
