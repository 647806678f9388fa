"""Documentation that cannot drift: every setting is in dogbreed.toml and docs/settings.md, the
module READMEs' tables match variables.tf/outputs.tf, and `make docs` has nothing left to write
(in the manner of datasette's tests/test_docs.py)."""

from __future__ import annotations

import dataclasses
import re
import tomllib

import pytest

from ops.settings import section_fields
from tests.conftest import REPO_ROOT
from tools import docs, settings_docs, terraform_docs

SETTINGS = [(section, f) for section, f in section_fields()]


def _default(f):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


@pytest.mark.parametrize(("section", "field"), SETTINGS, ids=[f"{s}.{f.name}" for s, f in SETTINGS])
def test_every_setting_is_in_dogbreed_toml_and_the_reference(section, field):
    keys = settings_docs.keys_in_toml((REPO_ROOT / "dogbreed.toml").read_text())
    assert field.name in keys.get(section, set()), f"{section}.{field.name} missing: run make docs"
    reference = (REPO_ROOT / "docs" / "settings.md").read_text()
    assert f"| `{section}.{field.name}` |" in reference


def test_commented_defaults_in_dogbreed_toml_are_valid_toml_and_the_real_defaults():
    text = (REPO_ROOT / "dogbreed.toml").read_text()
    lines = text.splitlines()
    defaults = {(s, f.name): _default(f) for s, f in SETTINGS}
    checked = 0
    for section, (start, end) in settings_docs.toml_sections(text).items():
        for line in lines[start:end]:
            m = re.match(r"^#\s*(\w+)\s*=", line)
            if m and (section, m.group(1)) in defaults:
                value = tomllib.loads(line.lstrip("# "))[m.group(1)]
                assert value == defaults[(section, m.group(1))], line
                checked += 1
    assert checked > 10


def test_generated_files_are_current():
    assert docs.stale() == [], "run `make docs` and commit the result"


def test_module_tables_follow_variables_and_outputs(tmp_path):
    module = tmp_path / "modules" / "thing"
    module.mkdir(parents=True)
    (module / "variables.tf").write_text(
        'variable "name" {\n  description = "What it is | called."\n  type = string\n}\n\n'
        'variable "sizes" {\n  description = "Sizes."\n  type = list(number)\n'
        "  default = [1, 2]\n}\n\n"
        'variable "key" {\n  type    = string\n  default = null\n}\n'
    )
    (module / "outputs.tf").write_text(
        'output "arn" {\n  description = "ARN of the thing."\n  value = "x"\n}\n'
    )
    (module / "README.md").write_text(
        f"# thing\n\nHand-written.\n\n{terraform_docs.BEGIN}\nold\n{terraform_docs.END}\n\nTail.\n"
    )
    ((readme, text),) = terraform_docs.generate(tmp_path).items()
    assert readme == module / "README.md"
    assert text.startswith("# thing\n\nHand-written.\n\n") and text.endswith("\n\nTail.\n")
    assert "| `name` | What it is \\| called. | `string` | n/a | yes |" in text
    assert "| `sizes` | Sizes. | `list(number)` | `[1, 2]` | no |" in text
    assert "| `key` |  | `string` | `null` | no |" in text
    assert "| `arn` | ARN of the thing. |" in text and "old" not in text


def test_complete_toml_adds_missing_settings_commented_and_keeps_existing_lines():
    text = "# header\n[data]\nseed = 3       # mine\n\n# about the next one\n[serve]\nport = 1\n"
    out = settings_docs.complete_toml(text)
    assert out.startswith('# header\n[data]\nseed = 3       # mine\n# source = ""\n')
    assert "# about the next one\n[serve]\nport = 1\n" in out
    assert settings_docs.complete_toml(out) == out  # idempotent
    assert '\n[evaluate]\n# reports_dir = "reports"\n' in out  # a missing section is appended


def test_hand_written_tables_without_markers_are_replaced(tmp_path):
    """A new module's README with its own ## Inputs/## Outputs: `make docs` takes them over."""
    module = tmp_path / "modules" / "new"
    module.mkdir(parents=True)
    (module / "variables.tf").write_text('variable "size" {\n  type = number\n}\n')
    (module / "README.md").write_text(
        "# new\n\nIntro.\n\n## Inputs\n\n| old |\n\n## Outputs\n\n| old |\n\n## Requirements\n\nTf.\n"
    )
    (text,) = terraform_docs.generate(tmp_path).values()
    assert text.startswith(f"# new\n\nIntro.\n\n{terraform_docs.BEGIN}\n## Inputs\n")
    assert text.endswith(f"{terraform_docs.END}\n\n## Requirements\n\nTf.\n")
    assert "| old |" not in text and text.count("## Inputs") == 1
