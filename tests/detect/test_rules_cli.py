"""`kubetrail rules lint|test|list|coverage` and loading with broken files beside good ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kubetrail.cli import cli
from kubetrail.detect import BUILTIN_RULES, load
from tests.detect.conftest import DATA, LISTS, RULES

BROKEN = DATA / "broken"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("file", "line", "reason"),
    [
        ("bad_yaml.yml", 5, "not valid YAML"),
        ("unknown_modifier.yml", 7, "Unknown modifier 'containz'"),
        ("missing_condition.yml", 4, "Sigma rule must contain at least one condition"),
        ("unknown_list.yml", 6, "unknown list 'no_such_list'"),
    ],
)
def test_lint_names_file_line_and_reason(file: str, line: int, reason: str) -> None:
    code, out = invoke(
        "rules", "lint", "--no-builtin", "--rules", str(BROKEN), "--lists", str(LISTS)
    )
    assert code == 1
    assert f"{BROKEN / file}:{line}: error: {reason}" in out.replace("\n", " ")


def test_one_bad_rule_does_not_stop_the_others() -> None:
    ruleset = load([BROKEN], [LISTS], builtin=False)
    assert [r.info.title for r in ruleset.rules] == ["Still loaded"]
    assert len(ruleset.errors) == 4


def test_rules_test_runs_fixture_cases() -> None:
    code, out = invoke(
        "rules", "test", "--no-builtin", "--rules", str(RULES), "--lists", str(LISTS)
    )
    assert code == 0, out
    assert "2 case(s), 0 failed" in out


def test_rules_test_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    (tmp_path / "exec.yml").write_text((RULES / "exec.yml").read_text())
    cases = (RULES / "exec.tests.yml").read_text().replace("expect: none", "expect: alert", 1)
    (tmp_path / "exec.tests.yml").write_text(cases)
    code, out = invoke(
        "rules", "test", "--no-builtin", "--rules", str(tmp_path), "--lists", str(LISTS)
    )
    assert code == 1
    assert "FAIL" in out and "no case with `expect: none`" in out


@pytest.mark.skipif(not BUILTIN_RULES.exists(), reason="the built-in pack is not on this branch")
def test_builtin_pack_passes_its_own_tests() -> None:
    code, out = invoke("rules", "test")
    assert code == 0, out


def test_list_and_coverage_show_techniques() -> None:
    args = ["--no-builtin", "--rules", str(RULES), "--lists", str(LISTS)]
    code, out = invoke("rules", "list", "--json", *args)
    assert code == 0 and '"techniques":["T1609"]' in out
    code, out = invoke("rules", "coverage", *args)
    assert code == 0
    assert "T1552.007" in out and "Secrets read in bulk" in out
