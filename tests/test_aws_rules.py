"""The AWS rules moto does not check (docs/aws-rules.md): for each, the defaults satisfy it and a
violating setting is refused with its message, before any AWS call.

Terraform rules run the real `terraform plan` of the root configuration (or of one module) with
the variables `dogbreed deploy` passes; settings rules run the real settings loader and the job
request builders.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from ops.deploy.serving_stack import terraform_variables
from ops.errors import DogbreedError
from ops.settings import Settings, load_settings
from ops.train.sagemaker.builtin_job import training_job_request
from ops.train.sagemaker.job_request import check_job_rules
from ops.train.sagemaker.tuning import parameter_ranges, tuning_job_request
from tests.conftest import REPO_ROOT
from tests.terraform_plans import TERRAFORM, Plan, Refusals

MODEL = "s3://dogbreed-models/training-output/job-1/output/model.tar.gz"
IMAGE = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
ROLE = "arn:aws:iam::123456789012:role/dogbreed-sagemaker-inference"
INFO = {  # what `dogbreed data prepare` writes for Stanford Dogs-like images
    "num_classes": 3,
    "num_training_samples": 24,
    "image_size": {"width": {"min": 97}, "height": {"min": 100}},
}
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")


# --- terraform plans (tests/terraform_plans.py: one plan per distinct set of variables) ---------
# root_plan and lambda_zip are session fixtures there, shared with test_terraform_cors.py.

# Independent violations of the root configuration, planned together: one refused plan per batch
# instead of one per case (16 plans -> 4, with the CORS origins of test_terraform_cors.py). Every
# case below is in exactly one batch, and its test asserts its own rule's message; a value that
# needs a default elsewhere gets its own batch.
ROOT_VIOLATIONS = [
    {  # variable validations (root and module inputs) all report together
        "serverless_memory_mb": 1500,
        "serverless_max_concurrency": 201,
        "project": "a" * 30,
        "lambda_timeout": 29,
        "max_payload_bytes": 10_000_000,
        "cors_allowed_origins": ["https://dogs.example.org/"],
    },
    {
        "serverless_memory_mb": 512,
        "serverless_max_concurrency": 0,
        "lambda_timeout": 60,
        "cors_allowed_origins": ["https://x.org/page"],
    },
    # the model's precondition: the model does not read the memory size or the origins
    {
        "serverless_memory_mb": 8192,
        "endpoint_network_isolation": True,
        "cors_allowed_origins": ["dogs.org"],
    },
    # the Lambda's preconditions, each on its own variable, the rest at their defaults
    {
        "api_integration_timeout_ms": 10000,
        "lambda_reserved_concurrency": 3,
        "max_image_bytes": 5_000_000,
    },
]


@pytest.fixture
def root_refused(root_plan, deploy_vars) -> Refusals:
    """The error text of the root plan that holds a violation (ROOT_VIOLATIONS)."""
    return Refusals(root_plan, deploy_vars, ROOT_VIOLATIONS)


@pytest.fixture
def deploy_vars(moto_server, lambda_zip):
    """The variables `dogbreed deploy` passes with the default settings, against moto server."""

    def make(**overrides) -> dict:
        settings = Settings()
        settings.aws.endpoint_url = moto_server
        return {**terraform_variables(settings, MODEL, IMAGE, lambda_zip), **overrides}

    return make


@pytest.fixture(scope="module")
def endpoint_module(tmp_path_factory) -> Plan:
    """modules/sagemaker_endpoint alone, with every input a variable (no AWS call in its plan)."""
    dest = tmp_path_factory.mktemp("endpoint")
    source = REPO_ROOT / "terraform" / "modules" / "sagemaker_endpoint"
    (dest / "main.tf").write_text(
        f"""
provider "aws" {{
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}}
variable "role" {{ type = string }}
variable "mode" {{ type = string }}
variable "vpc_config" {{
  type    = object({{ subnet_ids = list(string), security_group_ids = list(string) }})
  default = null
}}
variable "data_capture_s3_uri" {{
  type    = string
  default = null
}}
module "endpoint" {{
  source              = "{source}"
  name                = "dogbreed-classifier"
  image_uri           = "{IMAGE}"
  model_data_url      = "{MODEL}"
  execution_role_arn  = var.role
  mode                = var.mode
  vpc_config          = var.vpc_config
  data_capture_s3_uri = var.data_capture_s3_uri
}}
"""
    )
    return Plan(dest)


MODEL_ADDR = "module.endpoint[0].aws_sagemaker_model.this"
LAMBDA_ADDR = "module.lambda[0].aws_lambda_function.this"


# --- serverless endpoint: memory, concurrency, feature exclusions ---------------------------------


@pytest.mark.terraform
@needs_terraform
def test_serverless_default_has_valid_memory_concurrency_and_no_isolation(root_plan, deploy_vars):
    after = root_plan.after(deploy_vars())
    config = after["module.endpoint[0].aws_sagemaker_endpoint_configuration.this"]
    serverless = config["production_variants"][0]["serverless_config"][0]
    assert (serverless["memory_size_in_mb"], serverless["max_concurrency"]) == (3072, 5)
    assert after[MODEL_ADDR]["enable_network_isolation"] is False
    # the Lambda's fan-out and reserved concurrency follow the endpoint's concurrency
    fn = after[LAMBDA_ADDR]
    env = fn["environment"][0]["variables"]
    assert env["MAX_CONCURRENCY"] == "5" and fn["reserved_concurrent_executions"] == 1
    assert env["ANSWER_WITHIN_MS"] == "29000" and fn["timeout"] == 28


@pytest.mark.terraform
@needs_terraform
def test_instance_mode_isolates_the_model_by_default(root_plan, deploy_vars):
    after = root_plan.after(deploy_vars(endpoint_mode="instance"))
    assert after[MODEL_ADDR]["enable_network_isolation"] is True
    assert after[LAMBDA_ADDR]["reserved_concurrent_executions"] == 10


@pytest.mark.terraform
@needs_terraform
@pytest.mark.parametrize("memory", [1500, 512, 8192])
def test_serverless_memory_outside_1024_to_6144_in_1gb_steps_is_refused(root_refused, memory):
    error = root_refused(serverless_memory_mb=memory)
    assert "serverless_memory_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144" in error


@pytest.mark.terraform
@needs_terraform
@pytest.mark.parametrize("concurrency", [0, 201])
def test_serverless_max_concurrency_outside_1_to_200_is_refused(root_refused, concurrency):
    error = root_refused(serverless_max_concurrency=concurrency)
    assert "serverless_max_concurrency must be between 1 and 200" in error


@pytest.mark.terraform
@needs_terraform
def test_network_isolation_on_serverless_is_refused(root_refused):
    error = root_refused(endpoint_network_isolation=True)
    assert "Serverless endpoints do not support network isolation" in error


@pytest.mark.terraform
@needs_terraform
def test_vpc_and_data_capture_are_allowed_in_instance_mode(endpoint_module):
    vpc = {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"]}
    after = endpoint_module.after(
        {"role": ROLE, "mode": "instance", "vpc_config": vpc, "data_capture_s3_uri": "s3://b/c"}
    )
    assert after["module.endpoint.aws_sagemaker_model.this"]["vpc_config"][0]["subnets"] == [
        "subnet-1"
    ]


@pytest.mark.terraform
@needs_terraform
def test_vpc_on_serverless_is_refused(endpoint_module):
    vpc = {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"]}
    error = endpoint_module.refused({"role": ROLE, "mode": "serverless", "vpc_config": vpc})
    assert "Serverless endpoints do not support a VPC configuration" in error


@pytest.mark.terraform
@needs_terraform
def test_data_capture_on_serverless_is_refused(endpoint_module):
    error = endpoint_module.refused(
        {"role": ROLE, "mode": "serverless", "data_capture_s3_uri": "s3://bucket/capture"}
    )
    assert "Serverless endpoints do not support data capture" in error


@pytest.mark.terraform
@needs_terraform
def test_a_model_replaced_for_its_role_gets_a_new_name(endpoint_module):
    first = endpoint_module.after({"role": ROLE, "mode": "serverless"})
    second = endpoint_module.after({"role": ROLE + "-v2", "mode": "serverless"})
    name = "module.endpoint.aws_sagemaker_model.this"
    assert first[name]["name"] != second[name]["name"]
    assert first[name]["name"].startswith("dogbreed-classifier-")
    assert len(first[name]["name"]) <= 63


# --- names, the Lambda against API Gateway, payloads ------------------------------------------------


@pytest.mark.terraform
@needs_terraform
def test_default_names_fit_and_a_long_project_name_is_refused(root_plan, deploy_vars, root_refused):
    after = root_plan.after(deploy_vars())
    assert len(after["module.endpoint[0].aws_sagemaker_endpoint.this"]["name"]) <= 36
    assert len(after[LAMBDA_ADDR]["function_name"]) <= 64
    error = root_refused(project="a" * 30)
    assert "project must be 1-21 lowercase letters" in error


@pytest.mark.terraform
@needs_terraform
@pytest.mark.parametrize("timeout", [29, 60])
def test_lambda_timeout_not_below_api_gateways_29_s_is_refused(root_refused, timeout):
    error = root_refused(lambda_timeout=timeout)
    assert "lambda_timeout must be 1-28 s" in error


@pytest.mark.terraform
@needs_terraform
def test_lambda_timeout_must_be_below_a_shorter_integration_timeout(root_refused):
    error = root_refused(api_integration_timeout_ms=10000)
    assert "must be below API Gateway's integration timeout (10000 ms)" in error


@pytest.mark.terraform
@needs_terraform
def test_fan_out_above_the_endpoints_concurrency_is_refused(root_refused):
    error = root_refused(lambda_reserved_concurrency=3)
    assert "above the endpoint's max concurrency (5)" in error


@pytest.mark.terraform
@needs_terraform
def test_payload_over_lambdas_6_mb_is_refused(root_refused):
    error = root_refused(max_payload_bytes=10_000_000)
    assert "Lambda's synchronous payload limit" in error


@pytest.mark.terraform
@needs_terraform
def test_an_image_limit_that_cannot_fit_the_payload_base64_encoded_is_refused(root_refused):
    error = root_refused(max_image_bytes=5_000_000)
    assert "base64-encoded does not fit in max_payload_bytes" in error


# --- hyperparameters: documented types, ranges and allowed values --------------------------------


def test_the_default_hyperparameters_satisfy_every_documented_rule():
    settings = load_settings(REPO_ROOT / "dogbreed.toml", environ={})
    hp = settings.hyperparameters
    assert (hp.beta_1, hp.beta_2, hp.eps, hp.gamma) == (0.9, 0.999, 1e-8, 0.9)
    assert (hp.multi_label, hp.use_weighted_loss, hp.resize) == (0, 0, 256)
    assert settings.hyperparameters == Settings().hyperparameters  # the file matches the code


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("beta_1", "1.5", "beta_1 must be a float in [0, 1]"),
        ("eps", "-1", "eps must be a float in [0, 1]"),
        ("gamma", "2", "gamma must be a float in [0, 1]"),
        ("learning_rate", "3", "learning_rate must be a float in [0, 1]"),
        ("optimizer", "adagrad", "optimizer must be one of sgd, adam, rmsprop, nag"),
        ("num_layers", "77", "num_layers must be one of 18, 34, 50"),
        ("multi_label", "2", "multi_label must be one of 0, 1"),
        ("use_weighted_loss", "3", "use_weighted_loss must be one of 0, 1"),
        ("kv_store", "local", "kv_store must be one of dist_sync, dist_async"),
        ("top_k", "1", "top_k must be a int > 1"),
        ("precision_dtype", "float64", "precision_dtype must be one of float32, float16"),
        ("augmentation_type", "flip", "augmentation_type must be one of crop"),
        ("epochs", "0", "epochs must be a int > 0"),
        ("image_shape", "224,224", "image_shape must look like '3,224,224'"),
        ("lr_scheduler_step", "20,10", "lr_scheduler_step must be increasing"),
        ("resize", "128", "resize = 128 must be at least image_shape's height and width"),
    ],
)
def test_a_hyperparameter_outside_its_documented_values_is_refused(key, value, message):
    with pytest.raises(DogbreedError) as err:
        load_settings(environ={f"DOGBREED_HYPERPARAMETERS__{key.upper()}": value})
    assert message in str(err.value) and "IC-Hyperparameter" in str(err.value)


def test_every_checkpoint_in_model_tar_gz_is_refused_past_five():
    with pytest.raises(DogbreedError) as err:
        load_settings(environ={"DOGBREED_HYPERPARAMETERS__CHECKPOINT_FREQUENCY": "1"})
    assert "keeps 120 checkpoints in model.tar.gz" in str(err.value)
    ok = load_settings(environ={"DOGBREED_HYPERPARAMETERS__CHECKPOINT_FREQUENCY": "30"})
    assert ok.hyperparameters.checkpoint_frequency == 30


def test_tuning_ranges_default_inside_the_documented_ranges_and_outside_refused():
    assert parameter_ranges(Settings().tuning.ranges)["ContinuousParameterRanges"]
    with pytest.raises(DogbreedError, match="learning_rate must be a float in"):
        parameter_ranges({"learning_rate": {"type": "continuous", "min": 0.1, "max": 2}})
    with pytest.raises(DogbreedError, match="optimizer must be one of"):
        parameter_ranges({"optimizer": {"type": "categorical", "values": ["sgd", "lbfgs"]}})


# --- job requests: instance types, kv_store, resize, spot ---------------------------------------


def _request(settings: Settings, info=INFO) -> dict:
    return training_job_request(
        settings,
        name="job",
        image=IMAGE,
        role_arn=ROLE,
        bucket="b",
        hyperparameters={},
        info=info,
    )


def test_default_training_instance_is_a_supported_gpu_and_a_cpu_one_is_refused():
    assert _request(Settings())["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    settings = Settings()
    settings.aws.instance_type = "ml.m5.xlarge"
    with pytest.raises(DogbreedError, match="trains only on GPU instances"):
        _request(settings)


def test_multi_instance_training_needs_kv_store():
    settings = Settings()
    settings.aws.instance_count = 2
    with pytest.raises(DogbreedError, match="needs hyperparameters.kv_store"):
        _request(settings)
    settings.hyperparameters.kv_store = "dist_sync"
    assert _request(settings)["ResourceConfig"]["InstanceCount"] == 2


def test_resize_is_required_when_images_are_smaller_than_image_shape():
    assert _request(Settings())["StoppingCondition"]  # default resize = 256 serves 97 px images
    settings = Settings()
    settings.hyperparameters.resize = 0
    with pytest.raises(DogbreedError, match="resize is required: the smallest images are 97 px"):
        _request(settings)
    big = {**INFO, "image_size": {"width": {"min": 300}, "height": {"min": 250}}}
    check_job_rules(settings, big)  # large enough: no resize needed


def test_spot_max_wait_must_cover_max_run():
    request = _request(Settings())
    stop = request["StoppingCondition"]
    assert stop["MaxWaitTimeInSeconds"] >= stop["MaxRuntimeInSeconds"]
    settings = Settings()
    settings.aws.max_wait_seconds = 100
    with pytest.raises(DogbreedError, match=r"max_wait_seconds \(100\) >= aws.max_run_seconds"):
        _request(settings)


def test_spot_needs_a_checkpoint_location_in_training_and_tuning():
    assert _request(Settings())["CheckpointConfig"]["S3Uri"] == "s3://b/checkpoints/job/"
    tuning = tuning_job_request(
        Settings(),
        name="tune",
        image=IMAGE,
        role_arn=ROLE,
        bucket="b",
        hyperparameters={},
        info=INFO,
    )
    assert (
        tuning["TrainingJobDefinition"]["CheckpointConfig"]["S3Uri"] == "s3://b/checkpoints/tune/"
    )
    settings = Settings()
    settings.aws.checkpoint_prefix = ""
    with pytest.raises(DogbreedError, match="spot training needs a checkpoint location"):
        _request(settings)


@pytest.mark.terraform
@needs_terraform
def test_the_bucket_denies_plain_http_except_on_the_http_emulator(root_plan, deploy_vars):
    """moto is reached over http and evaluates bucket policies, so deploy turns the TLS-only
    policy off there (else its model upload is refused); every real bucket keeps it."""
    policy = "module.storage.aws_s3_bucket_policy.tls_only[0]"
    assert policy not in root_plan.after(deploy_vars())
    assert policy in root_plan.after(deploy_vars(s3_tls_only=True))
    assert Settings().deploy and "s3_tls_only" not in terraform_variables(Settings())


def test_the_original_table_reaches_the_training_request():
    """The six entries that used to be unknown settings (defect 3) are sent as strings."""
    from ops.train.sagemaker.job_request import sagemaker_hyperparameters

    settings = load_settings(REPO_ROOT / "dogbreed.toml", environ={})
    sent = sagemaker_hyperparameters(settings, INFO)
    assert {k: sent[k] for k in ("beta_1", "beta_2", "eps", "gamma")} == {
        "beta_1": "0.9",
        "beta_2": "0.999",
        "eps": "1e-08",
        "gamma": "0.9",
    }
    assert (sent["multi_label"], sent["use_weighted_loss"], sent["resize"]) == ("0", "0", "256")
    assert "checkpoint_frequency" not in sent and "kv_store" not in sent and "top_k" not in sent


def test_the_image_uri_needs_no_sagemaker_sdk():
    """The lookup reads the vendored table; the 2.x SDK (maintenance only) is never imported."""
    code = (
        "import sys; from ops.train.sagemaker.builtin_job import image_uri; "
        "print(image_uri('eu-west-1')); print('sagemaker' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["685385470294.dkr.ecr.eu-west-1.amazonaws.com/image-classification:1", "False"]


# --- payload: each route's own limit (docs/aws-rules.md) -----------------------------------------


@pytest.mark.terraform
@needs_terraform
def test_an_image_limit_over_serverless_4_mb_request_is_refused(root_plan, deploy_vars):
    error = root_plan.refused(deploy_vars(max_image_bytes=4 * 1024 * 1024))
    assert "over the endpoint's request limit (4000000 bytes" in error


def test_the_serving_image_refuses_what_its_endpoint_mode_would():
    """The container's own limit is SageMaker's InvokeEndpoint limit for the mode."""
    from ops.deploy.local_model import request_limit

    settings = Settings()
    assert request_limit(settings) == {"DOGBREED_SERVE__MAX_IMAGE_BYTES": "4000000"}
    settings.deploy.endpoint_mode = "instance"
    assert request_limit(settings) == {"DOGBREED_SERVE__MAX_IMAGE_BYTES": "6000000"}
    assert Settings().serve.max_image_bytes == 4_000_000  # `serve` answers as serverless does
