"""`kubetrail demo`: realistic sample data, to try kubetrail without a cluster."""

from __future__ import annotations

import gzip
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import click

from kubetrail.demo.generate import lines


@click.group()
def demo() -> None:
    """Sample data for trying kubetrail out."""


@demo.command()
@click.option("--minutes", default=60, show_default=True, help="How much cluster time to generate.")
@click.option("--seed", default=42, show_default=True, help="Same seed, same events.")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False),
    default="-",
    show_default=True,
    help="Where to write the audit log (.gz compresses).",
)
def generate(minutes: int, seed: int, out: str) -> None:
    """Write an audit log of a small cluster's life, with an attack woven in.

    Controllers, kubelets, a CI bot and humans with kubectl; at 60% of the time an intruder
    execs into a pod, reads secrets, creates a privileged pod and binds cluster-admin.
    """
    with ExitStack() as stack:
        sink: IO[bytes] = sys.stdout.buffer
        if out.endswith(".gz"):
            sink = stack.enter_context(gzip.open(out, "wb"))  # type: ignore[arg-type]
        elif out != "-":
            sink = stack.enter_context(open(out, "wb"))
        for line in lines(minutes, seed):
            sink.write(line + b"\n")


@demo.command("run")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default="data/demo",
    show_default=True,
    help="A fresh store is created here (emptied first).",
)
@click.option("--port", default=8080, show_default=True, help="Port of the demo service.")
@click.option("--minutes", default=60, show_default=True, help="Cluster time to feed.")
@click.option("--seed", default=42, show_default=True)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Keep serving after feeding the sample (Ctrl-C stops).",
)
def run_demo(data_dir: str, port: int, minutes: int, seed: int, serve: bool) -> None:
    """Start kubetrail on a fresh store, feed it a sample with an attack, show what it found.

    Creates an intake and an admin token, posts the generated audit log through the intake,
    lets detection run, then prints the URL, the token, the alerts and searches to try.
    """
    from kubetrail.demo.run import run

    sys.exit(run(Path(data_dir), port, minutes, seed, serve))
