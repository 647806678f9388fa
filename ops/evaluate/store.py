"""The resumable side of a run: what identifies it (run_key) and its append-only JSONL of records.

Each answer is appended as it arrives (one line per image), so an interrupted run continues where
it stopped. The file's first line is a header naming what was evaluated (manifest + model or URL);
a different run gets a different file, so runs never mix.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError


def manifest_digest(path: Path) -> str:
    """The manifest's content hash: an edited manifest is another run."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_key(manifest: Path, model: str, top_k: int) -> dict[str, Any]:
    """What identifies a run: the manifest (path + content) and the model (or URL) answering."""
    manifest = Path(manifest).resolve()
    return {
        "manifest": str(manifest),
        "manifest_sha256": manifest_digest(manifest),
        "model": model,
        "top_k": int(top_k),
    }


def key_digest(key: Any, length: int) -> str:
    """A short hex name for a run key (the report folder's, the results file's, the batch
    transform job's)."""
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:length]


def results_file(out_dir: Path, key: dict[str, Any]) -> Path:
    """The run's JSONL in `out_dir`, named by its key so that two runs never share one."""
    return Path(out_dir) / f"results-{key_digest(key, 12)}.jsonl"


class ResultStore:
    """The append-only JSONL of one run: a header line with the key, then one record per image.
    The latest record of an image wins (a failure retried later is replaced by its answer)."""

    def __init__(self, path: Path, key: dict[str, Any]):
        self.path = Path(path)
        self.key = key
        self.records: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            # The last line was cut by an interruption: drop it from the file too, or the next
            # append would be glued to it and that record lost. Its image is sent again.
            keep = raw.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
            raw = raw[:keep]
        lines = raw.decode("utf-8", errors="replace").splitlines()
        if not lines:
            return
        try:
            header = json.loads(lines[0])
        except ValueError:
            header = {}
        if header.get("key") != self.key:
            raise DogbreedError(
                f"{self.path} belongs to another run",
                hint="delete it, or pass another --out folder",
            )
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by an interruption: that image is sent again
            self.records[int(record["i"])] = record

    def answered(self) -> set[int]:
        """Indexes of the images with an answer: a re-run does not send them again."""
        return {i for i, r in self.records.items() if r.get("ok")}

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Write records at once (flushed), the header first when the file is new."""
        records = list(records)
        with self._lock:
            new = not self.path.is_file() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as fh:
                if new:
                    fh.write(json.dumps({"key": self.key}) + "\n")
                for record in records:
                    fh.write(json.dumps(record) + "\n")
                    self.records[int(record["i"])] = record
                fh.flush()
