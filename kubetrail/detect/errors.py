"""The exception of the detection engine, and the problem report lint and the loader share.

    DetectError               anything the engine refuses; its message names the file or key
      RuleError               one rule (or list, or test file) is invalid: `problems` say where

A bad rule never stops the others: the loader collects `Problem`s and keeps going; only the
callers that need every rule valid (`kubetrail rules lint`, `rules test`) turn them into a
failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one file: where, and why."""

    path: Path
    line: int  # 1-based; the document's first line when nothing closer is known
    reason: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.reason}"


class DetectError(ValueError):
    """The detection engine cannot do what was asked; the message says which input and why."""


class RuleError(DetectError):
    """Invalid rules, lists or test files."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))
