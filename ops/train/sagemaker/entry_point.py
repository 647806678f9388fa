"""The SageMaker training job's entry point: the local trainer, fed by SageMaker's environment.

Packed at the root of the job's source as dogbreed_train.py (ops/train/sagemaker/recipe_job.py) and started by
the PyTorch container's sagemaker-training toolkit, once, or once per GPU under torchrun
(`torch_distributed`). It reads the contract (sagemaker_env.py), trains with `train_local`
(checkpoints in /opt/ml/checkpoints, so a spot restart resumes), and rank 0 copies the artifact
files into SM_MODEL_DIR: SageMaker tars that folder into the same model.tar.gz that `dogbreed
train` writes locally. Each epoch is also printed as one `#metrics` line on stdout, which the
job's MetricDefinitions read (METRIC_DEFINITIONS below).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from ops.errors import DogbreedError
from ops.settings import Settings
from ops.train.local.distributed import World
from ops.train.local.run import train_local
from ops.train.sagemaker.entry_env import SageMakerEnv

# the job's metrics, matched in the training log against `metrics_line` (CloudWatch + console)
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"#metrics epoch=\d+ train:loss=([0-9.eE+-]+)"},
    {"Name": "validation:loss", "Regex": r"#metrics epoch=\d+ .*validation:loss=([0-9.eE+-]+)"},
    {
        "Name": "validation:accuracy",
        "Regex": r"#metrics epoch=\d+ .*validation:accuracy=([0-9.eE+-]+)",
    },
    {"Name": "validation:top5", "Regex": r"#metrics epoch=\d+ .*validation:top5=([0-9.eE+-]+)"},
]


def metrics_line(row: dict) -> str:
    """One epoch as the line METRIC_DEFINITIONS match (accuracy as a fraction, like the built-in)."""
    return (
        f"#metrics epoch={row['epoch']} train:loss={row['train_loss']:.5f} "
        f"validation:loss={row['val_loss']:.5f} validation:accuracy={row['val_top1']:.5f} "
        f"validation:top5={row['val_top5']:.5f}"
    )


def main(environ=None) -> int:
    """Train from the SageMaker environment; rank 0 fills SM_MODEL_DIR. Returns the exit status."""
    from ops.artifact.export import ARTIFACT_FILES

    env = SageMakerEnv.from_environ(environ)
    world = World.from_environ(environ)
    code_dir = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory(prefix="dogbreed-") as tmp:
        work = Path(tmp)
        try:
            prepared = env.prepared_folder(work / "prepared", code_dir)
            settings = Settings().with_overrides(
                {
                    **env.settings_overrides(),
                    "data.prepared_dir": str(prepared.root),
                    "local.artifacts_dir": str(work / "artifacts"),
                    "local.cache_dir": str(work / "cache"),
                }
            )

            def report(row: dict) -> None:
                if world.is_writer:
                    print(metrics_line(row), flush=True)

            record = train_local(
                settings,
                resume=True,
                callback=report,
                world=world,
                checkpoint_root=env.checkpoint_dir,
            )
        except DogbreedError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            world.close()
            return 2
        if world.is_writer:
            artifact = Path(record["artifact_dir"])
            env.model_dir.mkdir(parents=True, exist_ok=True)
            for name in ARTIFACT_FILES:
                shutil.copy2(artifact / name, env.model_dir / name)
            env.output_data_dir.mkdir(parents=True, exist_ok=True)
            (env.output_data_dir / "metrics.json").write_text(
                json.dumps(record["metrics"], indent=2) + "\n"
            )
            print(f"model artifact files written to {env.model_dir}", flush=True)
    world.barrier()
    world.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
