"""Bad input never crashes the caller and never loses the text: property tests."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetrail.parse import MAX_EVENT_BYTES, ParseError, normalize, normalize_or_error
from kubetrail.parse.ecs import normalize_event
from tests.conftest import BRIEF_CASES, load_case

REAL_EVENTS = [orjson.loads(load_case(name)["input"]["message"]) for name in BRIEF_CASES]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("this is not an audit event", "not_json"),
        ("{truncated", "not_json"),
        ("", "not_json"),
        ("[1, 2]", "not_object"),
        ('"a string"', "not_object"),
        ("null", "not_object"),
        ('{"kind": "Pod", "auditID": "x", "verb": "get"}', "not_audit_event"),
        ('{"apiVersion": "v1", "auditID": "x", "verb": "get"}', "not_audit_event"),
        ('{"verb": "get"}', "not_audit_event"),
        ('{"auditID": "x"}', "not_audit_event"),
        ('{"auditID": "", "verb": "get"}', "not_audit_event"),
        ('{"auditID": 12, "verb": "get"}', "not_audit_event"),
        # a wrong kind is refused on the lenient path too (here taken for the verb's type)
        ('{"kind": "Pod", "auditID": "x", "verb": 5, "requestURI": "/"}', "not_audit_event"),
        ('{"apiVersion": "v1", "auditID": "x", "verb": 5, "requestURI": "/"}', "not_audit_event"),
    ],
)
def test_each_kind_of_bad_input_has_its_reason(message: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        normalize(message)
    assert caught.value.reason == reason
    doc = normalize_or_error(message)
    assert doc["message"] == message
    assert doc["kubetrail"]["parse_reason"] == reason  # type: ignore[index]
    assert str(caught.value) == doc["kubetrail"]["parse_error"]  # type: ignore[index]


def test_too_large_is_refused_before_decoding() -> None:
    big = '{"auditID": "x", "verb": "get", "pad": "' + "a" * MAX_EVENT_BYTES + '"}'
    with pytest.raises(ParseError) as caught:
        normalize(big)
    assert caught.value.reason == "too_large"


def test_invalid_utf8_is_kept_visibly() -> None:
    doc = normalize_or_error(b'{"auditID": "\xff\xfe"')
    assert doc["message"] == '{"auditID": "\\xff\\xfe"'
    orjson.dumps(doc)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_a_document_or_parse_error(data: bytes) -> None:
    doc = normalize_or_error(data)
    assert isinstance(doc["message"], str)
    orjson.dumps(doc)  # always serializable: it will be stored


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out += paths(inner, (*prefix, index))
    return out


def replaced(event: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copied = copy.deepcopy(event)
    target = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_EVENTS), st.data())
def test_mutated_real_events_parse_or_fail_cleanly(
    event: dict[str, Any], data: st.DataObject
) -> None:
    """Any field of a real event replaced by any JSON value: a document, or a ParseError."""
    path = data.draw(st.sampled_from(paths(event)))
    mutated = replaced(event, path, data.draw(json_values))
    text = json.dumps(mutated)  # the stdlib: integers of any size, as JSON allows
    try:
        doc = normalize(text)
    except ParseError as refused:
        if refused.reason != "not_json":  # both paths refuse an event for the same reason
            with pytest.raises(ParseError) as also:
                normalize_event(msgspec.json.decode(text), text)
            assert also.value.reason == refused.reason
        return
    assert doc["message"] == text
    orjson.dumps(doc)
    # the strict fast path and the lenient path are one mapping: they agree on every input
    assert normalize_event(msgspec.json.decode(text), text) == doc


@settings(max_examples=200)
@given(
    st.sampled_from(REAL_EVENTS),
    st.sampled_from(["user", "objectRef", "requestObject", "annotations", "responseStatus"]),
)
def test_a_wrong_sub_object_loses_only_itself(event: dict[str, Any], key: str) -> None:
    mutated = {**event, key: ["not", "an", "object"]}
    doc = normalize(orjson.dumps(mutated))
    assert doc["event"]["code"] == event["auditID"]
    assert doc["url"]["path"] == event["requestURI"]
