"""`kubetrail policy`: lint, simulate, recommend and check the coverage of audit policies."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.table import Table

from kubetrail.policy.checker import Policy
from kubetrail.policy.coverage import coverage as judge_coverage
from kubetrail.policy.coverage import load_detections
from kubetrail.policy.errors import PolicyError
from kubetrail.policy.load import lint_file, load_policy
from kubetrail.policy.profiles import PROFILES, profile_text
from kubetrail.policy.simulate import Simulation, raw_events, simulate

_INVALID_SHOWN = 20


@click.group()
def policy() -> None:
    """Check an audit policy before it reaches the apiserver.

    lint it as kube-apiserver validates it, simulate it on a captured log, start from a
    recommended one, and see which detections it leaves blind.
    """


@policy.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def lint(file: str) -> None:
    """Report every problem of the audit policy FILE, with its line and rule index.

    Exit status 1 when kube-apiserver would refuse the policy; 0 when there are only warnings.
    """
    out = Console(highlight=False, soft_wrap=True)
    linted = lint_file(file)
    for problem in linted.problems:
        style = "red" if problem.severity == "error" else "yellow"
        out.print(problem.at(file), style=style, markup=False)
    errors, warnings = len(linted.errors), len(linted.warnings)
    if errors:
        out.print(f"{file}: {errors} error(s), {warnings} warning(s): kube-apiserver refuses it")
        sys.exit(1)
    rules = len(linted.policy.rules) if linted.policy else 0
    out.print(f"{file}: valid, {rules} rule(s), {warnings} warning(s)")


def _load(path: str) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise click.ClickException(f"{exc} (run `kubetrail policy lint {path}`)") from exc
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror or exc}") from exc


@contextmanager
def _output(path: str | None) -> Iterator[IO[bytes] | None]:
    if path is None:
        yield None
    elif path.endswith(".gz"):
        with gzip.open(path, "wb") as handle:
            yield handle  # type: ignore[misc]  # GzipFile is a binary IO
    else:
        with Path(path).open("wb") as handle:
            yield handle


@policy.command("simulate")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The audit policy to try.",
)
@click.option(
    "--write",
    "write",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the log as the policy would have produced it (gzip when OUT ends in .gz).",
)
@click.argument("logs", nargs=-1, required=True, type=click.Path(allow_dash=True))
def simulate_command(policy_path: str, write: str | None, logs: tuple[str, ...]) -> None:
    """Replay captured audit LOGS through a policy: per rule, events and bytes matched, kept and
    dropped, the volume per day it would produce, and the stages it omits.

    LOGS are best captured at RequestResponse: an event captured below the level the policy
    asks for cannot gain the bodies it lacks (counted as `short`).
    """
    loaded = _load(policy_path)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        with _output(write) as out:
            result = simulate(loaded, raw_events(logs), out)
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or 'input'}: {exc.strerror or exc}") from exc
    for source, line, why in result.invalid[:_INVALID_SHOWN]:
        err.print(f"{source}:{line}: {why} (passed through unchanged)", markup=False)
    if len(result.invalid) > _INVALID_SHOWN:
        err.print(f"... {len(result.invalid)} lines were not events", markup=False)
    # a table of ten columns: wide enough to stay readable when piped to a file
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=150)
    _render_simulation(loaded, result, console)


def _size(amount: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


def _per_day(result: Simulation, amount: int) -> str:
    value = result.per_day(amount)
    return "-" if value is None else _size(value)


def _render_simulation(loaded: Policy, result: Simulation, out: Console) -> None:
    table = Table(title="Audit policy simulation", title_justify="left")
    for name in ("rule", "line", "level", "events", "bytes", "kept", "kept bytes", "dropped"):
        table.add_column(name, justify="left" if name in ("rule", "level") else "right")
    table.add_column("dropped bytes", justify="right")
    table.add_column("kept/day", justify="right")
    table.add_column("omitted stages")
    for row in result.ordered():
        table.add_row(
            "no match" if row.rule is None else str(row.rule),
            "" if row.rule is None else str(loaded.rules[row.rule].line),
            row.level,
            str(row.events),
            _size(row.bytes),
            str(row.kept_events),
            _size(row.kept_bytes),
            str(row.dropped_events),
            _size(row.dropped_bytes),
            _per_day(result, row.kept_bytes),
            ", ".join(sorted(row.omit_stages)) or "-",
        )
    table.add_row(
        "total",
        "",
        "",
        str(result.events),
        _size(result.bytes),
        str(result.kept_events),
        _size(result.kept_bytes),
        str(result.events - result.kept_events),
        _size(result.bytes - result.kept_bytes),
        _per_day(result, result.kept_bytes),
        "",
        style="bold",
    )
    out.print(table)
    span = result.span_seconds
    out.print(
        f"{result.events} events over {span / 3600:.2f} h: "
        f"{_per_day(result, result.bytes)}/day as captured, "
        f"{_per_day(result, result.kept_bytes)}/day under this policy "
        f"({result.kept_events} of {result.events} events kept)",
        markup=False,
    )
    short = sum(row.short for row in result.rules.values())
    if short:
        out.print(
            f"{short} kept events were captured below the level this policy asks for: "
            "the volume under the policy is a lower bound",
            markup=False,
        )


@policy.command()
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="balanced",
    show_default=True,
    help="minimal: one Metadata rule; balanced: the bodies detections need; forensic: all "
    "that can be recorded safely.",
)
def recommend(profile: str) -> None:
    """Print a recommended, commented audit policy."""
    click.echo(profile_text(profile), nl=False)


def _default_rules() -> Path | None:
    root = Path(str(files("kubetrail"))) / "detect" / "rules"
    return root if root.is_dir() else None


@policy.command("coverage")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The audit policy to check.",
)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(exists=True, file_okay=False),
    help="A directory of Sigma rules (any depth); default: kubetrail's built-in pack.",
)
@click.option("--all", "show_all", is_flag=True, help="List the covered detections too.")
def coverage_command(policy_path: str, rules_dir: str | None, show_all: bool) -> None:
    """List the detections the policy leaves blind or half-blind, and why."""
    loaded = _load(policy_path)
    root = Path(rules_dir) if rules_dir else _default_rules()
    if root is None:
        raise click.ClickException(
            "no built-in detection rules in this installation (kubetrail/detect/rules is "
            "absent): pass --rules DIR"
        )
    detections, errors = load_detections(root)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for error in errors:
        err.print(f"skipped {error}", markup=False)
    if not detections:
        raise click.ClickException(f"{root}: no detection rules found (*.yml with a detection)")
    out = Console(highlight=False, soft_wrap=True)
    verdicts = judge_coverage(loaded, detections)
    counts = {"covered": 0, "half-blind": 0, "blind": 0}
    for verdict in verdicts:
        counts[verdict.status] += 1
        if verdict.status == "covered" and not show_all:
            continue
        style = {"blind": "red", "half-blind": "yellow"}.get(verdict.status, "green")
        where = verdict.detection.path.relative_to(root)
        out.print(
            f"{verdict.status}: {verdict.detection.title} ({where})", style=style, markup=False
        )
        for reason in verdict.reasons:
            out.print(f"    {reason}", markup=False)
    out.print(
        f"{len(verdicts)} detections: {counts['covered']} covered, "
        f"{counts['half-blind']} half-blind, {counts['blind']} blind",
        markup=False,
    )
