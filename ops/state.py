"""`.dogbreed/state.json`: what one stage leaves for the next (training job, artifact, deployment).

Each top-level key belongs to one stage ("training", "tuning", "deployment", "serve", ...),
so stages never overwrite each other's records. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = ".dogbreed"


def state_path(root: Path | str | None = None) -> Path:
    """The state file: $DOGBREED_STATE_FILE, else <root or cwd>/.dogbreed/state.json."""
    env = os.environ.get("DOGBREED_STATE_FILE")
    if env:
        return Path(env)
    return Path(root or Path.cwd()) / DEFAULT_STATE_DIR / "state.json"


def load_state(path: Path | None = None) -> dict[str, Any]:
    """The whole state, or {} when nothing has been recorded yet."""
    path = path or state_path()
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def get_record(key: str, path: Path | None = None) -> dict[str, Any] | None:
    """One stage's record (e.g. "training"), or None."""
    return load_state(path).get(key)


def update_state(key: str, record: dict[str, Any], path: Path | None = None) -> Path:
    """Replace one stage's record, keeping the others; returns the file written."""
    path = path or state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = load_state(path)
    state[key] = record
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, path)
    return path
