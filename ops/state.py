"""`.dogbreed/state.json`: what one stage leaves for the next (training job, artifact, deployment).

Each top-level key belongs to one stage ("training", "tuning", "deployment", "serve", ...),
so stages never overwrite each other's records. There is one writer, `update_state`: it holds an
exclusive lock (fcntl, on its folder) across read-modify-write, so concurrent processes
never lose each other's keys, and writes atomically (temp file + fsync + rename), so a reader
never sees half a file. A corrupt file is a one-line DogbreedError naming it; a writer moves it
aside (`state.json.corrupt-<time>`) and starts afresh, so finished work is still recorded.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError
from ops.state_shape import record_problem

DEFAULT_STATE_DIR = ".dogbreed"


def state_path(root: Path | str | None = None) -> Path:
    """The state file: $DOGBREED_STATE_FILE, else <root or cwd>/.dogbreed/state.json."""
    env = os.environ.get("DOGBREED_STATE_FILE")
    if env:
        return Path(env)
    return Path(root or Path.cwd()) / DEFAULT_STATE_DIR / "state.json"


class CorruptStateError(DogbreedError):
    """The state file exists but is not a JSON object."""


def _parse(path: Path) -> dict[str, Any]:
    """The state file's object, {} when absent; CorruptStateError naming the file otherwise."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise DogbreedError(
            f"cannot read the state file {path}: {exc}",
            hint="check its permissions, or delete it (stages record themselves again)",
        ) from exc
    if not text.strip():
        return {}  # an empty file: nothing recorded
    try:
        state = json.loads(text)
    except ValueError as exc:
        state, problem = None, f"not valid JSON ({exc})"
    else:
        problem = f"a JSON {type(state).__name__}, not an object"
        if isinstance(state, dict):  # each stage's record: an object with fields of the right type
            problem = next(filter(None, (record_problem(k, v) for k, v in state.items())), None)
            state = state if problem is None else None
    if not isinstance(state, dict):
        raise CorruptStateError(
            f"the state file {path} is corrupt: {problem}",
            hint="fix or delete it; the next stage that records itself writes a fresh one",
        )
    return state


def load_state(path: Path | None = None) -> dict[str, Any]:
    """The whole state, or {} when nothing has been recorded yet."""
    return _parse(path or state_path())


def get_record(key: str, path: Path | None = None) -> dict[str, Any] | None:
    """One stage's record (e.g. "training"), or None."""
    return load_state(path).get(key)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock for the state file (blocks until other writers finish).

    The lock is on the state file's folder: the file itself is replaced by each write, and a
    lock file would be one more thing left lying around.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_atomic(path: Path, state: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update_state(
    key: str,
    record: dict[str, Any],
    path: Path | None = None,
    *,
    only_if: Callable[[dict[str, Any] | None], bool] | None = None,
) -> Path:
    """Replace one stage's record, keeping the others; returns the file written.

    `only_if(current record)` false leaves the record as it is, decided under the lock: a `serve`
    that stops clears its own record, not the one a second `serve` wrote since. A corrupt file
    is moved aside with a warning rather than failing the stage that just finished its work.
    """
    path = path or state_path()
    try:
        _update(path, key, record, only_if)
    except OSError as exc:  # a read-only or full file system, a folder we may not write
        raise DogbreedError(
            f"cannot write the state file {path}: {exc.strerror or exc}",
            hint="make its folder writable, or set DOGBREED_STATE_FILE to another file",
        ) from exc
    return path


def _update(path: Path, key: str, record: dict[str, Any], only_if) -> None:
    """update_state under the lock: read, replace one record (moving a corrupt file aside), write."""
    with _locked(path):
        try:
            state = _parse(path)
        except CorruptStateError as exc:
            aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, aside)
            warnings.warn(
                f"{exc.message}; moved it to {aside} and started a fresh one", stacklevel=4
            )
            state = {}
        if only_if is not None and not only_if(state.get(key)):
            return
        state[key] = record
        _write_atomic(path, state)
