"""Types of the C speedups (kubetrail/parse/_speedups.c)."""

from collections.abc import Callable
from typing import Any

def configure(
    event: type,
    user: type,
    object_ref: type,
    status: type,
    annotations: type,
    actions: dict[str, dict[str, Any]],
    http: dict[int, dict[str, Any]],
    levels: dict[str, dict[str, dict[str, Any]]],
    agents: dict[str, dict[str, Any]],
    decode: Callable[[str], object],
    max_bytes: int,
) -> None: ...
def document(event: object, message: str) -> dict[str, Any] | None: ...
def normalize(message: str | bytes) -> dict[str, Any] | None: ...
