"""Open the stores a configuration selects: embedded SQLite by default, or by URL.

events_url  ""                        -> events.db in data_dir (SQLite)
            clickhouse://host:9000/db -> kubetrail.store.clickhouse
state_url   ""                        -> state.db in data_dir (SQLite)
            postgresql://... (or postgres://) -> kubetrail.store.postgres
"""

from __future__ import annotations

from urllib.parse import urlsplit

from kubetrail.settings import Config
from kubetrail.store.base import EventStore, StateStore, StoreError

EVENTS_SCHEMES = ("clickhouse",)
STATE_SCHEMES = ("postgresql", "postgres")


def _scheme(url: str, setting: str, known: tuple[str, ...]) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in known:
        raise StoreError(
            f"{setting}: unknown store {scheme or url[:20]!r}; use one of "
            + ", ".join(f"{k}://" for k in known)
            + " or leave it empty for the embedded store"
        )
    return scheme


def open_state(config: Config) -> StateStore:
    if config.state_url:
        _scheme(config.state_url, "state_url", STATE_SCHEMES)
        from kubetrail.store.postgres.state import PostgresState

        return PostgresState(config.state_url)
    from kubetrail.store.sqlite.state import SqliteState

    return SqliteState(config.data_path / "state.db")


def open_events(config: Config) -> EventStore:
    if config.events_url:
        _scheme(config.events_url, "events_url", EVENTS_SCHEMES)
        from kubetrail.store.clickhouse.events import ClickHouseEvents

        return ClickHouseEvents(
            config.events_url,
            query_time_limit_ms=config.query_time_limit_ms,
            facet_time_limit_ms=config.facet_time_limit_ms,
        )
    from kubetrail.store.sqlite.events import SqliteEvents

    return SqliteEvents(
        config.data_path / "events.db",
        query_time_limit_ms=config.query_time_limit_ms,
        facet_time_limit_ms=config.facet_time_limit_ms,
    )


def open_stores(config: Config) -> tuple[EventStore, StateStore]:
    return open_events(config), open_state(config)
