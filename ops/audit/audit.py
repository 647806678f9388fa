"""`dogbreed data audit`: find training and test images that are probably wrong, from the model.

Three kinds of flags, each with a suggested action:
  label      cleanlab's label issues on out-of-fold probabilities: k heads trained on the cached
             features (seconds per fold), each scoring the fold it did not see; the test split is
             scored by a head trained on the whole train split. relabel when the suggested breed
             holds >= RELABEL_CONFIDENCE of the probability, else exclude.
  not_dog    the ImageNet dog score (ops/model/dogness.py) under the audit's dog threshold
             (stuffed animals, drawings, photos where the dog is lost): exclude.
  duplicate  prepare's train/validation duplicate pairs (prepare_report.json): the validation
             copy leaks; a pair under two breeds is the same photo labelled twice: exclude.
Writes audit.json, audit.html (thumbnails, given vs suggested label, score; ops/audit/page.py)
and exclusions.csv, which `dogbreed data prepare --exclude FILE` applies.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ops.audit.page import write_page
from ops.data.exclusions import Flag, write_exclusions
from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.settings import image_size
from ops.train.local.recipe import make_recipe

RELABEL_CONFIDENCE = 0.8
DEFAULT_FOLDS = 5
# "Probably not a dog": far below the serving threshold (which keeps 99 % of dogs): at this
# score the ImageNet classifier puts at most 5 % of its mass on dogs.
DEFAULT_DOG_BELOW = 0.05


@dataclass
class AuditResult:
    out_dir: Path
    flags: list[Flag]
    counts: dict[str, Any]
    oof_top1: float
    files: dict[str, Path]


def kfold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """`folds` disjoint index sets covering 0..n-1, seeded."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def train_head_on(fresh_head, x, y, recipe, seed: int):
    """A copy of `fresh_head` trained with the head recipe on feature rows x, labels y.

    One thread: a linear head is too small to split, and on a loaded 2-core machine two
    spinning threads thrash (measured: 100 s per epoch instead of 0.4 s)."""
    import torch

    from ops.train.local.head import head_trainer

    torch.set_num_threads(1)
    head = copy.deepcopy(fresh_head)
    _, _, _, step = head_trainer(head, torch.from_numpy(x), torch.from_numpy(y), recipe, seed)
    for epoch in range(1, recipe.epochs + 1):
        step(epoch)
    return head.eval()


def probabilities(head, x) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch.softmax(head(torch.from_numpy(x)), 1).numpy()


def out_of_fold(fresh_head, x, y, recipe, folds: int, seed: int) -> np.ndarray:
    """[N, C] probabilities of each row from a head that never saw it (k-fold)."""
    import click

    probs = np.zeros((len(x), fresh_head.out_features), dtype=np.float32)
    for k, part in enumerate(kfold_indices(len(x), folds, seed), 1):
        click.echo(f"fold {k}/{folds}: training on {len(x) - len(part):,} images", err=True)
        keep = np.setdiff1d(np.arange(len(x)), part)
        head = train_head_on(fresh_head, x[keep], y[keep], recipe, seed)
        probs[part] = probabilities(head, x[part])
    return probs


def label_issues(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Indices cleanlab finds mislabelled, most likely first."""
    try:
        from cleanlab.filter import find_label_issues
    except ImportError as exc:
        raise DogbreedError("cleanlab is not installed", hint="pip install -e '.[audit]'") from exc
    # n_jobs=1: cleanlab otherwise forks a Pool, and forking a process that already runs
    # torch/ONNX Runtime threads can deadlock (seen in CI: a 20-minute hang in Pool.terminate).
    # One process is fast enough here: the work is a per-class threshold over [N, 120] scores.
    ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    return np.asarray(ranked, dtype=int)


@dataclass
class CachedSplits:
    """A prepared folder's splits as cached backbone features, with the model they came from."""

    prepared: PreparedData
    classes: list
    entries: dict[str, list]  # split -> LstEntry list
    x: dict[str, np.ndarray]  # split -> [N, D] features
    y: dict[str, np.ndarray]  # split -> [N] labels
    built: Any  # ops.model.network.BuiltModel
    recipe: Any  # the head recipe of `dogbreed train`
    fresh_head: Any  # the untrained head (ImageNet rows)


def cached_splits(settings, root: Path) -> CachedSplits:
    """Features of both splits from the `dogbreed train` cache (computed when missing)."""
    import torch

    from ops.model.network import build_model
    from ops.train.local.head import cached_features

    local, hp = settings.local, settings.hyperparameters
    prepared = PreparedData(root).check()
    classes = prepared.classes()
    # seeded before the model is built: its fresh head (and, without weights, the backbone) is
    # drawn at random, and the audit's flags must not change from one run to the next
    torch.manual_seed(settings.data.seed)
    built = build_model(
        local.backbone,
        classes,
        weights=local.weights,
        pretrained=bool(hp.use_pretrained_model),
        image_size=image_size(settings),
        num_layers=hp.num_layers,
        input_size=local.input_size,
    )
    device = torch.device("cpu")
    entries = {name: prepared.entries(name) for name in ("train", "validation")}
    x = {
        name: cached_features(
            settings,
            built,
            [(prepared.images_dir(name) / e.path, e.label) for e in rows],
            device,
            desc=f"{name} features",
        )
        for name, rows in entries.items()
    }
    y = {
        name: np.asarray([e.label for e in rows], dtype=np.int64) for name, rows in entries.items()
    }
    fresh = copy.deepcopy(built.model.get_classifier()).cpu()
    return CachedSplits(prepared, classes, entries, x, y, built, make_recipe(settings), fresh)


def audit(
    settings,
    prepared_dir: Path | None = None,
    out_dir: Path | None = None,
    folds: int = DEFAULT_FOLDS,
    dog_below: float = DEFAULT_DOG_BELOW,
) -> AuditResult:
    """Score every image of the prepared folder and write audit.json/html + exclusions.csv."""
    from ops.model.dogness import dog_head_of, scores_from_features

    if folds < 2:
        raise DogbreedError("--folds must be at least 2", exit_code=2)
    root = Path(prepared_dir or settings.resolve(settings.data.prepared_dir))
    data = cached_splits(settings, root)
    prepared, classes, splits, x, y = data.prepared, data.classes, data.entries, data.x, data.y
    built, recipe, fresh, seed = data.built, data.recipe, data.fresh_head, settings.data.seed
    out_dir = Path(out_dir or root / "audit")
    probs = {
        "train": out_of_fold(fresh, x["train"], y["train"], recipe, folds, seed),
        "validation": probabilities(
            train_head_on(fresh, x["train"], y["train"], recipe, seed), x["validation"]
        ),
    }
    dog_head = dog_head_of(built.model)
    dog = {n: None if dog_head is None else scores_from_features(dog_head, x[n]) for n in x}

    flags: list[Flag] = []
    for name, entries in splits.items():
        flags += label_flags(name, entries, classes, y[name], probs[name])
        flags += not_dog_flags(name, entries, classes, y[name], dog[name], dog_below)
    flags += duplicate_flags(root, classes)
    files = write_exclusions(out_dir, flags)
    oof_top1 = float((probs["train"].argmax(1) == y["train"]).mean())
    counts = audit_counts(
        splits, flags, oof_top1, folds, dog_below if dog_head is not None else None
    )
    files.update(write_report(out_dir, flags, prepared, counts))
    return AuditResult(out_dir, flags, counts, oof_top1, files)


def label_flags(name: str, entries, classes, labels: np.ndarray, probs: np.ndarray) -> list[Flag]:
    """cleanlab's label issues of one split: relabel when the suggested breed is confident."""
    flags = []
    for i in label_issues(labels, probs):
        p = probs[i]
        best = int(np.argmax(p))
        relabel = p[best] >= RELABEL_CONFIDENCE
        flags.append(
            Flag(
                name,
                entries[i].path,
                "label",
                classes[labels[i]].name,
                classes[best].name,
                round(float(p[labels[i]]), 4),
                "relabel" if relabel else "exclude",
                classes[best].wnid if relabel else "",
                f"suggested label holds {p[best]:.0%}",
            )
        )
    return flags


def not_dog_flags(
    name: str, entries, classes, labels: np.ndarray, dog: np.ndarray | None, dog_below: float
) -> list[Flag]:
    """Images of one split whose dog score is under `dog_below` (none without a dog head)."""
    if dog is None:
        return []
    return [
        Flag(
            name,
            entries[i].path,
            "not_dog",
            classes[labels[i]].name,
            None,
            round(float(dog[i]), 4),
            "exclude",
            detail=f"dog score {dog[i]:.3f} < {dog_below}",
        )
        for i in np.flatnonzero(dog < dog_below)
    ]


def audit_counts(
    splits: dict[str, list], flags: list[Flag], oof_top1: float, folds: int, dog_below
) -> dict[str, Any]:
    """The summary of audit.json and the page: images, flags per split and kind, OOF top-1."""
    return {
        "images": {n: len(e) for n, e in splits.items()},
        "flags": {
            f"{n}/{k}": sum(f.split == n and f.kind == k for f in flags)
            for n in splits
            for k in ("label", "not_dog", "duplicate")
        },
        "flagged_images": {n: len({f.file for f in flags if f.split == n}) for n in splits},
        "oof_top1": round(oof_top1, 5),
        "folds": folds,
        "dog_below": dog_below,
    }


def write_report(
    out_dir: Path, flags: list[Flag], prepared: PreparedData, counts: dict[str, Any]
) -> dict[str, Path]:
    """audit.json (counts and every flag) and audit.html (ops/audit/page.py)."""

    (out_dir / "audit.json").write_text(
        json.dumps({"counts": counts, "flags": [asdict(f) for f in flags]}, indent=2) + "\n"
    )
    return {
        "json": out_dir / "audit.json",
        "html": write_page(out_dir / "audit.html", flags, prepared, counts),
    }


def duplicate_flags(root: Path, classes) -> list[Flag]:
    """prepare's train/validation duplicate pairs: the validation copy of each (it leaks), and
    the train copy too when the pair is one photo under two breeds."""
    report = root / "prepare_report.json"
    try:
        pairs = json.loads(report.read_text()).get("duplicates", [])
    except (OSError, ValueError):
        return []
    name_of = {c.wnid: c.name for c in classes}

    def breed(rel: str) -> str:
        return name_of.get(rel.split("-", 1)[0], rel.split("/", 1)[0])

    flags = []
    for pair in pairs:
        other = breed(pair["train"])
        detail = f"{pair['kind']} duplicate (distance {pair['distance']}) of train {pair['train']}"
        flags.append(
            Flag(
                "validation",
                pair["validation"],
                "duplicate",
                breed(pair["validation"]),
                None if pair["same_class"] else other,
                float(pair["distance"]),
                "exclude",
                detail=detail,
            )
        )
        if not pair["same_class"]:
            flags.append(
                Flag(
                    "train",
                    pair["train"],
                    "duplicate",
                    other,
                    breed(pair["validation"]),
                    float(pair["distance"]),
                    "exclude",
                    detail=f"the same photo as validation {pair['validation']} under another breed",
                )
            )
    return flags
