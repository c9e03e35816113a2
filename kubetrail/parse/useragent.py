"""`userAgent` -> ECS `user_agent.*`, with the uap-core rules of the `ua-parser` package.

A cluster repeats a handful of user agents millions of times, so results are cached by string.
The cache is bounded: a client sending random user agents must not grow memory without limit.
"""

from __future__ import annotations

from typing import Any, Final

from ua_parser import parse as _uap_parse

_CACHE_SIZE: Final = 4096
_cache: dict[str, dict[str, Any]] = {}


def _version(major: str | None, minor: str | None, patch: str | None) -> str | None:
    parts = []
    for part in (major, minor, patch):
        if not part:
            break
        parts.append(part)
    return ".".join(parts) or None


def _parse(original: str) -> dict[str, Any]:
    result = _uap_parse(original).with_defaults()
    agent, os, device = result.user_agent, result.os, result.device
    doc: dict[str, Any] = {"original": original, "name": agent.family}
    version = _version(agent.major, agent.minor, agent.patch)
    if version:
        doc["version"] = version
    os_doc = {"name": os.family}
    os_version = _version(os.major, os.minor, os.patch)
    if os_version:
        os_doc["version"] = os_version
    doc["os"] = os_doc
    doc["device"] = {"name": device.family}
    return doc


def user_agent(original: str) -> dict[str, Any]:
    """The ECS `user_agent` object for `original`.

    The object is shared by every document with this user agent: documents are read-only once
    built (copying it for each of millions of events would cost more than parsing them).
    """
    cached = _cache.get(original)
    if cached is None:
        cached = _parse(original)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()  # cheaper than LRU bookkeeping; the working set refills in a moment
        _cache[original] = cached
    return cached
