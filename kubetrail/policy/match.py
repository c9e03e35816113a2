"""Does a policy rule match a request? k8s.io/apiserver `pkg/audit/policy/checker.go`, in Python.

The apiserver evaluates its policy on the request's authorizer attributes; a raw audit event
carries the same facts: `user` is the authenticated user (the policy runs before impersonation,
so `impersonatedUser` never takes part), `verb`, and `objectRef` exactly when the request was a
resource request. The path of a non-resource request is `requestURI` without its query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubetrail.policy.model import Rule


@dataclass(frozen=True, slots=True)
class Attributes:
    """The authorizer attributes the checker reads, recovered from a raw audit event."""

    user: str | None
    groups: tuple[str, ...]
    verb: str
    resource_request: bool
    namespace: str = ""
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Attributes:
        user = event.get("user")
        username: str | None = None
        groups: tuple[str, ...] = ()
        if isinstance(user, dict):
            username = _text(user.get("username"))
            raw_groups = user.get("groups")
            if isinstance(raw_groups, list):
                groups = tuple(g for g in raw_groups if isinstance(g, str))
        verb = _text(event.get("verb"))
        ref = event.get("objectRef")
        uri = _text(event.get("requestURI"))
        path = uri.split("?", 1)[0]
        if not isinstance(ref, dict):
            return cls(username, groups, verb, resource_request=False, path=path)
        return cls(
            username,
            groups,
            verb,
            resource_request=True,
            namespace=_text(ref.get("namespace")),
            api_group=_text(ref.get("apiGroup")),
            resource=_text(ref.get("resource")),
            subresource=_text(ref.get("subresource")),
            name=_text(ref.get("name")),
            path=path,
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def rule_matches(rule: Rule, attrs: Attributes) -> bool:
    """checker.go ruleMatches: every selector the rule sets must hold (empty means any)."""
    if rule.users and (attrs.user is None or attrs.user not in rule.users):
        return False
    if rule.user_groups and (
        attrs.user is None or not any(g in rule.user_groups for g in attrs.groups)
    ):
        return False
    if rule.verbs and attrs.verb not in rule.verbs:
        return False
    # namespaces or resources make it a resource rule, even if nonResourceURLs is also set
    # (validation refuses that mix; the checker's order decides if one slips through)
    if rule.namespaces or rule.resources:
        return _matches_resource(rule, attrs)
    if rule.non_resource_urls:
        return not attrs.resource_request and any(
            path_matches(attrs.path, spec) for spec in rule.non_resource_urls
        )
    return True


def path_matches(path: str, spec: str) -> bool:
    """`*` matches every path, `/x*` every path starting with `/x`, anything else only itself."""
    if spec in ("*", path):
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def _matches_resource(rule: Rule, attrs: Attributes) -> bool:
    if not attrs.resource_request:
        return False
    # cluster-scoped requests have the empty namespace, which `""` in the rule selects
    if rule.namespaces and attrs.namespace not in rule.namespaces:
        return False
    if not rule.resources:
        return True
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    for group in rule.resources:
        if group.group != attrs.api_group:
            continue
        if not group.resources:
            return True
        if group.resource_names and attrs.name not in group.resource_names:
            continue
        for spec in group.resources:
            if spec in ("*", combined):
                return True
            # "*/status": that subresource of every resource
            if attrs.subresource and spec.startswith("*/") and spec[2:] == attrs.subresource:
                return True
            # "pods/*": the resource itself and all its subresources
            if spec.endswith("/*") and spec[:-2] == attrs.resource:
                return True
    return False
