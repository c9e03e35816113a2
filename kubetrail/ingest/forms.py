"""The intake's body forms -> the raw events they carry.

Compatible with SEKOIA.IO's HTTP intake, plus the kube-apiserver's audit webhook:

    POST /plain         one raw event (the whole body)
    POST /plain/batch   raw events, one per line
    POST /jsons         a JSON array of events, each a string or an object
    POST /batch         {"intake_key": K, "jsons": [...]}
    POST /array         [{"intake_key": K, "json": E, "timestamp": T?}, ...]
    POST /              {"intake_key": K, "json": E, "@timestamp": T?}
    POST /webhook       an audit.k8s.io EventList: {"kind": "EventList", "items": [...]}

An event given as a JSON object keeps its exact text as sent (msgspec.Raw), so `message` is
what the sender wrote, not a re-serialization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import msgspec

from kubetrail.api.errors import ApiError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Submitted:
    text: str
    key: str | None = None  # an intake key given inside the body
    sender_ts: str | None = None


class _Batch(msgspec.Struct):
    jsons: list[msgspec.Raw]
    intake_key: str | None = None


class _One(msgspec.Struct):
    json: msgspec.Raw
    intake_key: str | None = None
    timestamp: str | None = None
    at_timestamp: str | None = msgspec.field(default=None, name="@timestamp")


class _EventList(msgspec.Struct):
    items: list[msgspec.Raw]
    kind: str = "EventList"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _event_text(raw: msgspec.Raw) -> str:
    """An event given as a JSON value: a string is the event's text, anything else is itself."""
    data = bytes(raw)
    if data[:1] == b'"':
        text: str = msgspec.json.decode(data)
        return text
    return _text(data)


def _decode(body: bytes, kind: type[T], form: str) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        shape_error = exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
    try:  # a typed decode stops at the first wrong type: tell bad syntax from a wrong shape
        msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
    raise ApiError(400, "bad_body", f"{form}: {shape_error}")


def plain(body: bytes) -> list[Submitted]:
    return [Submitted(_text(body))]


def plain_batch(body: bytes) -> list[Submitted]:
    return [Submitted(_text(line)) for line in body.splitlines() if line.strip()]


def jsons(body: bytes) -> list[Submitted]:
    items = _decode(body, list[msgspec.Raw], "expected a JSON array of events")
    return [Submitted(_event_text(item)) for item in items]


def batch(body: bytes) -> list[Submitted]:
    doc = _decode(body, _Batch, 'expected {"intake_key": ..., "jsons": [...]}')
    return [Submitted(_event_text(item), doc.intake_key) for item in doc.jsons]


def array(body: bytes) -> list[Submitted]:
    items = _decode(body, list[_One], 'expected [{"intake_key": ..., "json": ...}, ...]')
    return [
        Submitted(_event_text(i.json), i.intake_key, i.timestamp or i.at_timestamp) for i in items
    ]


def single(body: bytes) -> list[Submitted]:
    one = _decode(body, _One, 'expected {"intake_key": ..., "json": ...}')
    return [Submitted(_event_text(one.json), one.intake_key, one.at_timestamp or one.timestamp)]


def webhook(body: bytes) -> list[Submitted]:
    doc = _decode(body, _EventList, 'expected an audit.k8s.io EventList {"items": [...]}')
    if doc.kind != "EventList":
        raise ApiError(400, "bad_body", f"expected kind EventList, got {doc.kind[:40]!r}")
    return [Submitted(_text(bytes(item))) for item in doc.items]
