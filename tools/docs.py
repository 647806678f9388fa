"""`make docs` / `make docs-check`: regenerate docs/settings.md, the module READMEs' tables and
the commented defaults of dogbreed.toml; with --check, list the stale files and exit 1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools import settings_docs, terraform_docs

ROOT = Path(__file__).resolve().parents[1]


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file -> its up-to-date text."""
    toml = root / "dogbreed.toml"
    return {
        root / "docs" / "settings.md": settings_docs.settings_markdown(),
        toml: settings_docs.complete_toml(toml.read_text()),
        **terraform_docs.generate(root / "terraform"),
    }


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose text on disk differs from what `make docs` would write."""
    return [p for p, text in generated(root).items() if not p.is_file() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"stale: {path.relative_to(ROOT)} (run `make docs`)", file=sys.stderr)
        return 1 if old else 0
    for path, text in generated().items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
