"""Finding the log files, following them through rotation, and cutting them into batches.

One `Tracked` per file identity (see identity.py). Every poll:

- the configured globs are listed; a file already open is confirmed by device, inode and
  fingerprint; a file whose fingerprint changed or that shrank was truncated
  (copytruncate): what was unread of it now lives in the copy;
- a file no longer at a configured path was rotated: it is read to its end through the handle
  kept open, so a later rename, gzip or delete cannot take lines away;
- a file without an open handle (after a restart, or after copytruncate) is looked for by
  fingerprint among its rotated siblings (`audit-*.log`, `*.gz`, `*.1`) and read from its
  checkpointed offset (through gzip when it was compressed meanwhile).

Batches go to `sink` (the disk buffer) with the offset they reach; `offset` is never the
acknowledged position, `acked` is, and only `acked` is checkpointed.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

from kubetrail.agent.config import AgentConfig
from kubetrail.agent.identity import (
    FINGERPRINT_BYTES,
    Fingerprint,
    fingerprint,
    open_content,
    pread_head,
    read_head,
)
from kubetrail.agent.lines import error_event, is_clean, problem_of
from kubetrail.agent.metrics import Metrics

log = logging.getLogger("kubetrail.agent")

CHUNK: Final = 256 * 1024
# read at most this much of one file per poll, so that every file and the buffer limit get
# their turn
READ_BUDGET: Final = 32 * CHUNK

# how many finished files' fingerprints are remembered (rotated backups kept on disk)
DONE_KEPT: Final = 1000

Sink = Callable[["Tracked", list[bytes], int], None]


@dataclass
class Tracked:
    id: str
    logfile: str  # the configured filepath (glob) the file was found by
    path: str  # where it was last seen
    fp: Fingerprint
    dev: int
    ino: int
    offset: int  # end of the last line handed on (in the buffer or the pending batch)
    acked: int  # end of the last line the intake acknowledged
    finished: bool = False
    # below: runtime only, rebuilt after a restart
    handle: BinaryIO | None = None
    gz: bool = False
    pos: int = 0  # where the handle is
    partial: bytes = b""  # bytes after the last newline
    long_head: bytes | None = None  # the kept start of a line over the limit
    long_start: int = 0
    long_len: int = 0
    live: bool = False
    last_growth: float = 0.0
    orphan_since: float | None = None
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    pending_since: float = 0.0

    def state(self) -> dict[str, Any]:
        return {
            "logfile": self.logfile,
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "fp": [self.fp.length, self.fp.digest],
            "acked": self.acked,
            "end": self.offset if self.finished else None,
        }


class Tailer:
    def __init__(
        self,
        cfg: AgentConfig,
        metrics: Metrics,
        sink: Sink,
        full: Callable[[], bool],
        saved: dict[str, Any] | None,
        buffered: dict[str, int],
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.sink = sink
        self.full = full
        self.lock = threading.Lock()
        self.files: dict[str, Tracked] = {}
        # `read_from: end` is for the files there at the very first start; any file that
        # appears later, or while the agent was down, holds new lines
        self._from_end = saved is None and cfg.read_from == "end"
        # rotated files newer than the agent's first start are ours to read, even if they were
        # created and rotated away while the agent was down; older ones were there before us
        self.epoch: float = saved["epoch"] if saved else time.time()
        # fingerprints of files read to their end, so that their rotated copies are not re-read
        self.done: dict[tuple[int, str], None] = {
            (int(n), str(d)): None for n, d in (saved or {}).get("done", [])
        }
        self._known_siblings: set[tuple[str, int, int, int]] = set()
        self._live_paths: set[str] = set()
        for id_, s in (saved or {}).get("files", {}).items():
            acked = int(s["acked"])
            t = Tracked(
                id=id_, logfile=s["logfile"], path=s["path"], fp=Fingerprint(*s["fp"]),
                dev=s["dev"], ino=s["ino"], offset=max(acked, buffered.get(id_, 0)), acked=acked,
            )  # fmt: skip
            # a finished file whose last lines are still in the buffer only waits for acks
            t.finished = s.get("end") is not None and t.offset >= s["end"]
            self.files[id_] = t

    # -- the shipper's side -------------------------------------------------------------

    def acknowledged(self, id_: str, end: int) -> None:
        with self.lock:
            t = self.files.get(id_)
            if t is not None:
                t.acked = max(t.acked, end)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "epoch": self.epoch,
                "done": [list(fp) for fp in self.done],
                "files": {id_: t.state() for id_, t in self.files.items()},
            }

    # -- the reader's side ---------------------------------------------------------------

    def poll(self) -> None:
        now = time.monotonic()
        self._scan(now)
        self._scan_rotated(now)
        self._from_end = False
        for t in list(self.files.values()):
            if t.finished:
                continue
            if t.handle is None and not t.live:
                self._find_rotated(t, now)
            if t.handle is not None and not self.full():
                self._read(t, now)
            if t.pending and (now - t.pending_since >= self.cfg.flush_interval or t.handle is None):
                self._flush(t)
            if (
                not t.live
                and t.handle is not None
                and now - t.last_growth >= self.cfg.rotate_wait
                and not self.full()
            ):
                self._finish(t)
        with self.lock:
            for id_ in [i for i, t in self.files.items() if t.finished and t.acked >= t.offset]:
                del self.files[id_]

    def flush_all(self) -> None:
        for t in list(self.files.values()):
            self._flush(t)

    def close(self) -> None:
        for t in self.files.values():
            if t.handle is not None:
                t.handle.close()
                t.handle = None

    def _scan(self, now: float) -> None:
        open_ = {(t.dev, t.ino): t for t in self.files.values() if t.handle is not None}
        seen: set[tuple[int, int]] = set()
        self._live_paths.clear()
        for lf in self.cfg.logfiles:
            for path in sorted(glob.glob(lf.filepath)):
                self._live_paths.add(path)
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # rotated away between listing and stat
                key = (st.st_dev, st.st_ino)
                if not stat.S_ISREG(st.st_mode) or key in seen or path.endswith(".gz"):
                    continue
                seen.add(key)
                t = open_.get(key)
                if t is not None and t.handle is not None:
                    fd = t.handle.fileno()
                    if st.st_size < t.offset or not t.fp.matches(pread_head(fd, t.fp.length)):
                        log.info("file truncated (copytruncate)", extra={"file": path})
                        self._orphan(t, now)
                    else:
                        t.live, t.path = True, path
                        if t.fp.length < FINGERPRINT_BYTES and st.st_size > t.fp.length:
                            t.fp = fingerprint(pread_head(fd)) or t.fp
                        continue
                self._adopt_or_start(lf.filepath, path, st, now)
        for t in self.files.values():
            if t.live and t.handle is not None and (t.dev, t.ino) not in seen:
                t.live = False  # rotated: read on to its end through the open handle

    def _known(self, head: bytes) -> bool:
        if any(t.fp.matches(head) for t in self.files.values()):
            return True
        return any(Fingerprint(n, d).matches(head) for n, d in self.done)

    def _scan_rotated(self, now: float) -> None:
        """Start reading rotated files the agent never saw live (rotated while it was down)."""
        places = {_sibling_glob(t.path): t.logfile for t in self.files.values()}
        for lf in self.cfg.logfiles:
            if not any(c in lf.filepath for c in "*?["):
                places[_sibling_glob(lf.filepath)] = lf.filepath
        present: set[tuple[str, int, int, int]] = set()
        held = {(t.dev, t.ino) for t in self.files.values() if t.handle is not None}
        for pattern, logfile in places.items():
            for path in glob.glob(pattern):
                if path in self._live_paths:
                    continue  # a live file is never a rotated one, even before its first line
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in held:
                    continue  # being read already
                key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
                present.add(key)
                if key in self._known_siblings or st.st_mtime < self.epoch:
                    continue
                head = read_head(path)
                fp = fingerprint(head)
                if fp is None:
                    continue
                if not self._known(head):
                    t = self._track(logfile, path, st, fp, 0)
                    log.info("reading rotated file never seen live", extra={"file": path})
                    self._open(t, path, now)
                self._known_siblings.add(key)
        self._known_siblings &= present

    def _track(
        self, logfile: str, path: str, st: os.stat_result, fp: Fingerprint, offset: int
    ) -> Tracked:
        t = Tracked(
            id=f"{fp.digest[:20]}-{st.st_ino}", logfile=logfile, path=path, fp=fp,
            dev=st.st_dev, ino=st.st_ino, offset=offset, acked=offset,
        )  # fmt: skip
        with self.lock:
            self.files[t.id] = t
        return t

    def _adopt_or_start(self, logfile: str, path: str, st: os.stat_result, now: float) -> None:
        head = read_head(path)
        fp = fingerprint(head)
        if fp is None:
            return  # no complete line yet: too early to tell which file this is
        for t in self.files.values():
            if t.handle is None and not t.finished and t.fp.matches(head):
                if self._open(t, path, now):
                    t.live = True
                return
        offset = _last_line_end(path, st.st_size) if self._from_end else 0
        t = self._track(logfile, path, st, fp, offset)
        log.info("following new file", extra={"file": path, "offset": offset})
        if self._open(t, path, now):
            t.live = True

    def _done(self, t: Tracked) -> None:
        with self.lock:
            t.finished = True
            self.done[(t.fp.length, t.fp.digest)] = None
            while len(self.done) > DONE_KEPT:
                del self.done[next(iter(self.done))]

    def _orphan(self, t: Tracked, now: float) -> None:
        if t.handle is not None:
            t.handle.close()
        t.handle, t.live, t.orphan_since = None, False, now
        t.partial, t.long_head = b"", None

    def _open(self, t: Tracked, path: str, now: float) -> bool:
        """Open `path` as `t`'s content and move to `t.offset`; False if it cannot be (yet)."""
        try:
            handle = open_content(path)
            st = os.fstat(handle.fileno())
            if hasattr(handle, "fileobj"):  # gzip: no seeking, decompress up to the offset
                left = t.offset
                while left > 0:
                    got = len(handle.read(min(left, CHUNK)))
                    if not got:
                        raise EOFError("shorter than the checkpoint")
                    left -= got
            else:
                if st.st_size < t.offset:
                    handle.close()
                    return False
                handle.seek(t.offset)
        except (OSError, EOFError) as exc:
            log.debug("cannot open yet", extra={"file": path, "reason": str(exc)})
            return False
        t.handle, t.path, t.pos, t.partial, t.long_head = handle, path, t.offset, b"", None
        t.gz = hasattr(handle, "fileobj")
        t.dev, t.ino = st.st_dev, st.st_ino
        t.last_growth, t.orphan_since = now, None
        return True

    def _find_rotated(self, t: Tracked, now: float) -> None:
        candidates = glob.glob(_sibling_glob(t.path))
        # a plain file first: its .gz twin may still be being written
        for path in sorted(candidates, key=lambda p: (p.endswith(".gz"), p)):
            if t.fp.matches(read_head(path)) and self._open(t, path, now):
                log.info("reading rotated file", extra={"file": path, "offset": t.offset})
                return
        if t.orphan_since is None:
            t.orphan_since = now
        elif now - t.orphan_since >= self.cfg.lost_after:
            log.error(
                "rotated file vanished before it was read to its end: lines after the offset"
                " are lost",
                extra={"file": t.path, "offset": t.offset},
            )
            self.metrics.add("files_lost", t.logfile)
            self._done(t)

    def _read(self, t: Tracked, now: float) -> None:
        assert t.handle is not None
        budget = READ_BUDGET
        while budget > 0 and not self.full():
            try:
                data = t.handle.read(CHUNK)
            except (OSError, EOFError) as exc:  # a .gz cut short (still being written)
                log.warning("read failed, retrying", extra={"file": t.path, "reason": str(exc)})
                self.metrics.add("errors", t.logfile)
                self._orphan(t, now)
                return
            if not data:
                return
            if not t.gz and not t.fp.matches(pread_head(t.handle.fileno(), t.fp.length)):
                # truncated (copytruncate) after the identity check and before this read: the
                # bytes read may be the new content from the middle of a line
                log.info("file truncated while reading (copytruncate)", extra={"file": t.path})
                self._orphan(t, now)
                return
            t.last_growth = now
            self._consume(t, data)
            budget -= len(data)

    def _consume(self, t: Tracked, data: bytes) -> None:
        limit = self.cfg.max_line_bytes
        if t.long_head is not None:
            nl = data.find(b"\n")
            if nl < 0:
                t.long_len += len(data)
                t.pos += len(data)
                return
            t.long_len += nl
            self._long_line_done(t, t.long_start + t.long_len + 1)
            t.pos += nl + 1
            data = data[nl + 1 :]
        buf = t.partial + data if t.partial else data
        start = t.pos - len(t.partial)
        t.pos += len(data)
        last = buf.rfind(b"\n")
        if last < 0:
            t.partial = buf
        else:
            t.partial = buf[last + 1 :]
            complete = buf[:last]
            lines = complete.split(b"\n")
            clean = is_clean(complete, max(map(len, lines)), limit)
            pos = start
            for raw in lines:
                end = pos + len(raw) + 1
                if raw:
                    line = raw
                    if not clean and (problem := problem_of(raw, limit)):
                        self.metrics.add("error_events", t.logfile)
                        line = error_event(problem, t.path, pos, raw, len(raw), limit)
                    self._add(t, line, end)
                pos = end
        if len(t.partial) > limit:  # a line too long to keep: keep its head, skip the rest
            t.long_head, t.long_len = t.partial[:limit], len(t.partial)
            t.long_start = t.pos - len(t.partial)
            t.partial = b""

    def _long_line_done(self, t: Tracked, end: int) -> None:
        assert t.long_head is not None
        self.metrics.add("error_events", t.logfile)
        event = error_event(
            "line too long", t.path, t.long_start, t.long_head, t.long_len, self.cfg.max_line_bytes
        )
        t.long_head = None
        self._add(t, event, end)

    def _add(self, t: Tracked, line: bytes, end: int) -> None:
        if not t.pending:
            t.pending_since = time.monotonic()
        t.pending.append(line)
        t.pending_bytes += len(line) + 1
        t.offset = end
        if (
            len(t.pending) >= self.cfg.batch_max_lines
            or t.pending_bytes >= self.cfg.batch_max_bytes
        ):
            self._flush(t)

    def _flush(self, t: Tracked) -> None:
        if t.pending:
            lines, t.pending, t.pending_bytes = t.pending, [], 0
            self.metrics.add("lines_read", t.logfile, len(lines))
            self.sink(t, lines, t.offset)

    def _finish(self, t: Tracked) -> None:
        """A rotated file read to its end and quiet since: its last bytes are a line too."""
        if t.long_head is not None:
            self._long_line_done(t, t.pos)
        elif t.partial:
            line, t.partial = t.partial, b""
            if problem := problem_of(line, self.cfg.max_line_bytes):
                self.metrics.add("error_events", t.logfile)
                line = error_event(
                    problem, t.path, t.pos - len(line), line, len(line), self.cfg.max_line_bytes
                )
            self._add(t, line, t.pos)
        self._flush(t)
        assert t.handle is not None
        t.handle.close()
        t.handle = None
        self._done(t)
        log.info("finished rotated file", extra={"file": t.path, "offset": t.offset})


def _sibling_glob(path: str) -> str:
    """Where rotated copies of `path` go: audit.log -> audit-<time>.log[.gz], audit.log.1[.gz]."""
    folder, name = os.path.split(path)
    stem = name.split(".", 1)[0].split("-", 1)[0]
    return os.path.join(glob.escape(folder), glob.escape(stem) + "*")


def _last_line_end(path: str, size: int) -> int:
    """The offset just after the last newline before `size` (where `read_from: end` starts)."""
    with open(path, "rb") as f:
        pos = size
        while pos > 0:
            step = min(pos, 64 * 1024)
            f.seek(pos - step)
            nl = f.read(step).rfind(b"\n")
            if nl >= 0:
                return pos - step + nl + 1
            pos -= step
    return 0
