"""The events table's rows written as Native blocks in C (kubetrail/store/clickhouse/_native.c)
against clickhouse-driver's own writing, byte for byte, and read back by a real server.

The driver is the reference: for every column type of the table, on both schemas (18.16's,
and LowCardinality from 20.1), `_native.encode` gives the bytes the driver's
BlockOutputStream writes, or refuses what the driver refuses.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client
from clickhouse_driver.block import BlockInfo, RowOrientedBlock
from clickhouse_driver.bufferedwriter import BufferedSocketWriter
from clickhouse_driver.context import Context
from clickhouse_driver.defines import DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION
from clickhouse_driver.streams.native import BlockOutputStream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetrail.demo.generate import lines
from kubetrail.ingest.pipeline import prepare
from kubetrail.store.clickhouse import native
from kubetrail.store.clickhouse.events import ClickHouseEvents
from kubetrail.store.clickhouse.schema import (
    INSERT_COLUMNS,
    Features,
    create_table,
    to_clickhouse_row,
)
from tests.test_parse_errors import REAL_EVENTS

try:
    from kubetrail.store.clickhouse import _native
except ImportError:  # built without a C compiler
    _native = None  # type: ignore[assignment]
needs_c = pytest.mark.skipif(_native is None, reason="built without a C compiler")

OLD, NEW = 54401, DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION  # before and after the flag
SCHEMAS = {"18.16": Features((18, 16)), "20.1": Features((20, 1))}


def table_types(features: Features) -> list[tuple[str, str]]:
    """The INSERT's (column, type) pairs, from the table's DDL for a server version."""
    ddl = create_table(features)
    types = dict(re.findall(r"^\s+(\w+) (\S+?)(?: DEFAULT .*)?,?$", ddl, re.M))
    return [(column, types[column]) for column in INSERT_COLUMNS]


def demo_rows() -> list[list[Any]]:
    """Rows of the demo cluster, the real events and an unparsable one, one microsecond apart."""
    texts = [line.decode() for line in lines(minutes=10, seed=8)]
    texts += [orjson.dumps(event).decode() for event in REAL_EVENTS]
    texts.append('{"kind": "Event", "verb": "get", "stage": ')
    return [
        to_clickhouse_row(prepare(text, n, "demo", None, 1_757_808_000_000_000 + n))
        for n, text in enumerate(texts)
    ]


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, data: bytes) -> None:
        self.data += data


def driver_block(columns: list[tuple[str, str]], rows: list[Any], revision: int) -> bytes:
    """What the driver writes for a block of `rows` (after the DATA packet and table name)."""
    sink = _Sink()
    context = Context()
    context.client_settings = Client("127.0.0.1").client_settings  # the defaults; unconnected
    context.server_info = type("ServerInfo", (), {"used_revision": revision})()
    BlockOutputStream(BufferedSocketWriter(sink, 1 << 16), context).write(
        RowOrientedBlock(columns, [list(row) for row in rows])
    )
    return bytes(sink.data)


def native_block(columns: list[tuple[str, str]], rows: list[Any], revision: int) -> bytes:
    plan = native.plan(columns, revision)
    assert plan is not None
    sink = _Sink()
    info = BufferedSocketWriter(sink, 64)
    BlockInfo().write(info)
    info.flush()
    return bytes(sink.data) + _native.encode(rows, plan)


def outcome(write: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "done", write(*args)
    except Exception as exc:  # which error: compared by the caller
        return "raised", exc


@needs_c
@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("revision", [OLD, NEW])
def test_the_demo_cluster_and_real_events_are_written_as_the_driver_writes_them(
    schema: str, revision: int
) -> None:
    columns = table_types(SCHEMAS[schema])
    rows = demo_rows()
    # every kind the table has is exercised, with values in it
    assert {t for _, t in columns} >= {"Int64", "FixedString(16)", "Nullable(UInt16)", "UInt8"}
    assert any(row[INSERT_COLUMNS.index("status_code")] is None for row in rows)
    assert any(row[INSERT_COLUMNS.index("doc_objects")] for row in rows)
    assert native_block(columns, rows, revision) == driver_block(columns, rows, revision)
    # and a block of one row, and of none
    assert native_block(columns, rows[:1], revision) == driver_block(columns, rows[:1], revision)
    assert native_block(columns, [], revision) == driver_block(columns, [], revision)


KIND_COLUMNS = [
    ("n", "Int64"),
    ("flag", "UInt8"),
    ("code", "Nullable(UInt16)"),
    ("id", "FixedString(16)"),
    ("text", "String"),
    ("low", "LowCardinality(String)"),
    ("texts", "Array(String)"),
    ("lows", "Array(LowCardinality(String))"),
]
# any text UTF-8 can carry (no lone surrogates), few distinct ones for the dictionaries
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300) | st.sampled_from(
    ["", "get", "pods", "é", "\x00", "🦀", "a" * 200]
)
ROW = st.tuples(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 255),
    st.none() | st.integers(0, 65535),
    st.binary(max_size=16),
    TEXT | st.binary(max_size=40),
    TEXT,
    st.lists(TEXT, max_size=4),
    st.lists(TEXT, max_size=4),
).map(list)


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, max_size=30), st.sampled_from([OLD, NEW]))
def test_any_values_of_every_kind_are_written_as_the_driver_writes_them(
    rows: list[list[Any]], revision: int
) -> None:
    assert native_block(KIND_COLUMNS, rows, revision) == driver_block(KIND_COLUMNS, rows, revision)


@needs_c
@pytest.mark.parametrize("distinct", [255, 256, 65_535, 65_536])
def test_a_dictionary_takes_wider_positions_as_it_grows(distinct: int) -> None:
    # positions are 1, 2 then 4 bytes wide: the driver's int(log2(size) / 8)
    columns = [("low", "LowCardinality(String)"), ("lows", "Array(LowCardinality(String))")]
    rows = [[f"v{n % distinct}", [f"w{n % distinct}"] * (n % 3)] for n in range(distinct + 7)]
    assert native_block(columns, rows, NEW) == driver_block(columns, rows, NEW)


BAD = [
    ("n", "Int64", 2**63, OverflowError),
    ("n", "Int64", "1", TypeError),
    ("flag", "UInt8", 256, OverflowError),
    ("flag", "UInt8", -1, OverflowError),
    ("code", "Nullable(UInt16)", 65536, OverflowError),
    ("id", "FixedString(16)", b"x" * 17, ValueError),
    ("text", "String", None, TypeError),
    ("text", "String", "\ud800", UnicodeEncodeError),
    ("low", "LowCardinality(String)", 7, TypeError),
    ("texts", "Array(String)", 7, TypeError),
    ("lows", "Array(LowCardinality(String))", [None], TypeError),
]


@needs_c
@pytest.mark.parametrize(("name", "type_", "value", "error"), BAD)
def test_a_value_the_driver_refuses_is_refused_with_its_column(
    name: str, type_: str, value: Any, error: type[Exception]
) -> None:
    columns = [("before", "String"), (name, type_)]
    driver = outcome(driver_block, columns, [["x", value]], NEW)
    assert driver[0] == "raised"  # the reference refuses it too
    with pytest.raises(error, match=name if error is not UnicodeEncodeError else "surrogate"):
        native_block(columns, [["x", value]], NEW)


@needs_c
def test_rows_of_the_wrong_shape_are_refused() -> None:
    plan = native.plan([("a", "String"), ("b", "String")], NEW)
    assert plan is not None
    with pytest.raises(ValueError, match="row 1: expected a list of 2 values"):
        _native.encode([["x", "y"], ["x"]], plan)
    with pytest.raises(ValueError, match="row 0"):
        _native.encode(["xy"], plan)


def test_a_column_type_the_encoder_lacks_leaves_the_block_to_the_driver() -> None:
    assert native.plan([("a", "String"), ("b", "Float64")], NEW) is None
    assert native.plan([("a", "Array(Nullable(String))")], NEW) is None


def as_lists(value: Any) -> Any:
    return [as_lists(v) for v in value] if isinstance(value, list | tuple) else value


@needs_c
def test_the_server_reads_back_what_the_encoder_wrote(
    clickhouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ClickHouseEvents(clickhouse_url.rsplit("/", 1)[0] + f"/native_{uuid.uuid4().hex[:8]}")
    try:
        client = store._client()
        assert isinstance(client, native.NativeClient)
        sent: list[int] = []
        encode = _native.encode

        def spy(rows: list[Any], plan: Any) -> bytes:
            sent.append(len(rows))
            return encode(rows, plan)

        monkeypatch.setattr(_native, "encode", spy)
        rows = demo_rows()
        # long texts (varints of 2 and 3 bytes), odd ones, and a null status code
        odd = list(rows[0])
        odd[INSERT_COLUMNS.index("message")] = "é🦀\x00\n" + "m" * 20_000
        odd[INSERT_COLUMNS.index("doc_keys")] = ["k" * 200, ""]
        odd[INSERT_COLUMNS.index("doc_values")] = ["v" * 20_000, '"🦀"']
        odd[INSERT_COLUMNS.index("status_code")] = None
        odd[1] = b"\x00" * 15 + b"\x01"
        rows.append(odd)
        columns = ", ".join(INSERT_COLUMNS)
        client.execute(
            f"INSERT INTO events ({columns}) VALUES",
            native.Rows(rows),
            settings={"insert_block_size": 1000},
        )
        # in C, in blocks of the setting
        assert len(rows) > 2000
        assert sent == [min(1000, len(rows) - start) for start in range(0, len(rows), 1000)]
        read = columns.replace("id,", "hex(id),", 1)
        stored = client.execute(f"SELECT {read} FROM events ORDER BY ts, id")  # noqa: S608
        expected = sorted(rows, key=lambda row: (row[0], row[1]))
        assert [as_lists(row) for row in stored] == [
            [row[0], row[1].hex().upper(), *row[2:]] for row in expected
        ]
    finally:
        store.close()


def test_the_encoder_is_built_where_ci_runs() -> None:
    """Without it, the driver writes the blocks at four times the cost: CI, which has a
    compiler, must not lose it without notice."""
    if not os.environ.get("CI"):
        pytest.skip("checked in CI, where a C compiler is present")
    assert _native is not None


def test_rows_of_a_table_the_encoder_cannot_write_go_to_the_driver(clickhouse_url: str) -> None:
    store = ClickHouseEvents(clickhouse_url.rsplit("/", 1)[0] + f"/native_{uuid.uuid4().hex[:8]}")
    try:
        client = store._client()
        client.execute("CREATE TABLE odd (n Int64, x Float64) ENGINE = Memory")
        # a Float64 column: no plan, the driver writes the block, and so for plain lists
        client.execute("INSERT INTO odd (n, x) VALUES", native.Rows([[1, 0.5], [2, -1.25]]))
        client.execute("INSERT INTO odd (n, x) VALUES", [[3, 2.0]])
        assert client.execute("SELECT n, x FROM odd ORDER BY n") == [(1, 0.5), (2, -1.25), (3, 2.0)]
    finally:
        store.close()
