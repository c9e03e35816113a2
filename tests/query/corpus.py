"""A small store of realistic events for the query tests, and a Python oracle to check against.

The events: a sample of the demo cluster's first two minutes (kubelets, controllers, a CI bot
holding system:masters), every demo event with a pod spec or a failure, the three events of the
product brief, and hand-written ones (a privileged pod, a denied secret read, an object name full
of wildcard characters, an unparsable line). They are stored as the store does: the hot columns
of HOT_FIELDS, `doc` without `message`, `message` verbatim (by the SQLite store itself).
"""

from __future__ import annotations

import copy
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from kubetrail.demo.generate import generate
from kubetrail.parse import normalize_or_error
from kubetrail.query import parse_time
from kubetrail.store.base import NewEvent
from kubetrail.store.sqlite.events import SqliteEvents
from tests.conftest import load_case

UNPARSABLE_AT = "2025-09-14T09:05:00Z"
Doc = dict[str, Any]


def _raw(case: str) -> Doc:
    event: Doc = orjson.loads(load_case(case)["input"]["message"])
    return event


def hand_written() -> dict[str, tuple[str, bytes]]:
    """key -> (intake, raw event text)."""
    exec_event = _raw("exec_into_pod")
    pod = copy.deepcopy(exec_event)
    pod.update(
        verb="create",
        auditID="9a3c1f5e-0000-4000-8000-000000000001",
        requestURI="/api/v1/namespaces/kube-system/pods",
        objectRef={"resource": "pods", "namespace": "kube-system", "apiVersion": "v1"},
        level="RequestResponse",
        requestReceivedTimestamp="2025-09-14T09:03:00.000001Z",
        requestObject={
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "node-debugger"},
            "spec": {
                "hostNetwork": True,
                "containers": [
                    {"name": "sidecar", "image": "busybox:1.36"},
                    {
                        "name": "shell",
                        "image": "alpine:3.20",
                        "command": ["sh", "-c", "chroot /host"],
                        "securityContext": {"privileged": True},
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    },
                ],
                "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
            },
        },
    )
    pod["responseStatus"] = {"metadata": {}, "code": 201}
    denied = copy.deepcopy(exec_event)
    denied.update(
        verb="get",
        auditID="9a3c1f5e-0000-4000-8000-000000000002",
        requestURI="/api/v1/namespaces/payments/secrets/db-password",
        objectRef={"resource": "secrets", "namespace": "payments", "name": "db-password"},
        user={"username": "Mallory", "groups": ["system:authenticated"]},
        sourceIPs=["203.0.113.66"],
        userAgent="curl/8.5.0",
        responseStatus={"metadata": {}, "code": 403, "reason": "Forbidden"},
        annotations={"authorization.k8s.io/decision": "forbid"},
        requestReceivedTimestamp="2025-09-14T09:04:00Z",
    )
    weird = copy.deepcopy(exec_event)
    weird.update(
        verb="delete",
        auditID="9a3c1f5e-0000-4000-8000-000000000003",
        requestURI="/api/v1/namespaces/web/configmaps/weird[1]*name?",
        objectRef={"resource": "configmaps", "namespace": "web", "name": "weird[1]*name?"},
        requestReceivedTimestamp="2025-09-14T09:04:30Z",
    )
    return {
        "brief-exec": ("lab", load_case("exec_into_pod")["input"]["message"].encode()),
        "brief-impersonated": (
            "lab",
            load_case("impersonated_list_pods")["input"]["message"].encode(),
        ),
        "brief-patch": ("lab", load_case("patch_deployment_scale")["input"]["message"].encode()),
        "privileged-pod": ("lab", orjson.dumps(pod)),
        "denied-secret": ("lab", orjson.dumps(denied)),
        "weird-name": ("lab", orjson.dumps(weird)),
        "unparsable": ("lab", b"GET /healthz 200 -- this isn't JSON'; DROP TABLE events; --"),
    }


def demo_sample() -> dict[str, tuple[str, bytes]]:
    raw = [orjson.dumps(event) for event in generate(minutes=2, seed=1)]
    keep: dict[str, tuple[str, bytes]] = {}
    for index, message in enumerate(raw):
        doc = normalize_or_error(message)
        interesting = bool(values(doc, "kubernetes.spec")) or any(
            code >= 400 for code in values(doc, "http.response.status_code")
        )
        if index % 15 == 0 or interesting:
            keep[f"demo-{index}"] = ("demo", message)
    return keep


def corpus() -> dict[str, tuple[str, str, Doc]]:
    """key -> (intake, message, ECS document with its message)."""
    events = {**demo_sample(), **hand_written()}
    return {
        key: (intake, message.decode(), normalize_or_error(message))
        for key, (intake, message) in events.items()
    }


def _column(doc: Doc, field: str) -> Any:
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def create_store(path: Path, events: dict[str, tuple[str, str, Doc]]) -> sqlite3.Connection:
    """The SQLite event store itself, filled with `events`, and a `keys` table naming each
    stored event (seq -> key): the compiled SQL runs against the real schema."""
    store = SqliteEvents(path)
    store.append(
        [
            NewEvent(
                uuid.uuid5(uuid.NAMESPACE_URL, key).bytes,
                parse_time(_column(doc, "event.start") or UNPARSABLE_AT),
                intake,
                doc,
                message,
            )
            for key, (intake, message, doc) in events.items()
        ]
    )
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE keys(seq INTEGER PRIMARY KEY, key TEXT NOT NULL)")
    conn.executemany("INSERT INTO keys VALUES (?, ?)", enumerate(events, start=1))
    conn.commit()
    return conn


def values(doc: Doc, field: str) -> list[Any]:
    """Every value of `field` in `doc`, through lists: the oracle's view of a field."""
    found: list[Any] = [doc]
    for part in field.split("."):
        step: list[Any] = []
        for item in found:
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, dict) and part in element:
                    value = element[part]
                    step.extend(value if isinstance(value, list) else [value])
        found = step
    return found


def micros(text: str, now: datetime | None = None) -> int:
    return parse_time(text, now)


def keys(rows: Iterator[tuple[str]]) -> set[str]:
    return {key for (key,) in rows}
