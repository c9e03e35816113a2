"""The root `kubetrail` command: every area's commands, each loaded only when it runs."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from kubetrail.cli import COMMANDS, cli


def test_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line]
    assert listed == list(COMMANDS)
    assert "Tail the apiserver's audit log files" in result.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["serv"])

    assert result.exit_code == 2
    assert "No such command 'serv'" in result.output


def test_the_agent_does_not_load_the_service_or_the_detection_engine() -> None:
    probe = (
        "import sys\n"
        "from kubetrail.cli import cli\n"
        "cli(['agent', '--help'], standalone_mode=False)\n"
        "print(' '.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())

    assert "kubetrail.agent.run" in loaded
    assert not loaded & {"kubetrail.server.app", "kubetrail.detect.engine", "sigma", "uvicorn"}
