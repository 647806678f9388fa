"""One source for the deploy settings: each [deploy] setting reaches Terraform as a declared root
variable of a matching type, derived from the settings' fields, not from a hand-kept list."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import hcl2

from ops.deploy.serving_stack import deploy_variables, terraform_variables
from ops.settings import Settings
from ops.settings_sections import DEPLOY_TERRAFORM_NAMES, DeploySettings

ROOT = Path(__file__).resolve().parents[1] / "terraform"


def _root_variables() -> dict[str, dict]:
    with open(ROOT / "variables.tf") as fh:
        blocks = hcl2.load(fh)["variable"]
    # python-hcl2 keeps the quotes of block labels and string values
    return {name.strip('"'): body for block in blocks for name, body in block.items()}


def _kind(tf_type: str) -> str:
    return tf_type.strip('${}"').split("(")[0]


PYTHON_KINDS = {bool: "bool", int: "number", float: "number", str: "string", list: "list"}


def test_every_deploy_setting_is_a_declared_variable_of_its_type_or_named_as_kept_out():
    declared = _root_variables()
    unknown = set(DEPLOY_TERRAFORM_NAMES) - {f.name for f in fields(DeploySettings)}
    assert not unknown, f"DEPLOY_TERRAFORM_NAMES names no setting: {unknown}"
    for name, value in deploy_variables(Settings()).items():
        assert name in declared, f"[deploy] passes {name}, which terraform/variables.tf lacks"
        expected = PYTHON_KINDS[type(value)]
        assert _kind(declared[name]["type"]).startswith(expected), (name, declared[name]["type"])


def test_a_changed_setting_reaches_its_variable_and_a_kept_out_one_does_not():
    base = Settings()
    changed = replace(
        base,
        deploy=replace(base.deploy, monitoring=False, throttle_burst_limit=7, model_prefix="m2"),
    )
    variables = terraform_variables(changed)
    assert variables["monitoring_enabled"] is False and variables["throttle_burst_limit"] == 7
    assert "model_prefix" not in variables and "m2" not in map(str, variables.values())
    assert "monitoring" not in variables and "terraform_dir" not in variables
