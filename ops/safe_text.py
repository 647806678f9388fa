"""Text from data, models or servers made safe for where it goes: terminals, spreadsheets, file names.

Class names, file names and server messages are data: an ANSI/OSC escape in a breed name must not
clear a terminal or retitle it, and a CSV cell starting with `=` must not become a formula. A leaf
(stdlib only); the checks of list files and manifests (ops/data/names.py) use the same pattern.
"""

from __future__ import annotations

import csv
import re
import typing

# C0 controls (TAB, newline, ESC, ...), DEL, C1 controls (CSI 0x9b, OSC 0x9d, ...), the Unicode
# line and paragraph separators, and the bidirectional overrides that reorder what is shown.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# A whole escape sequence: CSI (ESC [ ... final byte) and OSC (ESC ] ... BEL or ESC \), so that
# no printable remainder of it ("[2J", "]0;title") reaches the screen either.
_ESCAPE_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-Z\\-_]"
)
# OWASP CSV injection: cells starting with these are read as formulas by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def has_control(text: str) -> bool:
    return CONTROL_RE.search(text) is not None


def for_terminal(text: object) -> str:
    """`text` with escape sequences removed and any other control character shown as U+FFFD."""
    return CONTROL_RE.sub("\ufffd", _ESCAPE_RE.sub("", str(text)))


def control_names(text: str) -> str:
    """The control characters of `text`, named for an error message: "TAB, U+001B"."""
    named = {"\t": "TAB", "\n": "newline", "\r": "carriage return"}
    found = dict.fromkeys(CONTROL_RE.findall(text))
    return ", ".join(named.get(c, f"U+{ord(c):04X}") for c in found)


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text (OWASP: a leading ' before =, +, -, @, TAB,
    CR). Numbers are left as they are, so negative numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_uncell(value: str) -> str:
    """What csv_cell escaped, read back."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


class _FormulaSafeWriter:
    """csv.writer whose every cell goes through csv_cell."""

    def __init__(self, fh: typing.IO[str]):
        self._writer = csv.writer(fh)

    def writerow(self, row: typing.Iterable[object]) -> object:
        return self._writer.writerow([csv_cell(cell) for cell in row])


def csv_writer(fh: typing.IO[str]) -> _FormulaSafeWriter:
    """The CSV writer of every CSV this tool writes: no cell can start a spreadsheet formula."""
    return _FormulaSafeWriter(fh)
