"""lambda_src stays a zip of small modules: standard library + boto3 + its siblings, and ops/ uses
only their public names (issue 22: the local gateway no longer reaches into the handler)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

LAMBDA_DIR = REPO_ROOT / "lambda_src"
ALLOWED_THIRD_PARTY = {"boto3", "botocore"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import in the file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_each_lambda_module_needs_only_the_standard_library_boto3_and_its_siblings():
    siblings = {p.stem for p in LAMBDA_DIR.glob("*.py")}
    outside = {
        f"{path.name}: {module}"
        for path in sorted(LAMBDA_DIR.glob("*.py"))
        for module, _ in _imports(path)
        if module.split(".")[0] not in sys.stdlib_module_names | ALLOWED_THIRD_PARTY | siblings
        and module.split(".")[0] not in ("lambda_src", "__future__")
    }
    assert not outside, f"lambda_src imports beyond stdlib + boto3: {sorted(outside)}"


def test_no_handler_module_is_long():
    long = {
        p.name: n for p in LAMBDA_DIR.glob("*.py") if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long, f"lambda_src modules over 300 lines: {long}"


def test_ops_uses_only_public_names_of_lambda_src():
    private = {
        f"{path.relative_to(REPO_ROOT)}: {module}.{name}"
        for path in sorted((REPO_ROOT / "ops").rglob("*.py"))
        for module, names in _imports(path)
        if module.startswith("lambda_src")
        for name in names
        if name.startswith("_")
    }
    assert not private, f"ops reaches into lambda_src internals: {sorted(private)}"
