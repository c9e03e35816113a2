"""`kubetrail alerts`: list, show and triage alerts from the command line."""

from __future__ import annotations

import sys

import click
import orjson
from rich.console import Console
from rich.table import Table

from kubetrail.detect.alerts import STATUSES, AlertNotFound
from kubetrail.detect.cli import LEVEL_STYLE
from kubetrail.detect.rules import LEVELS
from kubetrail.server.cli import data_options
from kubetrail.settings import Config
from kubetrail.store.open import open_state


@click.group(invoke_without_command=True)
@click.pass_context
def alerts(ctx: click.Context) -> None:
    """Alerts raised by the detection rules (list by default)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_alerts)


@alerts.command("list")
@data_options
@click.option("--status", type=click.Choice(STATUSES), help="Only alerts in this status.")
@click.option("--level", type=click.Choice(LEVELS), help="Only this level and above.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="One alert per line.")
def list_alerts(
    config: Config, status: str | None, level: str | None, limit: int, as_json: bool
) -> None:
    """List alerts, most recently seen first."""
    found = open_state(config).alerts.list(status, level, limit)
    if as_json:
        for alert in found:
            sys.stdout.buffer.write(orjson.dumps(alert.to_dict()) + b"\n")
        return
    table = Table(
        "id", "level", "status", "rule", "count", "last seen", "user", "source", "techniques"
    )
    for alert in found:
        data = alert.to_dict()
        style = LEVEL_STYLE.get(alert.level, "")
        table.add_row(
            alert.id[:12],
            f"[{style}]{alert.level}[/]",
            alert.status,
            alert.rule_title,
            str(alert.count),
            data["last_seen"][:19],
            alert.entity.user,
            alert.entity.source_ip,
            ", ".join(alert.techniques),
        )
    Console().print(table)


@alerts.command("show")
@data_options
@click.argument("alert_id")
def show(config: Config, alert_id: str) -> None:
    """Print one alert as JSON (ids may be abbreviated to a unique prefix)."""
    alert = _find(config, alert_id)
    click.echo(orjson.dumps(alert, option=orjson.OPT_INDENT_2).decode())


@alerts.command("status")
@data_options
@click.argument("alert_id")
@click.argument("status", type=click.Choice(STATUSES))
def set_status(config: Config, alert_id: str, status: str) -> None:
    """Set an alert's status: open, acknowledged or closed."""
    full = str(_find(config, alert_id)["id"])
    open_state(config).alerts.set_status(full, status)
    click.echo(f"alert {full} is {status}")


def _find(config: Config, prefix: str) -> dict[str, object]:
    store = open_state(config).alerts
    try:
        return store.get(prefix).to_dict()
    except AlertNotFound:
        pass
    matches = [a for a in store.list(limit=1000) if a.id.startswith(prefix)]
    if len(matches) != 1:
        raise click.ClickException(f"no alert {'uniquely ' if matches else ''}matches {prefix!r}")
    return matches[0].to_dict()
