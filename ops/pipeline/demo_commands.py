"""`dogbreed demo`: the whole pipeline on this machine, one child `dogbreed` command per stage."""

from __future__ import annotations

import click

from ops.context import pass_app


@click.command()
@click.option(
    "--quick",
    is_flag=True,
    help="10 breeds, the lighter Lite0 backbone, no flipped views, 5 epochs: a few minutes.",
)
@click.option(
    "--source",
    help="Dataset source for `data fetch` (default: data.source, else ../shared/stanford-dogs "
    "when present, else the official URLs).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Training epochs (default: the settings; --quick: 5).",
)
@click.option("--limit", type=int, help="Evaluate at most N validation images.")
@pass_app
def demo(app, quick, source, epochs, limit):
    """The whole pipeline on this machine with the local backend, one command per stage.

    \b
    data fetch -> data prepare -> train -> serve (model + POST /classify) -> evaluate
    Each stage runs as its own `dogbreed` command, so any of them can be re-run alone; stages
    that are already done finish quickly (fetch, prepare and the feature cache are idempotent).
    The servers it starts are stopped at the end, also on failure or Ctrl-C. Prints the path
    of the HTML report.
    """
    from ops.api.serve_process import child_global_args
    from ops.pipeline.demo import run_demo

    report = run_demo(
        app.settings,
        global_args=child_global_args(app),
        quick=quick,
        source=source,
        epochs=epochs,
        limit=limit,
    )
    click.secho(f"Demo finished. Report: {report}", fg="green")


COMMANDS = [demo]
