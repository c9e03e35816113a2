"""Types of the C extension built from _native.c (see kubetrail.store.clickhouse.native)."""

from collections.abc import Sequence
from typing import Any, Final

INT64: Final[int]
UINT8: Final[int]
NULLABLE_UINT16: Final[int]
FIXED_STRING: Final[int]
STRING: Final[int]
LOW_CARDINALITY: Final[int]
ARRAY_STRING: Final[int]
ARRAY_LOW_CARDINALITY: Final[int]

def encode(
    rows: list[Sequence[Any]], columns: tuple[tuple[bytes, int, str, int], ...], /
) -> bytes: ...
