"""The bad-invocation corpus: command lines a careless operator (or a script gone wrong) runs.

Every case must be refused with one line: no Python traceback, the expected exit code (2 = the
invocation itself is wrong, 1 = it failed), and the expected words. tests/test_cli_corpus.py runs
each in process (click's CliRunner) and a sample as real `python -m ops` subprocesses.

Placeholders in the arguments are filled from the workspace tests/test_cli_corpus.py builds:
{prepared} a prepared folder, {raw} a dataset folder, {artifact} a tiny model artifact, {img} a
JPEG, {text} a text file, {empty} an empty folder, {missing} a path that does not exist, {tmp} the
workspace itself, {bin} a file of binary junk.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One bad invocation and how it must be refused."""

    name: str
    args: tuple[str, ...]
    exit: int  # 1: failed, 2: usage
    expect: str  # words the one-line error must contain
    env: dict[str, str] = field(default_factory=dict)
    state: str | None = None  # the state file's text before the run (surrogates: raw bytes)
    files: dict[str, str] = field(default_factory=dict)  # workspace files written first


def _c(name, args, exit, expect, **kw) -> Case:
    return Case(
        name, tuple(args.split()) if isinstance(args, str) else tuple(args), exit, expect, **kw
    )


def _set(setting: str, command: str, expect: str, exit: int = 2) -> Case:
    return _c(f"set-{setting}-{command}", f"--set {setting} {command}", exit, expect)


SETTINGS = [
    _set("serve.port=99999", "serve", "serve.port must be in [0, 65535], not 99999"),
    _set("serve.port=-1", "serve", "serve.port must be in [0, 65535], not -1"),
    _set("serve.port=http", "serve", "cannot read 'http' as int"),
    _set("serve.port=80.5", "serve", "cannot read '80.5' as int"),
    _set("serve.api_port=65536", "serve", "serve.api_port must be in [0, 65535]"),
    _set("serve.max_batch_size=-3", "serve", "serve.max_batch_size must be in [0, 1024]"),
    _set("serve.max_image_bytes=-1", "serve", "serve.max_image_bytes must be in [1024,"),
    _set("serve.max_batch_delay_ms=nan", "serve", "serve.max_batch_delay_ms must be in [0, 60000]"),
    _set("evaluate.concurrency=0", "evaluate", "evaluate.concurrency must be in [1, 256], not 0"),
    _set("evaluate.timeout_s=0", "evaluate", "evaluate.timeout_s must be in (0, 86400]"),
    _set("evaluate.retries=-1", "evaluate", "evaluate.retries must be in [0, 100]"),
    _set("evaluate.url=garbage", "evaluate", "evaluate.url must be an http:// or https:// URL"),
    _set("local.learning_rate=nan", "train", "local.learning_rate must be in (0, 10], not nan"),
    _set("local.learning_rate=-1", "train", "local.learning_rate must be in (0, 10], not -1.0"),
    _set("local.learning_rate=inf", "train", "local.learning_rate must be in (0, 10], not inf"),
    _set("local.learning_rate=1000000", "train", "local.learning_rate must be in (0, 10]"),
    _set("local.threads=-1", "train", "local.threads must be in [0, 1024], not -1"),
    _set("local.input_size=5", "train", "local.input_size must be in [16, 4096] or 0"),
    _set("local.calibration_fraction=0", "train", "local.calibration_fraction must be in (0, 1)"),
    _set("local.max_epochs=0", "train", "local.max_epochs must be in [1, 100000]"),
    _set("data.workers=-2", "data prepare", "data.workers must be in [1, 256], not -2"),
    _set("data.num_classes=-1", "data prepare", "data.num_classes must be in [0, 100000]"),
    _set("data.val_fraction=1", "data prepare", "data.val_fraction must be in (0, 1), not 1.0"),
    _set("data.seed=-1", "data prepare", "data.seed must be in [0, 4294967295]"),
    _set("data.classes=notalist", "data prepare", "cannot read 'notalist' as list"),
    _set("data.raw_dir=", "data fetch", "data.raw_dir must not be empty"),
    _set("local.weights=", "train", "local.weights must not be empty"),
    _set("aws.endpoint_url=ftp://moto", "jobs", "aws.endpoint_url must be an http:// or https://"),
    _set(
        "aws.instance_prices={a=-1}", "config", "aws.instance_prices['a'] must be in [0, 1000000]"
    ),
    _set("aws.volume_size_gb=0", "config", "aws.volume_size_gb must be in [1, 16384]"),
    _set("tuning.max_jobs=0", "tune", "tuning.max_jobs must be in [1, 750], not 0"),
    _set("deploy.serverless_memory_mb=512", "deploy", "deploy.serverless_memory_mb must be in"),
    _set("deploy.throttle_rate_limit=0", "deploy", "deploy.throttle_rate_limit must be in (0,"),
    _set("hyperparameters.epochs=0", "train", "hyperparameters.epochs must be a int > 0"),
    _set("hyperparameters.beta_2=2", "train", "hyperparameters.beta_2 must be a float in [0, 1]"),
    _set("hyperparameters.momentum=-0.1", "train", "hyperparameters.momentum must be a float"),
    _set("hyperparameters.image_shape=3,0,0", "train", "image_shape must look like '3,224,224'"),
    _set("hyperparameters.lr_scheduler_step=b,a", "train", "lr_scheduler_step must be increasing"),
    _set("hyperparameters.epochs=1e400", "train", "cannot read '1e400' as int"),
    _set(
        "hyperparameters.num_classes=" + "9" * 400,
        "config",
        "hyperparameters.num_classes must be a int > 0",
    ),
    _c("set-without-equals", "--set serve.port config", 2, "--set expects section.key=value"),
    _c("set-without-section", "--set port=1 config", 2, "--set expects section.key=value"),
    _c("set-unknown-section", "--set nope.x=1 config", 2, "unknown settings section [nope]"),
    _c("set-unknown-key", "--set serve.nope=1 config", 2, "unknown setting serve.nope"),
    _c(
        "set-control-character",
        ["--set", "local.cache_dir=a\x01b", "config"],
        2,
        "control character",
    ),
    _c("backend-unknown", "--backend gcp config", 2, "Invalid value for '--backend'"),
    _c(
        "env-port",
        "config",
        2,
        "serve.port must be in [0, 65535], not 99999",
        env={"DOGBREED_SERVE__PORT": "99999"},
    ),
    _c(
        "env-unknown", "config", 2, "unknown settings section [nope]", env={"DOGBREED_NOPE__X": "1"}
    ),
    _c(
        "env-backend",
        "config",
        2,
        "project.backend must be one of",
        env={"DOGBREED_BACKEND": "gcp"},
    ),
    _c(
        "env-list-unclosed",
        "config",
        2,
        "cannot read '[unclosed' as list",
        env={"DOGBREED_DATA__CLASSES": "[unclosed"},
    ),
    _c(
        "env-config-missing", "config", 2, "DOGBREED_CONFIG names", env={"DOGBREED_CONFIG": "/nope"}
    ),
]

CONFIG_FILES = [
    _c("config-missing", "--config {missing} config", 2, "not found"),
    _c("config-is-a-folder", "--config {empty} config", 2, "is a directory"),
    _c("config-binary", "--config {bin} config", 2, "not UTF-8 text"),
    _c(
        "config-bool-for-float",
        "--config {tmp}/a.toml config",
        2,
        "cannot read True as float",
        files={"a.toml": "[local]\nlearning_rate = true\n"},
    ),
    _c(
        "config-bad-toml",
        "--config {tmp}/a.toml config",
        2,
        "invalid TOML",
        files={"a.toml": "x = [1"},
    ),
    _c(
        "config-not-a-section",
        "--config {tmp}/a.toml config",
        2,
        "must be a [section]",
        files={"a.toml": "serve = 1\n"},
    ),
    _c(
        "config-unknown-key",
        "--config {tmp}/a.toml config",
        2,
        "unknown setting serve.prot",
        files={"a.toml": "[serve]\nprot = 1\n"},
    ),
    _c(
        "config-wrong-type",
        "--config {tmp}/a.toml config",
        2,
        "cannot read 'x' as int",
        files={"a.toml": '[serve]\nport = "x"\n'},
    ),
    _c(
        "config-port-range",
        "--config {tmp}/a.toml config",
        2,
        "serve.port must be in [0, 65535], not 70000",
        files={"a.toml": "[serve]\nport = 70000\n"},
    ),
    _c(
        "config-nan",
        "--config {tmp}/a.toml config",
        2,
        "local.learning_rate must be in (0, 10], not nan",
        files={"a.toml": "[local]\nlearning_rate = nan\n"},
    ),
    _c(
        "config-bool-for-int",
        "--config {tmp}/a.toml config",
        2,
        "cannot read True as int",
        files={"a.toml": "[serve]\nport = true\n"},
    ),
]

STATE = [
    _c(
        "state-record-a-string",
        "classify {img}",
        1,
        "'serve' is a string, not an object",
        state='{"serve": "x"}',
    ),
    _c(
        "state-url-a-number",
        "classify {img}",
        1,
        "serve.api_url is a number (5), not a string",
        state='{"serve": {"api_url": 5}}',
    ),
    _c(
        "state-artifact-a-list",
        "serve",
        1,
        "training.artifact is a list, not a string",
        state='{"training": {"artifact": ["a"]}}',
    ),
    _c("state-not-json", "classify {img}", 1, "is corrupt: not valid JSON", state="{nope"),
    _c("state-a-list", "serve", 1, "is corrupt: a JSON list, not an object", state="[1, 2]"),
    _c("state-binary", "serve", 1, "cannot read the state file", state="\udcff\udcfe"),
    _c("state-no-training", "serve", 1, "no local model artifact recorded", state="{}"),
    _c(
        "state-file-a-folder",
        "serve",
        1,
        "cannot read the state file",
        env={"DOGBREED_STATE_FILE": "/"},
    ),
    _c("state-no-api", "classify {img}", 1, "no classify API URL known", state="{}"),
]

SERVE = [
    _c("serve-port-range", "serve --port 70000", 2, "Invalid value for '--port'"),
    _c("serve-port-negative", "serve --port -5", 2, "Invalid value for '--port'"),
    _c("serve-api-port-range", "serve --api-port 99999", 2, "Invalid value for '--api-port'"),
    _c("serve-threads-negative", "serve --threads -1", 2, "Invalid value for '--threads'"),
    _c("serve-runtime-unknown", "serve --runtime bogus", 2, "Invalid value for '--runtime'"),
    _c("serve-artifact-missing", "serve --artifact {missing}", 1, "not found"),
    _c("serve-artifact-empty-folder", "serve --artifact {empty}", 1, "model.onnx"),
    _c("serve-artifact-text-file", "serve --artifact {text}", 1, "artifact"),
    _c("serve-unknown-option", "serve --prot 1", 2, "No such option '--prot'"),
    _c("api-no-runtime-url", "api", 2, "Missing option '--runtime-url'"),
    _c(
        "api-runtime-url-garbage",
        "api --runtime-url garbage",
        2,
        "is not an http:// or https:// URL",
    ),
    _c(
        "api-runtime-url-port",
        "api --runtime-url http://h:99999",
        2,
        "is not an http:// or https:// URL",
    ),
    _c("api-runtime-url-ftp", "api --runtime-url ftp://h/", 2, "is not an http:// or https:// URL"),
    _c(
        "api-port-range",
        "api --runtime-url http://127.0.0.1:9 --port 65536",
        2,
        "Invalid value for '--port'",
    ),
    _c(
        "api-classes-missing",
        "api --runtime-url http://127.0.0.1:9 --classes {missing}",
        2,
        "does not exist",
    ),
]

PREDICT_CLASSIFY = [
    _c("predict-no-images", "predict --artifact {artifact}", 2, "Missing argument"),
    _c(
        "predict-image-missing",
        "predict --artifact {artifact} {missing}",
        1,
        "1 of 1 images could not be classified",
    ),
    _c(
        "predict-top-k-zero",
        "predict --artifact {artifact} --top-k 0 {img}",
        2,
        "Invalid value for '--top-k'",
    ),
    _c("predict-artifact-missing", "predict --artifact {missing} {img}", 1, "not found"),
    _c("predict-no-model", "predict {img}", 1, "no local model artifact recorded", state="{}"),
    _c(
        "predict-not-an-image",
        "predict --artifact {artifact} {text}",
        1,
        "1 of 1 images could not be classified",
    ),
    _c("classify-top-k-range", "classify --top-k 21 {img}", 2, "Invalid value for '--top-k'"),
    _c(
        "classify-timeout-negative",
        "classify --url http://127.0.0.1:9 --timeout -1 {img}",
        2,
        "Invalid value for '--timeout'",
    ),
    _c(
        "classify-timeout-nan",
        "classify --url http://127.0.0.1:9 --timeout nan {img}",
        2,
        "Invalid value for '--timeout'",
    ),
    _c(
        "classify-url-garbage",
        "classify --url garbage {img}",
        2,
        "is not an http:// or https:// URL",
    ),
    _c("classify-refused", "classify --url http://127.0.0.1:9 {img}", 1, "127.0.0.1:9"),
    _c("classify-a-folder", "classify --url http://127.0.0.1:9 {empty}", 2, "is a directory"),
    _c("classify-no-images", "classify --url http://127.0.0.1:9", 2, "Missing argument"),
]

EVALUATE = [
    _c("evaluate-limit-zero", "evaluate --limit 0", 2, "--limit must be positive"),
    _c("evaluate-limit-negative", "evaluate --limit -1", 2, "--limit must be positive"),
    _c(
        "evaluate-batch-size-zero", "evaluate --batch-size 0", 2, "Invalid value for '--batch-size'"
    ),
    _c(
        "evaluate-concurrency-zero",
        "evaluate --concurrency 0",
        2,
        "Invalid value for '--concurrency'",
    ),
    _c("evaluate-two-routes", "evaluate --url http://a --endpoint b", 2, "choose one of --url"),
    _c(
        "evaluate-artifact-alone",
        "evaluate --artifact {artifact}",
        2,
        "--artifact goes with --local",
    ),
    _c("evaluate-model-alone", "evaluate --model m", 2, "--model goes with --batch-transform"),
    _c("evaluate-split-unknown", "evaluate --split test", 2, "Invalid value for '--split'"),
    _c(
        "evaluate-data-missing",
        "evaluate --url http://127.0.0.1:9 --data {missing}",
        1,
        "not found",
    ),
    _c(
        "evaluate-data-not-prepared",
        "evaluate --url http://127.0.0.1:9 --data {empty}",
        1,
        "classes.json",
    ),
    _c(
        "evaluate-out-a-file",
        "evaluate --url http://127.0.0.1:9 --data {prepared} --out {text}",
        2,
        "is a file",
    ),
    _c("evaluate-no-url", "evaluate --data {prepared}", 1, "no classify API URL known", state="{}"),
    _c(
        "evaluate-url-garbage",
        "evaluate --url garbage --data {prepared}",
        2,
        "evaluate.url must be an http",
    ),
    _c(
        "evaluate-nothing-answers",
        "--set evaluate.retries=0 evaluate --quiet --url http://127.0.0.1:9/classify --data {prepared} --out {tmp}/report",
        1,
        "image(s) without an answer",
    ),
]

TRAIN = [
    _c("train-data-missing", "train --data {missing}", 1, "is not a prepared data folder"),
    _c("train-data-empty", "train --data {empty}", 1, "classes.json"),
    _c("train-epochs-zero", "train --epochs 0", 2, "hyperparameters.epochs must be a int > 0"),
    _c("train-epochs-negative", "train --epochs -1", 2, "hyperparameters.epochs must be a int > 0"),
    _c("train-mode-unknown", "train --mode most", 2, "Invalid value for '--mode'"),
    _c(
        "train-wait-local",
        "train --data {prepared} --no-wait",
        2,
        "applies to the sagemaker backend",
    ),
    _c(
        "train-algorithm-local",
        "train --data {prepared} --algorithm recipe",
        2,
        "applies to the sagemaker backend",
    ),
    _c(
        "train-backbone-unknown",
        "--set local.weights=none train --data {prepared} --backbone nosuchnet --no-resume",
        2,
        "unknown timm backbone",
    ),
    _c(
        "train-weights-missing",
        "--set local.backbone=resnet18 --set local.weights={missing} train --data {prepared} --no-resume",
        1,
        "not found",
    ),
    _c(
        "train-weights-junk",
        "--set local.backbone=resnet18 --set local.weights={text} train --data {prepared} --no-resume",
        1,
        "cannot read",
    ),
    _c(
        "train-promote-sagemaker",
        "--backend sagemaker train --promote-anyway",
        2,
        "applies to the local backend",
    ),
]

DATA = [
    _c("prepare-raw-missing", "data prepare --raw {missing} --out {tmp}/p", 1, "does not exist"),
    _c("prepare-raw-empty", "data prepare --raw {empty} --out {tmp}/p", 1, "Images"),
    _c(
        "prepare-num-classes-zero",
        "data prepare --num-classes 0",
        2,
        "Invalid value for '--num-classes'",
    ),
    _c(
        "prepare-num-classes-too-many",
        "data prepare --quiet --raw {raw} --out {tmp}/p --num-classes 99",
        2,
        "--num-classes 99 asks for more classes than the 3 there are",
    ),
    _c("prepare-workers-zero", "data prepare --workers 0", 2, "Invalid value for '--workers'"),
    _c("prepare-workers-negative", "data prepare --workers -2", 2, "Invalid value for '--workers'"),
    _c(
        "prepare-val-fraction",
        "data prepare --split stratified --val-fraction 2",
        2,
        "data.val_fraction must be in (0, 1), not 2.0",
    ),
    _c(
        "prepare-seed-negative", "data prepare --seed -3", 2, "data.seed must be in [0, 4294967295]"
    ),
    _c("prepare-split-unknown", "data prepare --split random", 2, "Invalid value for '--split'"),
    _c(
        "prepare-class-unknown",
        "data prepare --quiet --raw {raw} --out {tmp}/p --classes Dingo",
        2,
        "unknown class(es): Dingo",
    ),
    _c(
        "prepare-merge-missing",
        "data prepare --quiet --raw {raw} --out {tmp}/p --merge {missing}",
        2,
        "not found",
    ),
    _c(
        "prepare-merge-junk",
        "data prepare --quiet --raw {raw} --out {tmp}/p --merge {bin}",
        2,
        "cannot read label map: not UTF-8 text",
    ),
    _c(
        "prepare-exclude-missing",
        "data prepare --quiet --raw {raw} --out {tmp}/p --exclude {missing}",
        1,
        "cannot read the exclusion list",
    ),
    _c(
        "prepare-exclude-binary",
        "data prepare --quiet --raw {raw} --out {tmp}/p --exclude {bin}",
        2,
        "exclusion list",
    ),
    _c(
        "prepare-out-inside-source",
        "data prepare --quiet --raw {raw} --out {raw}/Images/x",
        2,
        "is inside the source",
    ),
    _c("prepare-out-a-file", "data prepare --quiet --raw {raw} --out {text}", 2, "is a file"),
    _c("info-data-missing", "data info --data {missing}", 1, "is not a prepared data folder"),
    _c("info-data-empty", "data info --data {empty}", 1, "classes.json"),
    _c(
        "fetch-source-missing",
        "data fetch --quiet --raw {tmp}/r --source {missing}",
        1,
        "does not exist",
    ),
    _c("fetch-source-text", "data fetch --quiet --raw {tmp}/r --source {text}", 1, "tar"),
    _c("audit-folds-one", "data audit --folds 1", 2, "Invalid value for '--folds'"),
    _c("audit-dog-below-nan", "data audit --dog-below nan", 2, "is not a finite number"),
    _c(
        "prepare-val-fraction-nan",
        "data prepare --split stratified --val-fraction nan",
        2,
        "data.val_fraction must be in (0, 1), not nan",
    ),
    _c("audit-dog-below", "data audit --dog-below 2", 2, "Invalid value for '--dog-below'"),
    _c(
        "upload-nothing-listening",
        "--set aws.endpoint_url=http://127.0.0.1:9 --set aws.bucket=b data upload --quiet --data {prepared}",
        1,
        "127.0.0.1:9",
    ),
]

OTHER = [
    _c("command-unknown", "frobnicate", 2, "No such command 'frobnicate'"),
    _c("data-command-unknown", "data frobnicate", 2, "No such command 'frobnicate'"),
    _c("config-option-unknown", "config --bogus", 2, "No such option '--bogus'"),
    _c("tune-max-jobs-zero", "tune --max-jobs 0", 2, "tuning.max_jobs must be in [1, 750], not 0"),
    _c(
        "tune-parallel-zero",
        "tune --max-parallel-jobs 0",
        2,
        "tuning.max_parallel_jobs must be in [1, 100]",
    ),
    _c("jobs-limit-negative", "jobs --limit -1", 2, "Invalid value for '--limit'"),
    _c(
        "deploy-no-terraform",
        "--set deploy.endpoint_mode=serverless deploy --artifact {missing}",
        1,
        "is not the dogbreed Terraform configuration",
    ),
    _c("deploy-lambda-mode-no-artifact", "deploy --artifact {missing}", 1, "not found"),
    _c("destroy-unconfirmed", "destroy", 1, "Aborted"),
    _c("train-epochs-float", "train --epochs 1.5", 2, "Invalid value for '--epochs'"),
    _c("demo-epochs-zero", "demo --epochs 0", 2, "Invalid value for '--epochs'"),
]

CORPUS: list[Case] = (
    SETTINGS + CONFIG_FILES + STATE + SERVE + PREDICT_CLASSIFY + EVALUATE + TRAIN + DATA + OTHER
)
# Run as real `python -m ops` subprocesses too: one or two of each kind (startup costs ~1 s each).
SUBPROCESS = (
    "set-serve.port=99999-serve",
    "set-local.learning_rate=nan-train",
    "config-binary",
    "state-record-a-string",
    "serve-port-range",
    "api-runtime-url-garbage",
    "predict-not-an-image",
    "classify-refused",
    "evaluate-limit-zero",
    "train-epochs-zero",
    "prepare-num-classes-too-many",
    "command-unknown",
)
