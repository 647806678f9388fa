"""`dogbreed models`: the model registry (list, register, approve, reject); deploy a version
with `dogbreed deploy --model VERSION`, roll back with `dogbreed deploy --previous`."""

from __future__ import annotations

import json

import click

from ops.context import pass_app
from ops.options import artifact_option, json_option
from ops.train.record import read_training


def _row(found, serving: int | None) -> dict:
    meta = found.metadata
    return {
        "version": found.version,
        "status": found.status,
        "validation_top1": found.top1,
        "source": meta.get("source", ""),
        "created": found.created,
        "deployed_at": found.deployed_at or None,
        "serving": found.version == serving,
        "model_data_url": found.model_data_url,
    }


def _print_table(rows: list[dict], group: str) -> None:
    if not rows:
        click.echo(f"No model versions in {group} yet: `dogbreed deploy` or `models register`.")
        return
    click.echo(f"{'':1} {'version':>7}  {'status':<21} {'top-1':>7}  {'source':<17} deployed")
    for row in rows:
        top1 = f"{row['validation_top1']:.2%}" if row["validation_top1"] is not None else "-"
        click.echo(
            f"{'*' if row['serving'] else '':1} {row['version']:>7}  {row['status']:<21} "
            f"{top1:>7}  {row['source']:<17} {row['deployed_at'] or '-'}"
        )
    click.echo("* = serving now (the last version deployed)")


@click.group(invoke_without_command=True)
@json_option()
@click.pass_context
@pass_app
def models(app, ctx, as_json):
    """The model registry: every trained model as a version of one SageMaker model package
    group, with its validation top-1, approval status and where it was deployed.

    \b
    dogbreed models                     list the versions (newest first)
    dogbreed models register            register the last training (a local one: uploaded)
    dogbreed models approve VERSION     allow it into production (deploy.allow_unapproved)
    dogbreed deploy --model VERSION     serve it (blue/green, rolled back on alarm)
    dogbreed deploy --previous          serve the version deployed before the current one
    """
    if ctx.invoked_subcommand is not None:
        return
    from ops.aws import registry

    versions = registry.list_versions(app.settings)
    deployed = registry.deployed_order(versions)
    serving = deployed[0].version if deployed else None
    rows = [_row(v, serving) for v in versions]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows, registry.group_name(app.settings))


def _set_status(app, version: int, status: str, note: str) -> None:
    from ops.aws import registry

    found = registry.update(app.settings, registry.get_version(app.settings, version), status, note)
    click.echo(f"Model version {found.version}: {found.status}")


@models.command()
@click.argument("version", type=click.IntRange(1))
@click.option("--note", default="", help="Why (kept as the approval description).")
@pass_app
def approve(app, version, note):
    """Approve VERSION for production deploys."""
    from ops.aws.registry import APPROVED

    _set_status(app, version, APPROVED, note)


@models.command()
@click.argument("version", type=click.IntRange(1))
@click.option("--note", default="", help="Why (kept as the approval description).")
@pass_app
def reject(app, version, note):
    """Reject VERSION: it can no longer be deployed (until approved again)."""
    from ops.aws.registry import REJECTED

    _set_status(app, version, REJECTED, note)


@models.command()
@artifact_option("A locally trained model folder or model.tar.gz (default: the last training).")
@pass_app
def register(app, artifact):
    """Register the last training (or --artifact): a SageMaker job's model as it is, a local
    model packaged for AWS's PyTorch container and uploaded first."""
    from ops.aws import registry
    from ops.deploy import model_registry

    settings = app.settings
    record = read_training()
    if artifact is None and record is not None and record.backend == "sagemaker":
        registration = model_registry.job_registration(settings, record.extra)
    else:
        registration = model_registry.local_upload_registration(settings, artifact, click.echo)
    found, new = registry.register(settings, registration)
    state = "registered" if new else "already registered"
    click.echo(f"Model version {found.version} {state} in {registry.group_name(settings)}")
    click.echo(f"Status {found.status}; approve with: dogbreed models approve {found.version}")


COMMANDS = [models]
