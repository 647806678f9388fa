"""The list of command modules; each must expose `COMMANDS`, a list of click commands/groups."""

from __future__ import annotations

import importlib

import click

# Area modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "ops.data.commands",  # data fetch / prepare / info / upload
    "ops.train_command",  # train (local or sagemaker)
    "ops.aws.commands",  # tune, jobs
    "ops.pipeline.serve_command",  # serve (model server + local API)
    "ops.local.commands",  # predict
    "ops.serving.commands",  # classify, deploy, destroy, api
    "ops.registry_commands",  # models (the model registry)
    "ops.evaluate.commands",  # evaluate
    "ops.pipeline.commands",  # demo
    "ops.config_command",  # config (effective settings and their origins)
)


def register_all(group: click.Group) -> None:
    """Attach every module's COMMANDS; a module without COMMANDS is a programming error."""
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        commands = getattr(module, "COMMANDS", None)
        if not commands:
            raise RuntimeError(f"{name} has no COMMANDS list: its commands would be dropped")
        for command in commands:
            group.add_command(command)
