"""`dogbreed predict`: classify local images with a trained model in this process (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ops.context import pass_app
from ops.errors import DogbreedError
from ops.options import artifact_option, json_option
from ops.training_record import last_local_artifact


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
@json_option()
@pass_app
def predict(app, images, artifact, top_k, as_json):
    """Classify local images with a trained model, in this process (no server needed).

    Prints the top-k breeds of each image. Unreadable images are reported one by one and make
    the exit code 1; the others are still classified.
    """
    from ops.local.runtime import load_runtime

    runtime = load_runtime(artifact or last_local_artifact(), threads=app.settings.local.threads)
    results = predict_files(runtime, list(images), top_k)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        from ops.breed_table import print_predictions

        print_predictions(results)
    failed = [r for r in results if "error" in r]
    if failed:
        raise DogbreedError(f"{len(failed)} of {len(results)} images could not be classified")


def predict_files(runtime, paths: list[Path], top_k: int = 5) -> list[dict]:
    """[{"image", "predictions": [...]} or {"image", "error"}] in input order."""
    from ops.local.preprocess import BadImageError
    from ops.local.runtime import image_error_message

    results: list[dict] = []
    arrays, slots = [], []
    for path in paths:
        try:
            arrays.append(runtime.preprocess(Path(path).read_bytes()))
            slots.append(len(results))
            results.append({"image": str(path)})
        except OSError as exc:
            results.append({"image": str(path), "error": f"cannot read: {exc.strerror or exc}"})
        except BadImageError as exc:
            results.append({"image": str(path), "error": image_error_message(exc)})
    if arrays:
        import numpy as np

        probs = np.concatenate(
            [
                runtime.predict_arrays(np.stack(arrays[i : i + 32]))
                for i in range(0, len(arrays), 32)
            ]
        )
        for slot, row in zip(slots, probs, strict=True):
            results[slot]["predictions"] = [p.as_dict() for p in runtime.top_k(row, top_k)]
    return results


COMMANDS = [predict]
