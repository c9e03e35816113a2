"""Shared fixtures: realistic audit events built from the three events of the product brief."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
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


# --- store backends: throwaway ClickHouse and PostgreSQL servers (tests/scale/servers.py) ---


def _server_or_skip(error: Exception) -> None:
    # on a developer machine without the servers the backend tests skip; in CI they must run
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the store servers (make services): {error}")
    pytest.skip(f"store server unavailable (run `make services`): {error}")


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[Any]:
    from tests.scale.servers import ServerUnavailable, clickhouse_servers

    try:
        with clickhouse_servers(1) as servers:
            yield servers[0]
    except ServerUnavailable as exc:
        _server_or_skip(exc)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    from tests.scale.servers import ServerUnavailable, postgres_server

    try:
        with postgres_server() as server:
            yield server
    except ServerUnavailable as exc:
        _server_or_skip(exc)


@pytest.fixture
def clickhouse_url(clickhouse_server: Any) -> str:
    """A fresh, empty database on the session's ClickHouse."""
    url: str = clickhouse_server.url(f"kt_{uuid.uuid4().hex[:12]}")
    return url


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    import psycopg

    name = f"kt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")  # a generated identifier
    url: str = postgres_server.url(name)
    return url
