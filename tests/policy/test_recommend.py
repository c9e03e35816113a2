"""The recommended profiles: valid, commented, and doing what their comments promise."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.policy import Level, apply_policy, lint_text, load_policy_text
from kubetrail.policy.profiles import PROFILES, profile_text
from tests.policy.helpers import event

NODE = ("system:nodes", "system:authenticated")
PRIVILEGED_POD = {
    "kind": "Pod",
    "metadata": {"name": "debugger", "namespace": "kube-system"},
    "spec": {
        "containers": [{"name": "x", "image": "alpine", "securityContext": {"privileged": True}}]
    },
}


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_is_clean_and_commented(profile: str) -> None:
    text = profile_text(profile)
    assert text.startswith(f'# kubetrail audit policy, profile "{profile}"')
    linted = lint_text(text)
    assert linted.problems == ()  # not even a warning


def test_minimal_is_one_metadata_rule() -> None:
    policy = load_policy_text(profile_text("minimal"))
    assert [r.level for r in policy.rules] == [Level.METADATA]


# (profile, event, expected level)
CASES = [
    ("balanced", event("get", resource="secrets", namespace="web", name="db"), Level.METADATA),
    ("balanced", event("create", resource="secrets", namespace="web"), Level.METADATA),
    ("balanced", event("update", resource="configmaps", namespace="web"), Level.METADATA),
    (
        "balanced",
        event("create", resource="tokenreviews", group="authentication.k8s.io"),
        Level.METADATA,
    ),
    ("balanced", event("get", uri="/healthz"), Level.NONE),
    ("balanced", event("get", uri="/readyz?verbose"), Level.NONE),
    ("balanced", event("get", uri="/api/v1"), Level.METADATA),
    (
        "balanced",
        event(
            "update",
            user="system:kube-scheduler",
            resource="leases",
            namespace="kube-system",
            group="coordination.k8s.io",
        ),
        Level.NONE,
    ),
    (
        "balanced",
        event(
            "update",
            user="eve@example.com",
            resource="leases",
            namespace="kube-system",
            group="coordination.k8s.io",
        ),
        Level.METADATA,
    ),
    (
        "balanced",
        event("patch", user="system:node:w1", groups=NODE, resource="nodes", subresource="status"),
        Level.NONE,
    ),
    ("balanced", event("watch", user="system:node:w1", groups=NODE, resource="pods"), Level.NONE),
    ("balanced", event("create", resource="events", namespace="web"), Level.NONE),
    ("balanced", event("delete", resource="events", namespace="web"), Level.METADATA),
    ("balanced", event("create", resource="pods", namespace="web"), Level.REQUEST),
    (
        "balanced",
        event("patch", resource="daemonsets", namespace="web", group="apps"),
        Level.REQUEST,
    ),
    (
        "balanced",
        event("create", resource="clusterrolebindings", group="rbac.authorization.k8s.io"),
        Level.REQUEST,
    ),
    (
        "balanced",
        event(
            "create", resource="mutatingwebhookconfigurations", group="admissionregistration.k8s.io"
        ),
        Level.REQUEST,
    ),
    (
        "balanced",
        event("create", resource="certificatesigningrequests", group="certificates.k8s.io"),
        Level.REQUEST,
    ),
    (
        "balanced",
        event("create", resource="serviceaccounts", namespace="web", subresource="token"),
        Level.REQUEST,
    ),
    ("balanced", event("list", resource="pods", namespace="web"), Level.METADATA),
    ("forensic", event("get", resource="secrets", namespace="web"), Level.METADATA),
    (
        "forensic",
        event("create", resource="serviceaccounts", namespace="web", subresource="token"),
        Level.REQUEST,
    ),
    ("forensic", event("list", resource="pods"), Level.REQUEST),
    ("forensic", event("create", resource="pods", namespace="web"), Level.REQUEST_RESPONSE),
    ("forensic", event("get", uri="/healthz"), Level.REQUEST),
]


@pytest.mark.parametrize(("profile", "ev", "level"), CASES)
def test_profile_levels(profile: str, ev: dict[str, object], level: Level) -> None:
    assert load_policy_text(profile_text(profile)).level_for(ev) is level


@pytest.mark.parametrize(
    ("profile", "visible"), [("minimal", False), ("balanced", True), ("forensic", True)]
)
def test_a_privileged_pod_is_visible_only_with_its_body(profile: str, visible: bool) -> None:
    ev = event("create", resource="pods", namespace="kube-system", request=PRIVILEGED_POD)
    written = apply_policy(load_policy_text(profile_text(profile)), ev)
    assert written is not None
    assert ("requestObject" in written) is visible


@pytest.mark.parametrize("profile", PROFILES)
def test_recommend_prints_the_profile(profile: str) -> None:
    result = CliRunner().invoke(cli, ["policy", "recommend", "--profile", profile])
    assert result.exit_code == 0
    assert result.stdout == profile_text(profile)
