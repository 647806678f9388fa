"""The `dogbreed` click group: global options, settings loading, error printing.

Commands live beside the code they drive (ops/data/commands.py, ops/endpoint/commands.py, ...);
this module only wires them together, so each command stays a thin shell over functions that
tests call directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ops import __version__
from ops.cli_errors import run_guarded
from ops.commands import register_all
from ops.context import AppContext
from ops.errors import DogbreedError
from ops.settings_sections import BACKENDS


def parse_set_options(values: tuple[str, ...]) -> dict[str, str]:
    """`--set section.key=value` pairs into an overrides dict."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise DogbreedError(f"--set expects section.key=value, got {item!r}", exit_code=2)
        out[key.strip()] = value.strip()
    return out


class DogbreedGroup(click.Group):
    """Prints every failure as one line (exit 1 or 2) instead of a traceback (ops/cli_errors.py)."""

    def invoke(self, ctx: click.Context) -> Any:
        return run_guarded(lambda: super(DogbreedGroup, self).invoke(ctx))


@click.group(cls=DogbreedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: $DOGBREED_CONFIG or dogbreed.toml in this folder or a parent).",
)
@click.option("--backend", type=click.Choice(BACKENDS), help="Override project.backend.")
@click.option(
    "--set",
    "set_values",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override any setting, e.g. --set hyperparameters.epochs=3 (repeatable).",
)
@click.version_option(__version__, prog_name="dogbreed")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, backend: str | None, set_values: tuple[str, ...]):
    """Dog Breed ID: prepare Stanford Dogs, train, serve and evaluate a breed classifier.

    \b
    Stages (each reads the files the previous one wrote):
      data fetch -> data prepare -> [data upload] -> train -> deploy | serve -> classify -> evaluate
    The backend (settings project.backend, or --backend) is "local" (this machine, no AWS)
    or "sagemaker" (AWS).
    """
    overrides: dict[str, Any] = parse_set_options(set_values)
    if backend:
        overrides["project.backend"] = backend
    ctx.obj = AppContext(config=config, overrides=overrides)


def _register() -> None:
    """Attach every area's commands. Imports here are light: heavy libraries load inside commands."""

    register_all(cli)


_register()


def main() -> None:
    cli(prog_name="dogbreed")
