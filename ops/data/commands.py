"""`dogbreed data fetch | prepare | info | upload`: thin click shells over ops.data's functions."""

from __future__ import annotations

from pathlib import Path

import click

from ops.context import pass_app
from ops.data.fetch import fetch as do_fetch
from ops.data.info import data_summary, render_summary, summary_json
from ops.data.prepare_files import REPORT_FILE
from ops.options import data_option, json_option, out_option, quiet_option
from ops.safe_text import for_terminal
from ops.settings import validate
from ops.state import update_state


@click.group()
def data():
    """Get Stanford Dogs, check and repair it, split it, write manifests, upload to S3.

    \b
    dogbreed data fetch      # data.source (default ../shared/stanford-dogs or the official URLs)
    dogbreed data prepare    # -> data.prepared_dir: train/, validation/, *.lst, classes.json, info.json
    dogbreed data info       # num_classes, num_training_samples, per-class counts
    dogbreed data audit      # label errors, non-dogs, duplicates -> audit.html + exclusions.csv
    dogbreed data upload     # -> s3://<bucket>/<aws.data_prefix>/{train,validation,train_lst,validation_lst}/
    """


@data.command()
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="URL|FOLDER|TARBALL",
    help="Where to get the data (repeatable): a base URL or tarball URL, a folder in the official "
    "layout (linked, not copied), a folder of the three tarballs, or tarball files. "
    "Default: data.source, else ../shared/stanford-dogs if present, else the official URLs.",
)
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to fill (default: data.raw_dir).",
)
@quiet_option("No progress bars.")
@pass_app
def fetch(app, sources, raw_dir, quiet):
    """Download or link Stanford Dogs into data.raw_dir and check it (120 classes, 20,580 images).

    Downloads resume where they stopped; extraction and linking are skipped when already done,
    so re-running is cheap. The source folder is never modified.
    """

    settings = app.override(data__raw_dir=str(raw_dir) if raw_dir else None)
    report = do_fetch(settings, list(sources) or None, progress=not quiet)
    for warning in report.warnings:
        click.secho(f"Warning: {for_terminal(warning)}", fg="yellow", err=True)
    click.echo(
        f"{report.raw_dir}: {report.num_classes} classes, {report.num_images:,} images, "
        f"lists {report.num_train:,} train / {report.num_test:,} test, "
        f"{report.num_annotations:,} annotations (from {', '.join(report.sources)})"
    )


@data.command()
@click.option(
    "--split",
    type=click.Choice(["official", "stratified"]),
    help="Split mode (default: data.split).",
)
@click.option(
    "--val-fraction", type=float, help="Stratified split: validation share (data.val_fraction)."
)
@click.option("--seed", type=int, help="Stratified split: random seed (data.seed).")
@click.option(
    "--crop",
    type=click.Choice(["none", "boxes"]),
    help="'boxes' crops full photos to their annotated dog boxes (images whose size differs "
    "from the XML are already cropped and left as they are).",
)
@click.option(
    "--merge",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Label map merging classes: JSON/TOML {source: target} or lines `source,target` "
    "(sources are wnids or breed names).",
)
@click.option(
    "--exclude",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Exclusion/relabel list (CSV: file,action,label,reason; action 'exclude' or 'relabel' "
    "to a wnid or breed), e.g. the exclusions.csv of `dogbreed data audit`.",
)
@click.option(
    "--drop-near-duplicates/--keep-near-duplicates",
    default=None,
    help="Remove validation images that duplicate a training image (exact or perceptual).",
)
@click.option("--classes", help="Comma-separated wnids or breed names to keep (data.classes).")
@click.option(
    "--num-classes", type=click.IntRange(min=1), help="Keep the first N classes in wnid order."
)
@click.option("--workers", type=click.IntRange(1, 256), help="Decoding processes (data.workers).")
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder to read (default: data.raw_dir).",
)
@out_option("Prepared folder to write (default: data.prepared_dir).")
@quiet_option()
@pass_app
def prepare(
    app,
    split,
    val_fraction,
    seed,
    crop,
    merge,
    exclude,
    drop_near_duplicates,
    classes,
    num_classes,
    workers,
    raw_dir,
    out_dir,
    quiet,
):
    """Decode, repair and split the images; write the .lst manifests, classes.json, info.json.

    Corrupt or truncated files are listed and excluded; CMYK/grayscale/PNG-in-.jpg become RGB
    JPEGs, EXIF orientation is applied, everything else is copied byte for byte. Train/validation
    duplicates (sha256 and perceptual hash) are reported in prepare_report.json. The source is
    never changed; the same input gives byte-identical output.
    """
    from ops.data.prepare import prepare_from_settings

    settings = app.override(
        data__split=split,
        data__val_fraction=val_fraction,
        data__seed=seed,
        data__crop=crop,
        data__merge=str(merge.resolve()) if merge else None,
        data__exclude=str(exclude.resolve()) if exclude else None,
        data__drop_near_duplicates=drop_near_duplicates,
        data__classes=[c for c in classes.split(",") if c.strip()] if classes else None,
        data__num_classes=num_classes,
        data__workers=workers,
    )

    validate(settings)
    result = prepare_from_settings(settings, raw_dir, out_dir, progress=not quiet)
    for warning in result.warnings:
        click.secho(f"Warning: {for_terminal(warning)}", fg="yellow", err=True)
    info, counts = result.info, result.report["counts"]
    click.echo(
        f"{result.out_dir}: {info['num_classes']} classes, {info['num_training_samples']:,} train / "
        f"{info['num_validation_samples']:,} validation images; excluded {counts['excluded']}, "
        f"repaired {counts['repaired']}, cropped {counts['cropped']}, duplicates "
        f"{counts['exact_duplicates']} exact + {counts['near_duplicates']} near "
        f"(details: {result.out_dir / REPORT_FILE})"
    )
    if exclude:
        click.echo(
            f"exclusion list {exclude}: {counts['excluded_by_list']} image(s) left out, "
            f"{counts['relabelled_by_list']} relabelled"
        )


@data.command()
@data_option("Prepared folder (default: data.prepared_dir).")
@json_option()
@pass_app
def info(app, prepared_dir, as_json):
    """Show num_classes, num_training_samples, per-class counts and image sizes of prepared data."""

    settings = app.settings  # loaded even with --data, so bad settings are never ignored
    root = prepared_dir or settings.resolve(settings.data.prepared_dir)
    summary = data_summary(root)
    if as_json:
        click.echo(summary_json(summary))
    else:
        render_summary(summary)


@data.command()
@data_option("Prepared folder (default: data.prepared_dir).")
@click.option("--bucket", help="Bucket (default: aws.bucket, else <project>-<account>-<region>).")
@click.option("--prefix", help="Key prefix (default: aws.data_prefix).")
@click.option("--create-bucket", is_flag=True, help="Create the bucket when it does not exist.")
@quiet_option()
@pass_app
def upload(app, prepared_dir, bucket, prefix, create_bucket, quiet):
    """Upload train/, validation/, train_lst/, validation_lst/ to S3 in parallel.

    Objects already there with the same content are skipped: interrupt and re-run at will.
    aws.endpoint_url points it at an emulator such as moto server.
    """
    from ops.data.upload import upload_prepared

    result = upload_prepared(
        app.settings,
        prepared_dir,
        bucket=bucket,
        prefix=prefix,
        create_bucket=create_bucket,
        progress=not quiet,
    )
    update_state(
        "upload",
        {"bucket": result.bucket, "prefix": result.prefix, "channels": result.channel_uris()},
    )
    click.echo(
        f"s3://{result.bucket}/{result.prefix}/: uploaded {result.uploaded:,} file(s) "
        f"({result.bytes_uploaded / 1e6:.1f} MB), skipped {result.skipped:,} unchanged, "
        f"{result.seconds:.1f} s"
    )


COMMANDS = [data]
