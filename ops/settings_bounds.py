"""The allowed range of every numeric, path and URL setting, checked on load and after every override.

One table (`BOUNDS`), next to the sections of ops/settings_sections.py, so docs/settings.md shows
each range (tools/settings_docs.py) and tests/test_settings_bounds.py walks every bound at both
ends. The [hyperparameters] ranges are AWS's (ops/hyperparameters.py). A value outside its range
is a usage error naming the setting and the range: a port of 99999 or a learning rate of NaN
would otherwise start a command that can never work, or crash it with a traceback.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from urllib.parse import urlsplit

from ops.errors import DogbreedError

PATH_MAX = 4096  # Linux's PATH_MAX: a longer path cannot be opened anyway


@dataclass(frozen=True)
class Bound:
    """A closed (or open, with low_open/high_open) numeric range, plus special values (0 = auto)."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    also: tuple[float, ...] = ()  # values allowed outside the range, e.g. 0 = "auto"

    def allows(self, value: float) -> bool:
        if isinstance(value, bool) or abs(value) > 1e300 or not math.isfinite(value):
            return False
        if value in self.also:
            return True
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        text = f"{left}{number(self.low)}, {number(self.high)}{right}"
        if self.also:
            text += " or " + " or ".join(number(a) for a in self.also)
        return text


def number(value: float) -> str:
    """65535, 268435456, 0.5, 1e-08: whole numbers in full, others as short as they read."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


HOUR, DAY = 3600, 86400
PORT = Bound(0, 65535)  # 0 = any free port
COUNT = Bound(1, 1000)
PRICE = Bound(0, 1_000_000)
UNIT_OPEN = Bound(0, 1, low_open=True, high_open=True)
# "section.key" -> its range. tests/test_settings_bounds.py fails for a numeric setting not listed.
BOUNDS: dict[str, Bound] = {
    "data.archive_max_members": Bound(1, 10_000_000),
    "data.archive_max_file_mb": Bound(1, 1_048_576),
    "data.archive_max_total_mb": Bound(1, 1_048_576),
    "local.artifact_max_members": Bound(1, 1_000_000),
    "local.artifact_max_file_mb": Bound(1, 1_048_576),
    "local.artifact_max_total_mb": Bound(1, 1_048_576),
    "serve.request_deadline_s": Bound(1, 600),
    "serve.max_connections_per_client": Bound(1, 256),
    "deploy.lambda_model_memory_mb": Bound(
        512, 10240
    ),  # Lambda's range; the model needs more than 128
    "deploy.lambda_price_gb_second": PRICE,
    "deploy.rollout_canary_percent": Bound(
        1, 50
    ),  # as terraform/modules/sagemaker_endpoint validates
    "deploy.rollout_linear_step_percent": Bound(10, 50),
    "deploy.rollout_wait_seconds": Bound(0, HOUR),
    "deploy.rollout_bake_seconds": Bound(0, HOUR),
    "deploy.rollout_max_seconds": Bound(600, 14400),  # the AWS provider's range
    "deploy.drift_no_dog_margin": Bound(0, 1, low_open=True),
    "deploy.drift_top1_margin": Bound(0, 1, low_open=True),
    "deploy.drift_min_images": Bound(1, 1_000_000),
    "deploy.drift_period_seconds": Bound(60, DAY),  # CloudWatch periods of whole minutes
    "aws.instance_count": Bound(1, 100),
    "aws.volume_size_gb": Bound(1, 16384),  # SageMaker VolumeSizeInGB
    "aws.max_run_seconds": Bound(1, 28 * DAY),  # SageMaker MaxRuntimeInSeconds
    "aws.max_wait_seconds": Bound(1, 28 * DAY),  # SageMaker MaxWaitTimeInSeconds
    "aws.upload_concurrency": Bound(1, 256),
    "aws.poll_seconds": Bound(0, HOUR),
    "data.val_fraction": UNIT_OPEN,
    "data.seed": Bound(0, 2**32 - 1),  # numpy's seed range
    "data.phash_max_distance": Bound(0, 64),  # a 64-bit perceptual hash
    "data.num_classes": Bound(0, 100_000),  # 0 = all
    "data.workers": Bound(1, 256),
    "tuning.max_jobs": Bound(1, 750),  # SageMaker MaxNumberOfTrainingJobs
    "tuning.max_parallel_jobs": Bound(1, 100),  # SageMaker MaxParallelTrainingJobs
    "local.partial_blocks": Bound(1, 64),
    "local.num_workers": Bound(0, 256),
    "local.threads": Bound(0, 1024),  # 0 = all cores
    "local.max_epochs": Bound(1, 100_000),
    "local.learning_rate": Bound(0, 10, low_open=True),
    "local.input_size": Bound(16, 4096, also=(0,)),  # 0 = the weights' size
    "local.calibration_fraction": UNIT_OPEN,
    "local.extract_batch_size": Bound(1, 4096),
    "serve.port": PORT,
    "serve.api_port": PORT,
    "serve.max_batch_size": Bound(0, 1024),  # 0 = auto
    "serve.max_batch_delay_ms": Bound(0, 60_000),
    "serve.max_image_bytes": Bound(1024, 256 * 1024 * 1024),
    "deploy.serverless_memory_mb": Bound(1024, 6144, also=(0,)),  # AWS: 1024-6144; 0 = chosen
    "deploy.serverless_max_concurrency": Bound(1, 200),  # AWS's MaxConcurrency
    "deploy.throttle_rate_limit": Bound(0, 10_000, low_open=True),
    "deploy.throttle_burst_limit": Bound(1, 5000),
    "deploy.dog_min_top_probability": Bound(0, 1),
    "deploy.autoscaling_min_capacity": Bound(1, 100),
    "deploy.autoscaling_max_capacity": Bound(1, 100),
    "deploy.serverless_provisioned_concurrency": Bound(0, 200),
    "deploy.serverless_provisioned_price_gb_hour": PRICE,
    "deploy.alarm_price_month": PRICE,
    "deploy.dashboard_price_month": PRICE,
    "evaluate.batch_size": Bound(1, 256),
    "evaluate.concurrency": Bound(1, 256),
    "evaluate.retries": Bound(0, 100),
    "evaluate.timeout_s": Bound(0, DAY, low_open=True),
    "evaluate.top_k": Bound(1, 1000),
    "evaluate.worst_classes": Bound(0, 100_000),
    "evaluate.limit": Bound(0, 100_000_000),  # 0 = all
    "evaluate.transform_instance_count": Bound(1, 100),
    "evaluate.transform_max_concurrent": COUNT,
}
# Path settings: at most PATH_MAX characters, no NUL or other control character; required ones
# must not be empty (empty = "not set" for the others).
PATHS: dict[str, bool] = {
    "data.raw_dir": True,
    "data.prepared_dir": True,
    "data.merge": False,
    "data.exclude": False,
    "local.artifacts_dir": True,
    "local.cache_dir": True,
    "local.weights": True,  # "auto", "none" or a .pth path
    "deploy.terraform_dir": True,
    "evaluate.reports_dir": True,
}
URLS = ("aws.endpoint_url", "evaluate.url")  # empty, or an http(s) URL with a host


def _usage(message: str) -> DogbreedError:
    return DogbreedError(message, exit_code=2)


def check_number(where: str, value: float) -> None:
    """A numeric setting against its range (a bound-less one must still be finite)."""
    bound = BOUNDS.get(where)
    if bound is None:
        if isinstance(value, float) and not math.isfinite(value):
            raise _usage(f"{where} must be a finite number, not {value!r}")
        return
    if not bound.allows(value):
        raise _usage(f"{where} must be in {bound.describe()}, not {value!r}")


def check_path(where: str, value: str, required: bool) -> None:
    """A path setting: not empty when required, not absurdly long, no control characters."""
    if required and not value.strip():
        raise _usage(f"{where} must not be empty")
    if len(value) > PATH_MAX:
        raise _usage(f"{where} is {len(value)} characters long (at most {PATH_MAX})")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _usage(f"{where} contains a control character: {value!r}")


def check_url(where: str, value: str) -> None:
    """An http(s) URL with a host, or empty."""
    if value and not is_http_url(value):
        raise _usage(f"{where} must be an http:// or https:// URL, not {value!r}")


def is_http_url(value: str) -> bool:
    """True for http(s)://host[:port][/path] with a valid port."""
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return False
    clean = not any(ord(c) <= 32 or ord(c) == 127 for c in value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok and clean


def check_prices(where: str, value: dict) -> None:
    """A price table: every price a finite number in PRICE's range."""
    for name, price in value.items():
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise _usage(f"{where}[{name!r}] must be a number, not {price!r}")
        if not PRICE.allows(price):
            raise _usage(f"{where}[{name!r}] must be in {PRICE.describe()}, not {price!r}")


def describe(where: str) -> str:
    """The allowed values of a setting in words, for docs/settings.md ("" when unbounded)."""
    if where in BOUNDS:
        return f"in {BOUNDS[where].describe()}"
    if where in PATHS:
        required = "" if PATHS[where] else "empty or "
        return f"{required}a path of at most {PATH_MAX} characters, no control characters"
    if where in URLS:
        return "empty or an http(s) URL"
    return ""


def check_bounds(sections) -> None:
    """Every bounded setting of (name, section object) pairs; [hyperparameters] has its own."""
    for section, obj in sections:
        for key, typ in typing.get_type_hints(type(obj)).items():
            where, value = f"{section}.{key}", getattr(obj, key)
            if typ in (int, float) and not isinstance(value, bool):
                check_number(where, value)
            elif where in PATHS:
                check_path(where, value, PATHS[where])
            elif where in URLS:
                check_url(where, value)
            elif typing.get_args(typ) == (str, float):
                check_prices(where, value)
