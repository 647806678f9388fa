"""lambda_src stays a zip of small modules: standard library + boto3 + its siblings, and ops/ uses
only their public names (issue 22: the local gateway no longer reaches into the handler)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

LAMBDA_DIR = REPO_ROOT / "lambda_src"
ALLOWED_THIRD_PARTY = {"boto3", "botocore"}


def _imports(path: Path, nested: bool = True) -> list[tuple[str, list[str]]]:
    """(module, imported names) of the file's imports: all of them, or only the top-level ones."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree) if nested else tree.body:
        if isinstance(node, ast.Try):  # the zip's fallback: `try: from lambda_src import ...`
            found += [i for part in (node.body, *[h.body for h in node.handlers]) for i in part]
            continue
        found.append(node)
    out = []
    for node in found:
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [alias.name for alias in node.names]))
    return out


def _outside(path: Path, nested: bool, allowed: set[str]) -> set[str]:
    siblings = {p.stem for p in LAMBDA_DIR.glob("*.py")} | {"lambda_src", "__future__"}
    known = sys.stdlib_module_names | ALLOWED_THIRD_PARTY | siblings | allowed
    return {
        f"{path.name}: {module}"
        for module, _ in _imports(path, nested)
        if module.split(".")[0] not in known
    }


def test_each_lambda_module_needs_only_the_standard_library_boto3_and_its_siblings():
    """The endpoint mode's zip runs on the stock runtime: at import, every module needs only
    stdlib + boto3; only model.py's functions import the layer (numpy) and serve's runtime code
    (ops.local), which lambda mode ships."""
    top = set().union(*(_outside(p, False, set()) for p in LAMBDA_DIR.glob("*.py")))
    assert not top, f"lambda_src imports beyond stdlib + boto3 at import time: {sorted(top)}"
    nested = set().union(
        *(
            _outside(p, True, {"numpy", "ops"} if p.name == "model.py" else set())
            for p in LAMBDA_DIR.glob("*.py")
        )
    )
    assert not nested, f"lambda_src imports beyond stdlib + boto3: {sorted(nested)}"


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
