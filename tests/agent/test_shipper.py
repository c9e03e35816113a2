"""The shipper against a real HTTP intake on loopback: every failure mode ends in delivery."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from kubetrail.agent import parse_config
from kubetrail.agent.metrics import Metrics
from kubetrail.agent.shipper import Shipper, Stopping
from tests.agent import fake_intake
from tests.agent.fake_intake import FakeIntake

LINES = [orjson.dumps({"auditID": f"id-{i}", "verb": "get"}) for i in range(50)]
BODY = b"\n".join(LINES)


def shipper(intake: FakeIntake, tmp_path: Path, **extra: object) -> tuple[Shipper, Metrics]:
    cfg = parse_config(
        {
            "intake_url": intake.url,
            "state_dir": str(tmp_path),
            "logfiles": [{"filepath": "/a.log", "intakekey": intake.key}],
            "retry_initial": 0.01,
            "retry_max": 0.05,
            **extra,
        }
    )
    metrics = Metrics()
    return Shipper(cfg, metrics, threading.Event()), metrics


class RecordingStop(threading.Event):
    """The shipper's stop event, recording how long it was asked to wait instead of waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(503, "0"), (429, "0"), (500, None), (502, None)],
)
def test_transient_failures_are_retried_until_stored(
    intake: FakeIntake, tmp_path: Path, status: int, retry_after: str | None
) -> None:
    intake.fail(status, retry_after, times=3)
    ship, metrics = shipper(intake, tmp_path)
    ship.deliver(intake.key, BODY, "/a.log", "/a.log")
    assert sorted(intake.stored_lines()) == sorted(LINES)
    assert [r.status for r in intake.requests] == [status] * 3 + [200]
    assert metrics.get("retries") == 3


def test_retry_after_is_honoured(intake: FakeIntake, tmp_path: Path) -> None:
    intake.fail(503, "1", times=1)
    ship, _ = shipper(intake, tmp_path)
    ship.stop = stop = RecordingStop()
    ship.deliver(intake.key, BODY, "/a.log", "/a.log")
    assert stop.waits == [1.0]


def test_connection_refused_is_retried_until_the_intake_is_back(
    intake: FakeIntake, tmp_path: Path
) -> None:
    intake.stop()
    ship, metrics = shipper(intake, tmp_path)
    threading.Timer(0.3, intake.start).start()
    ship.deliver(intake.key, BODY, "/a.log", "/a.log")
    assert len(intake.stored_lines()) == len(LINES)
    assert metrics.get("retries") >= 1


def test_an_unknown_key_keeps_the_batch_until_the_agent_stops(
    intake: FakeIntake, tmp_path: Path
) -> None:
    ship, _ = shipper(intake, tmp_path)
    threading.Timer(0.3, ship.stop.set).start()
    with pytest.raises(Stopping):
        ship.deliver("wrong-key", BODY, "/a.log", "/a.log")
    assert intake.stored_lines() == []
    assert intake.requests[0].status == 401


def test_a_request_too_large_is_split(
    intake: FakeIntake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_intake, "REQUEST_LIMIT", 1000)
    ship, _ = shipper(intake, tmp_path, compression="none")
    ship.deliver(intake.key, BODY, "/a.log", "/a.log")
    assert sorted(intake.stored_lines()) == sorted(LINES)
    assert intake.requests[0].status == 413
    assert all(r.lines * 30 <= 1000 for r in intake.requests if r.status == 200)


def test_lines_the_intake_refuses_come_back_as_error_events(
    intake: FakeIntake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_intake, "EVENT_LIMIT", 20_000)  # stricter than the agent's
    big = orjson.dumps({"auditID": "big", "pad": "p" * 30_000})
    ship, metrics = shipper(intake, tmp_path)
    ship.deliver(intake.key, b"\n".join([*LINES[:3], big]), "/a.log", "/a.log")
    stored = [orjson.loads(line) for line in intake.stored_lines()]
    assert sorted(d.get("auditID", "") for d in stored) == ["", "id-0", "id-1", "id-2"]
    (error,) = [d for d in stored if d.get("kind") == "KubetrailAgentError"]
    assert error["truncated_line"].startswith('{"auditID":"big","pad":"ppp')
    assert error["length"] == len(big)
    assert metrics.get("intake_rejected") == 1


def test_bodies_are_gzipped_by_default(intake: FakeIntake, tmp_path: Path) -> None:
    ship, _ = shipper(intake, tmp_path)
    ship.deliver(intake.key, BODY, "/a.log", "/a.log")
    assert intake.requests[0].gzip
