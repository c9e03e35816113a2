"""Shared fixtures: realistic audit events built from the three events of the product brief."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


def load_case(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((DATA / "brief" / f"{name}.json").read_text())
    return case


BRIEF_CASES = sorted(p.stem for p in (DATA / "brief").glob("*.json"))


@pytest.fixture
def exec_event() -> dict[str, Any]:
    """The raw exec-into-pod event of the brief, as a dict to modify."""
    event: dict[str, Any] = json.loads(load_case("exec_into_pod")["input"]["message"])
    return copy.deepcopy(event)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run the long soak tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="long soak: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
