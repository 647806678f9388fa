"""`dogbreed train`: one command, two backends (local PyTorch/timm or a SageMaker training job)."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ops.context import pass_app
from ops.errors import DogbreedError
from ops.options import data_option
from ops.run_lock import exclusive_run
from ops.state import update_state
from ops.train.local.loop import fmt_eta
from ops.train.local.run import train_local
from ops.train.sagemaker.commands import record_training_job

# Options that only one backend reads: given with the other, they are an error, not ignored.
BACKEND_OF_OPTION = {
    "mode": "local",
    "backbone": "local",
    "resume": "local",
    "promote_anyway": "local",
    "wait": "sagemaker",
    "algorithm": "sagemaker",
}
# The SageMaker recipe job runs the local trainer, so it reads the local trainer's model options.
RECIPE_READS = {"mode", "backbone"}


def check_backend_options(ctx: click.Context, backend: str, algorithm: str = "builtin") -> None:
    """Raise a usage error for an option given on the command line that `backend` would ignore."""
    for name, owner in BACKEND_OF_OPTION.items():
        if backend == "sagemaker" and algorithm == "recipe" and name in RECIPE_READS:
            continue
        if owner != backend and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            param = next(p for p in ctx.command.params if p.name == name)
            flags = "/".join(param.opts + param.secondary_opts)
            raise DogbreedError(
                f"{flags} applies to the {owner} backend, but the backend is {backend}",
                exit_code=2,
                hint=f"drop it, or pass --backend {owner}",
            )


def refuse_unpromoted(record: dict) -> None:
    """DogbreedError (exit 1) for a run that may not replace the model in use (promotion.py)."""
    promotion = record.get("promotion") or {}
    if promotion.get("promoted", True):
        return
    raise DogbreedError(
        f"{promotion['reason']}: kept the previous model (latest and the state record are "
        f"unchanged); this run's artifact is {record['artifact_dir']}",
        hint="lower local.learning_rate, or pass --promote-anyway to use it",
    )


@click.command()
@data_option()
@click.option(
    "--epochs",
    type=int,
    help="Override hyperparameters.epochs. Local head/partial training with the fast recipe "
    "(local.recipe) runs min(epochs, local.max_epochs); SageMaker and local.recipe=sagemaker "
    "run exactly this many (early stopping may end sooner).",
)
@click.option(
    "--mode",
    type=click.Choice(["head", "partial", "full"]),
    help="Local backend and --algorithm recipe: what to train (default: local.mode): 'head' = "
    "only the classifier on cached features, 'partial' = also the last local.partial_blocks "
    "blocks, 'full' = everything.",
)
@click.option(
    "--backbone",
    help="Local backend and --algorithm recipe: a timm model name, or 'a+b' for an ensemble "
    "(default: local.backbone).",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Local backend: continue from the last checkpoint of an interrupted run.",
)
@click.option(
    "--algorithm",
    type=click.Choice(["builtin", "recipe"]),
    help="SageMaker backend: the built-in image-classification algorithm, or this project's "
    "recipe (the local trainer and its local.* settings) on the PyTorch training container "
    "(default: aws.algorithm, builtin).",
)
@click.option(
    "--promote-anyway",
    is_flag=True,
    help="Local backend: make this run the latest model even if its validation top-1 ends "
    "clearly below where it started (by default such a run keeps the previous model).",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="SageMaker backend: watch the job until it ends.",
)
@click.pass_context
@pass_app
def train(app, ctx, prepared_dir, epochs, mode, backbone, resume, algorithm, promote_anyway, wait):
    """Train a model on the prepared train/validation manifests.

    With backend "local" this trains here (PyTorch + timm) and writes a model artifact;
    in head mode (the default) it then fits a softmax temperature on 10 % held-out training
    images so the served probabilities are calibrated (local.calibrate).
    With "sagemaker" it submits the built-in image-classification training job, or with
    --algorithm recipe the same trainer as the local backend (--mode/--backbone apply; several
    instances train data-parallel, one process per GPU).
    Either way the result is recorded in .dogbreed/state.json for `serve` / `deploy`.
    """
    settings = app.override(
        data__prepared_dir=str(prepared_dir) if prepared_dir else None,
        hyperparameters__epochs=epochs,
        local__mode=mode,
        local__backbone=backbone,
        aws__algorithm=algorithm,
    )
    check_backend_options(ctx, settings.backend, settings.aws.algorithm)
    if settings.backend == "local":
        with exclusive_run(settings.resolve(settings.local.artifacts_dir), "train"):
            record = train_local(settings, resume=resume, promote_anyway=promote_anyway)
            refuse_unpromoted(record)
            update_state("training", record)
        metrics = record["metrics"]
        top1 = metrics["validation_top1"]
        done = f"done in {fmt_eta(metrics['timings']['total_s'])}"
        click.echo(f"{done}: validation top-1 {top1:.2%}" if top1 is not None else "done", err=True)
        click.echo(record["model_tar"])
    elif settings.aws.algorithm == "recipe":
        from ops.train.sagemaker.recipe_job import train_recipe_sagemaker

        record_training_job(train_recipe_sagemaker(settings, wait=wait), settings)
    else:
        from ops.train.sagemaker.builtin_job import train_sagemaker

        record_training_job(train_sagemaker(settings, wait=wait), settings)


COMMANDS = [train]
