"""`coverage`: which detections a policy leaves blind or half-blind, on small rule files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.policy.coverage import coverage, load_detections
from kubetrail.policy.profiles import profile_text
from tests.policy.helpers import policy_of

RULES = Path(__file__).parent / "data" / "rules"
PRIVILEGED = "Privileged container in a pod"
EXEC = "Exec into a pod"
BINDING = "Binding to cluster-admin"
SECRETS = "Secrets listed cluster-wide"


def statuses(*rules: dict[str, Any], **top: Any) -> dict[str, str]:
    detections, errors = load_detections(RULES)
    assert errors == []
    verdicts = coverage(policy_of(*rules, **top), detections)
    return {v.detection.title: v.status for v in verdicts}


def test_rule_files_are_read_and_test_files_and_correlations_skipped() -> None:
    detections, _ = load_detections(RULES)
    assert sorted(d.title for d in detections) == sorted([PRIVILEGED, EXEC, BINDING, SECRETS])
    binding = next(d for d in detections if d.title == BINDING)
    # ECS names are read as the raw paths the policy acts on
    assert binding.values["verb"] == ("create",)
    assert binding.values["objectRef.resource"] == ("clusterrolebindings", "rolebindings")
    assert "requestObject.roleRef.name" in binding.fields


@pytest.mark.parametrize(
    ("name", "rules", "top", "expected"),
    [
        (
            "Metadata for everything: the body readers are half-blind",
            [{"level": "Metadata"}],
            {},
            {PRIVILEGED: "half-blind", EXEC: "covered", BINDING: "half-blind", SECRETS: "covered"},
        ),
        (
            "Request for everything: all covered",
            [{"level": "Request"}],
            {},
            {PRIVILEGED: "covered", EXEC: "covered", BINDING: "covered", SECRETS: "covered"},
        ),
        (
            "exec dropped: blind",
            [
                {"level": "None", "resources": [{"group": "", "resources": ["pods/exec"]}]},
                {"level": "Request"},
            ],
            {},
            {PRIVILEGED: "covered", EXEC: "blind", BINDING: "covered", SECRETS: "covered"},
        ),
        (
            "exec dropped for get only: half of its requests are unseen",
            [
                {
                    "level": "None",
                    "verbs": ["get"],
                    "resources": [{"group": "", "resources": ["*/exec"]}],
                },
                {"level": "Request"},
            ],
            {},
            {PRIVILEGED: "covered", EXEC: "half-blind", BINDING: "covered", SECRETS: "covered"},
        ),
        (
            "ResponseComplete omitted: the rule reading the response status is blind",
            [{"level": "Request"}],
            {"omitStages": ["ResponseComplete"]},
            {PRIVILEGED: "covered", EXEC: "covered", BINDING: "covered", SECRETS: "blind"},
        ),
        (
            "rolebindings recorded, clusterrolebindings not: half-blind",
            [
                {
                    "level": "Request",
                    "resources": [
                        {"group": "rbac.authorization.k8s.io", "resources": ["rolebindings"]}
                    ],
                },
                {"level": "Metadata"},
            ],
            {},
            {PRIVILEGED: "half-blind", EXEC: "covered", BINDING: "half-blind", SECRETS: "covered"},
        ),
        (
            "RBAC group in full: the binding rule is covered",
            [
                {"level": "Request", "resources": [{"group": "rbac.authorization.k8s.io"}]},
                {"level": "Metadata"},
            ],
            {},
            {PRIVILEGED: "half-blind", EXEC: "covered", BINDING: "covered", SECRETS: "covered"},
        ),
        (
            "secrets dropped in every namespace",
            [
                {"level": "None", "resources": [{"group": "", "resources": ["secrets"]}]},
                {"level": "Request"},
            ],
            {},
            {PRIVILEGED: "covered", EXEC: "covered", BINDING: "covered", SECRETS: "blind"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_verdicts(
    name: str, rules: list[dict[str, Any]], top: dict[str, Any], expected: dict[str, str]
) -> None:
    assert statuses(*rules, **top) == expected


@pytest.mark.parametrize("profile", ["minimal", "balanced", "forensic"])
def test_profiles(profile: str) -> None:
    doc = yaml.safe_load(profile_text(profile))
    found = statuses(*doc["rules"], **{k: v for k, v in doc.items() if k.startswith("omit")})
    if profile == "minimal":
        assert found[PRIVILEGED] == found[BINDING] == "half-blind"
    else:
        assert set(found.values()) == {"covered"}


def test_command_says_why(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(profile_text("minimal"))
    result = CliRunner().invoke(
        cli, ["policy", "coverage", "--policy", str(policy), "--rules", str(RULES)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index(f"half-blind: {PRIVILEGED} (workloads/privileged-pod.yml)")
    assert "create pods in default" in lines[at + 1]
    assert "records Metadata, it reads the request body (Request)" in lines[at + 1]
    assert EXEC not in result.stdout  # covered ones only with --all
    assert lines[-1] == "4 detections: 2 covered, 2 half-blind, 0 blind"


def test_unreadable_rule_files_are_reported_and_the_rest_used(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "x").mkdir(parents=True)
    (rules / "x" / "ok.yml").write_text((RULES / "exec" / "exec-into-pod.yml").read_text())
    (rules / "x" / "broken.yml").write_text("detection: [unclosed\n")
    detections, errors = load_detections(rules)
    assert [d.title for d in detections] == [EXEC]
    assert [e.path.name for e in errors] == ["broken.yml"]


def test_without_rules_the_builtin_pack_or_a_clear_message(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(profile_text("balanced"))
    result = CliRunner().invoke(cli, ["policy", "coverage", "--policy", str(policy)])
    builtin = Path(__file__).parents[2] / "kubetrail" / "detect" / "rules"
    if builtin.is_dir():
        assert result.exit_code == 0
        assert " detections: " in result.stdout
    else:
        assert result.exit_code == 1
        assert "no built-in detection rules" in result.stderr
        assert "--rules DIR" in result.stderr


def test_negated_selections_do_not_choose_the_requests(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "title: Secret read by a person\n"
        "detection:\n"
        "  selection: {verb: get, objectRef.resource: secrets}\n"
        "  nodes: {user.groups: 'system:nodes'}\n"
        "  controllers: {user.username: system:kube-controller-manager}\n"
        "  condition: selection and not (nodes or controllers)\n"
    )
    (detection,), _ = load_detections(tmp_path)
    assert set(detection.values) == {"verb", "objectRef.resource"}
    drop_nodes = policy_of({"level": "None", "userGroups": ["system:nodes"]}, {"level": "Metadata"})
    assert coverage(drop_nodes, [detection])[0].status == "covered"


@pytest.mark.parametrize(
    ("wildcard", "level", "status"),
    [
        # either body shows the wildcard: the request alone is enough
        (
            "[{requestObject.rules.verbs: '*'}, {responseObject.rules.verbs: '*'}]",
            "Request",
            "covered",
        ),
        # both are required: only RequestResponse shows them
        (
            "{requestObject.rules.verbs: '*', responseObject.rules.verbs: '*'}",
            "Request",
            "half-blind",
        ),
        (
            "{requestObject.rules.verbs: '*', responseObject.rules.verbs: '*'}",
            "RequestResponse",
            "covered",
        ),
        (
            "[{requestObject.rules.verbs: '*'}, {responseObject.rules.verbs: '*'}]",
            "Metadata",
            "half-blind",
        ),
    ],
)
def test_alternatives_need_only_one_body(
    tmp_path: Path, wildcard: str, level: str, status: str
) -> None:
    (tmp_path / "r.yml").write_text(
        "title: Wildcard role\n"
        "detection:\n"
        "  selection: {verb: create, objectRef.resource: clusterroles}\n"
        f"  wildcard: {wildcard}\n"
        "  condition: selection and wildcard\n"
    )
    detections, _ = load_detections(tmp_path)
    assert coverage(policy_of({"level": level}), detections)[0].status == status
