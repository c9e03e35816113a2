"""Validation as kube-apiserver does it, and lint's report: each problem at its line and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.policy import PolicyError, lint_text, load_policy, load_policy_text

HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"

# (name, policy text, expected problems as (severity, line, field path, rule index))
CASES: list[tuple[str, str, set[tuple[str, int, str, int | None]]]] = [
    ("a valid policy", HEAD + "rules:\n  - level: Metadata\n", set()),
    (
        "level is required",
        HEAD + "rules:\n  - verbs: [get]\n",
        {("error", 4, "rules[0].level", 0)},
    ),
    (
        "level must be one of the four",
        HEAD + "rules:\n  - level: Metadata\n  - level: Verbose\n",
        {("error", 5, "rules[1].level", 1)},
    ),
    (
        "non-resource URLs begin with /",
        HEAD + "rules:\n  - level: None\n    nonResourceURLs:\n      - healthz\n",
        {("error", 6, "rules[0].nonResourceURLs[0]", 0)},
    ),
    (
        "* alone is a valid non-resource URL",
        HEAD + "rules:\n  - level: None\n    nonResourceURLs: ['*']\n",
        set(),
    ),
    (
        "* only at the end",
        HEAD
        + "rules:\n  - level: None\n    nonResourceURLs:\n      - /healthz*\n      - /api/*/x\n",
        {("error", 7, "rules[0].nonResourceURLs[1]", 0)},
    ),
    (
        "resources and non-resource URLs are not mixed",
        HEAD + "rules:\n  - level: None\n    nonResourceURLs: [/version]\n"
        "    resources:\n      - group: ''\n        resources: [pods]\n",
        {("error", 5, "rules[0].nonResourceURLs", 0)},
    ),
    (
        "namespaces and non-resource URLs are not mixed",
        HEAD + "rules:\n  - level: None\n    namespaces: ['']\n    nonResourceURLs: [/version]\n",
        {("error", 6, "rules[0].nonResourceURLs", 0)},
    ),
    (
        "group names are DNS subdomains, without version",
        HEAD + "rules:\n  - level: Request\n    resources:\n"
        "      - group: rbac.authorization.k8s.io/v1\n        resources: [roles]\n",
        {("error", 6, "rules[0].resources[0].group", 0)},
    ),
    (
        "group names are lower case",
        HEAD + "rules:\n  - level: Request\n    resources:\n      - group: Apps\n",
        {("error", 6, "rules[0].resources[0].group", 0)},
    ),
    (
        "resourceNames needs resources",
        HEAD + "rules:\n  - level: Request\n    resources:\n"
        "      - group: ''\n        resourceNames: [x]\n",
        {("error", 7, "rules[0].resources[0].resourceNames", 0)},
    ),
    (
        "omitStages are real stages, in the policy",
        HEAD + "omitStages: [RequestRecieved]\nrules:\n  - level: Metadata\n",
        {("error", 3, "omitStages[0]", None)},
    ),
    (
        "omitStages are real stages, in a rule",
        HEAD + "rules:\n  - level: Metadata\n    omitStages:\n      - Panic\n      - Done\n",
        {("error", 7, "rules[0].omitStages[1]", 0)},
    ),
    ("a policy without rules is refused", HEAD + "rules: []\n", {("error", 3, "rules", None)}),
    ("a policy with no rules key is refused", HEAD, {("error", 1, "rules", None)}),
    (
        "apiVersion v1beta1 is no longer served",
        "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n  - level: Metadata\n",
        {("error", 1, "apiVersion", None)},
    ),
    (
        "kind must be Policy",
        "apiVersion: audit.k8s.io/v1\nkind: Event\nrules:\n  - level: Metadata\n",
        {("error", 2, "kind", None)},
    ),
    (
        "a list where a list belongs",
        HEAD + "rules:\n  - level: Metadata\n    users: alice\n",
        {("error", 5, "rules[0].users", 0)},
    ),
    (
        "omitManagedFields is a boolean",
        HEAD + "rules:\n  - level: Metadata\n    omitManagedFields: sometimes\n",
        {("error", 5, "rules[0].omitManagedFields", 0)},
    ),
    (
        "an unknown field is a warning: the apiserver drops it",
        HEAD + "rules:\n  - level: Metadata\n    namespace: [kube-system]\n",
        {("warning", 5, "rules[0].namespace", 0)},
    ),
    (
        "an unknown top-level field is a warning",
        HEAD + "omitStage: [RequestReceived]\nrules:\n  - level: Metadata\n",
        {("warning", 3, "omitStage", None)},
    ),
    (
        "a misspelt verb is a warning: the entry matches nothing",
        HEAD + "rules:\n  - level: None\n    verbs: [gets]\n  - level: Metadata\n",
        {("warning", 4, "rules[0].verbs", 0)},
    ),
    (
        "rules after a catch-all are unreachable",
        HEAD + "rules:\n  - level: Metadata\n  - level: None\n    verbs: [watch]\n",
        {("warning", 5, "rules[1]", 1)},
    ),
    (
        "secrets at RequestResponse leak their values",
        HEAD + "rules:\n  - level: RequestResponse\n",
        {("warning", 4, "rules[0]", 0)},
    ),
    (
        "token requests at Request are safe: the token is in the response",
        HEAD + "rules:\n  - level: Request\n    resources:\n"
        "      - group: ''\n        resources: [serviceaccounts/token]\n",
        set(),
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validation(text: str, expected: set[tuple[str, int, str, int | None]]) -> None:
    problems = lint_text(text).problems
    found = {(p.severity, p.line, p.path, p.rule) for p in problems}
    # the secrets warning comes with a configmaps one for the same rule: compare per path
    assert {(s, line, path, rule) for s, line, path, rule in found} >= expected
    assert {p.path for p in problems} == {path for _, _, path, _ in expected}


def test_every_error_is_collected_in_one_pass() -> None:
    text = (
        HEAD + "omitStages: [Never]\nrules:\n"
        "  - level: Loud\n"
        "  - level: None\n    nonResourceURLs: [healthz, /a*b]\n"
        "  - level: Request\n    resources:\n      - group: Apps/V1\n        resourceNames: [x]\n"
    )
    linted = lint_text(text)
    assert linted.policy is None
    assert [(p.line, p.path) for p in linted.errors] == [
        (3, "omitStages[0]"),
        (5, "rules[0].level"),
        (7, "rules[1].nonResourceURLs[0]"),
        (7, "rules[1].nonResourceURLs[1]"),
        (10, "rules[2].resources[0].group"),
        (11, "rules[2].resources[0].resourceNames"),
    ]


def test_load_refuses_an_invalid_policy_with_every_problem() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(HEAD + "rules:\n  - level: Loud\n  - level: Metadata\n    verbs: get\n")
    assert [p.path for p in caught.value.problems] == ["rules[0].level", "rules[1].verbs"]
    assert "rules[0].level" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (HEAD + "rules:\n  - level: Metadata\n    verbs: [get\n", 6, "not valid YAML"),
        ("", 0, "empty"),
        ("- level: Metadata\n", 1, "mapping"),
        (HEAD + "rules: &r\n  - level: Metadata\n    verbs: *r\n", 3, "alias refers to a node"),
    ],
)
def test_not_a_policy_at_all(text: str, line: int, words: str) -> None:
    linted = lint_text(text)
    assert linted.policy is None
    assert len(linted.errors) == 1
    assert linted.errors[0].line == line
    assert words in linted.errors[0].message


def test_lint_command_exit_status_and_report(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "rules:\n  - level: Metadata\n  - level: Metadata\n    users: [x]\n")
    warned = CliRunner().invoke(cli, ["policy", "lint", str(bad)])
    assert warned.exit_code == 0  # warnings only
    assert f"{bad}:5: warning: rule 1: rules[1]: never matches" in warned.stdout

    bad.write_text(HEAD + "rules:\n  - level: Metadata\n    nonResourceURLs: [metrics]\n")
    failed = CliRunner().invoke(cli, ["policy", "lint", str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:5: error: rule 0: rules[0].nonResourceURLs[0]: 'metrics'" in failed.stdout
    assert "kube-apiserver refuses it" in failed.stdout


def test_load_policy_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + "rules:\n  - level: Metadata\n    omitStages: [RequestReceived]\n")
    policy = load_policy(path)
    assert policy.rules[0].line == 4
    assert policy.rule_omit_stages(0) == {"RequestReceived"}
