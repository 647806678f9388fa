"""`dogbreed import-model`: a built-in algorithm model becomes a normal dogbreed artifact.

The command finds the model (a local model.tar.gz, an s3:// URL, or the last SageMaker training
record), the classes and the prepared data, runs the conversion (ops/train/sagemaker/import_artifact.py) and
records the artifact as the last training, so serve, predict, evaluate --local and deploy use it.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ops.context import pass_app
from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.settings import Settings
from ops.state import update_state
from ops.train.record import common_fields, read_training


def _download(settings: Settings, url: str, dest: Path) -> Path:
    """s3://bucket/key -> dest/model.tar.gz, refusing objects over the size bound."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error, make_client
    from ops.train.sagemaker.import_model import MAX_PARAMS_BYTES

    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise DogbreedError(f"{url!r} is not an s3://bucket/key URL", exit_code=2)
    s3 = make_client(settings, "s3")
    try:
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > MAX_PARAMS_BYTES:
            raise DogbreedError(f"{url} is {size} bytes: over the {MAX_PARAMS_BYTES} limit")
        s3.download_file(bucket, key, str(dest / "model.tar.gz"))
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"downloading {url}") from exc
    return dest / "model.tar.gz"


def find_source(settings: Settings, model: str | None, tmp: Path) -> dict[str, Any]:
    """{"tar": local path, "model": what was named, "job_name", "classes"}: the given model, or
    the last SageMaker training record's."""

    origin: dict[str, Any] = {"model": model}
    if model is None:
        record = read_training()
        if record is None or record.backend != "sagemaker" or not record.artifact:
            raise DogbreedError(
                "no SageMaker training is recorded to import",
                hint="pass the model: dogbreed import-model s3://.../model.tar.gz (or a file)",
                exit_code=2,
            )
        model = record.artifact
        origin = {"model": model, "job_name": record.extra.get("job_name")}
        origin["classes"] = record.classes
    if model.startswith("s3://"):
        origin["tar"] = _download(settings, model, tmp)
    elif Path(model).expanduser().is_file():
        origin["tar"] = Path(model).expanduser()
    else:
        raise DogbreedError(
            f"model {model} is not a file", hint="pass a model.tar.gz or an s3:// URL", exit_code=2
        )
    return origin


def _classes_file(given: Path | None, recorded: str | None, data: Path) -> Path:
    """--classes, else the training record's copy, else the prepared data's classes.json."""
    for candidate in (given, recorded and Path(recorded), data / "classes.json"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise DogbreedError(
        "no classes.json for the model",
        hint=f"pass --classes FILE (the classes.json it was trained with) or prepare {data}",
        exit_code=2,
    )


def _record(out_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The "training" record of an imported model: a local artifact that says where it came from."""

    fields = common_fields(
        "local", str(out_dir), None, str(out_dir / "classes.json"), meta.get("metrics") or {}
    )
    return {
        **fields,
        "artifact_dir": str(out_dir),
        "model_tar": str(out_dir / "model.tar.gz"),
        "imported_from": meta["source"],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@click.command("import-model")
@click.argument("model", required=False)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Artifact folder to write [default: <local.artifacts_dir>/imported-<job or file>].",
)
@click.option("--classes", type=click.Path(path_type=Path), help="The classes.json trained on.")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Prepared data: threshold on its training images, metrics on its validation images "
    "(default: data.prepared_dir when it exists).",
)
@click.option(
    "--max-images",
    type=click.IntRange(10, 100_000),
    default=500,
    show_default=True,
    help="Images (evenly spaced) for the threshold and for the metrics.",
)
@pass_app
def import_model(app, model, out_dir, classes, data, max_images):
    """Import a built-in image-classification model (MXNet) as a dogbreed artifact.

    MODEL is a model.tar.gz of SageMaker's built-in algorithm, local or s3://; without it, the
    last SageMaker training record's. The converted ONNX graph must match MXNet's own forward
    pass to 1e-4. Needs the MXNet venv: make .venv-mxnet/.installed
    """
    from ops.train.sagemaker.import_artifact import import_builtin

    settings = app.settings
    data_dir = settings.resolve(str(data or settings.data.prepared_dir))
    if data and not (data_dir / "train_lst").is_dir():
        raise DogbreedError(f"{data_dir} is not prepared data", exit_code=2)
    prepared = PreparedData(data_dir) if (data_dir / "train_lst").is_dir() else None
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dogbreed-s3-")))
        source = find_source(settings, model, tmp)
        classes_path = _classes_file(classes, source.pop("classes", None), data_dir)
        name = source.get("job_name") or Path(source["model"]).name.split(".")[0]
        out_dir = out_dir or settings.resolve(settings.local.artifacts_dir) / f"imported-{name}"
        meta = import_builtin(settings, source, out_dir, classes_path, prepared, max_images)
    path = update_state("training", _record(out_dir, meta))
    dog = meta["dog"]
    click.echo(f"Imported {source['model']} (epoch {meta['source']['epoch']}) -> {out_dir}")
    click.echo(
        f"ONNX vs MXNet: max |diff| {meta['onnx_max_abs_diff']:.2e} on "
        f"{meta['conversion']['checked_images']} images; conversion {meta['conversion']['seconds']} s"
    )
    click.echo(f"No-dog threshold (top probability): {dog['threshold']} ({dog['chosen_on']})")
    if meta.get("metrics"):
        m = meta["metrics"]
        click.echo(
            f"Validation: top-1 {m.get('validation_top1')}, top-5 {m.get('validation_top5')}"
        )
    click.echo(f"Recorded in {path}: serve, predict, evaluate --local and deploy use it")


COMMANDS = [import_model]
