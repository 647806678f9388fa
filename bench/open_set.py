"""Open-set protocol on cached backbone features: which score tells a held-out breed from a known one?

    .venv/bin/python bench/open_set.py --root ../shared/stanford-dogs --train 40 --test 20 --splits 3

Stanford Dogs box crops, subsampled: the first --train images of each breed in the official train
list, the first --test of the test list (sorted by name), through the project's feature cache
(ops/model/features.py, Lite2 by default). Each split holds out 20 random breeds (seeded); a head
starting from the ImageNet rows of the other 100 trains with the default local recipe on their
training features, a temperature fitted on a 10 % held-out fold is folded in (as `train` does).
Known = the 100 breeds' test images, unknown = the 20 held-out breeds' test images.

Scores: max softmax, max logit and energy of the temperature-scaled logits; energy_t1, the
energy without the temperature; energy_react, the energy after clipping the features at their
95th training percentile (ReAct, Sun et al. 2021); k-NN; Mahalanobis; energy+knn.
Per score: AUROC; the unknown share flagged at the threshold keeping 95 % of known test images
(an oracle threshold); and with the shipping rule's threshold (chosen on the held-out training
fold, ops/model/open_set.py): known test images kept, unknown flagged, and unknown flagged or
answered "A or B" (margin 0.2). Caveat: ImageNet-1k holds all 120 breeds, so the backbone has seen
the held-out breeds: real unknown breeds may be harder to tell apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.model import open_set as osr  # noqa: E402

DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".dogbreed" / "cache"
SCORES = (
    "max_softmax",
    "max_logit",
    "energy",
    "energy_t1",
    "energy_react",
    "knn",
    "mahalanobis",
    "energy+knn",
)
REACT_PERCENTILE = 95  # ReAct (Sun et al. 2021): features clipped at this training percentile
MARGIN = 0.2


def subsample(root: Path, list_name: str, per_breed: int) -> list[tuple[Path, str]]:
    """(image path, breed folder) for the first per_breed images of each breed in the list."""
    by_breed: dict[str, list[str]] = defaultdict(list)
    for line in (root / "lists" / list_name).read_text().split():
        by_breed[line.split("/")[0]].append(line)
    return [
        (root / "Images" / rel, breed)
        for breed in sorted(by_breed)
        for rel in sorted(by_breed[breed])[:per_breed]
    ]


def features_of(items, backbone: str, cache: Path):
    """[N, D] pooled features of the items' images (cached), and the ImageNet classifier."""
    from ops.data.manifest import BreedClass
    from ops.model.features import cache_key, extract_features
    from ops.model.network import build_model, feature_extractor

    built = build_model(backbone, [BreedClass(0, "n02085620", "Chihuahua")])
    folder = cache / cache_key(built.backbone, built.weights.key, built.preprocessing)
    feats = extract_features(
        [p for p, _ in items], feature_extractor(built.model), built.preprocessing, folder
    )
    return feats, built.model.dog_head.classifier


def train_head(imagenet, rows, x, y, seed: int):
    """A linear head from the ImageNet rows of the known breeds, trained as `train` does."""
    import torch

    from ops.settings import Settings
    from ops.train.local.head import head_trainer
    from ops.train.local.recipe import make_recipe

    head = torch.nn.Linear(imagenet.in_features, len(rows))
    with torch.no_grad():
        head.weight.copy_(imagenet.weight[rows])
        head.bias.copy_(imagenet.bias[rows])
    recipe = make_recipe(Settings())
    _, _, _, step = head_trainer(head, torch.from_numpy(x), torch.from_numpy(y), recipe, seed)
    for epoch in range(1, recipe.epochs + 1):
        step(epoch)
    return head.eval()


def logits_of(head, x) -> np.ndarray:
    import torch

    with torch.no_grad():
        return head(torch.from_numpy(x)).numpy().astype(np.float64)


def all_scores(head, temperature: float, bank, labels, x) -> dict[str, np.ndarray]:
    """Every candidate score of features x (higher = more known)."""
    logits = logits_of(head, x)
    out = osr.logit_scores(logits / temperature)
    out["energy_t1"] = osr.logit_scores(logits)["energy"]  # without the temperature
    clipped = np.minimum(x, np.percentile(bank, REACT_PERCENTILE)).astype(np.float32)
    out["energy_react"] = osr.logit_scores(logits_of(head, clipped) / temperature)["energy"]
    out["knn"] = osr.knn_score(bank, x)
    out["mahalanobis"] = osr.mahalanobis_score(osr.mahalanobis_fit(bank, labels), x)
    return out


def combine(held: dict, test: dict, names: tuple[str, ...]) -> None:
    """Add "a+b": the sum of the scores, each standardised by its held-out fold's mean and
    standard deviation (training data only)."""
    stats = {n: (held[n].mean(), held[n].std() or 1.0) for n in names}
    key = "+".join(names)
    for scores in (held, test):
        scores[key] = sum((scores[n] - stats[n][0]) / stats[n][1] for n in names)


def uncertain(head, temperature: float, x) -> np.ndarray:
    """Whether each image would be answered "A or B" (top-1 minus top-2 probability < MARGIN)."""
    logits = logits_of(head, x) / temperature
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    two = -np.sort(-p, 1)[:, :2]
    return two[:, 0] - two[:, 1] < MARGIN


def run_split(split, data, imagenet, rows_of, seed):
    """Long because it is the protocol, step by step: one row of figures per score."""
    import torch

    from ops.train.local.calibrate import fit_temperature, holdout_split

    (xtr, ytr), (xte, yte) = data
    held_breeds = np.random.default_rng(seed + split).choice(120, 20, replace=False)
    known = np.setdiff1d(np.arange(120), held_breeds)
    remap = {int(c): i for i, c in enumerate(known)}
    mask_tr = np.isin(ytr, known)
    x, y = xtr[mask_tr], np.array([remap[int(c)] for c in ytr[mask_tr]])
    rows = [rows_of[int(c)] for c in known]
    # the shipping rule: a head on 90 % of the known training images scores the other 10 %
    kept, held = holdout_split(len(x), 0.1, seed)
    fold_head = train_head(imagenet, rows, x[kept], y[kept], seed)
    temperature = fit_temperature(
        torch.from_numpy(logits_of(fold_head, x[held])), torch.from_numpy(y[held])
    )
    held_scores = all_scores(fold_head, temperature, x[kept], y[kept], x[held])
    head = train_head(imagenet, rows, x, y, seed)
    is_known = np.isin(yte, known)
    test = all_scores(head, temperature, x, y, xte)
    combine(held_scores, test, ("energy", "knn"))
    torn = uncertain(head, temperature, xte[~is_known])
    top1 = float(
        (logits_of(head, xte[is_known]).argmax(1) == [remap[int(c)] for c in yte[is_known]]).mean()
    )
    table = {}
    for name in SCORES:
        k, u = test[name][is_known], test[name][~is_known]
        t = osr.choose_threshold(held_scores[name], osr.DEFAULT_KEEP)
        table[name] = {
            "auroc": osr.auroc(k, u),
            "flagged_at_95_known": osr.flagged_at_keep(k, u, 0.95)[1],
            "rule_known_kept": float((k >= t).mean()),
            "rule_unknown_flagged": float((u < t).mean()),
            "rule_flagged_or_a_or_b": float(((u < t) | torn).mean()),
        }
    return {
        "split": split,
        "held_out": held_breeds.tolist(),
        "known_top1": top1,
        "temperature": temperature,
        "known_test": int(is_known.sum()),
        "unknown_test": int((~is_known).sum()),
        "scores": table,
    }


def print_table(results) -> None:
    cols = (
        "auroc",
        "flagged_at_95_known",
        "rule_known_kept",
        "rule_unknown_flagged",
        "rule_flagged_or_a_or_b",
    )
    print(
        "| split | score | AUROC | unknown flagged at 95 % known kept | rule: known kept | rule: unknown flagged | rule: flagged or A-or-B |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in SCORES:
        for r in results:
            s = r["scores"][name]
            print(
                f"| {r['split']} | {name} | "
                + " | ".join(f"{s[c]:.3f}" if c == "auroc" else f"{s[c]:.1%}" for c in cols)
                + " |"
            )
        mean = {c: float(np.mean([r["scores"][name][c] for r in results])) for c in cols}
        print(
            f"| **mean** | **{name}** | "
            + " | ".join(
                f"**{mean[c]:.3f}**" if c == "auroc" else f"**{mean[c]:.1%}**" for c in cols
            )
            + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/work/shared/stanford-dogs"))
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone", default="tf_efficientnet_lite2")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from ops.data.manifest import BreedClass
    from ops.model.network import imagenet_rows

    train = subsample(args.root, "train_list.txt", args.train)
    test = subsample(args.root, "test_list.txt", args.test)
    breeds = sorted({b for _, b in train})
    index = {b: i for i, b in enumerate(breeds)}
    rows_of = imagenet_rows([BreedClass(i, b.split("-")[0], b) for i, b in enumerate(breeds)])
    xtr, imagenet = features_of(train, args.backbone, args.cache)
    xte, _ = features_of(test, args.backbone, args.cache)
    ytr = np.array([index[b] for _, b in train])
    yte = np.array([index[b] for _, b in test])
    print(f"{len(train)} training and {len(test)} test images (box crops), {len(breeds)} breeds")
    results = [
        run_split(s, ((xtr, ytr), (xte, yte)), imagenet, rows_of, args.seed)
        for s in range(args.splits)
    ]
    for r in results:
        print(
            f"split {r['split']}: known top-1 {r['known_top1']:.1%}, T {r['temperature']:.3f}, "
            f"{r['known_test']} known / {r['unknown_test']} unknown test images"
        )
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
