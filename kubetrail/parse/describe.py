"""The one-line English description of an ECS document, as analysts see it in lists."""

from __future__ import annotations

from typing import Any


def _get(doc: dict[str, Any], *path: str) -> str:
    value: Any = doc
    for key in path:
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    return value if isinstance(value, str) else ""


def describe(doc: dict[str, Any]) -> str:
    """What happened, in one sentence; the raw message when the event says too little."""
    user = _get(doc, "user", "name")
    verb = _get(doc, "event", "action")
    resource = _get(doc, "kubernetes", "resource")
    subresource = _get(doc, "kubernetes", "subresource")
    name = _get(doc, "kubernetes", "object", "name")
    namespace = _get(doc, "kubernetes", "namespace")
    ip = _get(doc, "source", "ip")
    sentence = _sentence(user, verb, resource, subresource, name, namespace, doc)
    if sentence is None:
        return _get(doc, "message")
    return f"{sentence} (from {ip})" if ip else sentence


def _sentence(
    user: str,
    verb: str,
    resource: str,
    subresource: str,
    name: str,
    namespace: str,
    doc: dict[str, Any],
) -> str | None:
    if not user:
        return None
    if resource == "pods" and subresource == "exec" and name and namespace:
        return f"{user} executed a command in {resource}/{name} in namespace {namespace}"
    if verb == "create" and resource == "selfsubjectaccessreviews":
        return f"{user} checked its own permissions"
    if verb == "create" and resource == "subjectaccessreviews":
        return f"{user} checked permissions for another account"
    if not verb:
        return None
    did = f"{user} performed a {verb} on"
    if resource and subresource and name and namespace:
        return f"{did} {resource}/{subresource}/{name} in namespace {namespace}"
    if resource and name and namespace:
        return f"{did} {resource}/{name} in namespace {namespace}"
    if resource and name:
        target = f"{resource}/{subresource}/{name}" if subresource else f"{resource}/{name}"
        return f"{did} a cluster-wide resource {target}"
    if resource and namespace:
        return f"{did} {resource} in namespace {namespace}"
    if resource:
        return f"{did} {resource} across the cluster"
    path = _get(doc, "url", "path")
    if path:  # a non-resource request: /healthz, /version, /apis discovery
        return f"{did} {path.partition('?')[0]}"
    return None
