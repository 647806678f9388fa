"""`dogbreed data audit`: it needs a trained head, so it lives after training; it joins the `data` group."""

from __future__ import annotations

import click

from ops.context import pass_app
from ops.options import FiniteRange, data_option, out_option


@click.command()
@data_option()
@out_option("Where to write audit.html, audit.json, exclusions.csv (default: <data>/audit).")
@click.option(
    "--folds",
    type=click.IntRange(2, 20),
    default=5,
    show_default=True,
    help="k of the k-fold heads that give out-of-fold probabilities.",
)
@click.option(
    "--dog-below",
    type=FiniteRange(0, 1),
    default=0.05,
    show_default=True,
    help="Flag images whose ImageNet dog score is below this as probably not dogs.",
)
@pass_app
def audit(app, prepared_dir, out_dir, folds, dog_below):
    """Flag likely label errors, non-dogs and duplicates; write an HTML page and an exclusion list.

    \b
    Out-of-fold probabilities come from k heads trained on the cached backbone features (the
    same cache as `dogbreed train`: seconds per fold once features exist); cleanlab finds the
    label issues. Apply the list with `dogbreed data prepare --exclude <out>/exclusions.csv`.
    """
    from ops.audit.audit import audit as run_audit  # numpy, torch: loaded when run

    result = run_audit(app.settings, prepared_dir, out_dir, folds=folds, dog_below=dog_below)
    c = result.counts
    click.echo(
        f"out-of-fold top-1 {c['oof_top1']:.2%} ({folds} folds); flagged "
        f"{c['flagged_images']['train']:,} train / {c['flagged_images']['validation']:,} "
        "validation images: " + ", ".join(f"{k} {v}" for k, v in c["flags"].items())
    )
    for name, path in sorted(result.files.items()):
        click.echo(f"  {name}: {path}")


# Subcommands of another stage's group: `data audit` reads like the data commands it feeds.
GROUP_COMMANDS = {"data": [audit]}
