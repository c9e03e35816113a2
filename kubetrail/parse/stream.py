"""Normalize whole inputs (files, stdin) event by event, in constant memory."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from kubetrail.parse.describe import describe as describe_doc
from kubetrail.parse.ecs import decode, normalize
from kubetrail.parse.errors import ParseError, error_document
from kubetrail.parse.reader import RawEvent, read_events


@dataclass
class ParseStats:
    events: int = 0
    errors: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parsed:
    source: str  # the file name, "-" for stdin
    line: int
    doc: dict[str, Any]
    error: ParseError | None


@contextmanager
def _opened(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as handle:
            yield handle


def parse_raw(raw: RawEvent) -> tuple[dict[str, Any], ParseError | None]:
    """The ECS document of one raw event, or its error document and the error."""
    if raw.truncated:
        error = ParseError("too_large", f"line longer than {len(raw.data)} bytes")
        return error_document(decode(raw.data), error), error
    try:
        return normalize(raw.data), None
    except ParseError as exc:
        return error_document(decode(raw.data), exc), exc


def parse_paths(paths: Iterable[str], stats: ParseStats | None = None) -> Iterator[Parsed]:
    """Every event of every input, normalized; `stats` counts events and errors as they pass."""
    stats = stats if stats is not None else ParseStats()
    for path in paths:
        with _opened(path) as handle:
            for raw in read_events(handle):
                doc, error = parse_raw(raw)
                stats.events += 1
                if error is not None:
                    stats.errors += 1
                    stats.error_reasons[error.reason] = stats.error_reasons.get(error.reason, 0) + 1
                yield Parsed(path, raw.line, doc, error)


def with_description(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with its description added under `kubetrail.description`."""
    # sub-objects of a document may be shared with others (see parse.ecs): copy, never mutate
    return {**doc, "kubetrail": {**doc.get("kubetrail", {}), "description": describe_doc(doc)}}
