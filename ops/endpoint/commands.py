"""`dogbreed predict`: classify local images with a trained model in this process (no server)."""

from __future__ import annotations

from pathlib import Path

import click

from ops.context import pass_app
from ops.endpoint.breed_table import show_results
from ops.errors import DogbreedError
from ops.options import artifact_option, json_option
from ops.train.record import last_local_artifact


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@artifact_option()
@click.option(
    "--top-k",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="How many breeds to show per image.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Also write where the model looked: an overlay PNG per image (see --explain-dir).",
)
@click.option(
    "--explain-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("explain"),
    show_default=True,
    help="Folder for the --explain overlays (<image stem>.explain.png).",
)
@json_option()
@pass_app
def predict(app, images, artifact, top_k, explain, explain_dir, as_json):
    """Classify local images with a trained model, in this process (no server needed).

    Prints the top-k breeds of each image. Unreadable images are reported one by one and make
    the exit code 1; the others are still classified. --explain draws the top breed's
    activation map over the square the model saw (ops/endpoint/explain.py).
    """
    from ops.artifact.reader import artifact_limits
    from ops.endpoint.onnx_runtime import load_runtime

    settings = app.settings
    runtime = load_runtime(
        artifact or last_local_artifact(),
        threads=settings.local.threads,
        photo_policy=settings.serve.photo_policy,
        limits=artifact_limits(settings),
    )
    if explain and runtime.cam_output is None:
        raise DogbreedError(
            f"{runtime.source}: this model's graph has no activation map output (cam)",
            hint="export it again with this version (`dogbreed train`)",
        )
    results = predict_files(runtime, list(images), top_k)
    if explain:
        from ops.endpoint.explain import explain_results

        explain_results(results, runtime.preprocessing, explain_dir)

    show_results(results, as_json)


def predict_files(runtime, paths: list[Path], top_k: int = 5) -> list[dict]:
    """[{"image", "predictions": [...], "answer": {...}} or {"image", "error"}] in input order.

    The photo policy's views of every image run in shared batches of 32; "answer" is the
    Lambda's verdict (lambda_src/answer.py): dog or "no dog recognised", uncertain or not."""
    import numpy as np

    from lambda_src.answer import verdict
    from ops.model.preprocess import BadImageError, image_error_message

    results: list[dict] = []
    views, owners = [], []  # every view of every readable image, and its image's slot
    for path in paths:
        try:
            image_views = runtime.preprocess_views(Path(path).read_bytes())
        except OSError as exc:
            results.append({"image": str(path), "error": f"cannot read: {exc.strerror or exc}"})
            continue
        except BadImageError as exc:
            results.append({"image": str(path), "error": image_error_message(exc)})
            continue
        views.extend(image_views)
        owners.extend([len(results)] * len(image_views))
        results.append({"image": str(path)})
    rows = [
        row
        for i in range(0, len(views), 32)
        for row in runtime.predict_rows(np.stack(views[i : i + 32]))
    ]
    for slot in sorted(set(owners)):
        output = runtime.combine(
            [row for row, owner in zip(rows, owners, strict=True) if owner == slot]
        )
        ranked = [p.as_dict() for p in runtime.top_k(output.probabilities, max(top_k, 2))]
        results[slot]["predictions"] = ranked[:top_k]
        results[slot]["answer"] = verdict(ranked, output.endpoint_body(as_object=True))
    return results


COMMANDS = [predict]
