"""Progress bars that suit where they go: a live tqdm bar on a terminal, and in a log (stderr not
a terminal) one line at the start, about every 10 %, and at the end, instead of a carriage-return
update per step (the `make demo` log held about 1,400 of those)."""

from __future__ import annotations

import sys
from typing import Any

LOG_STEPS = 10  # lines per bar in a log, besides the first and the last
LOG_SECONDS_UNKNOWN_TOTAL = 30.0  # a bar without a total: one line per this many seconds


class _LineFile:
    """tqdm's output as whole lines: every refresh becomes one line, blank refreshes vanish."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_bar(iterable: Any = None, **kwargs: Any):
    """tqdm(iterable, **kwargs), live on a terminal and quiet (lines every ~10 %) in a log."""
    from tqdm import tqdm  # lazy: 0.1 s of import that most commands never need

    stream = kwargs.pop("file", None) or sys.stderr
    if kwargs.get("disable") or is_terminal(stream):
        return tqdm(iterable, file=stream, **kwargs)
    total = kwargs.get("total")
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if total:
        kwargs.update(miniters=max(1, int(total) // LOG_STEPS), mininterval=0)
    else:
        kwargs.update(mininterval=LOG_SECONDS_UNKNOWN_TOTAL)
    kwargs.update(ascii=True, ncols=100, dynamic_ncols=False, leave=True)
    return tqdm(iterable, file=_LineFile(stream), **kwargs)
