"""The Lambda deployment zip, built deterministically: same handler + classes -> same bytes.

Terraform has no archive provider offline, so the zip is built here and passed by path; its
source_code_hash (filebase64sha256) then changes only when the code or class list does, and an
unchanged `deploy` updates nothing. Fixed timestamps, sorted names, fixed permissions.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import lambda_src

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o100644  # regular file, rw-r--r--
SOURCE_DIR = Path(lambda_src.__file__).resolve().parent


def package_files(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The handler package's Python files and its page (index.html), sorted (no caches)."""
    return sorted(
        p
        for pattern in ("*.py", "*.html")
        for p in source_dir.rglob(pattern)
        if "__pycache__" not in p.parts and p.is_file()
    )


def build_lambda_zip(
    out_path: Path,
    classes_json: Path | None = None,
    source_dir: Path = SOURCE_DIR,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Write the zip: lambda_src/*.py and index.html at the root of the archive (handler "handler.handler")
    plus classes.json when given, plus `extra` (name -> bytes: the model and its runtime code in
    lambda mode, ops/api/lambda_layer.py). Returns out_path; rewrites it only when the bytes
    change."""
    entries: list[tuple[str, bytes]] = [
        (p.relative_to(source_dir).as_posix(), p.read_bytes()) for p in package_files(source_dir)
    ]
    if classes_json is not None:
        entries.append(("classes.json", Path(classes_json).read_bytes()))
    entries += sorted((extra or {}).items())
    entries.sort()
    return write_zip(out_path, entries)


def write_zip(out_path: Path, entries: list[tuple[str, bytes | Path]], level: int = 9) -> Path:
    """A deterministic zip of (name, bytes or file) in the given order: fixed times and modes.
    Rewrites out_path only when the bytes change (Terraform's hash then stays put)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # unix, so the permissions are read back as written
            info.compress_type = zipfile.ZIP_DEFLATED
            payload = data.read_bytes() if isinstance(data, Path) else data
            zf.writestr(info, payload, compresslevel=level)
    if out_path.exists() and _same_file(out_path, tmp):
        tmp.unlink()
    else:
        tmp.replace(out_path)
    return out_path


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and sha256_b64(a) == sha256_b64(b)


def sha256_b64(path: Path) -> str:
    """What Terraform's filebase64sha256 gives for the file (the Lambda source_code_hash)."""

    return base64.b64encode(hashlib.sha256(Path(path).read_bytes()).digest()).decode()
