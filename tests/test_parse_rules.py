"""The mapping rules of the parser, one behaviour per test, on variations of a real event."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kubetrail.parse import normalize


def doc_of(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Normalize `event` with top-level fields replaced (None removes the field)."""
    changed = dict(event)
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return normalize(orjson.dumps(changed))


def test_message_is_the_input_verbatim_newline_included(exec_event: dict[str, Any]) -> None:
    text = orjson.dumps(exec_event, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert normalize(text)["message"] == text


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2022-11-23T14:36:45.243457Z", "2022-11-23T14:36:45.243457Z"),
        ("2022-11-23T14:36:45.243457123Z", "2022-11-23T14:36:45.243457Z"),  # nanoseconds
        ("2022-11-23T14:36:45.000000Z", "2022-11-23T14:36:45Z"),  # all-zero fraction dropped
        ("2022-11-23T14:36:45.000000999Z", "2022-11-23T14:36:45Z"),
        ("2022-11-23T14:36:45Z", "2022-11-23T14:36:45Z"),
        ("2022-11-23T14:36:45.5Z", "2022-11-23T14:36:45.500000Z"),
        ("2022-11-23T16:36:45.243457+02:00", "2022-11-23T14:36:45.243457Z"),  # to UTC
        ("2022-11-23T00:30:00-01:00", "2022-11-23T01:30:00Z"),
        ("2022-11-23T14:36:45.243457", "2022-11-23T14:36:45.243457Z"),  # no zone: UTC
        # the apiserver's length and zone, not its form: rewritten, never passed through
        ("2022-11-23 14:36:45.243457Z", "2022-11-23T14:36:45.243457Z"),
        ("2022-W47-3T14:36:45.243457Z", "2022-11-23T14:36:45.243457Z"),  # ISO week date
        ("2022-11-23T14:36:45,243457Z", "2022-11-23T14:36:45.243457Z"),
        ("2022-11-23T14:36:45.1234+01", "2022-11-23T13:36:45.123400Z"),  # an offset, 27 long
    ],
)
def test_event_start_is_rfc3339_utc_micro(
    exec_event: dict[str, Any], written: str, expected: str
) -> None:
    assert doc_of(exec_event, requestReceivedTimestamp=written)["event"]["start"] == expected


@pytest.mark.parametrize(
    "written",
    [
        "yesterday",
        "2022-13-40T99:00:00Z",
        "",
        "2022-02-30T14:36:45.243457Z",  # the apiserver's form, but no such day
        "2022-02-30T14:36:45Z",
        "2022-11-23T14:36:45.24345ZZ",
    ],
)
def test_an_invalid_timestamp_leaves_event_start_out(
    exec_event: dict[str, Any], written: str
) -> None:
    assert "start" not in doc_of(exec_event, requestReceivedTimestamp=written)["event"]


def test_outcome_and_reason_come_from_the_authorization_annotations(
    exec_event: dict[str, Any],
) -> None:
    annotations = {
        "authorization.k8s.io/decision": "forbid",
        "authorization.k8s.io/reason": "no RBAC policy matched",
    }
    doc = doc_of(exec_event, annotations=annotations)
    assert doc["event"]["outcome"] == "forbid"
    assert doc["action"] == {"outcome": "forbid"}
    assert doc["kubernetes"]["rbacreason"] == "no RBAC policy matched"


def test_no_annotations_no_outcome(exec_event: dict[str, Any]) -> None:
    doc = doc_of(exec_event, annotations=None)
    assert "outcome" not in doc["event"]
    assert "action" not in doc
    assert "rbacreason" not in doc["kubernetes"]


def test_status_code_is_an_integer_and_url_path_keeps_the_query(
    exec_event: dict[str, Any],
) -> None:
    doc = doc_of(exec_event)
    assert doc["http"]["response"]["status_code"] == 101
    assert doc["url"]["path"].endswith("?command=sh&container=test&stdin=true&stdout=true&tty=true")


def test_impersonation_sets_name_and_roles_independently(exec_event: dict[str, Any]) -> None:
    user = {"username": "proxy", "uid": "u-1", "groups": ["system:serviceaccounts"]}
    only_name = doc_of(exec_event, user=user, impersonatedUser={"username": "alice"})
    assert only_name["user"] == {"id": "u-1", "name": "alice", "roles": ["system:serviceaccounts"]}
    assert only_name["related"]["user"] == ["alice"]
    only_groups = doc_of(exec_event, user=user, impersonatedUser={"groups": ["admins"]})
    assert only_groups["user"] == {"id": "u-1", "name": "proxy", "roles": ["admins"]}


@pytest.mark.parametrize(
    ("ips", "expected"),
    [
        (["10.0.0.1", "8.8.8.8"], "10.0.0.1"),
        (["2001:db8:0:0:0:0:0:1"], "2001:db8::1"),  # IPv6, canonical form
        (["::ffff:10.0.0.1"], "::ffff:10.0.0.1"),
        (["not-an-ip", "10.0.0.1"], None),  # only the first counts
        (["010.0.0.1"], None),  # leading zeros are ambiguous: rejected
        (["256.1.1.1"], None),
        (["10.0.0.1\x00"], None),
        (["10.0.0.1 "], None),
        (["١٠.0.0.1"], None),  # Arabic-Indic digits are digits, not an address
        ([], None),
    ],
)
def test_source_ip_is_the_first_valid_address(
    exec_event: dict[str, Any], ips: list[str], expected: str | None
) -> None:
    doc = doc_of(exec_event, sourceIPs=ips)
    if expected is None:
        assert "source" not in doc
        assert "ip" not in doc.get("related", {})
    else:
        assert doc["source"] == {"ip": expected, "address": expected}
        assert doc["related"]["ip"] == [expected]


def test_object_name_falls_back_to_the_response_body(exec_event: dict[str, Any]) -> None:
    ref = {"resource": "pods", "namespace": "test", "apiVersion": "v1"}
    body = {"kind": "Pod", "metadata": {"name": "created-by-generate-name-x7k2"}}
    doc = doc_of(exec_event, objectRef=ref, responseObject=body)
    assert doc["kubernetes"]["object"] == {"name": "created-by-generate-name-x7k2"}


def test_objectref_name_wins_over_the_response_body(exec_event: dict[str, Any]) -> None:
    body = {"metadata": {"name": "other"}}
    doc = doc_of(exec_event, responseObject=body)
    assert doc["kubernetes"]["object"] == {"name": "test-1669140000-zp58r"}


def test_api_group_and_role_ref(exec_event: dict[str, Any]) -> None:
    ref = {"resource": "clusterrolebindings", "name": "b", "apiGroup": "rbac.authorization.k8s.io"}
    request = {"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": []}
    doc = doc_of(exec_event, objectRef=ref, requestObject=request)
    assert doc["kubernetes"]["api"] == {"group": "rbac.authorization.k8s.io"}
    assert doc["kubernetes"]["role"] == {"name": "cluster-admin"}
    assert "namespace" not in doc["kubernetes"]


POD = {
    "kind": "Pod",
    "spec": {
        "hostNetwork": True,
        "hostPID": True,  # not in the documented projection: left out
        "containers": [
            {
                "name": "c",
                "image": "alpine:3",
                "command": ["sh", "-c", "id"],
                "args": ["ignored"],
                "imagePullPolicy": "Always",
                "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP", "name": "x"}],
                "resources": {
                    "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": 1},
                    "requests": {"cpu": 0.5},
                },
                "securityContext": {"privileged": True, "runAsUser": 0},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": "root", "mountPath": "/host", "readOnly": True}],
            }
        ],
        "volumes": [
            {"name": "root", "hostPath": {"path": "/", "type": "Directory"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    },
}


def test_pod_spec_is_projected_to_the_documented_fields(exec_event: dict[str, Any]) -> None:
    doc = doc_of(exec_event, requestObject=POD)
    assert doc["kubernetes"]["spec"] == {
        "host_network": True,
        "containers": [
            {
                "name": "c",
                "image": "alpine:3",
                "command": ["sh", "-c", "id"],
                "imagePullPolicy": "Always",
                "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": 0.5}},
                "securityContext": {"privileged": True},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/host", "name": "root"}],
            }
        ],
        "volumes": [
            {"name": "root", "hostPath": {"path": "/", "type": "Directory"}},
            {"name": "scratch"},
        ],
    }


def test_spec_is_read_from_the_request_only(exec_event: dict[str, Any]) -> None:
    doc = doc_of(exec_event, responseObject=POD)
    assert "spec" not in doc["kubernetes"]


def test_empty_values_are_left_out_and_empty_objects_pruned(exec_event: dict[str, Any]) -> None:
    doc = doc_of(
        exec_event,
        user={"username": "", "groups": [], "uid": None},
        userAgent="",
        objectRef={"resource": "pods", "namespace": "", "name": None, "subresource": ""},
        requestObject={"spec": {"containers": [{"name": "", "command": []}], "volumes": []}},
        annotations={"authorization.k8s.io/reason": ""},
    )
    assert "user" not in doc
    assert "user_agent" not in doc
    assert "related" not in doc["kubernetes"]
    assert doc["kubernetes"] == {"resource": "pods"}
    assert "action" not in doc


def test_kubernetes_user_agents_are_other_on_linux(exec_event: dict[str, Any]) -> None:
    doc = doc_of(exec_event)
    assert doc["user_agent"] == {
        "original": "kubectl/v1.24.2 (linux/amd64) kubernetes/f66044f",
        "name": "Other",
        "os": {"name": "Linux"},
        "device": {"name": "Other"},
    }


def test_browser_user_agents_get_name_version_and_os(exec_event: dict[str, Any]) -> None:
    agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.127 Safari/537.36"
    )
    doc = doc_of(exec_event, userAgent=agent)
    assert doc["user_agent"]["name"] == "Chrome"
    assert doc["user_agent"]["version"] == "126.0.6478"
    assert doc["user_agent"]["os"] == {"name": "Windows", "version": "10"}
    assert doc["user_agent"]["device"] == {"name": "Other"}


def test_v1beta1_events_are_accepted(exec_event: dict[str, Any]) -> None:
    doc = doc_of(exec_event, kind="Event", apiVersion="audit.k8s.io/v1beta1")
    assert doc["event"]["code"] == exec_event["auditID"]


def test_kubetrail_extensions_level_stage_and_exec_command(exec_event: dict[str, Any]) -> None:
    uri = (
        "/api/v1/namespaces/default/pods/web-1/exec?command=sh&command=-c"
        "&command=cat%20%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken"
        "&container=app&stdin=true"
    )
    doc = doc_of(exec_event, requestURI=uri, stage="ResponseStarted")
    assert doc["kubetrail"] == {
        "level": "RequestResponse",
        "stage": "ResponseStarted",
        "exec": {"command": "sh -c cat /var/run/secrets/kubernetes.io/serviceaccount/token"},
    }


def test_only_kubetrail_adds_fields_outside_the_ecs_mapping(exec_event: dict[str, Any]) -> None:
    doc = doc_of(exec_event, requestObject=POD, impersonatedUser={"username": "x"})
    assert set(doc) <= {
        "message",
        "event",
        "action",
        "http",
        "url",
        "user",
        "source",
        "related",
        "kubernetes",
        "user_agent",
        "kubetrail",
    }


def test_wrongly_typed_fields_are_dropped_not_the_event(exec_event: dict[str, Any]) -> None:
    doc = doc_of(
        exec_event,
        verb=7,
        user={"username": "alice", "groups": ["devs", 3, None]},
        responseStatus={"code": "101"},
        sourceIPs="10.0.0.1",
    )
    assert "action" not in doc["event"]
    assert doc["user"] == {"name": "alice", "roles": ["devs"]}
    assert "http" not in doc
    assert "source" not in doc
    assert doc["kubernetes"]["resource"] == "pods"
