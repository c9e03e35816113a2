"""The storage interfaces every backend implements, and the values they exchange.

StoreError
  StoreBusy        transient: the caller should retry (HTTP 503 + Retry-After)
  QueryTimeout     a read ran past its time limit
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    """The id of an event: a digest of its intake and its exact text.

    Retries of the same event by the same intake get the same id and are stored once; an event
    that reuses an auditID with other content gets another id, so it cannot suppress the first.
    """
    digest = hashlib.blake2b(message.strip().encode(), digest_size=16, key=intake_id.to_bytes(8))
    return digest.digest()


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


class FollowableStore(EventStore, Protocol):
    """An event store that can be followed in commit order (the embedded one)."""

    def tail(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Events stored after the watermark `after` (None: from the start), oldest first.

        Each is {"event_id", "message", "doc"}; also returns the watermark to pass next time.
        """


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
