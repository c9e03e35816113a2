"""Fixtures of the detection tests: the fixture rules and lists, and a way to run events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubetrail.detect import Engine, Match
from kubetrail.parse import normalize_event

DATA = Path(__file__).parent / "data"
RULES = DATA / "rules"
LISTS = DATA / "lists"
BRIEF = Path(__file__).parent.parent / "data" / "brief"


def brief_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        json.loads((BRIEF / f"{name}.json").read_text())["input"]["message"]
    )
    return copy.deepcopy(event)


def run(engine: Engine, events: list[dict[str, Any]]) -> list[Match]:
    out: list[Match] = []
    for n, raw in enumerate(events):
        out.extend(engine.process(raw, normalize_event(raw, orjson.dumps(raw).decode()), str(n)))
    return out + engine.flush()


@pytest.fixture(scope="session")
def fixture_engine_paths() -> dict[str, Any]:
    return {"rules": [RULES], "lists": [LISTS], "builtin": False}
