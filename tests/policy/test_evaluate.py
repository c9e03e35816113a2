"""Policy evaluation, case by case, from the apiserver's documented semantics (checker.go).

Each case is one rule at level Request and one event: the policy answers Request when the rule
matches and None (the default when no rule matches) when it does not.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubetrail.policy import Level
from tests.policy.helpers import event, policy_of

CORE = {"group": ""}
R = "Request"

CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # selectors left out match everything
    ("empty rule matches a resource request", {}, event(resource="pods"), True),
    ("empty rule matches a non-resource request", {}, event(uri="/version"), True),
    # users and groups
    ("user listed", {"users": ["alice@example.com"]}, event(resource="pods"), True),
    ("user not listed", {"users": ["bob"]}, event(resource="pods"), False),
    (
        "user matched exactly, not as a prefix",
        {"users": ["system:serviceaccount:kube-system"]},
        event(user="system:serviceaccount:kube-system:default", resource="pods"),
        False,
    ),
    (
        "one of the user's groups is enough",
        {"userGroups": ["system:nodes"]},
        event(user="system:node:w1", groups=("system:authenticated", "system:nodes")),
        True,
    ),
    ("no group in common", {"userGroups": ["system:nodes"]}, event(), False),
    (
        "the authenticated user counts, not the impersonated one",
        {"users": ["bob@example.com"]},
        {**event(resource="pods"), "impersonatedUser": {"username": "bob@example.com"}},
        False,
    ),
    # verbs
    ("verb listed", {"verbs": ["get", "list"]}, event("list", resource="pods"), True),
    ("verb not listed", {"verbs": ["create"]}, event("get", resource="pods"), False),
    # namespaces; "" is the cluster scope
    (
        "namespace listed",
        {"namespaces": ["kube-system"]},
        event(resource="pods", namespace="kube-system"),
        True,
    ),
    (
        "namespace not listed",
        {"namespaces": ["kube-system"]},
        event(resource="pods", namespace="default"),
        False,
    ),
    (
        '"" selects a cluster-scoped resource',
        {"namespaces": [""]},
        event(resource="nodes", name="w1"),
        True,
    ),
    (
        '"" does not select a namespaced one',
        {"namespaces": [""]},
        event(resource="pods", namespace="a"),
        False,
    ),
    (
        "namespaces make it a resource rule: non-resource requests never match",
        {"namespaces": [""]},
        event(uri="/healthz"),
        False,
    ),
    # resources and groups
    (
        "core resource",
        {"resources": [{**CORE, "resources": ["pods"]}]},
        event(resource="pods"),
        True,
    ),
    (
        "a resource rule does not match a non-resource request",
        {"resources": [{**CORE, "resources": ["*"]}]},
        event(uri="/api"),
        False,
    ),
    (
        "group must match: core rule, apps request",
        {"resources": [{**CORE, "resources": ["deployments"]}]},
        event(resource="deployments", group="apps"),
        False,
    ),
    (
        "named group",
        {"resources": [{"group": "apps", "resources": ["deployments"]}]},
        event(resource="deployments", group="apps"),
        True,
    ),
    (
        "group without resources: every resource of the group",
        {"resources": [{"group": "rbac.authorization.k8s.io"}]},
        event(resource="clusterrolebindings", group="rbac.authorization.k8s.io"),
        True,
    ),
    (
        "a plain resource does not match its subresources",
        {"resources": [{**CORE, "resources": ["pods"]}]},
        event(resource="pods", subresource="log"),
        False,
    ),
    (
        "pods/log matches that subresource",
        {"resources": [{**CORE, "resources": ["pods/log"]}]},
        event(resource="pods", subresource="log"),
        True,
    ),
    (
        "pods/log does not match pods itself",
        {"resources": [{**CORE, "resources": ["pods/log"]}]},
        event(resource="pods"),
        False,
    ),
    (
        "pods/* matches a subresource of pods",
        {"resources": [{**CORE, "resources": ["pods/*"]}]},
        event(resource="pods", subresource="exec"),
        True,
    ),
    (
        "pods/* matches pods itself",
        {"resources": [{**CORE, "resources": ["pods/*"]}]},
        event(resource="pods"),
        True,
    ),
    (
        "pods/* does not match services",
        {"resources": [{**CORE, "resources": ["pods/*"]}]},
        event(resource="services", subresource="proxy"),
        False,
    ),
    (
        "*/status matches the status of any resource",
        {"resources": [{**CORE, "resources": ["*/status"]}]},
        event(resource="nodes", subresource="status"),
        True,
    ),
    (
        "*/status does not match another subresource",
        {"resources": [{**CORE, "resources": ["*/status"]}]},
        event(resource="pods", subresource="log"),
        False,
    ),
    (
        "*/status does not match the resource itself",
        {"resources": [{**CORE, "resources": ["*/status"]}]},
        event(resource="pods"),
        False,
    ),
    (
        "* matches every resource of the group, subresources included",
        {"resources": [{**CORE, "resources": ["*"]}]},
        event(resource="pods", subresource="exec"),
        True,
    ),
    (
        "* stays within its group",
        {"resources": [{**CORE, "resources": ["*"]}]},
        event(resource="deployments", group="apps"),
        False,
    ),
    # resourceNames
    (
        "resource name listed",
        {"resources": [{**CORE, "resources": ["configmaps"], "resourceNames": ["cfg"]}]},
        event(resource="configmaps", namespace="a", name="cfg"),
        True,
    ),
    (
        "resource name not listed",
        {"resources": [{**CORE, "resources": ["configmaps"], "resourceNames": ["cfg"]}]},
        event(resource="configmaps", namespace="a", name="other"),
        False,
    ),
    (
        "resourceNames never match a nameless request (a list)",
        {"resources": [{**CORE, "resources": ["configmaps"], "resourceNames": ["cfg"]}]},
        event("list", resource="configmaps", namespace="a"),
        False,
    ),
    # non-resource URLs
    ("exact URL", {"nonResourceURLs": ["/healthz"]}, event(uri="/healthz"), True),
    (
        "exact URL is not a prefix",
        {"nonResourceURLs": ["/healthz"]},
        event(uri="/healthz/etcd"),
        False,
    ),
    (
        "trailing * is a prefix",
        {"nonResourceURLs": ["/healthz*"]},
        event(uri="/healthz/etcd"),
        True,
    ),
    (
        "trailing * matches the bare prefix",
        {"nonResourceURLs": ["/healthz*"]},
        event(uri="/healthz"),
        True,
    ),
    ("* alone matches any path", {"nonResourceURLs": ["*"]}, event(uri="/openapi/v3"), True),
    (
        "the query string is not part of the path",
        {"nonResourceURLs": ["/livez"]},
        event(uri="/livez?verbose"),
        True,
    ),
    (
        "a non-resource rule does not match a resource request",
        {"nonResourceURLs": ["/api*"]},
        event(resource="pods"),
        False,
    ),
    # selectors combine with AND
    (
        "verb and resource both hold",
        {"verbs": ["create"], "resources": [{**CORE, "resources": ["pods"]}]},
        event("create", resource="pods", namespace="a"),
        True,
    ),
    (
        "resource holds, verb does not",
        {"verbs": ["create"], "resources": [{**CORE, "resources": ["pods"]}]},
        event("delete", resource="pods", namespace="a"),
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule", "ev", "matches"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_matching(rule: dict[str, Any], ev: dict[str, Any], matches: bool) -> None:
    policy = policy_of({"level": R, **rule})
    assert policy.level_for(ev) is (Level.REQUEST if matches else Level.NONE)


def test_the_first_matching_rule_wins() -> None:
    policy = policy_of(
        {"level": "None", "users": ["system:kube-proxy"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "RequestResponse"},
    )
    assert policy.config_for(event(user="system:kube-proxy", resource="secrets")).rule == 0
    secret = policy.config_for(event(resource="secrets", namespace="a"))
    assert (secret.rule, secret.level) == (1, Level.METADATA)
    pod = policy.config_for(event(resource="pods", namespace="a"))
    assert (pod.rule, pod.level) == (2, Level.REQUEST_RESPONSE)


def test_no_match_is_level_none_with_the_policy_defaults() -> None:
    policy = policy_of(
        {"level": "Metadata", "verbs": ["create"]},
        omitStages=["RequestReceived"],
        omitManagedFields=True,
    )
    config = policy.config_for(event("get", resource="pods"))
    assert config.rule is None
    assert config.level is Level.NONE
    assert config.omit_stages == {"RequestReceived"}
    assert config.omit_managed_fields is True


@pytest.mark.parametrize(
    ("policy_stages", "rule_stages", "expected"),
    [
        ([], [], set()),
        (["RequestReceived"], [], {"RequestReceived"}),
        ([], ["ResponseStarted"], {"ResponseStarted"}),
        (["RequestReceived"], ["ResponseStarted"], {"RequestReceived", "ResponseStarted"}),
        (["RequestReceived"], ["RequestReceived", "Panic"], {"RequestReceived", "Panic"}),
    ],
)
def test_omit_stages_are_the_union_of_policy_and_rule(
    policy_stages: list[str], rule_stages: list[str], expected: set[str]
) -> None:
    policy = policy_of({"level": "Metadata", "omitStages": rule_stages}, omitStages=policy_stages)
    assert policy.config_for(event(resource="pods")).omit_stages == expected


@pytest.mark.parametrize(
    ("policy_setting", "rule_setting", "expected"),
    [
        (False, None, False),
        (True, None, True),  # the rule inherits the policy's
        (True, False, False),  # the rule's own setting wins, either way
        (False, True, True),
    ],
)
def test_omit_managed_fields_rule_overrides_policy(
    policy_setting: bool, rule_setting: bool | None, expected: bool
) -> None:
    rule: dict[str, Any] = {"level": "Request"}
    if rule_setting is not None:
        rule["omitManagedFields"] = rule_setting
    policy = policy_of(rule, omitManagedFields=policy_setting)
    assert policy.config_for(event(resource="pods")).omit_managed_fields is expected
