"""`dogbreed import-model`'s work: a built-in algorithm model -> a normal dogbreed artifact.

The artifact is the local trainer's format (ops/artifact/export.py), so serve, predict, evaluate
--local, deploy and the report take it without asking who trained it:

    model.onnx          MXNet's own ONNX export, input "input" [N,3,S,S], output "probabilities"
                        (the algorithm's softmax), checked against MXNet's forward pass to 1e-4
    preprocessing.json  the algorithm's input: RGB, raw 0-255 (mean 0, std 1/255), shorter side to
                        S and the centre square; its normalisation is the graph's bn_data layer
    classes.json        the given / recorded / prepared classes.json, checked against the graph
    metadata.json       source (job, model.tar.gz, epoch, their sha256s), the conversion check,
                        "dog": the top-probability threshold chosen on training images
    metrics.json        validation top-1/top-5 when prepared data is at hand
    model.tar.gz        the files above (deterministic)
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.model.preprocess import BadImageError, Preprocessing, preprocess_bytes
from ops.settings import Settings
from ops.train.sagemaker.import_model import (
    check_equivalence,
    convert,
    extract_builtin,
    read_builtin,
)

ALGORITHM = "sagemaker-image-classification"
GENERATED_IMAGES = 6  # synthetic photos in every equivalence check (with or without data)
DATA_IMAGES = 4  # plus this many prepared training images when there are some


def builtin_preprocessing(size: int, report: dict[str, Any]) -> Preprocessing:
    """The algorithm's input handling: RGB, raw 0-255, S x S; bn_data normalises in the graph."""
    bn = report.get("bn_data") or {}
    return Preprocessing(
        input_size=size,
        crop_pct=1.0,
        interpolation="bilinear",
        mean=(0.0, 0.0, 0.0),
        std=(1 / 255, 1 / 255, 1 / 255),
        extra={
            "producer": ALGORITHM,
            "value_range": "0-255 raw RGB (mean 0, std 1/255 leaves the pixels as they are)",
            "normalisation": "inside the graph: bn_data, a BatchNorm on the raw pixels",
            "bn_data_mean": [round(v, 4) for v in bn.get("moving_mean", [])],
            "bn_data_std": [round(float(np.sqrt(v)), 4) for v in bn.get("moving_var", [])],
        },
    )


def generated_jpegs(count: int = GENERATED_IMAGES, seed: int = 0) -> list[bytes]:
    """Seeded synthetic photos (gradients and shapes, varied sizes) for the equivalence check."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        w, h = int(rng.integers(180, 420)), int(rng.integers(180, 420))
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        base = (ramp * rng.uniform(0.2, 1, 3) + rng.uniform(0, 120, 3)) % 256
        img = Image.fromarray(np.broadcast_to(base, (h, w, 3)).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(4 + i):
            x, y = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.ellipse((x, y, x + int(rng.integers(10, 120)), y + int(rng.integers(10, 120))),
                         fill=colour)  # fmt: skip
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def _sample(items: list, limit: int) -> list:
    """At most `limit` items, evenly spaced (deterministic)."""
    if len(items) <= limit:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, limit)]


def equivalence_images(prep: Preprocessing, prepared: PreparedData | None) -> np.ndarray:
    """float32 [N,3,S,S]: the generated photos and a few training images, preprocessed."""
    blobs = generated_jpegs()
    if prepared is not None:
        blobs += [p.read_bytes() for p, _ in _sample(prepared.image_paths("train"), DATA_IMAGES)]
    return np.stack([preprocess_bytes(b, prep) for b in blobs])


def _probabilities(
    onnx_path: Path, prep: Preprocessing, paths: list[Path]
) -> tuple[np.ndarray, list[int]]:
    """[N,C] probabilities of the readable images among `paths`, and their positions: the
    graph in ONNX Runtime with the artifact's preprocessing, as the serving runtime runs it
    (that runtime is a later stage than training, so the import does not load it)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    arrays, kept = [], []
    for i, path in enumerate(paths):
        try:
            arrays.append(preprocess_bytes(Path(path).read_bytes(), prep))
            kept.append(i)
        except (OSError, BadImageError):
            continue
    classes = session.get_outputs()[0].shape[-1]
    rows = [np.zeros((0, classes), np.float32)] + [
        session.run(["probabilities"], {"input": np.stack(arrays[i : i + 32])})[0]
        for i in range(0, len(arrays), 32)
    ]
    return np.concatenate(rows), kept


def dog_record(
    onnx_path: Path, prep: Preprocessing, prepared: PreparedData | None, max_images: int
) -> dict[str, Any]:
    """metadata.json's "dog": the top-probability threshold chosen on training images by the
    local model's rule (ops/model/dogness.py); 0 (accept every image) without prepared data."""
    from ops.model.dogness import SIGNAL_TOP_PROBABILITY, thresholds_record

    if prepared is None:
        none = "no images: every image counts as a dog (pass --data to choose a threshold)"
        return {**thresholds_record(SIGNAL_TOP_PROBABILITY, None, []), "chosen_on": none}
    paths = [p for p, _ in _sample(prepared.image_paths("train"), max_images)]
    probs, _ = _probabilities(onnx_path, prep, paths)
    note = f"{len(probs)} training images (the algorithm trained on them)"
    return thresholds_record(
        SIGNAL_TOP_PROBABILITY, None, probs.max(axis=1), top_probability_chosen_on=note
    )


def validation_metrics(
    onnx_path: Path, prep: Preprocessing, prepared: PreparedData, max_images: int, threshold: float
) -> dict[str, Any]:
    """Top-1/top-5 and the dogs refused at the threshold, on (a sample of) the validation split."""
    from ops.model.ranking import top_k_accuracy

    items = _sample(prepared.image_paths("validation"), max_images)
    probs, kept = _probabilities(onnx_path, prep, [p for p, _ in items])
    labels = np.asarray([items[i][1] for i in kept])
    if not len(labels):
        return {"validation_images": 0}
    return {
        "validation_images": int(len(labels)),
        "validation_top1": top_k_accuracy(probs, labels, 1),
        "validation_top5": top_k_accuracy(probs, labels, 5),
        "validation_false_refusal": float((probs.max(axis=1) < threshold).mean()),
    }


def _staging(out_dir: Path) -> Path:
    """A fresh sibling folder to write into; `out_dir` is replaced only when all is written."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "model.onnx").is_file():
        raise DogbreedError(
            f"{out_dir} is not empty and not a model artifact: not overwriting it", exit_code=2
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    stage.chmod(0o755)  # mkdtemp's 0700 would make the artifact private to its writer
    return stage


def write_artifact(
    out_dir: Path, conversion: dict[str, Any], classes: Path, meta: dict[str, Any], data, limit
) -> dict[str, Any]:
    """Write the artifact (see the module docstring) and return its metadata."""
    from ops.artifact.export import sha256_file, write_tar

    stage = _staging(out_dir)
    try:
        shutil.copyfile(conversion["onnx"], stage / "model.onnx")
        shutil.copyfile(classes, stage / "classes.json")
        conversion["preprocessing"].save(stage / "preprocessing.json")
        onnx, prep = stage / "model.onnx", conversion["preprocessing"]
        meta["dog"] = dog_record(onnx, prep, data, limit)
        threshold = meta["dog"]["top_probability_threshold"]
        metrics = validation_metrics(onnx, prep, data, limit, threshold) if data else {}
        meta["metrics"] = metrics
        (stage / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        names = ("model.onnx", "preprocessing.json", "classes.json", "metrics.json")
        meta["sha256"] = {name: sha256_file(stage / name) for name in names}
        (stage / "metadata.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        write_tar(stage, (*names, "metadata.json"))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        stage.rename(out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return meta


def import_builtin(
    settings: Settings,
    source: dict[str, Any],
    out_dir: Path,
    classes: Path,
    data: PreparedData | None,
    max_images: int = 500,
) -> dict[str, Any]:
    """Convert `source["tar"]` (a local model.tar.gz) into the artifact at `out_dir`; returns its
    metadata. Long because it is the recipe, one step a line; each step is a function above."""
    from ops.artifact.export import sha256_file
    from ops.artifact.reader import load_classes_file

    with tempfile.TemporaryDirectory(prefix="dogbreed-import-") as tmp:
        model = read_builtin(extract_builtin(Path(source["tar"]), Path(tmp) / "model"))
        names = load_classes_file(classes)
        if len(names) != model.num_classes:
            raise DogbreedError(
                f"the model has {model.num_classes} classes but {classes} lists {len(names)}",
                hint="pass the classes.json the job was trained with (--classes FILE)",
            )
        prep = builtin_preprocessing(model.height, {})
        images = equivalence_images(prep, data)
        started = time.perf_counter()
        conversion = convert(model, images, Path(tmp) / "convert")
        seconds = time.perf_counter() - started
        diff = check_equivalence(conversion["onnx"], images, conversion["mxnet_outputs"])
        if conversion.get("num_classes") != model.num_classes:
            raise DogbreedError(
                f"the params hold {conversion.get('num_classes')} classes, the "
                f"symbol {model.num_classes}: the files do not belong together"
            )
        conversion["preprocessing"] = builtin_preprocessing(model.height, conversion)
        meta = {
            "backbone": f"{ALGORITHM} (MXNet ResNet)",
            "num_classes": model.num_classes,
            "input_size": model.height,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {
                **{k: v for k, v in source.items() if k != "tar"},
                "algorithm": ALGORITHM,
                "epoch": model.epoch,
                "model_tar_sha256": sha256_file(Path(source["tar"])),
                "params_sha256": sha256_file(model.params),
                "symbol_sha256": sha256_file(model.folder / "image-classification-symbol.json"),
            },
            "conversion": {
                "exporter": "mx.onnx.export_model",
                "mxnet_version": conversion.get("mxnet_version"),
                "onnx_version": conversion.get("onnx_version"),
                "first_layers": conversion.get("first_layers"),
                "seconds": round(seconds, 2),
                "checked_images": int(len(images)),
            },
            "onnx_max_abs_diff": diff,
        }
        return write_artifact(out_dir, conversion, classes, meta, data, max_images)
