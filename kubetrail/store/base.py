"""The storage interfaces every backend implements, and the values they exchange.

StoreError
  StoreBusy        transient: the caller should retry (HTTP 503 + Retry-After)
  QueryTimeout     a read ran past its time limit
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol, runtime_checkable

from kubetrail.auth import Role
from kubetrail.detect.alerts import AlertStore


class StoreError(Exception):
    """A storage operation failed."""


class StoreBusy(StoreError):
    """The store cannot take more work right now; retrying later will succeed."""


class QueryTimeout(StoreError):
    """A read ran past its time limit."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event ready to store: its document, raw text, time and where it came from."""

    id: bytes  # 16 bytes, see `event_id`
    ts_us: int  # @timestamp, microseconds since the epoch (UTC)
    intake: str
    doc: dict[str, Any]  # the ECS document, `message` included
    message: str


def event_id(intake_id: int, message: str) -> bytes:
    """The id of an event: the second of its request time, then a digest of its intake and its
    exact text.

    Retries of the same event by the same intake get the same id and are stored once; an event
    that reuses an auditID with other content gets another id, so it cannot suppress the first.
    The time comes first so that ids arrive in nearly ascending order: the store's unique index
    on them grows at its end instead of taking inserts on every page (random ids made the index
    a third of SQLite's insert cost at a million events, and more as the store grows). It is read
    from the text's `requestReceivedTimestamp`; an event without one gets zeros.
    """
    text = message.strip()
    digest = hashlib.blake2b(text.encode(), digest_size=12, key=intake_id.to_bytes(8))
    return _request_second(text).to_bytes(4) + digest.digest()


_REQUEST_TIME: Final = re.compile(
    r'"requestReceivedTimestamp"\s*:\s*"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)'
)


def _request_second(text: str) -> int:
    # the apiserver writes requestReceivedTimestamp after the request and response bodies:
    # search from the end
    at = text.rfind('"requestReceivedTimestamp"')
    found = _REQUEST_TIME.match(text, at) if at >= 0 else None
    return 0 if found is None else _epoch_second(found.group(1))


@functools.lru_cache(maxsize=4096)  # a stream's events share their seconds
def _epoch_second(text: str) -> int:
    try:
        second = int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())
    except ValueError:  # e.g. month 13
        return 0
    return second if 0 <= second < 2**32 else 0


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next_cursor: str | None
    took_ms: float


@dataclass(frozen=True)
class Facet:
    field: str
    values: list[tuple[Any, int]]  # most frequent first
    timed_out: bool = False


@dataclass(frozen=True)
class Intake:
    id: int
    name: str
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    role: Role
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the (time, tiebreak) of the last event of a page."""

    ts_us: int
    tiebreak: str = field(default="")


class Where(Protocol):
    """A compiled query: a WHERE clause of the backend's dialect and its bound parameters."""

    @property
    def where(self) -> str: ...

    @property
    def params(self) -> Any: ...


# A backend's own form of an event, made by its `Encoder` (in a parse worker process) from the
# parsed event; the raw text travels beside it. Opaque to everyone but the backend.
Encoded = tuple[Any, ...]
Encoder = Callable[[NewEvent], Encoded]


class EventStore(Protocol):
    dialect: Any  # the kubetrail.query dialect queries must be compiled to

    def append(self, events: list[NewEvent]) -> int:
        """Store `events` durably in one transaction; events already stored are skipped.

        Returns how many were new.
        """

    def search(
        self, query: Where, start_us: int, end_us: int, limit: int, cursor: str | None
    ) -> Page: ...

    def count(self, query: Where, start_us: int, end_us: int) -> int: ...

    def facet(self, field: str, query: Where, start_us: int, end_us: int, size: int) -> Facet: ...

    def histogram(
        self, query: Where, start_us: int, end_us: int, interval_us: int
    ) -> list[tuple[int, int]]: ...

    def get(self, event_id: str) -> dict[str, Any] | None: ...

    def delete_before(self, ts_us: int) -> int:
        """Retention: delete the events whose own time is before `ts_us`."""

    def close(self) -> None: ...


@runtime_checkable
class EncodingStore(EventStore, Protocol):
    """An event store whose rows can be made in other processes (kubetrail.ingest.parsers).

    `encoder` must be a module-level function, so that it pickles by name.
    """

    encoder: Encoder

    def append_encoded(self, events: list[tuple[Encoded, str]]) -> int:
        """`append` of events already encoded, each with its raw text."""


@runtime_checkable
class SyncingStore(EncodingStore, Protocol):
    """An encoding store whose commits can be made durable apart from the commit itself, so
    that one flush to disk covers many commits while the next one is written.

    `append_unsynced` returns once the events are committed (readers see them; a crash of the
    process loses nothing, a power cut may lose them); `sync` makes every commit so far
    durable. `append_encoded` is the two in a row.
    """

    def append_unsynced(self, events: list[tuple[Encoded, str]]) -> int: ...

    def sync(self) -> None: ...


@runtime_checkable
class FollowableStore(EventStore, Protocol):
    """An event store that can be followed in commit order (the embedded one)."""

    def tail(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Events stored after the watermark `after` (None: from the start), oldest first.

        Each is {"event_id", "message", "doc"}; also returns the watermark to pass next time.
        """

    def behind(self, after: str | None) -> int:
        """How many events were stored after the watermark `after` (at most)."""


class StateStore(Protocol):
    @property
    def alerts(self) -> AlertStore: ...

    def create_intake(self, name: str, key_hash: str) -> Intake: ...

    def list_intakes(self) -> list[Intake]: ...

    def revoke_intake(self, name: str) -> bool: ...

    def intake_by_key_hash(self, key_hash: str) -> Intake | None: ...

    def create_token(self, name: str, role: Role, token_hash: str) -> Token: ...

    def list_tokens(self) -> list[Token]: ...

    def revoke_token(self, name: str) -> bool: ...

    def token_by_hash(self, token_hash: str) -> Token | None: ...

    def get_setting(self, key: str) -> str | None:
        """A small piece of service state (rule settings, the detection watermark)."""

    def set_setting(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
