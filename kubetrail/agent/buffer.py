"""The disk buffer between the file readers and the intake: append-only framed segments.

Every batch read from a log is appended here before it is sent, so an intake outage of any
length only grows the buffer, and a restart resends what was not acknowledged. A frame is

    u32 length | u32 crc32 | header JSON | \\n | body (the batch's lines, newline-separated)

The header says which file and up to which offset the batch reaches: the read position of each
file after a restart is the furthest frame end still in the buffer, so frames and positions
can never disagree. A frame torn by a crash fails its CRC and is cut off at startup.
Segments wholly before the acknowledged pointer are deleted.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

_FRAME: Final = struct.Struct("<II")
SEGMENT_BYTES: Final = 8 * 1024 * 1024


@dataclass(frozen=True, order=True)
class Pointer:
    segment: int
    position: int

    def as_list(self) -> list[int]:
        return [self.segment, self.position]


@dataclass(frozen=True)
class Frame:
    at: Pointer
    next: Pointer
    header: dict[str, Any]
    body: bytes

    @property
    def size(self) -> int:
        return self.next.position - self.at.position


class DiskBuffer:
    """Single writer (the reader loop), single consumer (the shipper), in one process."""

    def __init__(self, directory: Path, max_bytes: int, ack: Pointer | None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = max(1024 * 1024, min(SEGMENT_BYTES, max_bytes // 4))
        self._cond = threading.Condition()
        segments = self._segments()
        self.ack = ack or Pointer(segments[0] if segments else 1, 0)
        for seq in segments:
            if seq < self.ack.segment:
                (self.dir / _name(seq)).unlink()
        self._sizes: dict[int, int] = {}
        self.recovered: list[dict[str, Any]] = []  # headers of unacknowledged frames
        self._recover([s for s in segments if s >= self.ack.segment])
        self.tail = max(self._sizes, default=self.ack.segment)
        self._sizes.setdefault(self.tail, 0)
        self._out = open(self.dir / _name(self.tail), "ab")  # noqa: SIM115 - lives with the buffer
        self._readers: dict[int, Any] = {}

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.seg") if p.stem.isdigit())

    def _recover(self, segments: list[int]) -> None:
        """Check every frame after the ack pointer; cut the buffer at the first torn one.

        Frames are read one at a time and only their headers kept: memory stays small
        whatever the buffer holds.
        """
        for i, seq in enumerate(segments):
            path = self.dir / _name(seq)
            size = path.stat().st_size
            pos = self.ack.position if seq == self.ack.segment else 0
            with open(path, "rb") as f:
                while pos < size:
                    f.seek(pos)
                    head = f.read(_FRAME.size)
                    if len(head) < _FRAME.size:
                        break
                    frame = _decode(head + f.read(_FRAME.unpack(head)[0]), 0, seq)
                    if frame is None:
                        break
                    self.recovered.append(frame.header)
                    pos += frame.next.position
            self._sizes[seq] = pos
            if pos < size:  # torn by a crash: it and anything after it is unreadable
                with open(path, "r+b") as f:
                    f.truncate(pos)
                for later in segments[i + 1 :]:
                    (self.dir / _name(later)).unlink()
                return

    @property
    def pending_bytes(self) -> int:
        with self._cond:
            return self._pending_locked()

    def _pending_locked(self) -> int:
        return sum(n for s, n in self._sizes.items() if s >= self.ack.segment) - self.ack.position

    @property
    def full(self) -> bool:
        return self.pending_bytes >= self.max_bytes

    def append(self, header: dict[str, Any], body: bytes) -> None:
        head = orjson.dumps(header) + b"\n"
        length, crc = len(head) + len(body), zlib.crc32(body, zlib.crc32(head))
        with self._cond:
            if self._sizes[self.tail] >= self.segment_bytes:
                self._out.close()
                self.tail += 1
                self._sizes[self.tail] = 0
                self._out = open(self.dir / _name(self.tail), "ab")  # noqa: SIM115
            # no copy of the body into one frame: a kill -9 between the writes leaves a torn
            # frame, which its length and CRC reveal at the next start
            self._out.write(_FRAME.pack(length, crc) + head)
            self._out.write(body)
            self._out.flush()
            self._sizes[self.tail] += _FRAME.size + length
            self._cond.notify_all()

    def sync(self) -> None:
        with self._cond:
            self._out.flush()
            os.fsync(self._out.fileno())

    def next(self, timeout: float, after: Pointer | None = None) -> Frame | None:
        """The frame at `after` (by default the oldest unacknowledged one), waiting up to
        `timeout` for one to be written."""
        with self._cond:
            at = after or self.ack
            if at.position >= self._sizes.get(at.segment, 0) and at.segment < self.tail:
                at = Pointer(at.segment + 1, 0)
            if at.position >= self._sizes.get(at.segment, 0):
                self._cond.wait(timeout)
                return None
        reader = self._readers.get(at.segment)
        if reader is None:
            for old in [s for s in self._readers if s < at.segment]:
                self._readers.pop(old).close()
            reader = self._readers[at.segment] = open(self.dir / _name(at.segment), "rb")  # noqa: SIM115
        head = os.pread(reader.fileno(), _FRAME.size, at.position)
        length, _ = _FRAME.unpack(head)
        data = head + os.pread(reader.fileno(), length, at.position + _FRAME.size)
        frame = _decode(data, 0, at.segment)
        if frame is None:
            raise OSError(f"buffer segment {_name(at.segment)} is corrupt at {at.position}")
        return Frame(at, Pointer(at.segment, at.position + frame.next.position), frame.header,
                     frame.body)  # fmt: skip

    def wake(self) -> None:
        """End a `next` that is waiting for a frame now (it returns None)."""
        with self._cond:
            self._cond.notify_all()

    def acknowledge(self, frame: Frame) -> None:
        with self._cond:
            self.ack = frame.next
            self._cond.notify_all()

    def release(self, upto: Pointer) -> None:
        """Delete segments wholly before `upto` (called once `upto` is checkpointed)."""
        with self._cond:
            for seq in [s for s in self._sizes if s < upto.segment]:
                del self._sizes[seq]
                if seq in self._readers:
                    self._readers.pop(seq).close()
                (self.dir / _name(seq)).unlink(missing_ok=True)

    def wait_drained(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending_locked() == 0, timeout)

    def close(self) -> None:
        with self._cond:
            self._out.close()
            for reader in self._readers.values():
                reader.close()


def _name(seq: int) -> str:
    return f"{seq:012d}.seg"


def _decode(data: bytes, pos: int, seq: int) -> Frame | None:
    if pos + _FRAME.size > len(data):
        return None
    length, crc = _FRAME.unpack_from(data, pos)
    start, end = pos + _FRAME.size, pos + _FRAME.size + length
    payload = data[start:end]
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    header, _, body = payload.partition(b"\n")
    return Frame(Pointer(seq, pos), Pointer(seq, end), orjson.loads(header), body)
