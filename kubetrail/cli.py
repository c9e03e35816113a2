"""The `kubetrail` command: a root group that gathers each area's subcommands.

Each area keeps its commands next to its code (`kubetrail/<area>/cli.py`); this module only
names them, so adding a command never touches another area. A command's module is imported
when that command runs, not before: `kubetrail agent` on a control-plane node does not load
the service, the Sigma engine and the query parser (12 MB of resident memory, and start-up
time for every command).
"""

from __future__ import annotations

import importlib
from typing import Final

import click

from kubetrail import __version__

# command -> "module:attribute", in the order `--help` lists them
COMMANDS: Final = {
    "parse": "kubetrail.parse.cli:parse",
    "demo": "kubetrail.demo.cli:demo",
    "serve": "kubetrail.server.cli:serve",
    "intakes": "kubetrail.server.cli:intakes",
    "tokens": "kubetrail.server.cli:tokens",
    "search": "kubetrail.server.cli:search",
    "alerts": "kubetrail.server.cli_alerts:alerts",
    "query": "kubetrail.query.cli:query",
    "scan": "kubetrail.detect.cli:scan",
    "rules": "kubetrail.detect.cli:rules",
    "policy": "kubetrail.policy.cli:policy",
    "agent": "kubetrail.agent.cli:agent",
    "k8s": "kubetrail.k8s.cli:k8s",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), target
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="kubetrail")
def cli() -> None:
    """kubetrail: Kubernetes audit logs from the apiserver to the analyst.

    Normalize audit events to ECS, store and search them, run detections on them.
    Every command has its own --help.
    """


def main() -> None:
    cli(prog_name="kubetrail")
