"""Where each ECS field lives in the store: a typed hot column, or a path in the JSON `doc`.

This is the one map the store and every dialect share. The store creates one column per
`HOT_FIELDS` entry (`HotField.type` is dialect-neutral: "text", "integer", "timestamp",
"flag"); the compiler reads those columns and finds every other field in `doc`.

Lists. A field may run through lists: `user.roles` is a list of strings, and
`kubernetes.spec.containers.image` is the `image` of each object of the list
`kubernetes.spec.containers`. The lists are the `LIST_FIELDS` below, declared rather than
guessed, and a value matches such a field when it matches *any* element. A path is split at
each list it crosses (`split_lists`), and the compiler nests one "any element" per list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

HotType = Literal["text", "integer", "timestamp", "flag"]


@dataclass(frozen=True)
class HotField:
    """A field kept in its own column. A "flag" column only answers `field:*` (is set);
    other questions about that field are asked of `doc`."""

    column: str
    type: HotType = "text"


HOT_FIELDS: Final[dict[str, HotField]] = {
    "@timestamp": HotField("ts", "timestamp"),
    "intake": HotField("intake"),
    "event.code": HotField("code"),
    "event.action": HotField("action"),
    "event.outcome": HotField("outcome"),
    "user.name": HotField("user_name"),
    "source.ip": HotField("source_ip"),
    "kubernetes.namespace": HotField("namespace"),
    "kubernetes.resource": HotField("resource"),
    "kubernetes.subresource": HotField("subresource"),
    "kubernetes.object.name": HotField("object_name"),
    "http.response.status_code": HotField("status_code", "integer"),
    "kubetrail.parse_error": HotField("parse_error", "flag"),
    "message": HotField("message"),
}

# Every list of the ECS documents kubetrail writes (see kubetrail.parse.ecs)
LIST_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "user.roles",
        "related.ip",
        "related.user",
        "kubernetes.spec.containers",
        "kubernetes.spec.volumes",
        "kubernetes.spec.containers.command",
        "kubernetes.spec.containers.args",
        "kubernetes.spec.containers.ports",
        "kubernetes.spec.containers.volumeMounts",
        "kubernetes.spec.containers.env",
    }
)

# Field names are spliced into SQL as JSON paths: only these characters ever reach it
FIELD_NAME: Final = re.compile(r"[A-Za-z0-9_@-]+(?:\.[A-Za-z0-9_@-]+)*")
MAX_FIELD_LENGTH: Final = 200


_INTEGER: Final = re.compile(r"[+-]?\d{1,18}")  # fits a signed 64-bit column


def is_integer(value: str) -> bool:
    return _INTEGER.fullmatch(value) is not None


def is_valid_field(name: str) -> bool:
    return len(name) <= MAX_FIELD_LENGTH and FIELD_NAME.fullmatch(name) is not None


def split_lists(field: str) -> tuple[tuple[str, ...], ...]:
    """The path of `field` cut after each list it crosses.

    `kubernetes.spec.containers.ports.containerPort` ->
    `(("kubernetes", "spec", "containers"), ("ports",), ("containerPort",))`;
    a field that crosses no list is one segment; a field that *is* a list ends with an empty
    segment (its elements themselves are compared): `user.roles` -> `(("user", "roles"), ())`.
    """
    parts = field.split(".")
    segments: list[tuple[str, ...]] = []
    start = 0
    for end in range(1, len(parts) + 1):
        if ".".join(parts[:end]) in LIST_FIELDS:
            segments.append(tuple(parts[start:end]))
            start = end
    segments.append(tuple(parts[start:]))
    return tuple(segments)
