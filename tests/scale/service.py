"""`kubetrail serve` as a real subprocess on a loopback port, with an intake key and a token,
plus realistic audit events stamped now (fleet rules read recent events)."""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import load_case
from tests.scale.servers import free_port

KUBETRAIL = [sys.executable, "-m", "kubetrail"]
# fleet rules read events this long after their time: more than the test's events take to
# be stored (they are stamped up to a second before they are sent)
LAG_MS = 3000


def environment(data_dir: Path, events_url: str, state_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETRAIL_")}
    return env | {
        "KUBETRAIL_DATA_DIR": str(data_dir),
        "KUBETRAIL_EVENTS_URL": events_url,
        "KUBETRAIL_STATE_URL": state_url,
        "KUBETRAIL_WORKERS": "1",
        "KUBETRAIL_DETECTION_LAG_MS": str(LAG_MS),
    }


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*KUBETRAIL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[Replica]:
    port = free_port()
    process = subprocess.Popen(
        [*KUBETRAIL, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "kubetrail serve did not start"
            time.sleep(0.2)
        yield Replica(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stamp(event: dict[str, Any], at: datetime) -> dict[str, Any]:
    event = copy.deepcopy(event)
    text = at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    event["auditID"] = str(uuid.uuid4())
    event["requestReceivedTimestamp"] = event["stageTimestamp"] = text
    return event


def exec_into_pod(at: datetime) -> dict[str, Any]:
    event: dict[str, Any] = _stamp(
        __import__("json").loads(load_case("exec_into_pod")["input"]["message"]), at
    )
    return event


def denied(user: str, n: int, at: datetime) -> dict[str, Any]:
    """A read of a secret refused with 403: the base of the per-user denial burst."""
    return _stamp(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": "",
            "stage": "ResponseComplete",
            "requestURI": f"/api/v1/namespaces/prod/secrets/db-{n}",
            "verb": "get",
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": ["10.2.3.4"],
            "userAgent": "curl/8.4.0",
            "objectRef": {
                "resource": "secrets",
                "namespace": "prod",
                "name": f"db-{n}",
                "apiVersion": "v1",
            },
            "responseStatus": {"metadata": {}, "status": "Failure", "code": 403},
            "requestReceivedTimestamp": "",
            "stageTimestamp": "",
            "annotations": {"authorization.k8s.io/decision": "forbid"},
        },
        at,
    )


def stream(now: datetime | None = None, user: str = "mallory") -> list[dict[str, Any]]:
    """Two execs into a pod and sixteen refused reads by one user on different URIs, within
    the last second (fleet rules start from the time the fleet started): more than ten
    distinct URIs in five minutes, the denial-burst correlation."""
    start = (now or datetime.now(UTC)) - timedelta(seconds=1)
    step = timedelta(milliseconds=50)
    events = [exec_into_pod(start), exec_into_pod(start + step)]
    events += [denied(user, n, start + (2 + n) * step) for n in range(16)]
    return events


def post(url: str, key: str, events: list[dict[str, Any]]) -> None:
    response = httpx.post(
        url + "/jsons", json=events, headers={"X-SEKOIAIO-INTAKE-KEY": key}, timeout=30
    )
    assert response.status_code in (200, 202), response.text


def wait_for(check: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
