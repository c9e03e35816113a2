"""API and intake responses are rendered by orjson, to the same JSON Starlette's encoder writes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette import responses

from kubetrail.api.responses import JSONResponse
from kubetrail.demo.generate import generate
from kubetrail.ingest.pipeline import prepare


def _both(content: Any) -> tuple[bytes, bytes]:
    return bytes(JSONResponse(content).body), bytes(responses.JSONResponse(content).body)


def test_a_page_of_events_is_the_same_json() -> None:
    docs = [prepare(orjson.dumps(e).decode(), 1, "a", None, 0).doc for e in generate(2, seed=3)]
    page = {"events": docs[:100], "next_cursor": None, "took_ms": 3.5}
    ours, theirs = _both(page)
    assert ours == theirs


@pytest.mark.parametrize(
    "content",
    [
        {"text": 'é ✓ 😀 \u2028 \x00 " \\ /'},  # UTF-8 as is, the same escapes
        {"big": 2**70, "ids": ["a"]},  # past 64 bits: the standard encoder writes it
        {1: "x", "nested": {2: [None, True]}},  # keys that are not str
        [1, -2, 0.5, 1e-07, 123456789.125],
    ],
)
def test_odd_values_render_as_starlette_renders_them(content: Any) -> None:
    ours, theirs = _both(content)
    assert orjson.loads(ours) == orjson.loads(theirs)
    assert ours.decode() == theirs.decode() or "e-" in theirs.decode()
