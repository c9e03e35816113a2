"""kubetrail's own warnings about a valid policy: what the apiserver accepts but will regret.

- A rule after one that matches everything can never match (first match wins).
- A verb no request has (a typo such as `gets`) makes its rule match nothing.
- Secrets, configmaps and token reviews at `Request` or above write credentials into the log.
"""

from __future__ import annotations

from typing import Final

from kubetrail.policy.checker import Policy
from kubetrail.policy.errors import Problem
from kubetrail.policy.match import Attributes
from kubetrail.policy.model import Level, Rule

# the verbs of resource requests, plus the lowercase HTTP methods of non-resource requests
KNOWN_VERBS: Final = frozenset(
    {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "post",
        "put",
        "head",
        "options",
    }
)
# (group, resource, subresource, lowest level that leaks, what leaks): bodies that carry
# credentials. A TokenRequest's request is harmless; its response is the token.
SENSITIVE: Final = (
    ("", "secrets", "", Level.REQUEST, "secret values"),
    ("", "configmaps", "", Level.REQUEST, "configuration values, often credentials"),
    ("authentication.k8s.io", "tokenreviews", "", Level.REQUEST, "bearer tokens"),
    ("", "serviceaccounts", "token", Level.REQUEST_RESPONSE, "service-account tokens"),
)
_SENSITIVE_VERBS: Final = ("create", "update", "patch", "get", "list")


def advise(policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    for index, rule in enumerate(policy.rules):
        problems.extend(_unknown_verbs(index, rule))
    problems.extend(_unreachable(policy))
    problems.extend(_leaks(policy))
    return sorted(problems, key=lambda p: p.line)


def _catches_all(rule: Rule) -> bool:
    return not (
        rule.users
        or rule.user_groups
        or rule.verbs
        or rule.resources
        or rule.namespaces
        or rule.non_resource_urls
    )


def _unreachable(policy: Policy) -> list[Problem]:
    for index, rule in enumerate(policy.rules):
        if _catches_all(rule):
            return [
                Problem(
                    "warning",
                    later.line,
                    f"rules[{index + 1 + offset}]",
                    f"never matches: rule {index} (line {rule.line}) matches every request "
                    "and the first matching rule wins",
                    index + 1 + offset,
                )
                for offset, later in enumerate(policy.rules[index + 1 :])
            ]
    return []


def _unknown_verbs(index: int, rule: Rule) -> list[Problem]:
    return [
        Problem(
            "warning",
            rule.line,
            f"rules[{index}].verbs",
            f"{verb!r} is not a request verb: this entry matches nothing "
            f"(verbs are {', '.join(sorted(KNOWN_VERBS))})",
            index,
        )
        for verb in rule.verbs
        if verb not in KNOWN_VERBS
    ]


def _leaks(policy: Policy) -> list[Problem]:
    """Ask the policy about a plain user's requests on sensitive objects, as the apiserver would."""
    found: dict[tuple[int, str], Problem] = {}
    for group, resource, subresource, leaking, what in SENSITIVE:
        for verb in _SENSITIVE_VERBS:
            attrs = Attributes(
                user="jane@example.com",
                groups=("system:authenticated",),
                verb=verb,
                resource_request=True,
                namespace="default",
                api_group=group,
                resource=resource,
                subresource=subresource,
            )
            config = policy.config_for_attributes(attrs)
            if config.rule is None or config.level < leaking:
                continue
            target = f"{resource}/{subresource}" if subresource else resource
            key = (config.rule, target)
            if key not in found:
                found[key] = Problem(
                    "warning",
                    policy.rules[config.rule].line,
                    f"rules[{config.rule}]",
                    f"records {target} at {config.level.value} (e.g. {verb}): their bodies "
                    f"write {what} into the audit log; record {target} below {leaking.value}",
                    config.rule,
                )
    return list(found.values())
