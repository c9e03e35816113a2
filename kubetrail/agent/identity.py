"""What makes a log file the same file: its first bytes, checked against device and inode.

A rotated file keeps its content but may change name (rename), inode (copytruncate's copy) or
encoding (gzip); a new file may get a recycled inode. The fingerprint, a hash of the first
KiB, follows the content through all of these; device and inode only make the common case
(the same open file) cheap to confirm.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from typing import BinaryIO, Final, cast

FINGERPRINT_BYTES: Final = 1024
GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True)
class Fingerprint:
    length: int  # how many leading bytes were hashed: at most FINGERPRINT_BYTES
    digest: str

    def matches(self, head: bytes) -> bool:
        return len(head) >= self.length and _hash(head[: self.length]) == self.digest


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def fingerprint(head: bytes) -> Fingerprint | None:
    """The fingerprint of a file starting with `head`, or None while it is too short to tell.

    Audit lines share their first ~80 bytes, so a prefix shorter than one whole line would
    match any audit file; the first line carries a unique auditID and timestamp.
    """
    head = head[:FINGERPRINT_BYTES]
    if len(head) < FINGERPRINT_BYTES and b"\n" not in head:
        return None
    return Fingerprint(len(head), _hash(head))


def is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_content(path: str) -> BinaryIO:
    """The file's uncompressed content as a stream (gzip is detected by its magic bytes)."""
    if is_gzip(path):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return open(path, "rb", buffering=0)


def read_head(path: str) -> bytes:
    """The first FINGERPRINT_BYTES of the content; b"" when it cannot be read (yet)."""
    try:
        with open_content(path) as f:
            return f.read(FINGERPRINT_BYTES)
    except (OSError, EOFError):  # vanished, or a .gz still being written
        return b""


def pread_head(fd: int, length: int = FINGERPRINT_BYTES) -> bytes:
    return os.pread(fd, length, 0)
