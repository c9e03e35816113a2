"""Turning raw log bytes into events the intake accepts, without ever dropping one.

A line over the intake's size limit, or not valid UTF-8, becomes an error event that keeps as
much of the text as the limit allows: the intake would refuse it, and a security log must
not lose even a broken line.
"""

from __future__ import annotations

from typing import Final, Literal

import orjson

Problem = Literal["line too long", "invalid utf-8"]
ERROR_KIND: Final = "KubetrailAgentError"
# room for the error event's own fields around the kept text
_ENVELOPE: Final = 1024


def is_clean(chunk: bytes, longest: int, limit: int) -> bool:
    """True when every line of `chunk` can be sent as is (the fast path: one check per chunk)."""
    if longest > limit:
        return False
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def problem_of(line: bytes, limit: int) -> Problem | None:
    if len(line) > limit:
        return "line too long"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid utf-8"
    return None


def error_event(
    problem: Problem, file: str, offset: int, head: bytes, length: int, limit: int
) -> bytes:
    """The JSON error event for a line at `offset` of `file` whose first bytes are `head`.

    The kept text is decoded with backslashreplace, then cut until the whole event, JSON
    escaping included, fits in `limit` bytes. `offset` makes a resent error event identical,
    so the intake's idempotency still applies to it.
    """
    full = head[:limit].decode("utf-8", errors="backslashreplace")
    text = full
    budget = limit - _ENVELOPE - len(file.encode())
    while True:
        event = orjson.dumps(
            {
                "kind": ERROR_KIND,
                "error": problem,
                "file": file,
                "offset": offset,
                "length": length,
                "truncated": len(head) < length or text is not full,
                "truncated_line": text,
            }
        )
        if len(event) <= limit or not text:
            return event
        # escaping can grow the text up to six-fold: cut in proportion, then check again
        keep = max(0, int(len(text) * min(budget, limit) / len(event)) - 16)
        text = text[:keep]
