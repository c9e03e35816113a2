"""The intake over real HTTP: every form, every key location, idempotency, limits, bad input."""

from __future__ import annotations

import base64
import gzip
import uuid
from typing import Any

import httpx
import orjson
import pytest

from kubetrail.demo.generate import generate
from tests.conftest import BRIEF_CASES, load_case
from tests.service.conftest import Live

BRIEF = [load_case(name)["input"]["message"] for name in BRIEF_CASES]
SPAN = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}


def fresh_event(**changes: Any) -> dict[str, Any]:
    """A realistic event with a new auditID (so tests do not see each other's events)."""
    event = next(iter(generate(minutes=1, seed=9)))
    event = {**event, "auditID": str(uuid.uuid4()), **changes}
    return event


def stored(live: Live, query: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    with live.client(live.viewer) as api:
        while True:
            params: dict[str, str | int] = {"q": query, "limit": 500, **SPAN}
            if cursor:
                params["cursor"] = cursor
            page = api.get("/api/v1/events", params=params).json()
            out += page["events"]
            cursor = page["next_cursor"]
            if not cursor:
                return out


def by_code(live: Live, audit_id: str) -> list[dict[str, Any]]:
    return stored(live, f'event.code:"{audit_id}"')


@pytest.mark.parametrize(
    "how",
    ["header", "bearer", "basic", "query"],
)
def test_the_key_is_accepted_in_each_place(live: Live, how: str) -> None:
    event = fresh_event()
    headers, params = {}, {}
    if how == "header":
        headers["X-SEKOIAIO-INTAKE-KEY"] = live.key
    elif how == "bearer":
        headers["Authorization"] = f"Bearer {live.key}"
    elif how == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(f"x:{live.key}".encode()).decode()
    else:
        params["intake_key"] = live.key
    reply = httpx.post(
        live.url + "/plain", content=orjson.dumps(event), headers=headers, params=params
    )
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["event_id"]) == 32
    assert len(by_code(live, event["auditID"])) == 1


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_intake_key"),
        ({"X-SEKOIAIO-INTAKE-KEY": "kti_wrong"}, "unknown_intake_key"),
        ({"Authorization": "Bearer kti_wrong"}, "unknown_intake_key"),
    ],
)
def test_missing_or_unknown_key_is_401(live: Live, headers: dict[str, str], code: str) -> None:
    reply = httpx.post(live.url + "/plain", content=BRIEF[0], headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == code


def test_every_body_form_stores_its_events(live: Live) -> None:
    events = [fresh_event() for _ in range(9)]
    text = [orjson.dumps(e).decode() for e in events]
    key = {"X-SEKOIAIO-INTAKE-KEY": live.key}
    replies = [
        httpx.post(live.url + "/plain/batch", content="\n".join(text[0:2]), headers=key),
        httpx.post(live.url + "/jsons", json=[events[2], text[3]], headers=key),
        httpx.post(live.url + "/batch", json={"intake_key": live.key, "jsons": [events[4]]}),
        httpx.post(
            live.url + "/array",
            json=[
                {"intake_key": live.key, "json": text[5]},
                {"intake_key": live.key, "json": events[6]},
            ],
        ),
        httpx.post(live.url + "/", json={"intake_key": live.key, "json": text[7]}),
        httpx.post(
            live.url + "/webhook",
            headers={"Authorization": f"Bearer {live.key}"},
            json={"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [events[8]]},
        ),
    ]
    assert [r.status_code for r in replies] == [200] * 6, [r.text for r in replies]
    for event in events:
        found = by_code(live, event["auditID"])
        assert len(found) == 1, event["auditID"]
        assert found[0]["user"]["name"] == event["user"]["username"]


def test_an_object_keeps_its_exact_text_as_message(live: Live) -> None:
    event = fresh_event()
    audit_id = event["auditID"]
    raw = f'{{ "kind":"Event",  "auditID": "{audit_id}", "verb":"get", "requestURI":"/api" }}'
    body = f"[{raw}]"
    reply = httpx.post(
        live.url + "/jsons", content=body, headers={"X-SEKOIAIO-INTAKE-KEY": live.key}
    )
    assert reply.status_code == 200
    assert by_code(live, event["auditID"])[0]["message"] == raw


def test_gzip_bodies_are_accepted(live: Live) -> None:
    event = fresh_event()
    reply = httpx.post(
        live.url + "/plain/batch",
        content=gzip.compress(orjson.dumps(event)),
        headers={"X-SEKOIAIO-INTAKE-KEY": live.key, "Content-Encoding": "gzip"},
    )
    assert reply.status_code == 200
    assert len(by_code(live, event["auditID"])) == 1


def test_retries_are_stored_once_but_reused_audit_ids_are_not_suppressed(live: Live) -> None:
    event = fresh_event()
    body = orjson.dumps(event)
    key = {"X-SEKOIAIO-INTAKE-KEY": live.key}
    first = httpx.post(live.url + "/plain", content=body, headers=key).json()["event_id"]
    again = httpx.post(live.url + "/plain", content=body, headers=key).json()["event_id"]
    assert first == again
    assert len(by_code(live, event["auditID"])) == 1
    # an attacker replaying the auditID with other content: both are kept
    forged = {**event, "verb": "delete"}
    httpx.post(live.url + "/plain", content=orjson.dumps(forged), headers=key)
    actions = sorted(e["event"]["action"] for e in by_code(live, event["auditID"]))
    assert actions == sorted([event["verb"], "delete"])


def test_the_timestamp_is_the_events_own_then_the_senders(live: Live) -> None:
    with_start = fresh_event(requestReceivedTimestamp="2024-02-03T04:05:06.123456Z")
    without = fresh_event()
    del without["requestReceivedTimestamp"]
    httpx.post(
        live.url + "/array",
        json=[
            {"intake_key": live.key, "json": with_start, "timestamp": "2020-01-01T00:00:00Z"},
            {"intake_key": live.key, "json": without, "timestamp": "2024-05-06T07:08:09Z"},
        ],
    ).raise_for_status()
    assert by_code(live, with_start["auditID"])[0]["@timestamp"] == "2024-02-03T04:05:06.123456Z"
    assert by_code(live, without["auditID"])[0]["@timestamp"] == "2024-05-06T07:08:09.000000Z"


def test_unparsable_events_are_stored_with_their_text(live: Live) -> None:
    marker = f"garbage-{uuid.uuid4()}"
    reply = httpx.post(
        live.url + "/plain",
        content=f"this is {marker}",
        headers={"X-SEKOIAIO-INTAKE-KEY": live.key},
    )
    assert reply.status_code == 200
    found = stored(live, f'"{marker}"')
    assert len(found) == 1
    assert found[0]["message"] == f"this is {marker}"
    assert found[0]["kubetrail"]["parse_error"].startswith("not JSON")


def test_an_oversized_event_is_413_alone_or_refused_by_index_in_a_batch(live: Live) -> None:
    key = {"X-SEKOIAIO-INTAKE-KEY": live.key}
    big = orjson.dumps(fresh_event(pad="x" * 300_000))
    reply = httpx.post(live.url + "/plain", content=big, headers=key)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "event_too_large"
    ok = fresh_event()
    reply = httpx.post(
        live.url + "/plain/batch", content=big + b"\n" + orjson.dumps(ok), headers=key
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["event_ids"][0] is None and body["event_ids"][1]
    assert body["errors"] == [
        {
            "index": 0,
            "status": 413,
            "code": "event_too_large",
            "message": body["errors"][0]["message"],
        }
    ]
    assert len(by_code(live, ok["auditID"])) == 1


def test_the_event_size_limit_counts_utf8_bytes_not_characters(live: Live) -> None:
    key = {"X-SEKOIAIO-INTAKE-KEY": live.key}
    # 130,000 characters, 260,000 bytes: over the 250 KiB limit in bytes only
    wide = orjson.dumps(fresh_event(pad="é" * 130_000))
    reply = httpx.post(live.url + "/plain", content=wide, headers=key)
    assert reply.status_code == 413
    assert "260" in reply.json()["error"]["message"]
    narrow = fresh_event(pad="x" * 250_000)  # under it, in bytes as in characters
    reply = httpx.post(live.url + "/plain", content=orjson.dumps(narrow), headers=key)
    assert reply.status_code == 200
    assert len(by_code(live, narrow["auditID"])) == 1


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("/jsons", b"{not json", {}, 400, "bad_json"),
        ("/jsons", b'{"an": "object"}', {}, 400, "bad_body"),
        ("/webhook", b'{"kind": "Pod", "items": []}', {}, 400, "bad_body"),
        (
            "/jsons",
            b"[]",
            {"Content-Type": "multipart/form-data; boundary=x"},
            415,
            "unsupported_media_type",
        ),
        ("/plain", b"x", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
        ("/plain", b"not gzip", {"Content-Encoding": "gzip"}, 400, "bad_gzip"),
        ("/plain", b"x" * (17 * 1024 * 1024), {}, 413, "request_too_large"),
        # 20 MiB of zeros compress to 20 KiB: refused without inflating it all
        (
            "/plain",
            gzip.compress(b"\0" * (20 * 1024 * 1024)),
            {"Content-Encoding": "gzip"},
            413,
            "request_too_large",
        ),
    ],
)
def test_bad_requests_get_a_clear_json_error_and_the_service_goes_on(
    live: Live, path: str, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    reply = httpx.post(
        live.url + path,
        content=body,
        headers={"X-SEKOIAIO-INTAKE-KEY": live.key, **headers},
        timeout=60,
    )
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"]
    assert httpx.get(live.url + "/healthz").status_code == 200
