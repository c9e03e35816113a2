"""Read the raw events out of whatever an operator has at hand, in constant memory.

Accepted, detected by content and not by file name:
- a log of one event per line (what `--audit-log-path` writes), possibly gzip-compressed
  (lumberjack's rotated `audit-<time>.log.gz`);
- an `EventList` document (what the webhook backend posts), on one line or pretty-printed;
- a JSON array of events.

Each event comes out as raw bytes with the line it started on, so errors can point at it.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Final

import orjson

from kubetrail.parse.ecs import MAX_EVENT_BYTES

GZIP_MAGIC: Final = b"\x1f\x8b"
# A whole-document input (EventList, array) is parsed at once; the webhook batches the
# apiserver sends are far below this.
MAX_DOCUMENT_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawEvent:
    data: bytes
    line: int  # 1-based line where the event starts (an EventList item: the document's line)
    truncated: bool = False  # the line was longer than MAX_EVENT_BYTES and was cut


def open_input(stream: IO[bytes]) -> IO[bytes]:
    """`stream`, transparently decompressed when it starts with the gzip magic."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def read_events(stream: IO[bytes]) -> Iterator[RawEvent]:
    """Every raw event in `stream` (a binary file object), in order."""
    source = open_input(stream)
    number = 0
    while True:
        line = source.readline(MAX_EVENT_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_EVENT_BYTES and not line.endswith(b"\n"):
            _skip_rest_of_line(source)
            yield RawEvent(line[:MAX_EVENT_BYTES], number, truncated=True)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if number == 1 and stripped in (b"{", b"["):
            yield from _document(line + source.read(MAX_DOCUMENT_BYTES), number)
            return
        if b'"EventList"' in stripped:
            items = _event_list_items(stripped)
            if items is not None:
                yield from (RawEvent(orjson.dumps(item), number) for item in items)
                continue
        yield RawEvent(line, number)


def _skip_rest_of_line(source: IO[bytes]) -> None:
    while True:
        chunk = source.readline(1 << 20)
        if not chunk or chunk.endswith(b"\n"):
            return


def _event_list_items(data: bytes) -> list[object] | None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict) and doc.get("kind") == "EventList":
        items = doc.get("items")
        return items if isinstance(items, list) else []
    return None


def _document(data: bytes, line: int) -> Iterator[RawEvent]:
    """A pretty-printed document: an EventList, an array of events, or one event."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        # not one document after all: fall back to lines so each gets its own error
        for offset, text in enumerate(data.splitlines()):
            if text.strip():
                yield RawEvent(text, line + offset)
        return
    if isinstance(doc, dict) and doc.get("kind") == "EventList":
        items = doc.get("items")
        doc = items if isinstance(items, list) else []
    if isinstance(doc, list):
        for item in doc:
            yield RawEvent(orjson.dumps(item), line)
    else:
        yield RawEvent(data, line)
