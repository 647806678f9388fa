"""`data fetch`: get Stanford Dogs into data.raw_dir from the official URLs, local tarballs or a folder.

- URLs: the three official tarballs, downloaded with HTTP Range resume, size (and sha256 when
  known) checks and a progress bar, into <raw>/downloads/.
- Tarballs (downloaded or local): extracted idempotently (a marker records what was extracted).
- A folder already in the official layout: linked, not copied (one symlink per top-level folder),
  so 20,580 files are not duplicated and the source is never modified.
Then the result is checked: 120 classes / 20,580 images, lists naming files that exist.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from ops.archives import ArchiveLimits, extract_to_staging
from ops.data.layout import (
    EXPECTED_CLASSES,
    EXPECTED_IMAGES,
    check_list_files,
    read_layout,
)
from ops.errors import DogbreedError
from ops.hashing import sha256_file
from ops.progress import progress_bar
from ops.settings import Settings
from ops.settings_sections import DataSettings

OFFICIAL_BASE_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs"
TARBALLS = ("images.tar", "annotation.tar", "lists.tar")
DEFAULT_LOCAL_SOURCE = "../shared/stanford-dogs"
# Checksums the Stanford page does not publish; fill in to have downloads verified by content too.
KNOWN_SHA256: dict[str, str] = {}
TOP_LEVEL = ("Images", "Annotation", "lists")
MARKER = ".fetch.json"


@dataclass
class FetchReport:
    raw_dir: Path
    sources: list[str]
    num_classes: int = 0
    num_images: int = 0
    num_train: int = 0
    num_test: int = 0
    num_annotations: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.num_classes == EXPECTED_CLASSES and self.num_images == EXPECTED_IMAGES


def default_sources(settings: Settings) -> list[str]:
    """data.source, else ../shared/stanford-dogs (next to the settings file) if present, else URLs."""
    if settings.data.source.strip():
        return [settings.data.source.strip()]
    local = settings.resolve(DEFAULT_LOCAL_SOURCE)
    if (local / "Images").is_dir():
        return [str(local)]
    return [OFFICIAL_BASE_URL]


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch(
    settings: Settings, sources: list[str] | None = None, progress: bool = True
) -> FetchReport:
    """Make data.raw_dir a usable Stanford Dogs folder from `sources`; returns what was found."""
    sources = list(sources or default_sources(settings))
    raw = settings.resolve(settings.data.raw_dir)
    if len(sources) == 1 and not is_url(sources[0]) and Path(sources[0]).resolve() == raw.resolve():
        report = verify(raw)  # the source is the raw folder itself: only check it, write nothing
        report.sources = sources
        return report
    _ensure_writable(raw)
    tarballs: list[Path] = []
    for source in sources:
        if source.startswith("file://"):
            source = source[len("file://") :]
        if is_url(source):
            tarballs += _download_source(source, raw, progress)
        else:
            tarballs += _local_source(source, raw)
    for tarball in tarballs:
        extract(tarball, raw, progress, settings)
    report = verify(raw)
    report.sources = sources
    return report


def _download_source(source: str, raw: Path, progress: bool) -> list[Path]:
    """A tarball URL, or a folder URL holding the official tarballs: download them (checked)."""
    urls = (
        [source]
        if source.endswith((".tar", ".tar.gz", ".tgz"))
        else [f"{source.rstrip('/')}/{name}" for name in TARBALLS]
    )
    tarballs = []
    for url in urls:
        dest = raw / "downloads" / url.rstrip("/").rsplit("/", 1)[-1]
        tarballs.append(download(url, dest, KNOWN_SHA256.get(dest.name), progress))
    return tarballs


def _local_source(source: str, raw: Path) -> list[Path]:
    """A tarball, a Stanford Dogs folder (linked into raw) or a folder of tarballs; the tarballs."""
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    if not path.exists():
        raise DogbreedError(f"data source {source} does not exist")
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise DogbreedError(f"data source {source} is not a tar archive")
        return [path]
    if (path / "Images").is_dir():
        link_folder(path, raw)
        return []
    found = sorted(p for p in path.iterdir() if p.name.endswith((".tar", ".tar.gz", ".tgz")))
    if not found:
        raise DogbreedError(
            f"{source} is neither a Stanford Dogs folder (Images/, Annotation/, lists/) "
            "nor a folder of the official tarballs",
            hint=f"expected Images/ or {', '.join(TARBALLS)}",
        )
    return found


def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DogbreedError(f"cannot write to {folder}: {exc.strerror or exc}") from exc


def _load_marker(raw: Path) -> dict:
    path = raw / MARKER
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _save_marker(raw: Path, marker: dict) -> None:
    tmp = raw / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, raw / MARKER)


def _clear_entry(raw: Path, name: str, marker: dict) -> None:
    """Remove raw/<name> when it is ours (a link we made, or a folder we extracted)."""
    dest = raw / name
    if dest.is_symlink():
        dest.unlink()
    elif dest.exists():
        owned = name in marker.get("extracted_entries", [])
        if not owned:
            raise DogbreedError(
                f"{dest} exists and was not made by `dogbreed data fetch`",
                hint="move it away or choose another data.raw_dir",
            )
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()


def link_folder(source: Path, raw: Path) -> None:
    """raw/{Images,Annotation,lists} -> symlinks into `source` (never modified)."""
    source = source.resolve()
    if source == raw.resolve():
        return
    marker = _load_marker(raw)
    for name in TOP_LEVEL:
        target = source / name
        dest = raw / name
        if dest.is_symlink() and Path(os.readlink(dest)) == target:
            continue
        if not target.exists() and not dest.exists():
            continue
        _clear_entry(raw, name, marker)
        if target.exists():
            dest.symlink_to(target, target_is_directory=True)
    marker["extracted_entries"] = [
        e for e in marker.get("extracted_entries", []) if (raw / e).exists()
    ]
    marker["linked_from"] = str(source)
    _save_marker(raw, marker)


def download(url: str, dest: Path, sha256: str | None = None, progress: bool = True) -> Path:
    """GET `url` into `dest`, resuming a partial `.part` file with an HTTP Range request."""
    import requests

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        head = requests.head(url, allow_redirects=True, timeout=30)
        head.raise_for_status()
        total = int(head.headers.get("Content-Length", 0)) or None
        same_size = dest.is_file() and (total is None or dest.stat().st_size == total)
        if same_size and (not sha256 or sha256_file(dest) == sha256):
            return dest
        start = part.stat().st_size if part.is_file() else 0
        if total is not None and start > total:
            part.unlink()
            start = 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        with requests.get(url, headers=headers, stream=True, timeout=60) as resp:
            if resp.status_code == 416 and total is not None and start == total:
                pass  # the .part file is already complete
            else:
                resp.raise_for_status()
                if start and resp.status_code != 206:
                    start = 0  # the server ignored Range: start over
                mode = "ab" if start else "wb"
                with (
                    open(part, mode) as fh,
                    progress_bar(
                        total=total,
                        initial=start,
                        unit="B",
                        unit_scale=True,
                        desc=dest.name,
                        disable=not progress,
                    ) as bar,
                ):
                    for chunk in resp.iter_content(chunk_size=1 << 16):
                        fh.write(chunk)
                        bar.update(len(chunk))
    except requests.RequestException as exc:
        raise DogbreedError(
            f"downloading {url} failed: {exc}",
            hint="re-run to resume, or use --source with a local folder or tarballs",
        ) from exc
    size = part.stat().st_size
    if total is not None and size != total:
        raise DogbreedError(
            f"{url}: got {size} of {total} bytes", hint="re-run `dogbreed data fetch` to resume"
        )
    if sha256 and sha256_file(part) != sha256:
        part.unlink()
        raise DogbreedError(
            f"{url}: sha256 mismatch (file removed)", hint="re-run to download again"
        )
    os.replace(part, dest)
    return dest


def archive_limits(settings: Settings | None) -> ArchiveLimits:
    """The caps on a dataset tarball: data.archive_max_* (default: the defaults)."""
    data = settings.data if settings is not None else DataSettings()
    return ArchiveLimits.from_settings(data, "archive", "data")


def extract(
    tarball: Path, raw: Path, progress: bool = True, settings: Settings | None = None
) -> bool:
    """Extract one official tarball into raw/ unless the same file was extracted before, through
    the one checked extraction (ops/archives.py, caps data.archive_max_*)."""

    marker = _load_marker(raw)
    stat = tarball.stat()
    key = str(tarball.resolve())
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    done = marker.get("tarballs", {}).get(key)
    if done and done.get("stamp") == stamp and all((raw / e).exists() for e in done["entries"]):
        return False
    with progress_bar(desc=f"extract {tarball.name}", unit=" files", disable=not progress) as bar:
        staging = extract_to_staging(
            tarball, raw, "dataset tarball", archive_limits(settings), lambda _: bar.update()
        )
    try:
        entries = _move_into_place(staging, raw, marker)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker.setdefault("tarballs", {})[key] = {"stamp": stamp, "entries": entries}
    owned = set(marker.get("extracted_entries", [])) | set(entries)
    marker["extracted_entries"] = sorted(owned)
    marker.pop("linked_from", None)
    _save_marker(raw, marker)
    return True


def _move_into_place(staging: Path, raw: Path, marker: dict) -> list[str]:
    """The extracted entries moved from staging into raw/; their names."""
    # images.tar -> Images/, annotation.tar -> Annotation/, lists.tar -> loose .mat files.
    loose = [p for p in staging.iterdir() if p.is_file()]
    if loose:
        (staging / "lists").mkdir(exist_ok=True)
        for p in loose:
            p.rename(staging / "lists" / p.name)
    entries = sorted(p.name for p in staging.iterdir())
    for name in entries:
        if name == "lists" and (raw / "lists").is_dir() and not (raw / "lists").is_symlink():
            for p in (staging / "lists").iterdir():  # lists may come from several tarballs
                os.replace(p, raw / "lists" / p.name)
            continue
        _clear_entry(raw, name, marker)
        os.replace(staging / name, raw / name)
    return entries


def verify(raw: Path) -> FetchReport:
    """Count classes/images/lists; missing list files are errors, a small dataset only a warning."""
    layout = read_layout(raw)
    report = FetchReport(raw_dir=raw, sources=[])
    images = layout.image_files()
    report.num_classes = len(layout.classes)
    report.num_images = len(images)
    train = layout.read_list("train_list")
    test = layout.read_list("test_list")
    check_list_files(layout, "train_list", train)
    check_list_files(layout, "test_list", test)
    if layout.list_file("file_list"):
        check_list_files(layout, "file_list", layout.read_list("file_list"))
    report.num_train, report.num_test = len(train), len(test)
    if layout.annotation_dir.is_dir():
        report.num_annotations = sum(
            1 for d in layout.annotation_dir.iterdir() if d.is_dir() for _ in d.iterdir()
        )
    else:
        report.warnings.append("no Annotation/ folder: `data prepare --crop boxes` will not work")
    if not report.complete:
        report.warnings.append(
            f"found {report.num_classes} classes / {report.num_images:,} images, expected "
            f"{EXPECTED_CLASSES} / {EXPECTED_IMAGES:,} (fine for a subset or a test dataset)"
        )
    return report
