"""Lines the intake would refuse become error events that fit its limit and keep the text."""

from __future__ import annotations

import orjson
import pytest

from kubetrail.agent.lines import error_event, problem_of

LIMIT = 250 * 1024


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"auditID": "a"}', None),
        (b"x" * LIMIT, None),
        (b"x" * (LIMIT + 1), "line too long"),
        (b'{"user": "\xff\xfe"}', "invalid utf-8"),
        ("{'user': 'é'}".encode(), None),
    ],
)
def test_problem_of(line: bytes, problem: str | None) -> None:
    assert problem_of(line, LIMIT) == problem


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"auditID":"' + b"a" * (LIMIT * 2) + b'"}', "line too long"),
        (b"\xff" * (LIMIT + 10), "line too long"),  # worst case: every byte escapes to \\xff
        (b'"' * (LIMIT + 10), "line too long"),  # every byte JSON-escaped
        (b'{"user":"\xc3\x28 bad"}', "invalid utf-8"),
    ],
)
def test_error_events_fit_the_limit_and_keep_the_start(raw: bytes, problem: str) -> None:
    event = error_event(problem, "/var/log/audit.log", 4096, raw, len(raw), LIMIT)  # type: ignore[arg-type]
    assert len(event) <= LIMIT
    doc = orjson.loads(event)
    assert doc["kind"] == "KubetrailAgentError"
    assert doc["error"] == problem
    assert (doc["file"], doc["offset"], doc["length"]) == ("/var/log/audit.log", 4096, len(raw))
    kept = doc["truncated_line"]
    assert len(kept) > 10_000 or len(raw) < 10_000, "as much text as fits is kept"
    expected = raw.decode("utf-8", errors="backslashreplace")
    assert expected.startswith(kept)
    assert doc["truncated"] is (len(kept) < len(expected))


def test_a_resent_error_event_is_the_same_bytes() -> None:
    raw = b"\xff" * 100
    assert error_event("invalid utf-8", "/f", 7, raw, 100, LIMIT) == error_event(
        "invalid utf-8", "/f", 7, raw, 100, LIMIT
    )
