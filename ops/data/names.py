"""Names read from list files, manifests, exclusion lists and label maps: checked where they enter.

A path must be a plain relative name that stays inside its root (no `/` at the start, no `..`,
no link leading out), and no name may hold a TAB, newline or other control character (a TAB would
break an `.lst` line; an escape would reach a terminal). A bad one is a one-line DogbreedError
naming the file and line, `where`.
"""

from __future__ import annotations

from pathlib import Path

from ops.errors import DogbreedError
from ops.safe_text import control_names, for_terminal, has_control


def check_text(text: str, where: str, what: str = "name") -> str:
    """`text` unless it holds a control character; else an error naming `where`."""
    if has_control(text):
        raise DogbreedError(
            f"{for_terminal(where)}: the {what} {for_terminal(text)!r} contains a control character "
            f"({control_names(text)})",
            exit_code=2,
            hint="rename it: names may not hold TAB, newline or other control characters",
        )
    return text


class InsideRoot:
    """Whether names resolve inside `root`: each folder is resolved once, then each name costs
    one lstat (only a link is resolved), so a 20,000-line list is checked in a fraction of a second."""

    def __init__(self, root: Path):
        self.root, self.resolved = root, root.resolve()
        self.folders: dict[str, bool] = {}

    def __call__(self, rel: str) -> bool:
        folder = rel.rpartition("/")[0]
        if folder not in self.folders:
            self.folders[folder] = (self.root / folder).resolve().is_relative_to(self.resolved)
        path = self.root / rel
        return self.folders[folder] and (
            not path.is_symlink() or path.resolve().is_relative_to(self.resolved)
        )


def check_relative(rel: str, where: str, root: Path | None = None, inside=None) -> str:
    """`rel` when it is a plain relative path (and, given `root`, resolves inside it)."""
    check_text(rel, where)
    parts = rel.split("/")
    plain = not rel.startswith("/") and all(p not in ("", ".", "..") for p in parts)
    if plain and root is not None:
        plain = (inside or InsideRoot(root))(rel)
    if not plain:
        inside = f" inside {root}" if root is not None else ""
        raise DogbreedError(
            f"{where}: {rel!r} is not a relative path{inside}",
            exit_code=2,
            hint="list files name images as <class folder>/<file>, without / at the start or ..",
        )
    return rel


def check_relatives(
    rels: list[str], where: str, root: Path | None = None, lines: list[int] | None = None
) -> list[str]:
    """Every name of a list checked; `lines` gives each one's line number for `where:line`."""
    inside = InsideRoot(root) if root is not None else None
    for i, rel in enumerate(rels):
        check_relative(rel, f"{where}:{lines[i] if lines else i + 1}", root, inside)
    return rels
