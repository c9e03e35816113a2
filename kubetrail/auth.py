"""Intake keys and API tokens: generation, storage form, roles.

Secrets are 256 random bits, shown once at creation and stored only as their SHA-256. A fast
hash is the right tool here (unlike passwords, the secrets cannot be guessed), and looking a
secret up by its hash means the stored value is never compared with the secret itself; the
final check uses `hmac.compare_digest`, so no comparison leaks timing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum
from typing import Final


class Role(StrEnum):
    VIEWER = "viewer"  # reads events, alerts and rules
    ANALYST = "analyst"  # also changes alert status
    ADMIN = "admin"  # also manages intakes and tokens

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK: Final = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


def new_secret(prefix: str) -> str:
    """A fresh secret, prefixed so a leaked one is recognisable (`kti_` intake, `ktt_` token)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(stored: str, secret: str) -> bool:
    return hmac.compare_digest(stored, secret_hash(secret))
