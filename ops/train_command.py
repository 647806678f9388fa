"""`dogbreed train`: one command, two backends (local PyTorch/timm or a SageMaker training job)."""

from __future__ import annotations

import click

from ops.context import pass_app
from ops.options import data_option


@click.command()
@data_option()
@click.option("--epochs", type=int, help="Override hyperparameters.epochs.")
@click.option(
    "--mode",
    type=click.Choice(["head", "partial", "full"]),
    help="Local backend: what to train (default: local.mode).",
)
@click.option("--backbone", help="Local backend: a timm model name (default: local.backbone).")
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Local backend: continue from the last checkpoint of an interrupted run.",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="SageMaker backend: watch the job until it ends.",
)
@pass_app
def train(app, prepared_dir, epochs, mode, backbone, resume, wait):
    """Train a model on the prepared train/validation manifests.

    With backend "local" this trains here (PyTorch + timm) and writes a model artifact;
    in head mode (the default) it then fits a softmax temperature on 10 % held-out training
    images so the served probabilities are calibrated (local.calibrate).
    With "sagemaker" it submits the built-in image-classification training job.
    Either way the result is recorded in .dogbreed/state.json for `serve` / `deploy`.
    """
    settings = app.override(
        data__prepared_dir=str(prepared_dir) if prepared_dir else None,
        hyperparameters__epochs=epochs,
        local__mode=mode,
        local__backbone=backbone,
    )
    if settings.backend == "local":
        from ops.local.training import train_local
        from ops.local.training.loop import fmt_eta
        from ops.state import update_state

        record = train_local(settings, resume=resume)
        update_state("training", record)
        metrics = record["metrics"]
        top1 = metrics["validation_top1"]
        done = f"done in {fmt_eta(metrics['timings']['total_s'])}"
        click.echo(f"{done}: validation top-1 {top1:.2%}" if top1 is not None else "done", err=True)
        click.echo(record["model_tar"])
    else:
        from ops.aws.training import train_sagemaker

        train_sagemaker(settings, wait=wait)


COMMANDS = [train]
