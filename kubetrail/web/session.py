"""Browser sessions: a signed cookie naming the API token's hash, and the CSRF token of it.

The cookie holds `base64(token_hash|nonce|expiry).hmac` signed with a secret kept in the data
directory (made on first use, mode 0600), so every worker process of one service accepts the
cookies of the others and a restart keeps people signed in. It never holds the token itself:
the hash cannot be sent as a bearer token, and the token is looked up by it on each request,
so revoking the token ends its sessions within seconds. The CSRF token is an HMAC of the
session's nonce: a page rendered for this session carries it in a hidden field, and every
POST must send it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

COOKIE: Final = "kubetrail_session"
LIFETIME_S: Final = 12 * 3600
SECRET_FILE: Final = "web-session.key"  # noqa: S105 (a file name, not a secret)


class SessionError(Exception):
    """A session cookie or CSRF token is missing, forged or expired."""


@dataclass(frozen=True)
class Session:
    token_hash: str
    nonce: str
    expires: int


def load_secret(data_dir: Path) -> bytes:
    """The signing key of this data directory, created atomically on first use."""
    path = data_dir / SECRET_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_bytes(32)
    temp = data_dir / f".{SECRET_FILE}.{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(fresh)
    try:
        # link fails when another worker won the race: then its key is the one
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return path.read_bytes()


class Signer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, data: bytes) -> str:
        digest = hmac.new(self._secret, purpose.encode() + b"\0" + data, hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def issue(self, token_hash: str, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + LIFETIME_S
        body = f"{token_hash}|{secrets.token_urlsafe(16)}|{expires}".encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._mac("s", body)

    def read(self, cookie: str | None, now: float | None = None) -> Session:
        if not cookie or "." not in cookie:
            raise SessionError("not signed in")
        encoded, _, mac = cookie.rpartition(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            raise SessionError("malformed session cookie") from None
        if not hmac.compare_digest(mac, self._mac("s", body)):
            raise SessionError("session cookie signature does not match")
        token_hash, nonce, expires = body.decode().split("|")
        if int(expires) < (now if now is not None else time.time()):
            raise SessionError("session expired: sign in again")
        return Session(token_hash, nonce, int(expires))

    def csrf(self, session: Session) -> str:
        return self._mac("csrf", session.nonce.encode())

    def check_csrf(self, session: Session, sent: str | None) -> None:
        if not sent or not hmac.compare_digest(sent, self.csrf(session)):
            raise SessionError("the form's CSRF token is missing or stale: reload the page")
