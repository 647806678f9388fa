"""The list of command modules; each exposes `COMMANDS`, a list of click commands/groups."""

from __future__ import annotations

import importlib

import click

# Area modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "ops.data.commands",  # data fetch / prepare / info / upload
    "ops.train_command",  # train (local or sagemaker)
    "ops.aws.commands",  # tune, jobs
    "ops.local.commands",  # serve, predict
    "ops.serving.commands",  # classify, deploy, destroy, api
    "ops.evaluate.commands",  # evaluate, demo
)


def register_all(group: click.Group) -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in getattr(module, "COMMANDS", []):
            group.add_command(command)
