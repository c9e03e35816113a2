"""Store selection by URL: the embedded default, the URL forms, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetrail.server.cli import _where
from kubetrail.settings import Config, load
from kubetrail.store.base import StoreError
from kubetrail.store.clickhouse.events import ClickHouseUrl
from kubetrail.store.open import open_events, open_state
from kubetrail.store.sqlite.events import SqliteEvents
from kubetrail.store.sqlite.state import SqliteState


def test_no_url_means_the_embedded_stores(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    events, state = open_events(config), open_state(config)
    assert isinstance(events, SqliteEvents) and isinstance(state, SqliteState)
    assert (tmp_path / "events.db").exists() and (tmp_path / "state.db").exists()
    events.close()
    state.close()


def test_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBETRAIL_EVENTS_URL", "clickhouse://ch:9000/kt")
    monkeypatch.setenv("KUBETRAIL_STATE_URL", "postgresql://kt@pg/kt")
    config = load({})
    assert (config.events_url, config.state_url) == (
        "clickhouse://ch:9000/kt",
        "postgresql://kt@pg/kt",
    )
    assert load({"events_url": "clickhouse://other/x"}).events_url == "clickhouse://other/x"


@pytest.mark.parametrize(
    ("events_url", "state_url", "problem"),
    [
        ("mysql://h/db", "", "events_url: unknown store 'mysql'"),
        ("", "sqlite:///tmp/x.db", "state_url: unknown store 'sqlite'"),
        ("clickhouse://h:8123/db", "", "8123 is ClickHouse's HTTP port"),
        ("clickhouse://h/db;drop", "", "database name 'db;drop'"),
        ("clickhouse://h/db?cluster=a-b", "", "cluster name 'a-b'"),
        ("clickhouse:///db", "", "no host"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(
    tmp_path: Path, events_url: str, state_url: str, problem: str
) -> None:
    config = Config(data_dir=str(tmp_path), events_url=events_url, state_url=state_url)
    with pytest.raises(StoreError, match=problem.replace("(", r"\(")):
        open_events(config) if events_url else open_state(config)


def test_clickhouse_url_parts() -> None:
    url = ClickHouseUrl.parse("clickhouse://kt:s%40cret@ch.internal:9440/audit?cluster=fleet")
    assert (url.host, url.port, url.database, url.user, url.password, url.cluster) == (
        "ch.internal",
        9440,
        "audit",
        "kt",
        "s@cret",
        "fleet",
    )
    assert ClickHouseUrl.parse("clickhouse://ch").port == 9000


def test_passwords_are_never_shown() -> None:
    with pytest.raises(StoreError) as caught:
        ClickHouseUrl.parse("clickhouse://kt:hunter2@ch:8123/db")
    assert "hunter2" not in str(caught.value)
    config = Config(
        events_url="clickhouse://kt:hunter2@ch:9000/kt",
        state_url="postgresql://kt:hunter3@pg:5432/kt",
    )
    shown = _where(config)
    assert "ch:9000/kt" in shown and "pg:5432/kt" in shown
    assert "hunter" not in shown
