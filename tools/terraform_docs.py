"""Inputs/outputs tables of each Terraform module README, generated from variables.tf and
outputs.tf between <!-- BEGIN_TF_DOCS --> / <!-- END_TF_DOCS --> markers (terraform-docs' layout;
terraform-docs itself does not install offline, python-hcl2 from PyPI parses HCL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def _plain(value: Any) -> Any:
    """python-hcl2 keeps string quotes and wraps expressions in ${...}; undo both."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return json.loads(value)
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if k != "__is_block__"}
    return value


def _blocks(path: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, body) of each `variable`/`output` block of a .tf file, in file order."""
    import hcl2

    if not path.is_file():
        return []
    with path.open() as f:
        parsed = hcl2.load(f)
    return [
        (_plain(name), _plain(body))
        for block in parsed.get(kind, [])
        for name, body in block.items()
    ]


def _hcl(value: Any) -> str:
    """A default value written the way Terraform prints it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_hcl(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def module_tables(module: Path) -> str:
    """The markdown between the markers: an Inputs and an Outputs table."""
    lines = [
        BEGIN,
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|---|---|---|---|:-:|",
    ]
    for name, body in _blocks(module / "variables.tf", "variable"):
        required = "default" not in body
        default = "n/a" if required else f"`{_cell(_hcl(body['default']))}`"
        typ = f"`{_cell(body.get('type', 'any'))}`"
        lines.append(
            f"| `{name}` | {_cell(body.get('description', ''))} | {typ} | {default} | "
            f"{'yes' if required else 'no'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, body in _blocks(module / "outputs.tf", "output"):
        lines.append(f"| `{name}` | {_cell(body.get('description', ''))} |")
    return "\n".join([*lines, END])


def render_readme(readme_text: str, module: Path) -> str:
    """The README with its marked block replaced. Without markers, hand-written `## Inputs` /
    `## Outputs` sections are replaced by the block; with neither, it is appended."""
    block = module_tables(module)
    if BEGIN in readme_text and END in readme_text:
        head, _, rest = readme_text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + block + tail
    lines = readme_text.splitlines(keepends=True)
    tables = [i for i, line in enumerate(lines) if line.strip() in ("## Inputs", "## Outputs")]
    if tables:
        end = next(
            (
                i
                for i in range(tables[-1] + 1, len(lines))
                if lines[i].startswith("## ")
                and lines[i].strip() not in ("## Inputs", "## Outputs")
            ),
            len(lines),
        )
        tail = "".join(lines[end:])
        return "".join(lines[: tables[0]]) + block + ("\n\n" + tail if tail else "\n")
    return readme_text.rstrip("\n") + "\n\n" + block + "\n"


def module_dirs(terraform_root: Path) -> list[Path]:
    return sorted(p.parent for p in (terraform_root / "modules").glob("*/variables.tf"))


def generate(terraform_root: Path) -> dict[Path, str]:
    """README path -> its up-to-date text, for every module."""
    out = {}
    for module in module_dirs(terraform_root):
        readme = module / "README.md"
        current = readme.read_text() if readme.is_file() else f"# {module.name}\n"
        out[readme] = render_readme(current, module)
    return out
