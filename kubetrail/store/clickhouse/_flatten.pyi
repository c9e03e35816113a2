"""Types of the C extension built from _flatten.c (see kubetrail.store.clickhouse.schema)."""

from collections.abc import Callable
from typing import Any

def flatten(
    doc: dict[str, Any], /
) -> tuple[list[str], list[str], list[str], list[Any], list[Any]] | None: ...
def configure(
    in_columns: frozenset[str],
    path_columns: frozenset[str],
    list_paths: frozenset[str],
    texts: dict[str, str],
    texts_size: int,
    json_text: Callable[[Any], str],
    hot_order: tuple[tuple[str, bool], ...],
    path_order: tuple[tuple[str, bool], ...],
    /,
) -> None: ...
