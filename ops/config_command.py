"""`dogbreed config`: the effective settings and where each value came from, like
`git config --list --show-origin` (default, file:PATH, env:NAME or command line)."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from ops.context import pass_app
from ops.options import json_option
from ops.settings import Settings, section_fields


def is_secret(key: str) -> bool:
    """Settings printed as *** when set: API keys (evaluate.api_key, serve.api_key, ...)."""
    return key.endswith(("api_key", "secret", "password", "token"))


def effective_settings(settings: Settings) -> list[dict[str, Any]]:
    """Every setting as {"key", "value", "origin"}, in the order Settings declares them."""
    rows = []
    for section, f in section_fields():
        key = f"{section}.{f.name}"
        value = getattr(getattr(settings, section), f.name)
        if is_secret(key) and value:
            value = "***"
        rows.append({"key": key, "value": value, "origin": settings.origins.get(key, "default")})
    return rows


def _toml_key(key: str) -> str:
    """A bare TOML key when it can be one, else a quoted one ("ml.p3.2xlarge")."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """A value as it would be written in dogbreed.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        items = (f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


@click.command("config")
@click.option(
    "--show-origin/--no-origin",
    default=True,
    show_default=True,
    help="Prefix each line with where its value came from.",
)
@click.option("--changed", is_flag=True, help="Only the settings that differ from the defaults.")
@json_option()
@pass_app
def config(app, show_origin, changed, as_json):
    """Print the effective settings (file < DOGBREED_* environment < flags), one key=value a line.

    Each line starts with the value's origin: "default", "file:PATH", "env:NAME" or
    "command line" (--backend, --set). Secrets are shown as ***.
    """
    rows = effective_settings(app.settings)
    if changed:
        rows = [r for r in rows if r["origin"] != "default"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["origin"]) for r in rows), default=0)
    for r in rows:
        line = f"{r['key']}={toml_value(r['value'])}"
        click.echo(f"{r['origin']:<{width}}  {line}" if show_origin else line)


COMMANDS = [config]
