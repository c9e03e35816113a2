"""`kubetrail k8s`: the kube-apiserver configuration, and the agent's Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import click
import yaml

from kubetrail.k8s.apiserver import (
    LOG_PATH,
    POLICY_PATH,
    WEBHOOK_CONFIG_PATH,
    SetupError,
    apiserver_flags,
    webhook_kubeconfig,
    webhook_url,
)
from kubetrail.k8s.manifests import ManifestOptions, render


@click.group()
def k8s() -> None:
    """Configure Kubernetes to send its audit log to kubetrail, and deploy the agent."""


@k8s.command("apiserver-flags")
@click.option("--webhook", is_flag=True, help="The webhook backend instead of the log file.")
@click.option("--policy-file", default=POLICY_PATH, show_default=True)
@click.option("--log-path", default=LOG_PATH, show_default=True)
@click.option("--maxage", default=7, show_default=True, help="Days to keep rotated logs.")
@click.option("--maxbackup", default=10, show_default=True, help="Rotated logs to keep.")
@click.option("--maxsize", default=100, show_default=True, help="MB before a log is rotated.")
@click.option(
    "--intake-url",
    help="The kubetrail intake (https://host:port); the webhook posts to its /webhook.",
)
@click.option(
    "--intake-key",
    envvar="KUBETRAIL_INTAKE_KEY",
    help="The intake key, sent as bearer token (or env KUBETRAIL_INTAKE_KEY, out of history).",
)
@click.option("--webhook-config", default=WEBHOOK_CONFIG_PATH, show_default=True)
@click.option("--batch-max-size", default=400, show_default=True)
@click.option(
    "--write-kubeconfig",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the webhook kubeconfig to this file (mode 0600) instead of printing it.",
)
def apiserver_flags_command(
    webhook: bool,
    policy_file: str,
    log_path: str,
    maxage: int,
    maxbackup: int,
    maxsize: int,
    intake_url: str | None,
    intake_key: str | None,
    webhook_config: str,
    batch_max_size: int,
    write_kubeconfig: str | None,
) -> None:
    """Print the kube-apiserver audit flags (log backend, or --webhook), and for the webhook
    the kubeconfig that points it at the intake's /webhook with the intake key.
    """
    try:
        flags = apiserver_flags(
            webhook=webhook,
            policy_path=policy_file,
            log_path=log_path,
            max_age_days=maxage,
            max_backup=maxbackup,
            max_size_mb=maxsize,
            webhook_config_path=webhook_config,
            batch_max_size=batch_max_size,
        )
        if webhook:
            if not intake_url:
                raise SetupError("--webhook needs --intake-url (where the intake listens)")
            config = webhook_kubeconfig(intake_url, intake_key or "")
    except SetupError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo("# kube-apiserver flags (static pod: add to spec.containers[0].command)")
    for flag in flags:
        click.echo(f"    - {flag}")
    click.echo("# mount the policy file" + ("" if webhook else " and the log directory"))
    if not webhook:
        return
    text = yaml.safe_dump(config, sort_keys=False)
    if write_kubeconfig:
        path = Path(write_kubeconfig)
        path.touch(mode=0o600)
        path.chmod(0o600)  # the token is a credential: never world-readable
        path.write_text(text, encoding="utf-8")
        click.echo(f"# webhook kubeconfig written to {path}: install it as {webhook_config}")
        return
    click.echo(f"# {webhook_config} (posts to {webhook_url(intake_url or '')}; keep it 0600)")
    click.echo("---")
    click.echo(text, nl=False)


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
