"""Which intake a request is for: the key's places, and a short-lived cache of lookups.

The key may come as header `X-SEKOIAIO-INTAKE-KEY`, as the password of HTTP Basic, as
`Authorization: Bearer KEY` (the apiserver's webhook kubeconfig), as `?intake_key=`, or inside
the body (`/batch`, `/array`, `/`). Lookups are cached for a few seconds, so a revoked key
stops working within that time without a database read per request.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time

from starlette.requests import Request

from kubetrail.auth import secret_hash
from kubetrail.store.base import Intake, StateStore

_TTL_S = 5.0
_MAX_CACHED = 10_000


def key_from_request(request: Request) -> str | None:
    header = request.headers.get("x-sekoiaio-intake-key")
    if header:
        return header.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return request.query_params.get("intake_key") or None


class IntakeResolver:
    def __init__(self, state: StateStore) -> None:
        self._state = state
        self._cache: dict[str, tuple[Intake | None, float]] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str) -> Intake | None:
        digest = secret_hash(key)  # the cache is keyed by hash: no secret stays in memory
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[1] > now:
                return hit[0]
        intake = self._state.intake_by_key_hash(digest)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (intake, now + _TTL_S)
        return intake
