"""Partial and full modes: the backbone (its last stages, or all of it) trains on decoded images."""

from __future__ import annotations

import time
from pathlib import Path

from ops.local.training.calibrate import uncalibrated
from ops.local.training.loop import before_training, checkpoint_state, fit
from ops.local.training.recipe import make_optimizer, make_scheduler, optimizer_step
from ops.metrics import top_k_accuracy


def augmentations(kind: str, prep):
    """The hyperparameters.augmentation_type transforms, at the model's input size (prep)."""
    from torchvision import transforms as T  # noqa: N812

    ops = []
    if "crop" in kind:
        ops.append(T.RandomResizedCrop(prep.input_size, scale=(0.6, 1.0), antialias=True))
    ops.append(T.RandomHorizontalFlip())
    if "color" in kind:
        ops.append(T.ColorJitter(0.3, 0.3, 0.3))
    if "transform" in kind:
        ops.append(T.RandomAffine(degrees=10, shear=5))
    return T.Compose(ops)


class ImageDataset:
    """(tensor, label) of manifest entries: decoded, resized and cropped as served, then augmented."""

    def __init__(self, items, prep, augment=None):
        self.items, self.prep, self.augment = items, prep, augment

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        import torch

        from ops.local.preprocess import decode_image, resize_and_crop, to_array

        path, label = self.items[i]
        img = resize_and_crop(decode_image(Path(path).read_bytes()), self.prep)
        if self.augment is not None:
            img = self.augment(img)
        return torch.from_numpy(to_array(img, self.prep)), label


def train_images(
    settings, built, train_items, val_items, recipe, device, ckpt, resume, callback, timings
):
    """Partial/full training on images; (history, how it stopped, model, calibration record).

    Over 60 lines: the loaders, the eval/step closures and the loop share one model and
    optimizer; split apart they would pass eight arguments around.
    """
    import torch

    from ops.local.model import trainable_tail

    local = settings.local
    model = built.model.to(device)
    if local.mode == "partial":
        for p in model.parameters():
            p.requires_grad_(False)
        for module in trainable_tail(model, local.partial_blocks):
            for p in module.parameters():
                p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        augment = augmentations(recipe.augmentation, built.preprocessing)
    except ImportError:
        augment = None
    loader_args = {"num_workers": local.num_workers, "persistent_workers": local.num_workers > 0}
    train_loader = torch.utils.data.DataLoader(
        ImageDataset(train_items, built.preprocessing, augment),
        batch_size=recipe.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(settings.data.seed),
        **loader_args,
    )
    val_loader = torch.utils.data.DataLoader(
        ImageDataset(val_items, built.preprocessing),
        batch_size=max(32, recipe.batch_size),
        **loader_args,
    )
    optimizer = make_optimizer(params, recipe)
    scheduler = make_scheduler(optimizer, recipe, len(train_loader))
    loss_fn = torch.nn.CrossEntropyLoss()

    def training_mode():
        """Train mode for what trains; in partial mode the frozen stages stay in eval mode, so
        their BatchNorm statistics stay as pretrained."""
        if local.mode == "partial":
            model.eval()
            for module in trainable_tail(model, local.partial_blocks):
                module.train()
        else:
            model.train()

    def evaluate():
        model.eval()
        total, n, logits_all, labels_all = 0.0, 0, [], []
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                total += float(loss_fn(out, y)) * len(y)
                n += len(y)
                logits_all.append(out)
                labels_all.append(y)
        logits, labels = torch.cat(logits_all), torch.cat(labels_all)
        return total / n, top_k_accuracy(logits, labels, 1), top_k_accuracy(logits, labels, 5)

    def step(epoch):
        from tqdm import tqdm

        training_mode()
        total, n = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch}", unit="batch", leave=False)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            total += optimizer_step(loss_fn(model(x), y), optimizer, scheduler, recipe) * len(y)
            n += len(y)
            bar.set_postfix(loss=f"{total / n:.4f}")
        if recipe.scheduler != "cosine":
            scheduler.step()
        return total / n, len(train_loader)

    state_fns = checkpoint_state({"model": model, "optimizer": optimizer, "scheduler": scheduler})
    history: list[dict] = []
    if not (resume and ckpt.load() is not None):
        history = [before_training(evaluate, built.head_init)]
    t1 = time.perf_counter()
    history, how = fit(step, evaluate, state_fns, recipe, ckpt, resume, history, callback)
    timings["training_s"] = round(time.perf_counter() - t1, 1)
    for p in model.parameters():
        p.requires_grad_(True)
    return history, how, model.cpu(), uncalibrated("head mode only")
