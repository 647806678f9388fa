"""Click options shared by several commands, declared once (as datasette's publish/common.py does).

Each factory returns a decorator; `help` varies per command because the default differs.
`section_flags` turns flags named after the keys of one settings section into overrides.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from ops.settings_bounds import is_http_url

ARTIFACT_HELP = "Model artifact folder or model.tar.gz (default: the last `dogbreed train`, local)."


def data_option(help: str = "Prepared data folder (default: data.prepared_dir)."):
    """`--data` -> `prepared_dir`: the prepared data folder."""
    return click.option(
        "--data", "prepared_dir", type=click.Path(file_okay=False, path_type=Path), help=help
    )


def out_option(help: str):
    """`--out` -> `out_dir`: the folder a command writes."""
    return click.option(
        "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help=help
    )


def quiet_option(help: str = "No progress bar."):
    """`--quiet`: no progress bars."""
    return click.option("--quiet", is_flag=True, help=help)


def artifact_option(help: str = ARTIFACT_HELP):
    """`--artifact`: a model artifact folder or model.tar.gz."""
    return click.option("--artifact", type=click.Path(path_type=Path), help=help)


def host_option(help: str):
    """`--host`: the interface a server listens on."""
    return click.option("--host", help=help)


def port_option(help: str, name: str = "--port"):
    """`--port` (or `--api-port`): a TCP port, 0 for any free one."""
    return click.option(name, type=click.IntRange(0, 65535), help=help)


class FiniteRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (which compare as inside any range)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class HttpUrl(click.ParamType):
    """An http(s)://host[:port] URL (a usage error otherwise, before anything starts)."""

    name = "url"

    def convert(self, value, param, ctx):

        if not is_http_url(str(value)):
            self.fail(f"{value!r} is not an http:// or https:// URL with a host", param, ctx)
        return str(value)


def json_option():
    """`--json` -> `as_json`: machine-readable output."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")


def api_key_option(help: str):
    """`--api-key`: the x-api-key header of an API."""
    return click.option("--api-key", help=help)


def section_flags(section: str, **flags: Any) -> dict[str, Any]:
    """Flags named as the keys of one settings section -> `AppContext.override` keywords
    (`section__key`); a flag left unset (None) keeps the settings' value."""
    return {f"{section}__{name}": value for name, value in flags.items()}
