"""The one wrapper around python-terraform: init, apply, output, destroy; errors as DogbreedError.

python-terraform 0.10 predates Terraform 1.x: `destroy` sends the removed `-force` flag unless
force=None (we pass auto_approve instead), `output` returns None on failure instead of raising,
and map/list variables must go through a var file (it writes a temporary JSON one for a dict).
Nothing else in the code base calls python-terraform, so these quirks stay here.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ops.deploy.terraform_progress import stream
from ops.errors import DogbreedError

STDERR_TAIL = 1500
# The local state holds every resource attribute, the API key included: owner-only, always.
STATE_FILES = ("terraform.tfstate", "terraform.tfstate.backup")
PRIVATE_UMASK = 0o077


class Terraform:
    """Terraform in one working directory; `variables` go to plan/apply/destroy as a JSON var file."""

    def __init__(self, working_dir: Path | str, env: dict[str, str] | None = None):
        self.working_dir = Path(working_dir)
        if not (self.working_dir / "main.tf").is_file() and not any(self.working_dir.glob("*.tf")):
            raise DogbreedError(f"{self.working_dir} holds no Terraform configuration (*.tf)")
        binary = shutil.which("terraform")
        if binary is None:
            raise DogbreedError(
                "the terraform binary is not on PATH",
                hint="install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)",
            )
        try:
            from python_terraform import Terraform as _PyTerraform
        except ImportError as exc:  # an install without the aws extra
            raise DogbreedError(
                "python-terraform is not installed",
                hint="pip install 'dogbreed-id[aws]' (or `make setup`)",
            ) from exc

        self._tf = _PyTerraform(working_dir=str(self.working_dir), terraform_bin_path=binary)
        self.env = dict(env or {})

    def _run(self, action: str, call) -> str:
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)  # python-terraform passes os.environ to the subprocess
        umask = os.umask(PRIVATE_UMASK)  # files terraform creates (state, var files): 0600
        try:
            self.protect_state()  # state left world-readable by an older run
            code, out, err = call()
        finally:
            os.umask(umask)
            self.protect_state()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if code != 0:
            tail = (err or out or "").strip()[-STDERR_TAIL:]
            raise DogbreedError(f"terraform {action} failed in {self.working_dir}:\n{tail}")
        return out or ""

    def protect_state(self) -> None:
        """chmod 0600 the local state files (they hold secrets such as the API key)."""
        for name in STATE_FILES:
            path = self.working_dir / name
            if path.is_file() and path.stat().st_mode & 0o077:
                path.chmod(0o600)

    def init(self, upgrade: bool = False) -> str:
        kwargs: dict[str, Any] = {"input": False, "no_color": _flag()}
        if upgrade:
            kwargs["upgrade"] = _flag()
        return self._run("init", lambda: self._tf.init(**kwargs))

    def apply(self, variables: dict[str, Any] | None = None, echo=None) -> str:
        """Non-interactive apply (-auto-approve) with `variables` (any JSON-able values); a line
        per resource goes to `echo` as it happens (ops/deploy/terraform_progress.py)."""
        return self._streamed("apply", {"auto-approve": True}, variables, echo)

    def destroy(self, variables: dict[str, Any] | None = None, echo=None) -> str:
        # force=None: Terraform 1.x removed -force; -auto-approve replaces it.
        return self._streamed("destroy", {"auto-approve": True, "force": None}, variables, echo)

    def _streamed(self, action: str, options: dict[str, Any], variables, echo) -> str:
        """`action` with -json, its events streamed as progress lines; the change summary.

        python-terraform builds the command line and the var file; it only runs commands to
        their end, so this runs the one it built and reads its events as they come."""

        opts = self._tf._generate_default_options(
            {**options, "var": _clean(variables), "json": _flag()}
        )
        cmds = self._tf.generate_cmd_string(action, **opts)

        def call():
            try:
                said = echo or (lambda _line: None)
                events = stream(cmds, str(self.working_dir), dict(os.environ), said, action)
            finally:
                self._tf.temp_var_files.clean_up()
            return 0, events.summary, ""

        return self._run(action, call)

    def output(self) -> dict[str, Any]:
        """{name: value} of the root outputs ({} when nothing was applied yet)."""

        out = self._run("output", lambda: self._tf.output_cmd(json=_flag()))
        data = json.loads(out or "{}") if out.strip() else {}
        return {name: item.get("value") for name, item in data.items()}


def _flag():
    from python_terraform import IsFlagged

    return IsFlagged


def _clean(variables: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values (Terraform defaults apply); an empty dict means no var file at all."""
    if not variables:
        return None
    return {k: v for k, v in variables.items() if v is not None} or None
