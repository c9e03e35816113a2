"""Open each store backend under test the same way (the suites are parametrized over them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetrail.settings import Config
from kubetrail.store.base import EventStore, StateStore
from kubetrail.store.open import open_events, open_state

EVENT_BACKENDS = ["sqlite", "clickhouse"]
STATE_BACKENDS = ["sqlite", "postgres"]


def events_config(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Config:
    url = request.getfixturevalue("clickhouse_url") if backend == "clickhouse" else ""
    return Config(data_dir=str(tmp_path), events_url=url)


def state_config(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Config:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else ""
    return Config(data_dir=str(tmp_path), state_url=url)


def events_store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> EventStore:
    return open_events(events_config(request, backend, tmp_path))


def state_store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> StateStore:
    return open_state(state_config(request, backend, tmp_path))
