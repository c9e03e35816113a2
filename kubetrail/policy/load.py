"""Read a policy file: `lint_*` reports every problem, `load_*` returns a Policy or raises."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kubetrail.policy.advice import advise
from kubetrail.policy.checker import Policy
from kubetrail.policy.errors import PolicyError, Problem
from kubetrail.policy.validate import decode
from kubetrail.policy.yamlnodes import load_documents


@dataclass(frozen=True, slots=True)
class Linted:
    policy: Policy | None  # None when there are errors
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def lint_text(text: str) -> Linted:
    """Every problem of the policy in `text`, errors and warnings, in line order."""
    try:
        documents = load_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc)
        return Linted(None, (Problem("error", line, "", f"not valid YAML: {reason}"),))
    if not documents:
        return Linted(None, (Problem("error", 0, "", "the file is empty: no Policy in it"),))
    policy, problems = decode(documents[0])
    for extra in documents[1:]:
        problems.append(
            Problem(
                "warning",
                extra.line(()),
                "",
                "a second YAML document: kube-apiserver reads only the first",
            )
        )
    if policy is not None:
        problems.extend(advise(policy))
    return Linted(policy, tuple(sorted(problems, key=lambda p: p.line)))


def lint_file(path: str | Path) -> Linted:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem("error", 0, "", f"not UTF-8 text: {exc.reason}")
        return Linted(None, (problem,))
    return lint_text(text)


def load_policy_text(text: str, source: str = "<policy>") -> Policy:
    """The policy in `text`; raises PolicyError carrying every problem when it is invalid."""
    linted = lint_text(text)
    if linted.policy is None:
        raise PolicyError(source, linted.problems)
    return linted.policy


def load_policy(path: str | Path) -> Policy:
    """The policy in file `path` (OSError if unreadable, PolicyError if invalid)."""
    linted = lint_file(path)
    if linted.policy is None:
        raise PolicyError(str(path), linted.problems)
    return linted.policy
