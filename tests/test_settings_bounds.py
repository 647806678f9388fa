"""No setting accepts a value outside its documented range: every bound is walked at both ends.

The expected ranges are written out here, not read back from the tables, so a change to a bound
shows in this file; the cases are parametrized from the tables, so a new bounded setting (or a
new numeric setting without a bound) fails until it is listed here too.
"""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from ops.errors import DogbreedError
from ops.hyperparameters import SPEC
from ops.settings import Settings, section_fields
from ops.settings_bounds import BOUNDS, PATHS, URLS

DAY = 86400
INF = math.inf
# "section.key" -> (low, high, low_open, high_open, special values allowed outside)
EXPECTED = {
    "data.archive_max_members": (1, 10_000_000),
    "data.archive_max_file_mb": (1, 1_048_576),
    "data.archive_max_total_mb": (1, 1_048_576),
    "local.artifact_max_members": (1, 1_000_000),
    "local.artifact_max_file_mb": (1, 1_048_576),
    "local.artifact_max_total_mb": (1, 1_048_576),
    "serve.request_deadline_s": (1, 600),
    "serve.max_connections_per_client": (1, 256),
    "deploy.lambda_model_memory_mb": (512, 10240),
    "deploy.lambda_price_gb_second": (0, 1_000_000),
    "deploy.rollout_canary_percent": (1, 50),
    "deploy.rollout_linear_step_percent": (10, 50),
    "deploy.rollout_wait_seconds": (0, 3600),
    "deploy.rollout_bake_seconds": (0, 3600),
    "deploy.rollout_max_seconds": (600, 14400),
    "deploy.drift_no_dog_margin": (0, 1, True, False),
    "deploy.drift_top1_margin": (0, 1, True, False),
    "deploy.drift_min_images": (1, 1_000_000),
    "deploy.drift_period_seconds": (60, 86400),
    "aws.instance_count": (1, 100),
    "aws.volume_size_gb": (1, 16384),
    "aws.max_run_seconds": (1, 28 * DAY),
    "aws.max_wait_seconds": (1, 28 * DAY),
    "aws.upload_concurrency": (1, 256),
    "aws.poll_seconds": (0, 3600),
    "data.val_fraction": (0, 1, True, True),
    "data.seed": (0, 2**32 - 1),
    "data.phash_max_distance": (0, 64),
    "data.num_classes": (0, 100_000),
    "data.workers": (1, 256),
    "tuning.max_jobs": (1, 750),
    "tuning.max_parallel_jobs": (1, 100),
    "local.partial_blocks": (1, 64),
    "local.num_workers": (0, 256),
    "local.threads": (0, 1024),
    "local.max_epochs": (1, 100_000),
    "local.learning_rate": (0, 10, True),
    "local.input_size": (16, 4096, False, False, (0,)),
    "local.calibration_fraction": (0, 1, True, True),
    "local.extract_batch_size": (1, 4096),
    "serve.port": (0, 65535),
    "serve.api_port": (0, 65535),
    "serve.max_batch_size": (0, 1024),
    "serve.max_batch_delay_ms": (0, 60_000),
    "serve.max_image_bytes": (1024, 256 * 1024 * 1024),
    "deploy.serverless_memory_mb": (1024, 6144, False, False, (0,)),
    "deploy.serverless_max_concurrency": (1, 200),
    "deploy.throttle_rate_limit": (0, 10_000, True),
    "deploy.throttle_burst_limit": (1, 5000),
    "deploy.dog_min_top_probability": (0, 1),
    "deploy.autoscaling_min_capacity": (1, 100),
    "deploy.autoscaling_max_capacity": (1, 100),
    "deploy.serverless_provisioned_concurrency": (0, 200),
    "deploy.serverless_provisioned_price_gb_hour": (0, 1_000_000),
    "deploy.alarm_price_month": (0, 1_000_000),
    "deploy.dashboard_price_month": (0, 1_000_000),
    "evaluate.batch_size": (1, 256),
    "evaluate.concurrency": (1, 256),
    "evaluate.retries": (0, 100),
    "evaluate.timeout_s": (0, DAY, True),
    "evaluate.top_k": (1, 1000),
    "evaluate.worst_classes": (0, 100_000),
    "evaluate.limit": (0, 100_000_000),
    "evaluate.transform_instance_count": (1, 100),
    "evaluate.transform_max_concurrent": (1, 1000),
}


def _types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {
        f"{s}.{f.name}": typing.get_type_hints(hints[s])[f.name]
        for s, f in section_fields()
        if s != "hyperparameters"
    }


def _step(kind: type, value: float, direction: int) -> float:
    """The next representable value of `kind` from value towards direction (+1 / -1)."""
    if kind is int:
        return int(value) + direction
    return math.nextafter(float(value), direction * INF)


def _text(kind: type, value: float) -> str:
    return str(int(value)) if kind is int else repr(float(value))


def _refused(dotted: str, text: str) -> DogbreedError:
    with pytest.raises(DogbreedError) as info:
        Settings().with_overrides({dotted: text})
    assert info.value.exit_code == 2
    return info.value


def test_every_numeric_setting_has_a_bound_and_every_bound_a_setting():
    numeric = {k for k, t in _types().items() if t in (int, float)}
    assert numeric == set(BOUNDS), (
        "list the range of each numeric setting in ops/settings_bounds.py"
    )
    assert set(EXPECTED) == set(BOUNDS)


@pytest.mark.parametrize("dotted", sorted(BOUNDS))
def test_a_setting_is_accepted_at_its_ends_and_refused_just_past_them(dotted):
    given = EXPECTED[dotted]
    low, high, low_open, high_open, also = (*given, *(False, False, ())[len(given) - 2 :])
    bound = BOUNDS[dotted]
    assert (bound.low, bound.high, bound.low_open, bound.high_open, bound.also) == (
        low,
        high,
        low_open,
        high_open,
        also,
    )
    kind = _types()[dotted]
    section, key = dotted.split(".")
    for end, direction, is_open in ((low, -1, low_open), (high, +1, high_open)):
        inside = _step(kind, end, -direction) if is_open else end
        ok = Settings().with_overrides({dotted: _text(kind, inside)})
        assert getattr(getattr(ok, section), key) == inside
        outside = end if is_open else _step(kind, end, direction)
        if outside in also:
            continue
        error = _refused(dotted, _text(kind, outside))
        assert f"{dotted} must be in {bound.describe()}" in error.message
    for special in also:
        assert (
            getattr(getattr(Settings().with_overrides({dotted: str(special)}), section), key) == 0
        )


@pytest.mark.parametrize("dotted", sorted(k for k, t in _types().items() if t is float))
@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_no_float_setting_accepts_nan_or_infinity(dotted, text):
    assert dotted in _refused(dotted, text).message


def test_the_ranges_named_in_the_issue_are_refused_with_the_range():
    cases = {
        "serve.port": ("99999", "[0, 65535]"),
        "serve.max_batch_size": ("-3", "[0, 1024]"),
        "serve.max_image_bytes": ("-1", "[1024, 268435456]"),
        "evaluate.concurrency": ("0", "[1, 256]"),
        "local.learning_rate": ("-1.0", "(0, 10]"),
        "local.threads": ("-1", "[0, 1024]"),
        "data.workers": ("-2", "[1, 256]"),
    }
    for dotted, (text, shown) in cases.items():
        assert _refused(dotted, text).message == f"{dotted} must be in {shown}, not {text}"


@pytest.mark.parametrize("dotted", sorted(PATHS))
def test_a_path_setting_refuses_control_characters_and_overlong_paths(dotted):
    assert "control character" in _refused(dotted, "data\x00/x").message
    assert "at most 4096" in _refused(dotted, "a/" * 2100).message
    if PATHS[dotted]:
        assert "must not be empty" in _refused(dotted, " ").message


@pytest.mark.parametrize("dotted", URLS)
@pytest.mark.parametrize(
    "text", ["garbage", "ftp://host/x", "http://", "http://host:99999/", "http://a b/"]
)
def test_a_url_setting_must_be_http_or_https(dotted, text):
    assert "must be an http:// or https:// URL" in _refused(dotted, text).message
    ok = Settings().with_overrides({dotted: "https://api.example.com:8443/classify"})
    assert ok.as_dict()[dotted.split(".")[0]][dotted.split(".")[1]].startswith("https://")


def test_a_negative_or_non_numeric_price_is_refused():
    assert (
        "aws.instance_prices['ml.m5.xlarge']"
        in _refused("aws.instance_prices", '{"ml.m5.xlarge" = -1}').message
    )
    assert "must be a number" in _refused("deploy.endpoint_instance_prices", '{a = "x"}').message


def test_the_settings_file_is_checked_against_the_same_ranges(write_settings):
    from ops.settings import load_settings

    path = write_settings("[serve]\nport = 70000\n")
    with pytest.raises(DogbreedError, match=r"serve.port must be in \[0, 65535\], not 70000"):
        load_settings(path, environ={})
    with pytest.raises(DogbreedError, match=r"local.learning_rate must be in \(0, 10\], not nan"):
        load_settings(write_settings(""), environ={"DOGBREED_LOCAL__LEARNING_RATE": "nan"})


# --- [hyperparameters]: AWS's documented ranges (ops/hyperparameters.py) ------------------------

# name -> (low, high, low_open, optional): every bounded rule of SPEC, written out.
EXPECTED_HP = {
    "beta_1": (0.0, 1.0, False, False),
    "beta_2": (0.0, 1.0, False, False),
    "checkpoint_frequency": (0, None, True, True),
    "early_stopping_min_epochs": (0, None, True, False),
    "early_stopping_patience": (0, None, True, False),
    "early_stopping_tolerance": (0.0, 1.0, False, False),
    "epochs": (0, None, True, False),
    "eps": (0.0, 1.0, False, False),
    "gamma": (0.0, 1.0, False, False),
    "learning_rate": (0.0, 1.0, False, False),
    "lr_scheduler_factor": (0.0, 1.0, False, False),
    "mini_batch_size": (0, None, True, False),
    "momentum": (0.0, 1.0, False, False),
    "num_classes": (0, None, True, True),
    "num_training_samples": (0, None, True, True),
    "resize": (1, None, True, True),
    "top_k": (1, None, True, True),
    "weight_decay": (0.0, 1.0, False, False),
}
# Other settings a bound needs so that only the bound itself decides (cross-field rules).
CONTEXT = {
    "resize": {"hyperparameters.image_shape": "3,1,1"},
    "checkpoint_frequency": {"hyperparameters.epochs": "1"},
}
BOUNDED = sorted(n for n, r in SPEC.items() if r.low is not None)


def _hp(name: str, value: str) -> Settings:
    return Settings().with_overrides({**CONTEXT.get(name, {}), f"hyperparameters.{name}": value})


def _hp_refused(name: str, value: str) -> str:
    with pytest.raises(DogbreedError) as info:
        _hp(name, value)
    assert info.value.exit_code == 2 and "IC-Hyperparameter" in info.value.message
    return info.value.message


def test_every_bounded_hyperparameter_is_listed_here():
    assert set(BOUNDED) == set(EXPECTED_HP)


@pytest.mark.parametrize("name", BOUNDED)
def test_a_hyperparameter_is_accepted_at_its_ends_and_refused_past_them(name):
    rule = SPEC[name]
    low, high, low_open, optional = EXPECTED_HP[name]
    assert (rule.low, rule.high, rule.low_open, rule.optional) == (low, high, low_open, optional)
    kind = rule.kind
    message = f"hyperparameters.{name} must be {rule.describe()}"
    first_ok = _step(kind, low, +1) if low_open else low
    assert getattr(_hp(name, _text(kind, first_ok)).hyperparameters, name) == first_ok
    below = low if low_open else _step(kind, low, -1)
    if optional and below == 0:
        assert getattr(_hp(name, "0").hyperparameters, name) == 0  # 0 = not sent
        below = -1
    assert message in _hp_refused(name, _text(kind, below))
    if high is None:
        assert message in _hp_refused(name, "inf" if kind is float else str(10**400))
        return
    assert getattr(_hp(name, _text(kind, high)).hyperparameters, name) == high
    assert message in _hp_refused(name, _text(kind, _step(kind, high, +1)))
    assert message in _hp_refused(name, "nan")


def test_the_hyperparameters_table_matches_the_dataclass():
    names = {f.name for f in dataclasses.fields(Settings().hyperparameters)}
    assert set(SPEC) <= names
