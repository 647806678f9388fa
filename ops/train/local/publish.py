"""The end of a training run: the artifact folder, the `latest` link, the "training" record.

Three separate steps of `train_local` (__init__.py): write_artifact exports the model
(ops/artifact/export.py), link_latest points <artifacts_dir>/latest at it, record_of_run
describes it for the state file (which the `train` command writes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.settings import Settings
from ops.train.local.loop import echo
from ops.train.local.promotion import unique_run_dir
from ops.train.record import common_fields

if TYPE_CHECKING:
    from ops.train.local.run import Run


def write_artifact(run: Run, model, metrics: dict) -> tuple[Path, Path]:
    """Export the trained model to <artifacts_dir>/<run id>/; (that folder, its model.tar.gz)."""
    from ops.artifact.export import export_artifact

    settings, built, prepared = run.settings, run.built, run.prepared
    local = settings.local
    run_id = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{built.backbone}-{local.mode}"
    out_dir = unique_run_dir(settings.resolve(local.artifacts_dir), run_id)
    echo(f"exporting the artifact to {out_dir}")
    tar = export_artifact(
        model.cpu().eval(),
        prepared.classes_path,
        built.preprocessing,
        out_dir,
        _metadata(run, metrics),
        metrics,
    )
    return out_dir, tar


def _metadata(run: Run, metrics: dict) -> dict[str, Any]:
    """metadata.json's description of the run: model, mode, settings, data, calibration."""
    settings, built = run.settings, run.built
    return {
        "backbone": built.backbone,
        "weights": built.weights.source,
        "head_init": built.head_init,
        "mode": settings.local.mode,
        "num_classes": len(run.prepared.classes()),
        "hyperparameters": settings.as_dict()["hyperparameters"],
        "recipe": run.recipe.as_dict(),
        "local": settings.as_dict()["local"],
        "prepared_dir": str(run.prepared.root),
        "fingerprint": run.fingerprint,
        "calibration_temperature": metrics["calibration"]["temperature"],
        "dog": metrics.get("dog"),
        "open_set": metrics.get("open_set"),
    }


def link_latest(out_dir: Path) -> None:
    """<artifacts_dir>/latest -> the newest run (a symlink, plus latest.txt where links fail)."""
    artifacts, run_id = out_dir.parent, out_dir.name
    link = artifacts / "latest"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(run_id, target_is_directory=True)
    except OSError:
        pass
    (artifacts / "latest.txt").write_text(run_id + "\n")


def record_of_run(settings: Settings, out_dir: Path, tar: Path, metrics: dict) -> dict:
    """The "training" record of a local run (ops/train/record.py's shape, plus its files)."""
    record_metrics = {k: v for k, v in metrics.items() if k != "history"}
    return {
        **common_fields("local", str(out_dir), None, str(out_dir / "classes.json"), record_metrics),
        "artifact_dir": str(out_dir),
        "model_tar": str(tar),
        "settings": settings.as_dict(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
