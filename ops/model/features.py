"""Frozen-backbone features, computed once and cached on disk.

In `head` mode the backbone never changes, so each image's pooled feature vector is computed once
and reused by every epoch and every later run. The cache lives under local.cache_dir, one folder per
(backbone, weights, preprocessing, view) key; inside, shards map an image's content hash (sha1 of
its bytes) to its feature vector, so renamed or re-prepared copies of the same image hit the cache
and an interrupted extraction keeps what it finished.

Fast path (measured in docs/local-training.md): the backbone runs under ONNX Runtime (about 2.5x
eager PyTorch on this 2-core CPU), with image decoding overlapped in a thread; on a GPU, or when
ONNX Runtime is unavailable, PyTorch runs it (channels_last, inference mode).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ops.model.backbone_onnx import backbone_session
from ops.model.preprocess import Preprocessing, decode_image, preprocess_image
from ops.progress import progress_bar

SHARD_SIZE = 2048


def content_hash(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def cache_key(backbone: str, weights_key: str, prep: Preprocessing, view: str = "plain") -> str:
    """Folder name of a cache: what changes the features changes the key."""
    raw = json.dumps([backbone, weights_key, prep.key(), view], sort_keys=True)
    return f"{backbone}-{view}-{hashlib.sha1(raw.encode()).hexdigest()[:16]}"


def _read_shard(shard: Path) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, features) of one shard, fully read (zip CRCs checked); ValueError if damaged."""
    try:
        with np.load(shard, allow_pickle=False) as data:
            hashes, features = data["hashes"], data["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    if hashes.ndim != 1 or features.ndim != 2 or len(hashes) != len(features):
        raise ValueError(f"shapes {hashes.shape} and {features.shape} do not match")
    if not np.isfinite(features).all():
        raise ValueError("non-finite feature values")
    return hashes, features


class FeatureStore:
    """content hash -> float32 vector, in .npz shards under one cache folder.

    Each shard has a fresh uuid name (never a count of files, so a missing shard cannot make a
    later one overwrite a good one) and is verified on read: a damaged one is dropped with a
    warning, and its images are computed again.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.table: dict[str, np.ndarray] = {}
        self.dropped: list[Path] = []
        dim = None
        for shard in sorted(self.folder.glob("shard-*.npz")):
            try:
                hashes, features = _read_shard(shard)
                if dim is not None and features.shape[1] != dim:
                    raise ValueError(f"features of {features.shape[1]} values, not {dim}")
            except ValueError as exc:
                warnings.warn(
                    f"feature cache shard {shard} is damaged ({exc}): dropped, its images will "
                    "be computed again",
                    stacklevel=2,
                )
                shard.unlink(missing_ok=True)
                self.dropped.append(shard)
                continue
            dim = features.shape[1]
            for h, v in zip(hashes, features, strict=True):
                self.table[str(h)] = v

    def add(self, hashes: list[str], features: np.ndarray) -> Path:
        """Record features and write them as one new shard (atomically); returns its path."""
        for h, v in zip(hashes, features, strict=True):
            self.table[h] = v
        name = uuid.uuid4().hex
        tmp = self.folder / f".shard-{name}.tmp.npz"
        np.savez(tmp, hashes=np.asarray(hashes), features=features.astype(np.float32))
        target = self.folder / f"shard-{name}.npz"
        os.replace(tmp, target)
        return target


def _load_batch(paths: Sequence[Path], prep: Preprocessing, flip: bool) -> np.ndarray:
    arrays = []
    for p in paths:
        img = decode_image(Path(p).read_bytes())
        arr = preprocess_image(img, prep)
        if flip:
            arr = np.ascontiguousarray(arr[:, :, ::-1])
        arrays.append(arr)
    return np.stack(arrays)


def make_runner(extractor, input_size: int, engine: str, work_dir: Path, threads: int = 0):
    """A function batch(np float32 NCHW) -> features (np), via ONNX Runtime or PyTorch."""
    import torch

    threads = threads or os.cpu_count() or 1
    if engine == "onnxruntime":
        try:  # the cached backbone.onnx is checked, and rebuilt when damaged
            session = backbone_session(extractor, input_size, work_dir, threads)
            return lambda x: session.run(["features"], {"input": x})[0]
        except Exception as exc:  # noqa: BLE001 - any exporter/runtime failure: fall back to PyTorch
            warnings.warn(
                f"ONNX Runtime cannot run the backbone ({type(exc).__name__}: {exc}): "
                "features are computed with PyTorch (slower)",
                stacklevel=2,
            )
    torch.set_num_threads(threads)
    device = next(extractor.parameters()).device
    model = extractor.eval().to(memory_format=torch.channels_last)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
            return model(t).float().cpu().numpy()

    return run


def extract_features(
    paths: Sequence[Path],
    extractor,
    prep: Preprocessing,
    cache_folder: Path,
    *,
    flip: bool = False,
    batch_size: int = 32,
    engine: str = "onnxruntime",
    threads: int = 0,
    progress: Callable[[int, int], None] | None = None,
    desc: str = "features",
) -> np.ndarray:
    """[len(paths), D] features for the images, computing only those not cached yet."""

    store = FeatureStore(cache_folder)
    hashes = [content_hash(p) for p in paths]
    todo_idx = [i for i, h in enumerate(hashes) if h not in store.table]
    # one entry per distinct missing image
    seen: set[str] = set()
    todo = [i for i in todo_idx if not (hashes[i] in seen or seen.add(hashes[i]))]
    if todo:
        run = make_runner(extractor, prep.input_size, engine, cache_folder, threads)
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        pending_h: list[str] = []
        pending_f: list[np.ndarray] = []
        bar = progress_bar(total=len(todo), desc=desc, unit="img", smoothing=0.1)
        with ThreadPoolExecutor(max_workers=1) as pool:
            nxt = pool.submit(_load_batch, [paths[i] for i in batches[0]], prep, flip)
            for b, batch in enumerate(batches):
                x = nxt.result()
                if b + 1 < len(batches):
                    nxt = pool.submit(_load_batch, [paths[i] for i in batches[b + 1]], prep, flip)
                feats = np.asarray(run(x), dtype=np.float32).reshape(len(batch), -1)
                pending_h += [hashes[i] for i in batch]
                pending_f.append(feats)
                if len(pending_h) >= SHARD_SIZE or b + 1 == len(batches):
                    store.add(pending_h, np.concatenate(pending_f))
                    pending_h, pending_f = [], []
                bar.update(len(batch))
                if progress:
                    progress(bar.n, len(todo))
        bar.close()
    return np.stack([store.table[h] for h in hashes]).astype(np.float32)


def timed(fn, *args, **kwargs):
    """(result, seconds) - used by the benchmark to report each step's cost."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
