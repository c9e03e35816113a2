"""`kubetrail scan` and `kubetrail rules list|lint|test|coverage`."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from kubetrail.detect.alerts import DEFAULT_WINDOW, Alert, MemoryAlertStore, iso
from kubetrail.detect.engine import Engine
from kubetrail.detect.errors import DetectError, Problem
from kubetrail.detect.loader import BUILTIN_RULES, load
from kubetrail.detect.pipeline import Detector
from kubetrail.detect.rules import LEVELS, RuleSet, level_rank
from kubetrail.detect.ruletests import run_tests
from kubetrail.detect.scan import ScanStats, input_files
from kubetrail.detect.scan import scan as scan_paths

PROGRESS_BYTES = 20 * 1024 * 1024  # smaller inputs finish before a bar would help
LEVEL_STYLE = {  # how a rule or alert level is shown in a terminal
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "informational": "dim",
}

_dir = click.Path(exists=True, path_type=Path)
rules_option = click.option(
    "--rules", "rule_dirs", multiple=True, type=_dir, help="Add the rules in this folder or file."
)
lists_option = click.option(
    "--lists", "list_dirs", multiple=True, type=_dir, help="Add or extend named lists from here."
)
builtin_option = click.option(
    "--no-builtin", is_flag=True, help="Leave out the built-in rule pack and lists."
)


def _load(rule_dirs: tuple[Path, ...], list_dirs: tuple[Path, ...], no_builtin: bool) -> RuleSet:
    try:
        return load(rule_dirs, list_dirs, builtin=not no_builtin)
    except DetectError as exc:
        raise click.ClickException(str(exc)) from exc


def _report(problems: list[Problem], err: Console) -> None:
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        err.print(f"[{style}]{problem}[/]", highlight=False, markup=True, soft_wrap=True)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=_dir)
@rules_option
@lists_option
@builtin_option
@click.option("--json", "as_json", is_flag=True, help="One alert per line, as JSON.")
@click.option(
    "--fail-on",
    type=click.Choice(LEVELS),
    default=None,
    help="Exit with status 1 when an alert at or above this level fired.",
)
@click.option(
    "--window",
    type=float,
    default=DEFAULT_WINDOW,
    show_default=True,
    help="Seconds within which repeated matches on one entity update one alert.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: on large inputs at a terminal).",
)
def scan(
    paths: tuple[Path, ...],
    rule_dirs: tuple[Path, ...],
    list_dirs: tuple[Path, ...],
    no_builtin: bool,
    as_json: bool,
    fail_on: str | None,
    window: float,
    progress: bool | None,
) -> None:
    """Run the detection rules over audit logs in PATHS (files or folders), with no server.

    Reads one-event-per-line logs, EventList documents and rotated .gz files. Prints a table of
    alerts (or --json lines); invalid rules are reported on stderr and the others still run.
    """
    err = Console(stderr=True, highlight=False)
    ruleset = _load(rule_dirs, list_dirs, no_builtin)
    _report(ruleset.errors, err)
    if not ruleset.rules:
        raise click.ClickException("no valid rule to run (see --rules, --no-builtin)")
    store = MemoryAlertStore()
    detector = Detector(Engine(ruleset), store, window=window)
    stats = ScanStats()
    total = sum(p.stat().st_size for p in input_files(paths))
    show = progress if progress is not None else (total >= PROGRESS_BYTES and err.is_terminal)
    try:
        if show:
            columns = (
                *Progress.get_default_columns()[:2],
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=err, transient=True) as bar:
                task = bar.add_task("scanning", total=total)
                scan_paths(paths, detector, stats, lambda n: bar.advance(task, n))
        else:
            scan_paths(paths, detector, stats)
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or 'input'}: {exc.strerror or exc}") from exc
    for line in stats.errors:
        err.print(line, markup=False)
    alerts = sorted(store.list(limit=sys.maxsize), key=lambda a: (-a.rank, a.first_seen))
    if as_json:
        out = sys.stdout.buffer
        for alert in alerts:
            out.write(orjson.dumps(alert.to_dict()) + b"\n")
        out.flush()
    else:
        _alert_table(alerts, Console(highlight=False, width=None if sys.stdout.isatty() else 200))
    err.print(
        f"{stats.events:,} events in {stats.files} file(s), {stats.unparsed} not parsed, "
        f"{len(ruleset.rules) + len(ruleset.correlations)} rules, {len(alerts)} alert(s)",
        markup=False,
    )
    if fail_on and any(a.rank >= level_rank(fail_on) for a in alerts):
        sys.exit(1)


def _alert_table(alerts: list[Alert], console: Console) -> None:
    if not alerts:
        console.print("no alerts")
        return
    table = Table(show_lines=False)
    for column in (
        "level",
        "rule",
        "count",
        "user",
        "source ip",
        "namespace / object",
        "first seen",
        "last seen",
        "ATT&CK",
    ):
        table.add_column(column, overflow="fold")
    for a in alerts:
        where = " ".join(x for x in (a.entity.namespace, ", ".join(a.objects[:3])) if x)
        table.add_row(
            f"[{LEVEL_STYLE.get(a.level, '')}]{a.level}[/]",
            click.unstyle(a.rule_title).replace("[", "\\["),
            str(a.count),
            a.entity.user.replace("[", "\\["),
            a.entity.source_ip,
            where.replace("[", "\\["),
            iso(a.first_seen)[:19],
            iso(a.last_seen)[:19],
            ", ".join(a.techniques),
        )
    console.print(table)


@click.group()
def rules() -> None:
    """List, lint and test detection rules; show their ATT&CK coverage."""


@rules.command("list")
@rules_option
@lists_option
@builtin_option
@click.option("--json", "as_json", is_flag=True, help="One rule per line, as JSON.")
def list_rules(
    rule_dirs: tuple[Path, ...], list_dirs: tuple[Path, ...], no_builtin: bool, as_json: bool
) -> None:
    """The loaded rules with their level and ATT&CK techniques."""
    ruleset = _load(rule_dirs, list_dirs, no_builtin)
    _report(ruleset.errors, Console(stderr=True, highlight=False))
    infos = sorted(ruleset.infos(), key=lambda i: (-level_rank(i.level), i.title))
    if as_json:
        for info in infos:
            row = {
                "id": info.id,
                "title": info.title,
                "level": info.level,
                "kind": info.kind,
                "techniques": list(info.techniques),
                "path": str(info.path),
            }
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        return
    table = Table()
    for column in ("level", "title", "ATT&CK", "kind", "id"):
        table.add_column(column, overflow="fold")
    for info in infos:
        table.add_row(
            f"[{LEVEL_STYLE.get(info.level, '')}]{info.level}[/]",
            info.title.replace("[", "\\["),
            ", ".join(info.techniques),
            info.kind,
            info.id,
        )
    Console(highlight=False).print(table)


@rules.command()
@rules_option
@lists_option
@builtin_option
@click.option("--strict", is_flag=True, help="Warnings fail too.")
def lint(
    rule_dirs: tuple[Path, ...], list_dirs: tuple[Path, ...], no_builtin: bool, strict: bool
) -> None:
    """Check every rule and list; print file:line: reason for each problem.

    Exit status 1 when a rule is invalid (or, with --strict, has a warning).
    """
    ruleset = _load(rule_dirs, list_dirs, no_builtin)
    console = Console(highlight=False)
    _report(ruleset.problems, console)
    errors = len(ruleset.errors)
    warnings = len(ruleset.problems) - errors
    console.print(
        f"{len(ruleset.files)} file(s), {len(ruleset.rules) + len(ruleset.correlations)} valid "
        f"rule(s), {errors} error(s), {warnings} warning(s)"
    )
    if errors or (strict and warnings):
        sys.exit(1)


@rules.command("test")
@rules_option
@lists_option
@builtin_option
def test_rules(rule_dirs: tuple[Path, ...], list_dirs: tuple[Path, ...], no_builtin: bool) -> None:
    """Run each rule's test events (<slug>.tests.yml beside it); exit 1 when a case fails."""
    ruleset = _load((), list_dirs, no_builtin)
    folders = ([] if no_builtin else [BUILTIN_RULES]) + list(rule_dirs)
    problems: list[Problem] = list(ruleset.errors)
    results = run_tests([f for f in folders if f.exists()], ruleset.lists, problems)
    console = Console(highlight=False)
    for result in results:
        mark = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
        fired = f" (fired: {', '.join(result.fired)})" if result.fired else ""
        console.print(
            f"{mark} {result.path}:{result.line} {result.name.replace('[', chr(92) + '[')}: "
            f"expect {result.expect}{fired.replace('[', chr(92) + '[')}",
            soft_wrap=True,
        )
    _report(problems, console)
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results)} case(s), {failed} failed, {len(problems)} problem(s)")
    if failed or problems or not results:
        sys.exit(1)


@rules.command()
@rules_option
@lists_option
@builtin_option
def coverage(rule_dirs: tuple[Path, ...], list_dirs: tuple[Path, ...], no_builtin: bool) -> None:
    """The ATT&CK techniques the rules cover, with the rules for each."""
    ruleset = _load(rule_dirs, list_dirs, no_builtin)
    by_technique: dict[str, list[str]] = defaultdict(list)
    for info in ruleset.infos():
        for technique in info.techniques:
            by_technique[technique].append(info.title)
    table = Table()
    table.add_column("technique")
    table.add_column("rules", justify="right")
    table.add_column("titles", overflow="fold")
    for technique in sorted(by_technique):
        titles = by_technique[technique]
        table.add_row(technique, str(len(titles)), "; ".join(titles).replace("[", "\\["))
    console = Console(highlight=False)
    console.print(table)
    untagged = sum(not i.techniques for i in ruleset.infos())
    console.print(
        f"{len(by_technique)} technique(s) covered by {len(ruleset.infos())} rule(s); "
        f"{untagged} rule(s) without a technique"
    )
