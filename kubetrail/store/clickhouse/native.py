"""Inserts of the events table's rows as Native blocks encoded in C (`_native.c`).

clickhouse-driver writes an inserted block column by column in Python: 7-10 µs per event
of ours, a third of the client's cost of storing one. `NativeClient` is the driver's Client,
whose `send_data` encodes `Rows` in C when every column of the server's sample block has a
type the encoder knows and the connection is not compressed, then writes each block as the
driver's Connection.send_data does (packet type, table name, BlockInfo, the columns). Any
other data, or a column type the encoder lacks, goes to the driver as before.

This leans on the driver's protocol internals (its Connection's output stream and revision),
hence the pinned major version in pyproject.toml; the tests compare the bytes with the
driver's own for every column type of the table, on both schemas (18.16 and 20.1+).
"""

from __future__ import annotations

import io
import re
from typing import Any, Final

from clickhouse_driver import Client
from clickhouse_driver.block import BlockInfo, RowOrientedBlock
from clickhouse_driver.defines import (
    DBMS_MIN_REVISION_WITH_BLOCK_INFO,
    DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION,
    DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES,
)
from clickhouse_driver.protocol import ClientPacketTypes
from clickhouse_driver.varint import write_varint
from clickhouse_driver.writer import write_binary_str, write_binary_uint8

try:  # built by setup.py where a C compiler is found
    from kubetrail.store.clickhouse import _native
except ImportError:  # pragma: no cover - an install without a compiler
    _native = None  # type: ignore[assignment]

# a column of the encoder: (head bytes, kind, name, FixedString size)
Column = tuple[bytes, int, str, int]

_FIXED_STRING: Final = re.compile(r"FixedString\((\d{1,5})\)")


def _kinds() -> dict[str, int]:
    if _native is None:  # pragma: no cover - an install without a compiler
        return {}
    return {
        "Int64": _native.INT64,
        "UInt8": _native.UINT8,
        "Nullable(UInt16)": _native.NULLABLE_UINT16,
        "String": _native.STRING,
        "LowCardinality(String)": _native.LOW_CARDINALITY,
        "Array(String)": _native.ARRAY_STRING,
        "Array(LowCardinality(String))": _native.ARRAY_LOW_CARDINALITY,
    }


_KINDS: Final = _kinds()


class Rows(list[Any]):
    """Rows to insert with `NativeClient.execute`, each a list in the INSERT's column order."""


def plan(columns_with_types: list[tuple[str, str]], revision: int) -> tuple[Column, ...] | None:
    """How `_native.encode` writes each column of a block, or None if one has a type it
    doesn't know (or the extension is not built)."""
    if _native is None:  # pragma: no cover - an install without a compiler
        return None
    columns = []
    for name, type_ in columns_with_types:
        fixed = _FIXED_STRING.fullmatch(type_)
        kind = _native.FIXED_STRING if fixed else _KINDS.get(type_)
        if kind is None:
            return None
        head = io.BytesIO()
        write_binary_str(name, head)
        write_binary_str(type_, head)
        if revision >= DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
            write_binary_uint8(0, head)  # no custom serialization, as the driver writes it
        columns.append((head.getvalue(), kind, name, int(fixed[1]) if fixed else 0))
    return tuple(columns)


class NativeClient(Client):  # type: ignore[misc]  # the driver has no type hints
    """The driver's Client, whose inserts of `Rows` are encoded in C."""

    def send_data(
        self, sample_block: Any, data: Any, types_check: bool = False, columnar: bool = False
    ) -> int:
        conn = self.connection
        columns = None
        if isinstance(data, Rows) and not columnar and not conn.compression:
            columns = plan(sample_block.columns_with_types, conn.server_info.used_revision)
        if columns is None:
            sent: int = super().send_data(sample_block, data, types_check, columnar)
            return sent
        size = conn.context.client_settings["insert_block_size"]
        for start in range(0, len(data), size):
            self._send_block(_native.encode(data[start : start + size], columns))
            self.receive_profile_events()
        conn.send_data(RowOrientedBlock())  # an empty block ends the data
        self.receive_profile_events()
        return len(data)

    def _send_block(self, encoded: bytes) -> None:
        """Connection.send_data and BlockOutputStream.write, with the columns already written."""
        conn = self.connection
        revision = conn.server_info.used_revision
        write_varint(ClientPacketTypes.DATA, conn.fout)
        if revision >= DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES:
            write_binary_str("", conn.fout)  # no temporary table
        if revision >= DBMS_MIN_REVISION_WITH_BLOCK_INFO:
            BlockInfo().write(conn.fout)
        conn.fout.write(encoded)
        conn.fout.flush()
