"""What is wrong with a policy, where: one problem per finding, and the one exception type.

    PolicyError
      problems: every error and warning found, in file order

Validation collects every problem before failing, so one run of `kubetrail policy lint` shows
all that needs fixing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    line: int  # 1-based; 0 when the problem is about the file as a whole
    path: str  # the field, in the apiserver's notation: rules[2].nonResourceURLs[0]
    message: str
    rule: int | None = None  # index of the rule concerned, when there is one

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.describe()}"

    def at(self, source: str) -> str:
        """`source:line: severity: ...`, the form editors and CI annotate files from."""
        return f"{source}:{self.line}: {self.describe()}"

    def describe(self) -> str:
        rule = f"rule {self.rule}: " if self.rule is not None else ""
        field = f"{self.path}: " if self.path else ""
        return f"{self.severity}: {rule}{field}{self.message}"


class PolicyError(ValueError):
    """The policy cannot be used as it is: kube-apiserver would refuse it, or it is not YAML."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        shown = "; ".join(str(p) for p in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(f"{source}: invalid audit policy: {shown}{more}")
