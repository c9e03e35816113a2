"""Open the stores a configuration selects."""

from __future__ import annotations

from kubetrail.settings import Config
from kubetrail.store.base import EventStore, StateStore


def open_state(config: Config) -> StateStore:
    from kubetrail.store.sqlite.state import SqliteState

    return SqliteState(config.data_path / "state.db")


def open_events(config: Config) -> EventStore:
    from kubetrail.store.sqlite.events import SqliteEvents

    return SqliteEvents(
        config.data_path / "events.db",
        query_time_limit_ms=config.query_time_limit_ms,
        facet_time_limit_ms=config.facet_time_limit_ms,
    )


def open_stores(config: Config) -> tuple[EventStore, StateStore]:
    return open_events(config), open_state(config)
