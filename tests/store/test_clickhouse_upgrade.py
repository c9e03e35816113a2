"""A ClickHouse events table made by an older kubetrail keeps answering after an upgrade.

Path columns (kubetrail.query.clickhouse.PATH_COLUMNS) and the list of objects were added
after the first release: opening the store adds the ones a table lacks, and rows stored before
read them from their flattened pairs (the columns' DEFAULT), so queries and facets see old and
new rows alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kubetrail.parse import normalize
from kubetrail.query import compile_query
from kubetrail.query.clickhouse import OBJECTS_COLUMN, PATH_COLUMNS
from kubetrail.store.base import NewEvent, event_id
from kubetrail.store.clickhouse.events import ClickHouseEvents
from kubetrail.store.clickhouse.schema import INSERT_COLUMNS, flatten, to_clickhouse_row
from tests.query.corpus import micros

START = micros("2025-01-01T00:00:00Z")
END = micros("2026-01-01T00:00:00Z")


def audit_line(n: int, roles: list[str], agent: str) -> str:
    return (
        '{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",'
        f'"auditID":"a-{n}","stage":"ResponseComplete","verb":"get",'
        f'"requestURI":"/api/v1/namespaces/default/pods/p{n}",'
        f'"user":{{"username":"u{n}","groups":{roles!r}}},'.replace("'", '"')
        + f'"userAgent":"{agent}","sourceIPs":["10.0.0.{n}"],'
        '"objectRef":{"resource":"pods","namespace":"default","name":"p%d"},'
        % n
        + f'"requestReceivedTimestamp":"2025-06-0{n}T10:00:00.000001Z"}}'
    )


def event(n: int, roles: list[str], agent: str) -> NewEvent:
    text = audit_line(n, roles, agent)
    doc = normalize(text)
    return NewEvent(event_id(1, text), micros(doc["event"]["start"]), "lab", doc, text)


@pytest.fixture
def upgraded(clickhouse_url: str) -> Iterator[ClickHouseEvents]:
    """A store whose table lacked every path column and held one row, then reopened."""
    old = ClickHouseEvents(clickhouse_url)
    added = [*PATH_COLUMNS.values(), OBJECTS_COLUMN]
    for column in added:
        old._query(f"ALTER TABLE events DROP COLUMN {column}")
    # the row as the older kubetrail wrote it: every non-hot leaf and every object (`{}`)
    # in the pairs
    before = event(1, ["system:masters", "system:authenticated"], "kubectl/v1.30.2")
    row = dict(zip(INSERT_COLUMNS, to_clickhouse_row(before), strict=True))
    flat = flatten(before.doc)
    for path, texts in zip(PATH_COLUMNS, flat.paths, strict=True):
        listed = texts if isinstance(texts, list) else [texts] if texts else []  # "": absent
        row["doc_keys"] += [path] * len(listed)
        row["doc_values"] += listed
    row["doc_keys"] += flat.objects
    row["doc_values"] += ["{}"] * len(flat.objects)
    columns = [c for c in INSERT_COLUMNS if c not in added]
    old._client().execute(
        f"INSERT INTO events ({', '.join(columns)}) VALUES", [[row[c] for c in columns]]
    )
    old.close()
    store = ClickHouseEvents(clickhouse_url)
    store.append([event(2, ["system:authenticated"], "kubectl/v1.30.2")])
    yield store
    store.close()


def test_opening_adds_the_missing_path_columns(upgraded: ClickHouseEvents) -> None:
    names = {
        name
        for (name,) in upgraded._query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() "
            "AND table = 'events'"
        )
    }
    assert {*PATH_COLUMNS.values(), OBJECTS_COLUMN} <= names


def test_old_and_new_rows_answer_queries_and_facets_alike(upgraded: ClickHouseEvents) -> None:
    def codes(query: str) -> set[str]:
        where = compile_query(query, upgraded.dialect, datetime(2025, 7, 1, tzinfo=UTC))
        page = upgraded.search(where, START, END, 100, None)
        return {e["event"]["code"] for e in page.events}

    assert codes("user.roles:system\\:masters") == {"a-1"}
    assert codes("user.roles:system\\:authenticated") == {"a-1", "a-2"}
    assert codes("user_agent.original:kubectl*") == {"a-1", "a-2"}  # a String path column
    assert codes("user_agent.original:*") == {"a-1", "a-2"}
    assert codes("kubetrail.exec.command:*") == set()  # '' is absent, not a value
    assert codes("user_agent:*") == {"a-1", "a-2"}  # an object: `{}` in old pairs, or listed
    assert codes("user_agent.os:*") == {"a-1", "a-2"}
    assert codes("kubernetes.spec:*") == set()
    everything = compile_query("*", upgraded.dialect)
    facet = upgraded.facet("user.roles", everything, START, END, 10)
    assert dict(facet.values) == {"system:authenticated": 2, "system:masters": 1}
    facet = upgraded.facet("kubetrail.level", everything, START, END, 10)
    assert dict(facet.values) == {"Metadata": 2}
