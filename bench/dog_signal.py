"""Does the model refuse non-dogs and keep dogs? Real non-dog photos from PyPI wheels vs dogs.

Non-dog photos: the real photographs that ship inside the scikit-image wheel (skimage/data/*.png,
*.jpg, read from the installed package: no download) and matplotlib's sample_data. Dogs: the
validation images of a prepared folder, through the same runtime (`--validation N` samples N of
them, seeded). For each signal (the model's ImageNet dog score, and the top-probability fallback)
it prints the refusal rates at the artifact's thresholds.

    .venv/bin/python bench/dog_signal.py --artifact artifacts/latest --data data/prepared \\
        --validation 600 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

# Real photographs only (synthetic drawings, binary masks and charts are left out).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "microaneurysms.png",
    "moon.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "page.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)
# (sample_data's Minduka_Present_Blue_Pack.png is a rendered icon, not a photo: left out)
MATPLOTLIB_PHOTOS = ("grace_hopper.jpg",)


def non_dog_photos() -> list[Path]:
    """The photo files as installed (a missing package or file is reported, not skipped)."""
    import matplotlib
    import skimage

    found = [Path(skimage.__file__).parent / "data" / name for name in SKIMAGE_PHOTOS]
    sample = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data"
    found += [sample / name for name in MATPLOTLIB_PHOTOS]
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
        raise SystemExit(f"not in the installed wheels: {', '.join(missing)}")
    return found


def score(runtime, paths: list[Path]) -> list[dict]:
    """Dog score, top probability and top breed of each image, through the runtime's policy."""
    rows = []
    for path in paths:
        out = runtime.classify_bytes(path.read_bytes())
        top = runtime.top_k(out.probabilities, 1)[0]
        rows.append(
            {
                "image": path.name,
                "dog_score": out.dog_score if out.dog_signal != "top_probability" else None,
                "top_probability": float(out.probabilities.max()),
                "top_breed": top.name,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", default="artifacts/latest")
    parser.add_argument("--data", default="data/prepared", help="prepared folder (validation dogs)")
    parser.add_argument("--validation", type=int, default=600, help="validation dogs to sample")
    parser.add_argument("--policy", default="resize")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from ops.data.manifest import PreparedData
    from ops.endpoint.onnx_runtime import load_runtime

    runtime = load_runtime(args.artifact, photo_policy=args.policy)
    dog, t_dog = runtime.dog, runtime.dog["threshold"]
    t_top = dog["top_probability_threshold"]
    print(
        f"artifact {runtime.source}: signal {dog['signal']}, thresholds dog {t_dog:.4f}, "
        f"top probability {t_top:.4f}; policy {args.policy}"
    )

    t0 = time.perf_counter()
    others = score(runtime, non_dog_photos())
    items = PreparedData(Path(args.data)).image_paths("validation")
    random.Random(0).shuffle(items)
    dogs = score(runtime, [p for p, _ in items[: args.validation]])
    seconds = time.perf_counter() - t0

    print(f"\n{'non-dog photo':28} {'dog score':>10} {'top prob':>9}  top breed")
    for r in others:
        ds = "-" if r["dog_score"] is None else f"{r['dog_score']:.4f}"
        print(f"{r['image']:28} {ds:>10} {r['top_probability']:9.4f}  {r['top_breed']}")

    summary = {
        "non_dog_photos": len(others),
        "validation_dogs": len(dogs),
        "seconds": round(seconds, 1),
    }
    signals = [("top_probability", "top_probability", t_top)]
    if dog["output"]:
        signals.insert(0, ("imagenet", "dog_score", t_dog))
    print(f"\n{'signal':16} {'threshold':>9} {'non-dogs refused':>17} {'dogs accepted':>14}")
    for name, key, threshold in signals:
        refused = np.mean([r[key] < threshold for r in others])
        kept = np.mean([r[key] >= threshold for r in dogs])
        summary[name] = {
            "threshold": threshold,
            "non_dogs_refused": round(float(refused), 4),
            "false_acceptance": round(float(1 - refused), 4),
            "dogs_accepted": round(float(kept), 4),
            "false_refusal": round(float(1 - kept), 4),
        }
        print(f"{name:16} {threshold:9.4f} {refused:16.1%} {kept:13.1%}")
    print(f"\n({len(others) + len(dogs)} images in {seconds:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "non_dogs": others}, indent=2) + "\n")


if __name__ == "__main__":
    main()
