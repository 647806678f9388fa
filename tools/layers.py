"""The shape of ops/, counted from its imports: layer order, cycles, hidden imports, commands.

Run `python -m tools.layers` for the counts (exit 1 on any violation); tests/test_structure.py
asserts the same rules on the real tree and on planted defects. Why a script of our own: the
rules are this project's layer order, and ast from the standard library reads them in 200 lines
(import-linter would need a second configuration of the same order, and it cannot see commands).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ops"

# The data path, earliest first. A stage imports only earlier stages and the leaves.
STAGES = (
    "data",
    "model",
    "artifact",
    "train",
    "audit",
    "endpoint",
    "api",
    "deploy",
    "evaluate",
    "pipeline",
)
# Leaves: imported by any stage, importing no stage. `aws` is the boto3 leaf.
LEAVES = (
    "errors",
    "settings",
    "settings_sections",
    "hyperparameters",
    "state",
    "context",
    "options",
    "progress",
    "run_lock",
    "settings_bounds",
    "state_shape",
    "archives",
    "safe_text",
    "hashing",
    "records",
    "aws",
)
# The composition: the click group and its registry sit above every stage.
TOP = ("cli", "cli_errors", "commands", "__main__", "config_command")
# Command modules outside a stage folder: the project-wide `config` (settings are a leaf).
ROOT_COMMAND_MODULES = ("ops.config_command",)

# Imports that may sit inside a function: slow to import (>= 0.1 s here), so the CLI stays quick.
HEAVY_EXTERNAL = {
    "torch",
    "torchvision",
    "timm",
    "onnx",
    "onnxruntime",
    "matplotlib",
    "cleanlab",
    "skimage",
    "sklearn",
    "scipy",
    "numpy",
    "boto3",
    "botocore",
    "requests",
    "jinja2",
    "python_terraform",
    "imagehash",
    "sagemaker_inference",
}
# A hidden import of a light module must say why on its line (a cycle it breaks, ...).
REASON_MARK = "# lazy:"


@dataclass
class Import:
    source: str  # the importing module (dotted)
    target: str  # the imported ops module, or the external top-level package
    line: int
    in_function: bool
    reason: bool  # the line carries a REASON_MARK comment


@dataclass
class Tree:
    root: Path
    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports_of(path: Path, root: Path, modules: set[str]) -> list[Import]:
    here = module_name(path, root)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    out: list[Import] = []

    def add(name: str, node: ast.stmt, in_function: bool) -> None:
        target = name if name.split(".")[0] == "ops" else name.split(".")[0]
        reason = REASON_MARK in lines[node.lineno - 1]
        out.append(Import(here, target, node.lineno, in_function, reason))

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, in_function)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child, here, path.name == "__init__.py")
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    add(full if full in modules else base, child, in_function)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only: never executed
            else:
                visit(child, inside)

    visit(tree, False)
    return out


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def read_tree(root: Path = ROOT) -> Tree:
    tree = Tree(root)
    for path in sorted(root.rglob("*.py")):
        tree.modules[module_name(path, root)] = path
    names = set(tree.modules)
    for path in tree.modules.values():
        tree.imports += _imports_of(path, root, names)
    return tree


def folder_of(module: str) -> str:
    """The stage, leaf or top name of a dotted ops module ("ops" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ops"


def rank(folder: str) -> int:
    if folder in LEAVES or folder == "ops":
        return 0
    if folder in STAGES:
        return 1 + STAGES.index(folder)
    if folder in TOP:
        return 1 + len(STAGES)
    return -1  # unknown: a new folder must be placed in the order first


def ops_imports(tree: Tree) -> list[Import]:
    return [i for i in tree.imports if i.target.split(".")[0] == "ops"]


def back_imports(tree: Tree) -> list[Import]:
    """Imports against the layer order: a stage importing a later stage, a leaf importing a stage."""
    bad = []
    for imp in ops_imports(tree):
        src, dst = folder_of(imp.source), folder_of(imp.target)
        if src == dst:
            continue
        if (
            rank(src) < 0
            or rank(dst) < 0
            or rank(dst) > rank(src)
            or (rank(src) == 0 and dst in STAGES)
        ):
            bad.append(imp)
    return bad


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in list(edges):
        if v not in index:
            strong(v)
    return out


def file_cycles(tree: Tree) -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in ops_imports(tree):
        if imp.target in tree.modules and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    return _cycles(edges)


def folder_cycles(tree: Tree) -> list[list[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in ops_imports(tree):
        src, dst = folder_of(imp.source), folder_of(imp.target)
        if src != dst:
            edges[src].add(dst)
    return _cycles(edges)


def heavy_modules(tree: Tree) -> set[str]:
    """ops modules whose top-level imports reach a heavy library (directly or through ops)."""
    heavy: set[str] = set()
    top = [i for i in tree.imports if not i.in_function]
    changed = True
    while changed:
        changed = False
        for imp in top:
            if imp.source in heavy:
                continue
            if imp.target in HEAVY_EXTERNAL or imp.target in heavy:
                heavy.add(imp.source)
                changed = True
    return heavy


def hidden_imports(tree: Tree) -> list[Import]:
    """Imports inside functions of light modules that give no reason on their line."""
    heavy = heavy_modules(tree)
    return [
        i
        for i in tree.imports
        if i.in_function
        and not i.reason
        and i.target not in HEAVY_EXTERNAL
        and i.target not in heavy
        and (i.target.split(".")[0] == "ops" or i.target in sys.stdlib_module_names)
    ]


def command_modules(tree: Tree) -> dict[str, Path]:
    """Modules that define click commands or a COMMANDS list."""
    out = {}
    for name, path in tree.modules.items():
        text = path.read_text(encoding="utf-8")
        if "COMMANDS" in text and ("@click.command" in text or "@click.group" in text):
            out[name] = path
    return out


def misplaced_commands(tree: Tree) -> list[str]:
    """Command modules outside a stage folder (config excepted) and string-registered modules."""
    bad = [
        name
        for name in command_modules(tree)
        if folder_of(name) not in STAGES and name not in ROOT_COMMAND_MODULES
    ]
    registry = tree.modules.get("ops.commands")
    if registry is not None:
        for node in ast.walk(ast.parse(registry.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("ops.")
            ):
                bad.append(f"string-registered: {node.value}")
    return bad


def report(tree: Tree) -> dict[str, int]:
    return {
        "modules": len(tree.modules),
        "imports between ops modules": len(ops_imports(tree)),
        "folder cycles": len(folder_cycles(tree)),
        "file cycles": len(file_cycles(tree)),
        "imports against the layer order": len(back_imports(tree)),
        "hidden imports of light modules": len(hidden_imports(tree)),
        "command modules outside their stage": len(misplaced_commands(tree)),
    }


def main(argv: list[str]) -> int:
    """Print the counts (and with -v every violation); exit 1 when any rule is broken."""
    paths = [a for a in argv if a != "-v"]
    tree = read_tree(Path(paths[0]) if paths else ROOT)
    counts = report(tree)
    for key, value in counts.items():
        print(f"{key:>38}: {value}")
    if "-v" in argv:
        for imp in back_imports(tree):
            print(f"back-import  {imp.source}:{imp.line} -> {imp.target}")
        for cyc in folder_cycles(tree) + file_cycles(tree):
            print("cycle        " + " <-> ".join(cyc))
        for imp in hidden_imports(tree):
            print(f"hidden       {imp.source}:{imp.line} -> {imp.target}")
        for name in misplaced_commands(tree):
            print(f"command      {name}")
    bad = sum(v for k, v in counts.items() if k not in ("modules", "imports between ops modules"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
