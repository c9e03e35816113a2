"""`kubetrail agent`: ship the apiserver's audit log files to the intake; `status` reports."""

from __future__ import annotations

import sys
from dataclasses import replace

import click
import orjson

from kubetrail.agent.config import AgentConfig, load_config
from kubetrail.agent.errors import AgentError, ConfigError
from kubetrail.agent.logs import setup_logging
from kubetrail.agent.run import run_agent
from kubetrail.agent.run import status as read_status

# click's own usage errors exit 2 too: an unusable configuration is the same kind of mistake
EXIT_CONFIG = 2


def _config(path: str, metrics_port: int | None = None, log_json: bool = False) -> AgentConfig:
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        click.echo(f"kubetrail agent: invalid configuration {exc.source}:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_CONFIG)
    changes: dict[str, object] = {}
    if metrics_port is not None:
        changes["metrics_port"] = metrics_port
    if log_json:
        changes["log_format"] = "json"
    if changes:
        cfg = replace(cfg, **changes)  # type: ignore[arg-type]
    return cfg


CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The agent's YAML configuration.",
)


@click.group(invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config.")
@click.option("--metrics-port", type=int, help="Serve Prometheus counters on /metrics.")
@click.option("--log-json", is_flag=True, help="Log JSON lines instead of text.")
@click.pass_context
def agent(
    ctx: click.Context, config_path: str | None, metrics_port: int | None, log_json: bool
) -> None:
    """Tail the apiserver's audit log files and ship every line to the kubetrail intake.

    Survives rotation (rename, gzip, copytruncate), restarts, kill -9 and intake outages
    without losing a line: see the README section "Agent".
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise click.UsageError("--config is required")
    cfg = _config(config_path, metrics_port, log_json)
    setup_logging(cfg.log_format)
    try:
        sys.exit(run_agent(cfg))
    except AgentError as exc:
        click.echo(f"kubetrail agent: {exc}", err=True)
        sys.exit(1)


@agent.command()
@CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(config_path: str, as_json: bool) -> None:
    """Per-file acknowledged offset, current size and lag (bytes not yet acknowledged)."""
    try:
        report = read_status(_config(config_path))
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    buffered = report["buffered_bytes"]
    click.echo(f"state: {report['state_dir']}  buffered, not yet acknowledged: {buffered} B")
    click.echo(f"{'acked':>14} {'size':>14} {'lag':>12}  file")
    for f in report["files"]:
        size = "gone" if f["size"] is None else str(f["size"])
        lag = "-" if f["lag"] is None else str(f["lag"])
        done = "  (rotated, done)" if f["finished"] else ""
        click.echo(f"{f['acked']:>14} {size:>14} {lag:>12}  {f['path']}{done}")
