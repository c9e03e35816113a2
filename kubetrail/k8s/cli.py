"""`kubetrail k8s`: Kubernetes deployment helpers."""

from __future__ import annotations

from urllib.parse import urlsplit

import click

from kubetrail.k8s.manifests import ManifestOptions, render


@click.group()
def k8s() -> None:
    """Kubernetes deployment: manifests for the agent."""


@k8s.command()
@click.option("--intake-url", required=True, help="The kubetrail service, as seen from nodes.")
@click.option("--intake-key", required=True, help="The intake key (goes into a Secret).")
@click.option("--namespace", default="kubetrail", show_default=True)
@click.option("--image", default=ManifestOptions.image, show_default=True)
@click.option("--audit-log-dir", default=ManifestOptions.audit_log_dir, show_default=True)
@click.option("--audit-log-file", default=ManifestOptions.audit_log_file, show_default=True)
@click.option("--run-as-user", type=int, default=0, show_default=True,
              help="Non-zero when the audit log is readable by that user or group.")  # fmt: skip
@click.option("--run-as-group", type=int, default=0, show_default=True)
def manifests(
    intake_url: str,
    intake_key: str,
    namespace: str,
    image: str,
    audit_log_dir: str,
    audit_log_file: str,
    run_as_user: int,
    run_as_group: int,
) -> None:
    """Print the agent's DaemonSet (control-plane nodes), ConfigMap and intake-key Secret.

    Apply with: kubetrail k8s manifests --intake-url URL --intake-key KEY | kubectl apply -f -
    """
    if urlsplit(intake_url).scheme not in ("http", "https"):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--intake-url")
    click.echo(
        render(
            ManifestOptions(
                intake_url=intake_url.rstrip("/"),
                intake_key=intake_key,
                namespace=namespace,
                image=image,
                audit_log_dir=audit_log_dir.rstrip("/"),
                audit_log_file=audit_log_file,
                run_as_user=run_as_user,
                run_as_group=run_as_group,
            )
        ),
        nl=False,
    )
