"""The one-line description analysts read, for each shape of event."""

from __future__ import annotations

from typing import Any

import pytest

from kubetrail.parse import describe, normalize
from tests.conftest import load_case


def doc(**fields: Any) -> dict[str, Any]:
    """An ECS document from dotted field names."""
    out: dict[str, Any] = {"message": '{"raw": true}'}
    for dotted, value in fields.items():
        target = out
        *parents, leaf = dotted.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        (
            {
                "user__name": "alice",
                "event__action": "create",
                "kubernetes__resource": "pods",
                "kubernetes__subresource": "exec",
                "kubernetes__object__name": "web-1",
                "kubernetes__namespace": "prod",
                "source__ip": "10.0.0.1",
            },
            "alice executed a command in pods/web-1 in namespace prod (from 10.0.0.1)",
        ),
        (
            {
                "user__name": "alice",
                "event__action": "get",
                "kubernetes__resource": "pods",
                "kubernetes__subresource": "log",
                "kubernetes__object__name": "web-1",
                "kubernetes__namespace": "prod",
            },
            "alice performed a get on pods/log/web-1 in namespace prod",
        ),
        (
            {
                "user__name": "bob",
                "event__action": "delete",
                "kubernetes__resource": "secrets",
                "kubernetes__object__name": "db",
                "kubernetes__namespace": "prod",
                "source__ip": "2001:db8::1",
            },
            "bob performed a delete on secrets/db in namespace prod (from 2001:db8::1)",
        ),
        (
            {
                "user__name": "bob",
                "event__action": "create",
                "kubernetes__resource": "clusterrolebindings",
                "kubernetes__object__name": "admins",
            },
            "bob performed a create on a cluster-wide resource clusterrolebindings/admins",
        ),
        (
            {
                "user__name": "bob",
                "event__action": "list",
                "kubernetes__resource": "pods",
                "kubernetes__namespace": "prod",
            },
            "bob performed a list on pods in namespace prod",
        ),
        (
            {
                "user__name": "eve",
                "event__action": "create",
                "kubernetes__resource": "selfsubjectaccessreviews",
                "source__ip": "203.0.113.9",
            },
            "eve checked its own permissions (from 203.0.113.9)",
        ),
        (
            {
                "user__name": "eve",
                "event__action": "create",
                "kubernetes__resource": "subjectaccessreviews",
            },
            "eve checked permissions for another account",
        ),
    ],
)
def test_the_most_specific_sentence_applies(fields: dict[str, Any], sentence: str) -> None:
    assert describe(doc(**fields)) == sentence


def test_without_a_user_the_raw_message_is_shown() -> None:
    assert describe(doc(event__action="get", kubernetes__resource="pods")) == '{"raw": true}'


def test_the_brief_exec_event_reads_as_an_exec() -> None:
    message = load_case("exec_into_pod")["input"]["message"]
    assert describe(normalize(message)) == (
        "user@mail.com executed a command in pods/test-1669140000-zp58r in namespace test "
        "(from 192.168.0.1)"
    )
