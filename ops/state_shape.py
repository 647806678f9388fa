"""The shape of the state file's records: each stage's record is an object, and the fields that
later stages read have the type they expect.

ops/state.py checks a file against this as it reads it, so a record edited by hand (or by an older
version) into `"training": "x"` or `"api_url": 5` is a one-line error naming the field, not an
AttributeError deep inside `serve` or `classify`. Unknown fields pass: stages add their own.
"""

from __future__ import annotations

from typing import Any

STR, INT, DICT, LIST = (str,), (int,), (dict,), (list,)
# field -> the types a reader accepts (None is always accepted: "not recorded")
FIELDS: dict[str, tuple[type, ...]] = {
    "api_url": STR,
    "runtime_url": STR,
    "artifact": STR,
    "artifact_dir": STR,
    "model_tar": STR,
    "model_data_url": STR,
    "model_name": STR,
    "model_identity": STR,
    "endpoint_name": STR,
    "image": STR,
    "image_uri": STR,
    "classes": STR,
    "backend": STR,
    "status": STR,
    "api_key": STR,
    "job_name": STR,
    "tuning_job_name": STR,
    "sagemaker_role_arn": STR,
    "dashboard_url": STR,
    "classify_url": STR,
    "lambda_name": STR,
    "model_package": STR,
    "bucket_name": STR,
    "terraform_dir": STR,
    "runtime": STR,
    "started_at": STR,
    "stopped_at": STR,
    "applied_at": STR,
    "deployed_at": STR,
    "destroyed_at": STR,
    "pid": INT,
    "max_batch_size": INT,
    "variables": DICT,
    "metrics": DICT,
    "settings": DICT,
    "alarm_names": DICT,  # the alarms keyed by what they watch (terraform output)
    "rollout": DICT,  # lambda mode: the alias, its versions and the CodeDeploy deployment
}
NAMES = {str: "a string", int: "an integer", dict: "an object", list: "a list"}


def record_problem(key: str, record: Any) -> str | None:
    """Why `record` (the state's `key` entry) is not what readers expect, or None."""
    if record is None:
        return None
    if not isinstance(record, dict):
        return f"{key!r} is {_kind(record)}, not an object"
    for name, types in FIELDS.items():
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"{key}.{name} is {_kind(value)}, not {NAMES[types[0]]}"
    return None


def _kind(value: Any) -> str:
    """'a string', 'a number (5)', ... for an error message."""
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return NAMES.get(type(value), f"a {type(value).__name__}")
