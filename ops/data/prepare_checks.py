"""What a prepared folder must hold before it may replace the previous one.

`data prepare` builds into a sibling folder and swaps it in only when these checks pass: a run
over a folder of non-images, or one whose classes all failed to decode, is an error that keeps
the good prepared folder in place instead of replacing it with an empty one.
"""

from __future__ import annotations

from ops.data.prepare_files import label_for
from ops.errors import DogbreedError


def check_complete(classes, good, label_of: dict[str, int], excluded: int) -> None:
    """DogbreedError unless both splits have images and every class has a training image."""
    for split in ("train", "validation"):
        if not good[split]:
            raise DogbreedError(
                f"no usable {split} images ({excluded} excluded as undecodable): "
                "the previous prepared folder is kept",
                hint="is the source a Stanford Dogs folder (Images/<class>/*.jpg)? "
                "`dogbreed data fetch` makes one",
            )
    trained = {label_for(label_of, rel) for rel, _ in good["train"]}
    empty = [c.name for c in classes if c.index not in trained]
    if empty:
        raise DogbreedError(
            f"{len(empty)} of {len(classes)} classes have no usable training image "
            f"({', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''}): "
            "the previous prepared folder is kept",
            hint="leave those classes out (--classes / --num-classes) or fix their images",
        )
