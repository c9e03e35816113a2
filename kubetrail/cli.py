"""The `kubetrail` command: a root group that gathers each area's subcommands.

Each area keeps its commands next to its code (`kubetrail/<area>/cli.py`); this module only
assembles them, so adding a command never touches another area.
"""

from __future__ import annotations

import click

from kubetrail import __version__
from kubetrail.agent.cli import agent
from kubetrail.demo.cli import demo
from kubetrail.detect.cli import rules, scan
from kubetrail.k8s.cli import k8s
from kubetrail.parse.cli import parse
from kubetrail.policy.cli import policy
from kubetrail.query.cli import query
from kubetrail.server.cli import intakes, search, serve, tokens
from kubetrail.server.cli_alerts import alerts


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kubetrail")
def cli() -> None:
    """kubetrail: Kubernetes audit logs from the apiserver to the analyst.

    Normalize audit events to ECS, store and search them, run detections on them.
    Every command has its own --help.
    """


cli.add_command(parse)
cli.add_command(demo)
cli.add_command(serve)
cli.add_command(intakes)
cli.add_command(tokens)
cli.add_command(search)
cli.add_command(alerts)
cli.add_command(query)
cli.add_command(scan)
cli.add_command(rules)
cli.add_command(policy)
cli.add_command(agent)
cli.add_command(k8s)


def main() -> None:
    cli(prog_name="kubetrail")
