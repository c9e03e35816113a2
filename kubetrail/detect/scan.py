"""`kubetrail scan`'s work: audit files in, alerts out, no server.

Files and folders (recursively) are read with the parser's reader (lines, EventList, gzip),
each event normalized and run through the engine; an event that does not parse is counted and
skipped. Event ids are `file:line` (the line where the event starts), so an analyst can go and
read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from kubetrail.detect.pipeline import Detector
from kubetrail.parse import ParseError, normalize, read_events


@dataclass(slots=True)
class ScanStats:
    files: int = 0
    events: int = 0
    unparsed: int = 0
    errors: list[str] = field(default_factory=list)  # first few: "file:line: reason"


def input_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def scan(
    paths: Iterable[Path],
    detector: Detector,
    stats: ScanStats,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run every event of `paths` through `detector`; `progress(bytes)` is told how far it got."""
    for path in input_files(paths):
        stats.files += 1
        with path.open("rb") as handle:
            done = 0
            for item in read_events(handle):
                stats.events += 1
                try:
                    text = item.data.decode("utf-8", "backslashreplace")
                    doc = normalize(text)
                    raw = orjson.loads(text)
                except (ParseError, orjson.JSONDecodeError) as exc:
                    stats.unparsed += 1
                    if len(stats.errors) < 20:
                        stats.errors.append(f"{path}:{item.line}: {exc}")
                    continue
                detector.ingest(raw, doc, f"{path}:{item.line}")
                if progress is not None and stats.events % 2000 == 0:
                    position = handle.tell()
                    progress(position - done)
                    done = position
            if progress is not None:
                progress(path.stat().st_size - done)
    detector.finish()
