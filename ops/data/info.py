"""`data info`: the summary of a prepared folder that the training hyperparameters need."""

from __future__ import annotations

import json
from pathlib import Path

from ops.data.manifest import PreparedData


def data_summary(prepared_dir: Path) -> dict:
    """info.json of a prepared folder plus the classes, checked to be a prepared folder first."""
    data = PreparedData(Path(prepared_dir)).check()
    info = data.info()
    info["classes"] = [{"index": c.index, "wnid": c.wnid, "name": c.name} for c in data.classes()]
    info["hyperparameters"] = {
        "num_classes": info["num_classes"],
        "num_training_samples": info["num_training_samples"],
    }
    info["prepared_dir"] = str(prepared_dir)
    return info


def render_summary(info: dict, console=None) -> None:
    """A readable summary (rich tables) of `data_summary`'s result."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    head = Table(title=f"Prepared data: {info['prepared_dir']}", show_header=False)
    head.add_column("", style="bold")
    head.add_column("")
    per = info.get("train_per_class", {})
    size = info.get("image_size", {})
    rows = [
        ("num_classes", f"{info['num_classes']}"),
        ("num_training_samples", f"{info['num_training_samples']:,}"),
        ("num_validation_samples", f"{info.get('num_validation_samples', 0):,}"),
        (
            "train images per class",
            f"min {per.get('min')}  max {per.get('max')}  mean {per.get('mean')}",
        ),
        (
            "image width (px)",
            f"min {size.get('width', {}).get('min')}  max {size.get('width', {}).get('max')}  "
            f"mean {size.get('width', {}).get('mean')}",
        ),
        (
            "image height (px)",
            f"min {size.get('height', {}).get('min')}  max {size.get('height', {}).get('max')}  "
            f"mean {size.get('height', {}).get('mean')}",
        ),
        ("split / crop", f"{info.get('split')} / {info.get('crop')}"),
        (
            "excluded / duplicates (exact, near) / dropped",
            f"{info.get('excluded', 0)} / {info.get('exact_duplicates', 0)}, "
            f"{info.get('near_duplicates', 0)} / {info.get('dropped_from_validation', 0)}",
        ),
    ]
    for key, value in rows:
        head.add_row(key, value)
    console.print(head)
    table = Table(title="Images per class")
    for col in ("index", "wnid", "breed", "train", "validation"):
        table.add_column(
            col, justify="right" if col in ("index", "train", "validation") else "left"
        )
    per_class = info.get("per_class", {})
    for c in info["classes"]:
        counts = per_class.get(c["name"], {})
        table.add_row(
            str(c["index"]),
            c["wnid"],
            c["name"],
            str(counts.get("train", 0)),
            str(counts.get("validation", 0)),
        )
    console.print(table)
    hp = info["hyperparameters"]
    console.print(
        f"hyperparameters: num_classes={hp['num_classes']} num_training_samples={hp['num_training_samples']}"
    )


def summary_json(info: dict) -> str:
    return json.dumps(info, indent=2)
