"""Bearer-token authentication and role checks for the `/api/` routes."""

from __future__ import annotations

import threading
import time

from starlette.requests import Request

from kubetrail.api.errors import ApiError
from kubetrail.auth import Role, secret_hash
from kubetrail.store.base import StateStore, Token

_TTL_S = 5.0  # a revoked token stops working within this time


class TokenAuth:
    def __init__(self, state: StateStore) -> None:
        self._state = state
        self._cache: dict[str, tuple[Token | None, float]] = {}
        self._lock = threading.Lock()

    def token(self, secret: str) -> Token | None:
        digest = secret_hash(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        token = self._state.token_by_hash(digest)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (token, now + _TTL_S)
        return token

    def require(self, request: Request, role: Role) -> Token:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401,
                "missing_token",
                "send an API token: Authorization: Bearer TOKEN",
                {"WWW-Authenticate": "Bearer"},
            )
        token = self.token(secret.strip())
        if token is None:
            raise ApiError(
                401,
                "unknown_token",
                "the API token is unknown or revoked",
                {"WWW-Authenticate": "Bearer"},
            )
        if not token.role.allows(role):
            raise ApiError(
                403,
                "forbidden",
                f"this needs the {role.value} role; the token has {token.role.value}",
            )
        return token
