"""SageMaker-only commands: `dogbreed tune` and `dogbreed jobs` (`train` lives in ops/train/commands.py)."""

from __future__ import annotations

import click

from ops.context import pass_app
from ops.state import update_state
from ops.train.sagemaker.job_record import finish_training


@click.command()
@click.option("--max-jobs", type=int, help="Override tuning.max_jobs (trials in all).")
@click.option("--max-parallel-jobs", type=int, help="Override tuning.max_parallel_jobs.")
@click.option(
    "--early-stopping",
    type=click.Choice(["Auto", "Off"]),
    help="Override tuning.early_stopping_type (stop hopeless trials early).",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Watch the tuning job until it ends, then record its best model.",
)
@pass_app
def tune(app, max_jobs, max_parallel_jobs, early_stopping, wait):
    """Run a SageMaker hyperparameter tuning job over tuning.ranges.

    Each trial is a training job of the built-in image-classification algorithm on the
    uploaded channels (spot instances when aws.use_spot). The objective is
    tuning.objective_metric (validation:accuracy, maximised). When the tuning job ends, its
    best trial's model is recorded in .dogbreed/state.json, so `dogbreed deploy` serves it.
    """
    from ops.train.sagemaker.tuning import tune_sagemaker

    settings = app.override(
        tuning__max_jobs=max_jobs,
        tuning__max_parallel_jobs=max_parallel_jobs,
        tuning__early_stopping_type=early_stopping,
    )
    tuning, best_model = tune_sagemaker(settings, wait=wait)
    if best_model is not None:
        update_state("training", best_model)
        path = update_state("tuning", tuning)
        click.echo(f"Recorded in {path} (deploy will serve this model)")


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="How many jobs of each kind.",
)
@click.option("--all", "show_all", is_flag=True, help="Every job, not only this project's.")
@click.option(
    "--watch",
    "watch_name",
    metavar="JOB",
    help="Follow training job JOB (e.g. after `train --no-wait`) and record it when done.",
)
@pass_app
def jobs(app, limit, show_all, watch_name):
    """List recent SageMaker training and tuning jobs with status and validation accuracy."""
    from ops.train.sagemaker.watch import make_console

    settings = app.settings
    console = make_console()
    if watch_name:
        from ops.aws.session import connection_errors, make_client
        from ops.train.sagemaker.watch import watch_training_job

        client = make_client(settings, "sagemaker")
        with connection_errors(f"watching {watch_name}"):
            description = watch_training_job(
                client,
                watch_name,
                settings,
                poll_seconds=settings.aws.poll_seconds,
                console=console,
            )
        record_training_job(finish_training(description, settings, echo=console.print), settings)
        return
    from ops.train.sagemaker.jobs import list_jobs, render_jobs

    rows = list_jobs(settings, limit=limit, show_all=show_all)
    if not rows:
        console.print("No SageMaker jobs yet (`dogbreed --backend sagemaker train` starts one).")
        return
    console.print(render_jobs(rows))


def record_training_job(result: dict, settings=None) -> None:
    """Write a finished SageMaker job's record (what `deploy` serves) and say where; a job that
    still runs (--no-wait, or detached) is not recorded: `jobs --watch` records it later."""
    if result.get("backend") != "sagemaker":  # {job_name, status}: not finished
        return

    path = update_state("training", result)
    click.echo(f"Recorded in {path}")


COMMANDS = [tune, jobs]
