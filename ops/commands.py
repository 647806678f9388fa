"""The command registry: every stage's command module, imported, in the order of `--help`.

Each module exposes `COMMANDS` (click commands/groups added to the top group) and/or
`GROUP_COMMANDS` (subcommands joining another module's group, e.g. `data audit`, which needs a
trained head and so lives after training). Command modules import only light code at their top.
"""

from __future__ import annotations

from types import ModuleType

import click

from ops import config_command
from ops.api import commands as api_commands
from ops.api import serve_commands
from ops.audit import commands as audit_commands
from ops.data import commands as data_commands
from ops.deploy import commands as deploy_commands
from ops.deploy import registry_commands
from ops.endpoint import commands as endpoint_commands
from ops.evaluate import commands as evaluate_commands
from ops.pipeline import demo_commands
from ops.train import commands as train_commands
from ops.train.sagemaker import commands as sagemaker_commands
from ops.train.sagemaker import import_command

COMMAND_MODULES: tuple[ModuleType, ...] = (
    data_commands,  # data fetch / prepare / info / upload
    train_commands,  # train (local or sagemaker)
    sagemaker_commands,  # tune, jobs
    import_command,  # import-model (a built-in algorithm model -> an artifact)
    audit_commands,  # data audit
    serve_commands,  # serve (model server + local API)
    endpoint_commands,  # predict
    api_commands,  # classify, api
    deploy_commands,  # deploy, destroy
    registry_commands,  # models (the model registry)
    evaluate_commands,  # evaluate
    demo_commands,  # demo
    config_command,  # config (effective settings and their origins)
)


def register_all(group: click.Group, modules: tuple[ModuleType, ...] = COMMAND_MODULES) -> None:
    """Attach every module's commands; a module with neither list is a programming error."""
    for module in modules:
        commands = getattr(module, "COMMANDS", None)
        joins = getattr(module, "GROUP_COMMANDS", None)
        if not commands and not joins:
            raise RuntimeError(f"{module.__name__} has no COMMANDS: its commands would be dropped")
        for command in commands or ():
            group.add_command(command)
    for module in modules:
        for parent, commands in (getattr(module, "GROUP_COMMANDS", None) or {}).items():
            target = group.commands.get(parent)
            if not isinstance(target, click.Group):
                raise RuntimeError(f"{module.__name__} joins a group {parent!r} that is not there")
            for command in commands:
                target.add_command(command)
