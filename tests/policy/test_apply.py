"""What the apiserver would have written: bodies by level, stages omitted, managed fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubetrail.policy import apply_policy, without_managed_fields
from tests.policy.helpers import event, policy_of

MANAGED = [{"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {}}]


def pod(name: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "web", "managedFields": copy.deepcopy(MANAGED)},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def full_create() -> dict[str, Any]:
    return event(
        "create",
        resource="pods",
        namespace="web",
        request=pod("web-1"),
        response=pod("web-1"),
    )


@pytest.mark.parametrize(
    ("level", "request_kept", "response_kept"),
    [
        ("Metadata", False, False),
        ("Request", True, False),
        ("RequestResponse", True, True),
    ],
)
def test_bodies_kept_by_level(level: str, request_kept: bool, response_kept: bool) -> None:
    written = apply_policy(policy_of({"level": level}), full_create())
    assert written is not None
    assert written["level"] == level
    assert ("requestObject" in written) is request_kept
    assert ("responseObject" in written) is response_kept
    # the metadata of the request is all still there
    assert written["objectRef"] == full_create()["objectRef"]
    assert written["user"] == full_create()["user"]


def test_level_none_writes_nothing() -> None:
    policy = policy_of({"level": "None", "verbs": ["create"]}, {"level": "Metadata"})
    assert apply_policy(policy, full_create()) is None
    assert apply_policy(policy, event("get", resource="pods")) is not None


def test_no_matching_rule_writes_nothing() -> None:
    policy = policy_of({"level": "Metadata", "resources": [{"group": "", "resources": ["pods"]}]})
    assert apply_policy(policy, event("get", resource="secrets", namespace="a")) is None


@pytest.mark.parametrize(
    ("policy_stages", "rule_stages", "stage", "written"),
    [
        (["RequestReceived"], [], "RequestReceived", False),
        (["RequestReceived"], [], "ResponseComplete", True),
        ([], ["ResponseStarted"], "ResponseStarted", False),
        (["RequestReceived"], ["ResponseStarted"], "ResponseStarted", False),
        (["RequestReceived"], ["ResponseStarted"], "Panic", True),
    ],
)
def test_omitted_stages_are_not_written(
    policy_stages: list[str], rule_stages: list[str], stage: str, written: bool
) -> None:
    policy = policy_of({"level": "Metadata", "omitStages": rule_stages}, omitStages=policy_stages)
    ev = event("get", resource="pods", subresource="exec", stage=stage)
    assert (apply_policy(policy, ev) is not None) is written


@pytest.mark.parametrize(
    ("policy_setting", "rule_setting", "stripped"),
    [(True, None, True), (False, None, False), (True, False, False), (False, True, True)],
)
def test_managed_fields_removed_from_both_bodies(
    policy_setting: bool, rule_setting: bool | None, stripped: bool
) -> None:
    rule: dict[str, Any] = {"level": "RequestResponse"}
    if rule_setting is not None:
        rule["omitManagedFields"] = rule_setting
    written = apply_policy(policy_of(rule, omitManagedFields=policy_setting), full_create())
    assert written is not None
    for body in ("requestObject", "responseObject"):
        assert ("managedFields" in written[body]["metadata"]) is not stripped
        assert written[body]["metadata"]["name"] == "web-1"
        assert written[body]["spec"] == pod("web-1")["spec"]


def test_managed_fields_removed_from_list_items() -> None:
    listing = {"kind": "PodList", "metadata": {}, "items": [pod("a"), pod("b")]}
    ev = event("list", resource="pods", namespace="web", response=listing)
    written = apply_policy(policy_of({"level": "RequestResponse", "omitManagedFields": True}), ev)
    assert written is not None
    items = written["responseObject"]["items"]
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert all("managedFields" not in i["metadata"] for i in items)


def test_a_patch_body_is_the_raw_patch_and_is_not_stripped() -> None:
    # the apiserver logs a patch's bytes as sent (LogRequestPatch): nothing is removed from them
    patch = {"metadata": {"managedFields": MANAGED, "labels": {"tier": "web"}}}
    ev = event("patch", resource="pods", namespace="web", name="web-1", request=patch)
    written = apply_policy(policy_of({"level": "Request", "omitManagedFields": True}), ev)
    assert written is not None
    assert written["requestObject"] == patch


def test_the_input_event_is_never_modified() -> None:
    original = full_create()
    ev = copy.deepcopy(original)
    apply_policy(policy_of({"level": "Metadata", "omitManagedFields": True}), ev)
    apply_policy(policy_of({"level": "RequestResponse", "omitManagedFields": True}), ev)
    assert ev == original


def test_a_capture_cannot_gain_what_it_never_recorded() -> None:
    captured = event("create", resource="pods", namespace="web", level="Metadata")
    written = apply_policy(policy_of({"level": "RequestResponse"}), captured)
    assert written is not None
    assert written["level"] == "Metadata"
    assert "requestObject" not in written


def test_without_managed_fields_leaves_other_objects_alone() -> None:
    status = {"kind": "Status", "status": "Success"}
    assert without_managed_fields(status) is status
    assert without_managed_fields("raw text") == "raw text"
