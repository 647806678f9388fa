"""SageMaker's training-container contract, read in one place: channels, model dir, hyperparameters.

What a SageMaker training container gives a script (the sagemaker-training toolkit sets these
before it starts the entry point; https://github.com/aws/sagemaker-training-toolkit
ENVIRONMENT_VARIABLES.md):

    SM_CHANNEL_<NAME>     /opt/ml/input/data/<name>: one folder per InputDataConfig channel
    SM_MODEL_DIR          /opt/ml/model: its contents become s3://.../output/model.tar.gz
    SM_OUTPUT_DATA_DIR    /opt/ml/output/data: uploaded as output.tar.gz
    SM_HPS                the hyperparameters as JSON (else /opt/ml/input/config/hyperparameters.json)
    SM_NUM_GPUS           GPUs on this host
    SM_HOSTS, SM_CURRENT_HOST   the cluster (a JSON list) and this host's name
    /opt/ml/checkpoints   CheckpointConfig.LocalPath: synced with S3, restored after a spot interruption

The trainer takes its settings from hyperparameters named like `--set` flags ("local.mode",
"hyperparameters.epochs"); `sagemaker_*` keys belong to the toolkit. Nothing else differs between a
local run and a SageMaker one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.data.manifest import CHANNELS, PreparedData
from ops.errors import DogbreedError

DEFAULT_BASE_DIR = "/opt/ml"
# packed with the source (ops/train/sagemaker/recipe_job.pack_source): `data upload` sends only the four
# channels, and the trainer needs the class names and wnids that label the .lst files
PACKED_PREPARED = "prepared"


def _parse_value(raw: Any) -> Any:
    """The SDK JSON-encodes every hyperparameter value ('"abc"', '3'); plain strings stay strings."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass(frozen=True)
class SageMakerEnv:
    """The paths and cluster facts a SageMaker training container hands the entry point."""

    channels: dict[str, Path]
    model_dir: Path
    output_data_dir: Path
    hyperparameters: dict[str, Any]
    num_gpus: int
    hosts: list[str]
    current_host: str
    checkpoint_dir: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SageMakerEnv:
        """Read the contract from the environment (SAGEMAKER_BASE_DIR moves /opt/ml, as in the toolkit)."""
        environ = os.environ if environ is None else environ
        base = Path(environ.get("SAGEMAKER_BASE_DIR", DEFAULT_BASE_DIR))
        channels = {
            name[len("SM_CHANNEL_") :].lower(): Path(value)
            for name, value in environ.items()
            if name.startswith("SM_CHANNEL_")
        }
        if "SM_HPS" in environ:
            hps = json.loads(environ["SM_HPS"])
        else:
            path = base / "input" / "config" / "hyperparameters.json"
            hps = json.loads(path.read_text()) if path.is_file() else {}
        hosts = json.loads(environ.get("SM_HOSTS", '["algo-1"]'))
        return cls(
            channels=channels,
            model_dir=Path(environ.get("SM_MODEL_DIR", base / "model")),
            output_data_dir=Path(environ.get("SM_OUTPUT_DATA_DIR", base / "output" / "data")),
            hyperparameters={k: _parse_value(v) for k, v in hps.items()},
            num_gpus=int(environ.get("SM_NUM_GPUS", "0") or 0),
            hosts=list(hosts),
            current_host=environ.get("SM_CURRENT_HOST", hosts[0] if hosts else "algo-1"),
            checkpoint_dir=base / "checkpoints",
        )

    def settings_overrides(self) -> dict[str, Any]:
        """The hyperparameters that are settings ("section.key"); the toolkit's own are left out."""
        return {
            key: value
            for key, value in self.hyperparameters.items()
            if "." in key and not key.startswith("sagemaker_")
        }

    def prepared_folder(self, dest: Path, code_dir: Path) -> PreparedData:
        """A prepared-data folder made of links to the four channels plus the packed classes/info."""
        missing = [c for c in CHANNELS if c not in self.channels]
        if missing:
            raise DogbreedError(f"the training job has no channel(s) {', '.join(missing)}")
        dest.mkdir(parents=True, exist_ok=True)
        for channel in CHANNELS:
            link = dest / channel
            if not link.exists():
                link.symlink_to(self.channels[channel], target_is_directory=True)
        for name in ("classes.json", "info.json"):
            source = _first_file(
                self.channels["train_lst"] / name, code_dir / PACKED_PREPARED / name
            )
            if source is None:
                raise DogbreedError(f"{name} is neither in the train_lst channel nor packed")
            (dest / name).write_bytes(source.read_bytes())
        return PreparedData(dest).check()


def _first_file(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)
