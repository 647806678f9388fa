"""Partial and full modes: the backbone (its last stages, or all of it) trains on decoded images."""

from __future__ import annotations

import time
from pathlib import Path

from ops.model.ranking import top_k_accuracy
from ops.progress import progress_bar
from ops.train.local.calibrate import uncalibrated
from ops.train.local.loop import before_training, checkpoint_state, fit
from ops.train.local.recipe import make_optimizer, make_scheduler, optimizer_step


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

        from ops.model.preprocess import decode_image, resize_and_crop, to_array

        path, label = self.items[i]
        img = resize_and_crop(decode_image(Path(path).read_bytes()), self.prep)
        if self.augment is not None:
            img = self.augment(img)
        return torch.from_numpy(to_array(img, self.prep)), label


def train_images(
    settings, built, train_items, val_items, recipe, device, ckpt, resume, callback, timings, world
):
    """Partial/full training on images; (history, how it stopped, model, calibration record).

    In a distributed `world` the model is wrapped in DistributedDataParallel, each process
    trains on its DistributedSampler share and validates its shard; losses and hits are summed.
    """
    import torch

    local = settings.local
    model = built.model.to(device)
    params = _trainable_params(model, local)
    trained = _data_parallel(model, device, world)  # what the training steps call
    train_loader, val_loader, sampler = _loaders(
        settings, built, train_items, val_items, recipe, world
    )
    optimizer = make_optimizer(params, recipe)
    scheduler = make_scheduler(optimizer, recipe, len(train_loader))
    loss_fn = torch.nn.CrossEntropyLoss()
    evaluate = _evaluator(model, val_loader, loss_fn, device, world)

    def step(epoch):

        _training_mode(model, local)
        if sampler is not None:
            sampler.set_epoch(epoch)
        total, n = 0.0, 0
        bar = progress_bar(train_loader, desc=f"epoch {epoch}", unit="batch", leave=False)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            total += optimizer_step(loss_fn(trained(x), y), optimizer, scheduler, recipe) * len(y)
            n += len(y)
            bar.set_postfix(loss=f"{total / n:.4f}")
        if recipe.scheduler != "cosine":
            scheduler.step()
        total, n = world.sum([total, n], device)
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


def _trainable_params(model, local) -> list:
    """The parameters that train: in partial mode only the last local.partial_blocks stages'
    (the rest are frozen here), in full mode all of them."""
    from ops.model.network import trainable_tail

    if local.mode == "partial":
        for p in model.parameters():
            p.requires_grad_(False)
        for module in trainable_tail(model, local.partial_blocks):
            for p in module.parameters():
                p.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def _training_mode(model, local) -> None:
    """Train mode for what trains; in partial mode the frozen stages stay in eval mode, so
    their BatchNorm statistics stay as pretrained."""
    from ops.model.network import trainable_tail

    if local.mode == "partial":
        model.eval()
        for module in trainable_tail(model, local.partial_blocks):
            module.train()
    else:
        model.train()


def _loaders(settings, built, train_items, val_items, recipe, world):
    """(train loader, validation loader, sampler): augmented, shuffled (or this process's
    sampler share) training images; this process's shard of the validation images; the
    distributed sampler to reseed each epoch, or None."""
    import torch

    local = settings.local
    try:
        augment = augmentations(recipe.augmentation, built.preprocessing)
    except ImportError:
        augment = None
    loader_args = {"num_workers": local.num_workers, "persistent_workers": local.num_workers > 0}
    train_set = ImageDataset(train_items, built.preprocessing, augment)
    sampler = _sampler(train_set, world, settings.data.seed)
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=recipe.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=torch.Generator().manual_seed(settings.data.seed),
        **loader_args,
    )
    val_loader = torch.utils.data.DataLoader(
        ImageDataset(world.shard(val_items), built.preprocessing),
        batch_size=max(32, recipe.batch_size),
        **loader_args,
    )
    return train_loader, val_loader, sampler


def _evaluator(model, val_loader, loss_fn, device, world):
    """The validation closure: (loss, top-1, top-5) over every process's validation shard."""
    import torch

    def evaluate():
        model.eval()
        total, n, hits1, hits5 = 0.0, 0, 0.0, 0.0
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device), y.to(device)
                out = model(x)
                total += float(loss_fn(out, y)) * len(y)
                n += len(y)
                hits1 += top_k_accuracy(out, y, 1) * len(y)
                hits5 += top_k_accuracy(out, y, 5) * len(y)
        total, n, hits1, hits5 = world.sum([total, n, hits1, hits5], device)
        return total / n, hits1 / n, hits5 / n

    return evaluate


def _data_parallel(model, device, world):
    """The module the training steps call: DistributedDataParallel over `model` when distributed."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _sampler(dataset, world, seed: int):
    """Each process's shuffled share of the training set (None: the loader shuffles alone)."""
    if not world.distributed:
        return None
    from torch.utils.data.distributed import DistributedSampler

    return DistributedSampler(
        dataset, num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed
    )
