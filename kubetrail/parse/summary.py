"""Counts over parsed events: what `kubetrail parse --summary` prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from kubetrail.parse.errors import is_error_document


@dataclass
class Summary:
    events: int = 0
    parse_errors: int = 0
    verbs: Counter[str] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)
    users: Counter[str] = field(default_factory=Counter)
    first: str = ""
    last: str = ""

    def add(self, doc: dict[str, Any]) -> None:
        self.events += 1
        if is_error_document(doc):
            self.parse_errors += 1
            return
        event = doc.get("event") or {}
        self.verbs[event.get("action") or "(none)"] += 1
        kube = doc.get("kubernetes") or {}
        resource = kube.get("resource")
        if resource and kube.get("subresource"):
            resource = f"{resource}/{kube['subresource']}"
        self.resources[resource or "(non-resource URL)"] += 1
        self.users[(doc.get("user") or {}).get("name") or "(none)"] += 1
        start = event.get("start")
        if start:
            self.first = min(self.first, start) if self.first else start
            self.last = max(self.last, start)

    def render(self, console: Console, top: int = 10) -> None:
        span = f" from {self.first} to {self.last}" if self.first else ""
        console.print(
            f"[bold]{self.events:,} events[/bold]{span}, "
            f"[{'red' if self.parse_errors else 'green'}]{self.parse_errors:,} parse errors[/]"
        )
        for title, counts in (
            ("verb", self.verbs),
            ("resource", self.resources),
            ("user", self.users),
        ):
            table = Table(title=f"events per {title} (top {top})", title_justify="left")
            table.add_column(title)
            table.add_column("events", justify="right")
            table.add_column("share", justify="right")
            for value, count in counts.most_common(top):
                share = count / max(1, self.events - self.parse_errors)
                table.add_row(value, f"{count:,}", f"{share:.1%}")
            console.print(table)
