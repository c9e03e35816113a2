"""`kubetrail rules test`: run every rule file's `<slug>.tests.yml` cases.

    cases:
      - name: kubectl exec by a human
        expect: alert          # alert | none
        events: [ {raw audit event}, ... ]

Each case runs on a fresh engine holding only the rules of the file beside it (and the lists),
so one rule's cases never see another's state. A case expecting `alert` passes when any rule of
the file fires; `none` when none does. Every rule file needs at least one case of each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from kubetrail.detect.engine import Engine
from kubetrail.detect.errors import DetectError, Problem
from kubetrail.detect.lists import NamedLists
from kubetrail.detect.loader import compile_parsed, is_test_file, parse_file
from kubetrail.detect.rules import RuleSet
from kubetrail.parse import ParseError, normalize_event

EXPECTATIONS = ("alert", "none")


@dataclass(frozen=True, slots=True)
class CaseResult:
    path: Path
    line: int
    name: str
    expect: str
    fired: tuple[str, ...]  # titles of the rules that fired

    @property
    def passed(self) -> bool:
        return bool(self.fired) == (self.expect == "alert")


def test_files(folders: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            out.extend(sorted(p for p in folder.rglob("*") if is_test_file(p)))
        elif is_test_file(folder):
            out.append(folder)
    return out


def rule_file_of(tests: Path) -> Path | None:
    stem = tests.name.rsplit(".tests.", 1)[0]
    for suffix in (".yml", ".yaml"):
        candidate = tests.with_name(stem + suffix)
        if candidate.exists():
            return candidate
    return None


def run_tests(
    folders: Iterable[Path], lists: NamedLists, problems: list[Problem]
) -> list[CaseResult]:
    """The result of every case under `folders`; broken files are reported in `problems`."""
    results: list[CaseResult] = []
    for tests in test_files(folders):
        rule_file = rule_file_of(tests)
        if rule_file is None:
            problems.append(Problem(tests, 1, "no rule file beside it (<slug>.yml)"))
            continue
        ruleset = RuleSet(lists=lists)
        compile_parsed(parse_file(rule_file, lists, ruleset.problems), ruleset)
        if ruleset.errors:
            problems.extend(ruleset.errors)
            continue
        try:
            cases = _cases(tests)
        except DetectError as exc:
            problems.append(Problem(tests, getattr(exc, "line", 1), str(exc)))
            continue
        for line, case in cases:
            results.append(_run(tests, line, case, ruleset))
        expected = {c.get("expect") for _, c in cases}
        for missing in sorted(set(EXPECTATIONS) - expected):
            problems.append(Problem(tests, 1, f"no case with `expect: {missing}`"))
    return results


class _CaseError(DetectError):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


def _cases(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise _CaseError(line, f"not valid YAML: {exc.problem}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _CaseError(1, f"cannot read: {exc}") from None
    cases = doc.get("cases") if isinstance(doc, dict) else None
    if not isinstance(cases, list) or not cases:
        raise _CaseError(1, "a test file is a mapping with a non-empty `cases` list")
    lines = _case_lines(node)
    out: list[tuple[int, dict[str, Any]]] = []
    for n, case in enumerate(cases):
        line = lines[n] if n < len(lines) else 1
        if not isinstance(case, dict):
            raise _CaseError(line, "a case is a mapping with name, expect and events")
        if case.get("expect") not in EXPECTATIONS:
            raise _CaseError(line, f"`expect` must be alert or none, not {case.get('expect')!r}")
        events = case.get("events")
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, dict) for e in events)
        ):
            raise _CaseError(line, "`events` must be a non-empty list of audit events")
        out.append((line, case))
    return out


def _case_lines(node: yaml.Node | None) -> list[int]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _run(path: Path, line: int, case: dict[str, Any], ruleset: RuleSet) -> CaseResult:
    engine = Engine(ruleset)
    fired: list[str] = []
    for n, raw in enumerate(case["events"]):
        try:
            doc = normalize_event(raw, orjson.dumps(raw).decode())
        except ParseError:
            doc = {}
        fired.extend(m.rule.title for m in engine.process(raw, doc, f"{path.name}#{n}"))
    fired.extend(m.rule.title for m in engine.flush())
    name = str(case.get("name") or f"case at line {line}")
    return CaseResult(path, line, name, str(case["expect"]), tuple(dict.fromkeys(fired)))
