"""The C mapping of the usual event (kubetrail/parse/_speedups.c) against the Python one.

The Python mapping (`ecs._mapped`) is the reference. For every input, the C one either
declines (None: the event is not of the usual shape) or builds the very same document: same
keys in the same order, same values.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetrail.demo.generate import lines
from kubetrail.parse import ParseError, ecs, normalize, schema
from tests.test_parse_errors import REAL_EVENTS, json_values, paths, replaced

try:
    from kubetrail.parse import _speedups as speedups
except ImportError:  # built without a C compiler
    speedups = None  # type: ignore[assignment]
needs_speedups = pytest.mark.skipif(speedups is None, reason="built without a C compiler")

DEMO = [line.decode() for line in lines(minutes=10, seed=3)]
USUAL = orjson.loads(
    next(t for t in DEMO if '"impersonatedUser"' not in t and '"requestObject"' not in t)
)


@pytest.fixture(autouse=True, scope="module")
def warm_caches() -> None:
    """A service's caches hold its cluster's user agents, levels and outcomes."""
    for text in DEMO[:200]:
        normalize(text)


def decoded(text: str) -> schema.Event | None:
    """The event as `normalize` decodes it, or None when it is not JSON."""
    try:
        return schema.DECODER.decode(text)
    except msgspec.ValidationError:
        try:
            return ecs._lenient_event(text)
        except ParseError:
            return None
    except msgspec.DecodeError:
        return None


def both(text: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the C document or None, the Python document or None when it refuses the event).

    C maps first, with what the caches of shared objects held before: Python adds to them.
    """
    event = decoded(text)
    if event is None:
        return None, None
    assert speedups is not None
    fast = speedups.document(event, text)
    try:
        reference: dict[str, Any] | None = ecs._mapped(event, text)
    except ParseError:
        reference = None
    return fast, reference


def assert_same(text: str) -> bool:
    """Whether the C mapping took `text`; fails when it built another document.

    The C `normalize` (decode and map, from the text or its UTF-8 bytes) takes at most what
    the C mapping takes (not what only the lenient decode reads), and gives the same document.
    """
    assert speedups is not None
    from_text, from_bytes = speedups.normalize(text), speedups.normalize(text.encode())
    fast, reference = both(text)  # Python after C: it adds to the caches that C reads
    if fast is None:
        assert from_text is None
        assert from_bytes is None
        return False
    assert reference is not None, "C mapped an event that Python refuses"
    for doc in (fast, from_text, from_bytes):
        if doc is not None:
            assert orjson.dumps(doc) == orjson.dumps(reference)  # keys in the same order
            assert doc == reference
    return True


@needs_speedups
def test_the_demo_cluster_is_mapped_alike_and_mostly_in_c() -> None:
    assert speedups is not None
    taken = [assert_same(text) for text in DEMO]
    assert sum(taken) / len(taken) > 0.9  # the usual event is the usual case
    assert sum(speedups.normalize(text) is not None for text in DEMO) >= sum(taken)


@needs_speedups
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([USUAL, *REAL_EVENTS]), st.data())
def test_any_field_replaced_by_any_value_is_mapped_alike(
    event: dict[str, Any], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(paths(event)))
    text = json.dumps(replaced(event, path, data.draw(json_values)))
    assert_same(text)
    assert_same(text)  # again, now with what Python cached of it


USUAL_TEXT = json.dumps(USUAL)


def usual_with(**fields: Any) -> str:
    return json.dumps({**USUAL, **fields})


@needs_speedups
@pytest.mark.parametrize(
    ("written", "in_c"),
    [
        ("2024-02-29T23:59:59.000001Z", True),  # a leap day
        ("2023-02-29T10:00:00.123456Z", False),  # no such day: Python leaves `start` out
        ("2025-09-14T09:00:60.123456Z", False),
        ("2025-09-14T24:00:00.123456Z", False),
        ("0000-01-01T00:00:00.123456Z", False),
        ("2025-09-14T09:00:00.000000Z", False),  # rewritten without the fraction
        ("2025-09-14T09:00:00.123Z", False),
        ("2025-09-14T09:00:00.123456789Z", False),
        ("2025-09-14T09:00:00.123456+00:00", False),
        ("2025-09-14T09:00:0٣.123456Z", False),  # an Arabic-Indic digit
        ("", True),
    ],
)
def test_only_the_apiservers_own_time_form_is_kept_in_c(written: str, in_c: bool) -> None:
    assert assert_same(usual_with(requestReceivedTimestamp=written)) is in_c


@needs_speedups
@pytest.mark.parametrize(
    ("addresses", "in_c"),
    [
        (["10.0.0.1"], True),
        (["255.255.255.255", "10.0.0.1"], True),
        (["010.0.0.1"], False),  # inet_pton refuses leading zeros; Python drops it
        (["256.0.0.1"], False),
        (["10.0.0"], False),
        (["10.0.0.1 "], False),
        (["10.0.0.1\u0000"], False),
        (["2001:db8::1"], False),  # IPv6: Python writes it canonically
        (["::ffff:10.0.0.1"], False),
        ([], False),
    ],
)
def test_only_dotted_quads_are_checked_in_c(addresses: list[str], in_c: bool) -> None:
    assert assert_same(usual_with(sourceIPs=addresses)) is in_c


@needs_speedups
@pytest.mark.parametrize(
    ("fields", "in_c"),
    [
        ({"impersonatedUser": {"username": "bob", "groups": ["devs"]}}, True),
        ({"impersonatedUser": {"username": "bob"}}, True),  # roles stay the real user's
        ({"impersonatedUser": {"groups": ["devs"]}}, True),  # and here the name does
        ({"user": {"username": "alice", "groups": ["a", ""]}}, False),
        ({"user": {"groups": ["a"]}}, False),
        ({"user": {"username": "alice", "uid": "u-1", "groups": ["a"]}}, True),
        ({"auditID": ""}, False),  # refused by Python
        ({"verb": "", "requestURI": ""}, False),
        ({"requestURI": "/api/v1/namespaces/a/pods/b/exec?command=id"}, False),
        ({"requestObject": {"spec": {"hostNetwork": True}}}, False),
        ({"userAgent": "never-seen-before/1.0"}, False),
        ({"level": "NoSuchLevel"}, False),
        ({"annotations": {"authorization.k8s.io/decision": "maybe"}}, False),
        ({"responseStatus": {"code": 599}}, False),
        ({"objectRef": None, "responseStatus": None, "annotations": None}, True),
    ],
)
def test_the_rest_of_the_usual_shape(fields: dict[str, Any], in_c: bool) -> None:
    """What C declines it leaves to Python; a value Python has since cached, C then takes."""
    assert assert_same(usual_with(**fields)) is in_c


@needs_speedups
@pytest.mark.parametrize(
    "message",
    [
        b"\xff" + USUAL_TEXT.encode(),  # not UTF-8: Python keeps it visibly
        USUAL_TEXT.encode() + b" " * ecs.MAX_EVENT_BYTES,  # too large: Python refuses it
        USUAL_TEXT + " " * ecs.MAX_EVENT_BYTES,
        USUAL_TEXT[:-1],  # not JSON
        bytearray(USUAL_TEXT.encode()),  # not str or bytes
    ],
)
def test_c_leaves_odd_input_to_python(message: str | bytes) -> None:
    assert speedups is not None
    assert speedups.normalize(message) is None


@needs_speedups
@pytest.mark.parametrize(
    "path", ["auditID", "user", "user.groups", "sourceIPs", "annotations", "requestObject"]
)
def test_a_field_deleted_from_the_struct_is_declined_not_read(path: str) -> None:
    """C reads fields by their offsets: an emptied slot must not be followed."""
    assert speedups is not None
    event = decoded(USUAL_TEXT)
    *parents, name = path.split(".")
    owner: Any = event
    for parent in parents:
        owner = getattr(owner, parent)
    delattr(owner, name)
    assert speedups.document(event, USUAL_TEXT) is None


@needs_speedups
def test_a_failed_configuration_leaves_every_event_to_python() -> None:
    assert speedups is not None
    text = DEMO[0]
    assert speedups.normalize(text) is not None
    not_a_type: Any = "Annotations"
    with pytest.raises(TypeError, match="the struct types"):
        speedups.configure(
            schema.Event,
            schema.UserInfo,
            schema.ObjectRef,
            schema.Status,
            not_a_type,
            {},
            {},
            {},
            {},
            schema.DECODER.decode,
            ecs.MAX_EVENT_BYTES,
        )
    try:
        assert speedups.normalize(text) is None
        assert speedups.document(schema.DECODER.decode(text), text) is None
        assert normalize(text) == ecs._mapped(schema.DECODER.decode(text), text)
    finally:
        ecs._configure_speedups()
    assert speedups.normalize(text) is not None


@needs_speedups
def test_what_python_caches_the_next_event_finds_in_c() -> None:
    text = usual_with(userAgent=f"first-seen/{uuid.uuid4()} (linux/amd64)")
    assert assert_same(text) is False
    assert assert_same(text) is True


def test_the_c_mapping_is_built_where_ci_runs() -> None:
    """An install without it works (every event mapped in Python) at two thirds of the speed:
    CI, which has a compiler, must not lose it without notice."""
    if not os.environ.get("CI"):
        pytest.skip("checked in CI, where a C compiler is present")
    assert speedups is not None
