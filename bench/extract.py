"""What the checked extraction (ops/archives.py) costs against tarfile's extractall(filter="data").

Builds an images.tar from a subsample of the real Stanford Dogs images (the first --classes class
folders), then extracts it --runs times each way into fresh folders and prints members, size and
the median time. Short on purpose: the CPU is shared.

    python bench/extract.py [--source ../shared/stanford-dogs] [--classes 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from ops.archives import extract_to_staging


def _stdlib(tar_path: Path, dest: Path) -> None:
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")


def _checked(tar_path: Path, dest: Path) -> None:
    extract_to_staging(tar_path, dest, "dataset tarball")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("../shared/stanford-dogs"))
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folders = sorted(p for p in (args.source / "Images").iterdir() if p.is_dir())[: args.classes]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tar_path = tmp / "images.tar"
        with tarfile.open(tar_path, "w") as tar:
            for folder in folders:
                tar.add(folder, arcname=f"Images/{folder.name}")
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
        size_mb = sum(m.size for m in members) / 1e6
        print(f"images.tar: {len(folders)} classes, {len(members):,} members, {size_mb:.1f} MB")
        for name, extract in (
            ("tarfile extractall(filter='data')", _stdlib),
            ("ops.archives", _checked),
        ):
            times = []
            for run in range(args.runs):
                dest = tmp / f"out-{run}"
                started = time.perf_counter()
                extract(tar_path, dest)
                times.append(time.perf_counter() - started)
                shutil.rmtree(dest)
            median = statistics.median(times)
            print(
                f"{name:36s} median {median:.3f} s over {args.runs} runs ({len(members) / median:,.0f} members/s)"
            )


if __name__ == "__main__":
    main()
