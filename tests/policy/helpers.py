"""Build policies and raw audit events the way kube-apiserver writes them, for the tests."""

from __future__ import annotations

from typing import Any

import yaml

from kubetrail.policy import Policy, load_policy_text


def policy_of(*rules: dict[str, Any], **top: Any) -> Policy:
    """A Policy from rule mappings, through the real YAML loader and validator."""
    doc = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", **top, "rules": list(rules)}
    return load_policy_text(yaml.safe_dump(doc, sort_keys=False))


def event(
    verb: str = "get",
    *,
    user: str = "alice@example.com",
    groups: tuple[str, ...] = ("system:authenticated",),
    resource: str | None = None,
    namespace: str | None = None,
    group: str = "",
    subresource: str | None = None,
    name: str | None = None,
    uri: str | None = None,
    stage: str = "ResponseComplete",
    level: str = "RequestResponse",
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A raw audit event; a resource request when `resource` is given, else a non-resource one."""
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": "6f0c1a3e-1b7e-4c5e-9a51-0c3b1d2e4f60",
        "stage": stage,
        "verb": verb,
        "user": {"username": user, "groups": list(groups)},
        "sourceIPs": ["10.0.0.7"],
        "requestReceivedTimestamp": "2026-11-26T10:00:00.000000Z",
        "stageTimestamp": "2026-11-26T10:00:00.012000Z",
    }
    if resource is None:
        ev["requestURI"] = uri or "/healthz"
    else:
        ref: dict[str, Any] = {"resource": resource, "apiVersion": "v1"}
        if namespace:
            ref["namespace"] = namespace
        if group:
            ref["apiGroup"] = group
        if subresource:
            ref["subresource"] = subresource
        if name:
            ref["name"] = name
        ev["objectRef"] = ref
        prefix = f"/apis/{group}/v1" if group else "/api/v1"
        scope = f"/namespaces/{namespace}" if namespace else ""
        tail = f"/{name}" if name else ""
        tail += f"/{subresource}" if subresource else ""
        ev["requestURI"] = uri or f"{prefix}{scope}/{resource}{tail}"
    if request is not None:
        ev["requestObject"] = request
    if response is not None:
        ev["responseObject"] = response
    ev["responseStatus"] = {"metadata": {}, "code": 200}
    return ev
