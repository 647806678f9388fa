"""Counts imports between the areas of ops/ (data, local, aws, serving, evaluate, pipeline) and
into ops.cli, so the layering rules can be measured and asserted (run: python tests/import_graph.py).
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

AREAS = ("data", "local", "aws", "serving", "evaluate", "pipeline")
ROOT = Path(__file__).resolve().parent.parent / "ops"


def _area(module: str) -> str | None:
    """The area of a dotted module name under ops, or None for ops' root modules."""
    parts = module.split(".")
    if parts[0] != "ops" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in AREAS else None


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path = ROOT) -> list[str]:
    """Every ops.* module one file imports (top level or inside functions), relative ones resolved."""
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "ops"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] == "ops":
                out.append(name)
    return out


def import_edges(root: Path = ROOT) -> Counter:
    """(from_area, to_area) -> number of import statements; to_area "cli" for ops.cli."""
    edges: Counter = Counter()
    for path in sorted(root.rglob("*.py")):
        src = _area(_module_name(path, root))
        if src is None:
            continue
        for target in imported_modules(path, root):
            if target == "ops.cli" or target.startswith("ops.cli."):
                edges[(src, "cli")] += 1
                continue
            dst = _area(target)
            if dst is not None and dst != src:
                edges[(src, dst)] += 1
    return edges


def main() -> int:
    edges = import_edges()
    for (src, dst), n in sorted(edges.items()):
        print(f"{src:>9} -> {dst:<9} {n}")
    print(f"total cross-area imports: {sum(n for (s, d), n in edges.items() if d != 'cli')}")
    print(f"area imports of ops.cli:  {sum(n for (s, d), n in edges.items() if d == 'cli')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
