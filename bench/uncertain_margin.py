"""How often is an answer "A or B", and how right are those answers, for each margin?

Applies the artifact's (calibrated) head from model.pt to the cached validation features (the
`dogbreed train` cache: no backbone run) and, for each margin m, flags answers whose top-1 minus
top-2 probability is below m (lambda_src/answer.py, UNCERTAIN_MARGIN).

    .venv/bin/python bench/uncertain_margin.py --artifact artifacts/latest --data data/prepared
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, default=Path("artifacts/latest"))
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--margins", default="0.05,0.1,0.2,0.3,0.4")
    args = parser.parse_args()

    import torch

    from ops.audit.audit import cached_splits
    from ops.settings import load_settings

    data = cached_splits(load_settings(), args.data)
    state = torch.load(args.artifact / "model.pt", map_location="cpu", weights_only=True)
    w, b = state["classifier.weight"], state["classifier.bias"]
    with torch.no_grad():
        probs = torch.softmax(torch.from_numpy(data.x["validation"]) @ w.T + b, 1).numpy()
    y = data.y["validation"]
    order = np.argsort(-probs, 1)
    top1, top2 = order[:, 0], order[:, 1]
    gap = probs[np.arange(len(y)), top1] - probs[np.arange(len(y)), top2]
    print(f"{len(y)} validation images, top-1 {np.mean(top1 == y):.2%}")
    print(
        f"{'margin':>6} {'flagged':>8} {'top-1 flagged':>14} {'in top-2 flagged':>17} "
        f"{'top-1 not flagged':>18}"
    )
    for m in map(float, args.margins.split(",")):
        f = gap < m
        print(
            f"{m:6.2f} {f.mean():8.1%} {np.mean(top1[f] == y[f]):14.1%} "
            f"{np.mean((top1[f] == y[f]) | (top2[f] == y[f])):17.1%} "
            f"{np.mean(top1[~f] == y[~f]):18.2%}"
        )


if __name__ == "__main__":
    main()
