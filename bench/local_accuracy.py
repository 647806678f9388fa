"""What frozen-backbone training can reach on a prepared dataset: the accuracy probes behind issue 4.

    .venv/bin/python bench/local_accuracy.py --data /tmp/real/prepared
    .venv/bin/python bench/local_accuracy.py --data DIR \\
        --members tf_efficientnet_lite2@260,tf_efficientnet_lite2@224,tf_efficientnet_lite1@240

For each member (backbone@input size) the activations at the input of the last two blocks are
extracted once with the product's feature cache (ops/model/features.py, ONNX Runtime, view "tail2"),
so every probe below reuses them:
  zero-shot    the ImageNet rows of the 120 breeds, no training (epoch 0 of `dogbreed train`)
  linear       the default head recipe (make_recipe of the default settings: AdamW 1e-4 x 10,
               cosine, batch 32) on the pooled features: what `dogbreed train` does
  tail-1/2     the last 1 or 2 blocks + conv_head + head fine-tuned on the cached activations
               (frozen BatchNorm statistics, AdamW 5e-5 body / 1e-4 head, cosine) - "partial
               fine-tuning from cached intermediate activations", measured on the first member
  concat/late  several members: one head on concatenated features, or the mean of each member's
               trained head probabilities
Prints one JSON line per probe and appends them to --out. Top-1 is on the validation manifest
(the official 8,580-image test split with the default `data prepare`).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.data.manifest import PreparedData  # noqa: E402
from ops.model.features import cache_key, extract_features  # noqa: E402
from ops.model.network import build_model  # noqa: E402
from ops.settings import Settings  # noqa: E402
from ops.train.local.head import head_trainer  # noqa: E402
from ops.train.local.recipe import make_recipe  # noqa: E402

TAIL_BLOCKS = 2  # activations are cached at the input of the last two blocks


def split_model(model, tail_blocks: int):
    """(trunk: image -> activation before the last blocks, [the last blocks], pooled-features fn)."""
    import torch

    flat = [block for stage in model.blocks for block in stage]
    trunk_blocks, last = flat[:-tail_blocks], flat[-tail_blocks:]

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Sequential(model.conv_stem, model.bn1)
            self.blocks = torch.nn.Sequential(*trunk_blocks)

        def forward(self, x):
            return self.blocks(self.stem(x))

    return Trunk().eval(), last


def activations(member: str, prepared: PreparedData, cache_root: Path, classes):
    """Build one member and return (model, last blocks, train acts, val acts) with shape N,C,H,W."""
    import numpy as np
    import torch

    backbone, _, size = member.partition("@")
    built = build_model(backbone, classes, input_size=int(size or 0))
    prep = built.preprocessing
    trunk, last = split_model(built.model, TAIL_BLOCKS)
    with torch.no_grad():
        shape = trunk(torch.zeros(1, 3, prep.input_size, prep.input_size)).shape[1:]
    folder = cache_root / cache_key(built.backbone, built.weights.key, prep, f"tail{TAIL_BLOCKS}")
    out = []
    for split in ("train", "validation"):
        paths = [p for p, _ in prepared.image_paths(split)]
        flat = extract_features(
            paths, trunk, prep, folder, batch_size=8, desc=f"{member} {split} activations"
        )
        out.append(torch.from_numpy(flat.astype(np.float16)).reshape(len(paths), *shape))
    return built, last, out[0], out[1]


def pooled(model, last, acts, upto: int):
    """Pooled features from activations at the input of the last `upto` of the cached blocks."""
    import torch

    body = torch.nn.Sequential(*last[TAIL_BLOCKS - upto :], model.conv_head, model.bn2).eval()
    with torch.inference_mode():
        return torch.cat(
            [body(acts[i : i + 256].float()).mean((2, 3)) for i in range(0, len(acts), 256)]
        )


def top1(logits, labels) -> float:
    return float((logits.argmax(1) == labels).float().mean())


def train_linear(head, x_train, y_train, seed: int):
    """The default head recipe of `dogbreed train`: its own trainer with the default settings."""
    recipe = make_recipe(Settings())
    step = head_trainer(head, x_train, y_train, recipe, seed)[3]
    for epoch in range(1, recipe.epochs + 1):
        step(epoch)
    return head.eval()


def train_tail(model, last, blocks, acts, y_train, epochs, body_lr, head_lr, seed):
    """The last `blocks` blocks + conv_head + head, fine-tuned on cached activations."""
    import torch

    body = copy.deepcopy(
        torch.nn.Sequential(*last[TAIL_BLOCKS - blocks :], model.conv_head, model.bn2)
    )
    head = copy.deepcopy(model.get_classifier())
    optimizer = torch.optim.AdamW(
        [
            {"params": body.parameters(), "lr": body_lr},
            {"params": head.parameters(), "lr": head_lr},
        ],
        weight_decay=1e-4,
    )
    steps = epochs * math.ceil(len(acts) / 32)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    gen = torch.Generator().manual_seed(seed)
    body.eval()  # frozen BatchNorm statistics: batches of 32 are too small to re-estimate them
    for epoch in range(epochs):
        t0, total = time.perf_counter(), 0.0
        order = torch.randperm(len(acts), generator=gen)
        for i in range(0, len(acts), 32):
            idx = order[i : i + 32]
            loss = torch.nn.functional.cross_entropy(
                head(body(acts[idx].float()).mean((2, 3))), y_train[idx]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
        print(
            f"  tail-{blocks} epoch {epoch + 1}/{epochs} loss {total / len(acts):.4f} "
            f"({time.perf_counter() - t0:.0f}s)",
            file=sys.stderr,
        )
    return body, head


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="prepared data folder")
    parser.add_argument(
        "--members",
        default="tf_efficientnet_lite2@260,tf_efficientnet_lite2@224",
        help="backbone@input size, comma-separated; the first one gets the tail probes",
    )
    parser.add_argument("--tail-epochs", type=int, default=2, help="0 skips the tail probes")
    parser.add_argument("--cache", type=Path, default=Path(".dogbreed/cache/features"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("bench/local_accuracy.jsonl"))
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    prepared = PreparedData(args.data).check()
    classes = prepared.classes()
    y_train = torch.tensor([label for _, label in prepared.image_paths("train")])
    y_val = torch.tensor([label for _, label in prepared.image_paths("validation")])
    rows: list[dict] = []

    def report(probe: str, member: str, logits, seconds: float, **extra) -> None:
        row = {
            "probe": probe,
            "member": member,
            "top1": round(top1(logits, y_val), 5),
            "val_loss": round(float(torch.nn.functional.cross_entropy(logits, y_val)), 5),
            "seconds": round(seconds, 1),
            **extra,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    feats, probs, heads = [], [], []
    for n, member in enumerate(args.members.split(",")):
        t0 = time.perf_counter()
        built, last, a_train, a_val = activations(member, prepared, args.cache, classes)
        extract_s = time.perf_counter() - t0
        model = built.model
        f_train, f_val = (
            pooled(model, last, a_train, TAIL_BLOCKS),
            pooled(model, last, a_val, TAIL_BLOCKS),
        )
        feats.append((f_train, f_val))
        head = model.get_classifier()
        heads.append(head)
        with torch.no_grad():
            report("zero-shot", member, head(f_val), extract_s, extract_s=round(extract_s, 1))
        t0 = time.perf_counter()
        trained = train_linear(copy.deepcopy(head), f_train, y_train, args.seed)
        with torch.no_grad():
            logits = trained(f_val)
        probs.append(torch.softmax(logits, 1))
        report("linear", member, logits, time.perf_counter() - t0)
        if n == 0 and args.tail_epochs:
            for blocks in (1, 2):
                t0 = time.perf_counter()
                body, tail_head = train_tail(
                    model, last, blocks, a_train, y_train, args.tail_epochs, 5e-5, 1e-4, args.seed
                )
                frozen = torch.nn.Sequential(*last[: TAIL_BLOCKS - blocks])
                with torch.inference_mode():
                    logits = torch.cat(
                        [
                            tail_head(body(frozen(a_val[i : i + 256].float())).mean((2, 3)))
                            for i in range(0, len(a_val), 256)
                        ]
                    )
                seconds = time.perf_counter() - t0
                report(f"tail-{blocks}", member, logits, seconds, epochs=args.tail_epochs)
        del a_train, a_val
    if len(feats) > 1:
        t0 = time.perf_counter()
        concat = torch.nn.Linear(sum(h.in_features for h in heads), len(classes))
        with torch.no_grad():
            concat.weight.copy_(torch.cat([h.weight for h in heads], 1) / len(heads))
            concat.bias.copy_(torch.stack([h.bias for h in heads]).mean(0))
        x_train = torch.cat([f for f, _ in feats], 1)
        trained = train_linear(concat, x_train, y_train, args.seed)
        with torch.no_grad():
            logits = trained(torch.cat([f for _, f in feats], 1))
        report("concat", args.members, logits, time.perf_counter() - t0)
        report("late", args.members, torch.log(torch.stack(probs).mean(0)), 0.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        for row in rows:
            fh.write(json.dumps({**row, "data": str(args.data)}) + "\n")


if __name__ == "__main__":
    main()
