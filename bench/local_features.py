"""Feature-extraction speed of one backbone: eager PyTorch vs channels_last vs ONNX Runtime.

    .venv/bin/python bench/local_features.py --backbone tf_efficientnet_lite2 --images 64

Random inputs at the backbone's preprocessing size, the pooled-feature extractor the cache uses,
torch.set_num_threads / ORT intra-op threads = --threads (0 = all cores). Prints images/s per
engine and batch size, and the machine's 1-minute load average (other jobs skew the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tf_efficientnet_lite2")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import numpy as np
    import torch

    from ops.data.manifest import BreedClass
    from ops.model.features import make_runner
    from ops.model.network import build_model, feature_extractor

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    built = build_model(args.backbone, [BreedClass(0, "n02085620", "Chihuahua")])
    size = built.preprocessing.input_size
    x = np.random.default_rng(0).standard_normal((args.images, 3, size, size)).astype(np.float32)
    results = {"backbone": built.backbone, "input": size, "threads": threads}

    def rate(fn, bs):
        fn(x[:bs])  # warm-up
        t0 = time.perf_counter()
        for i in range(0, args.images, bs):
            fn(x[i : i + bs])
        return round(args.images / (time.perf_counter() - t0), 1)

    eager = feature_extractor(built.model)

    def run_eager(batch):
        with torch.inference_mode():
            return eager(torch.from_numpy(batch))

    work = Path(tempfile.mkdtemp())
    engines = {
        "eager": run_eager,
        "channels_last": make_runner(feature_extractor(built.model), size, "torch", work, threads),
        "onnxruntime": make_runner(eager, size, "onnxruntime", work, threads),
    }
    for name, fn in engines.items():
        for bs in map(int, args.batch_sizes.split(",")):
            results[f"{name}_bs{bs}_img_s"] = rate(fn, bs)
            print(name, bs, results[f"{name}_bs{bs}_img_s"], flush=True)
    results["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
