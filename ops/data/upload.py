"""`data upload`: the four prepared channels to s3://<bucket>/<data_prefix>/<channel>/<path>.

Parallel through boto3's transfer manager (s3transfer, aws.upload_concurrency threads). Objects
already in S3 with the same size and ETag (the MD5, or the multipart ETag computed the same way
S3 does) are skipped, so an interrupted upload resumes where it stopped when re-run: each PUT is
atomic, nothing half-written is ever left under a key.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions

from ops.aws.session import explain_client_error, make_client, resolve_bucket
from ops.data.manifest import CHANNELS, PreparedData
from ops.errors import DogbreedError
from ops.progress import progress_bar
from ops.settings import Settings

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".lst": "text/plain",
}


@dataclass
class UploadResult:
    bucket: str
    prefix: str
    uploaded: int = 0
    skipped: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)

    def channel_uris(self) -> dict[str, str]:
        return {c: f"s3://{self.bucket}/{_join(self.prefix, c)}/" for c in CHANNELS}


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def local_files(prepared: Path, prefix: str) -> list[tuple[Path, str]]:
    """(file, key) for every file of the four channels, sorted by key."""
    out = []
    for channel in CHANNELS:
        base = prepared / channel
        for path in sorted(base.rglob("*")):
            if path.is_file():
                out.append((path, _join(prefix, channel, path.relative_to(base).as_posix())))
    return out


def etag_of(path: Path, threshold: int, chunksize: int) -> str:
    """The ETag S3 gives this file when uploaded with these transfer settings."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size < threshold:
            return hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
        digests = [
            hashlib.md5(block, usedforsecurity=False).digest()
            for block in iter(lambda: fh.read(chunksize), b"")
        ]
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def remote_objects(client, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    """key -> (size, etag) for everything under prefix/."""
    out: dict[str, tuple[int, str]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=_join(prefix) + "/" if prefix else ""):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = (obj["Size"], obj["ETag"].strip('"'))
    return out


def check_bucket(client, bucket: str, create: bool, region: str) -> None:
    """A clear error when the bucket is missing (or create it when asked)."""
    try:
        client.head_bucket(Bucket=bucket)
        return
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            if code in ("403", "AccessDenied"):
                raise DogbreedError(
                    f"access denied to bucket {bucket}",
                    hint="check the IAM policy of your credentials",
                ) from exc
            raise explain_client_error(exc, f"checking bucket {bucket}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise DogbreedError(f"cannot reach S3: {exc}") from exc
    if not create:
        raise DogbreedError(
            f"bucket {bucket} does not exist",
            hint="create it with `terraform apply`, set aws.bucket, or pass --create-bucket",
        )
    kwargs = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"creating bucket {bucket}") from exc


def upload_prepared(
    settings: Settings,
    prepared_dir: Path | None = None,
    bucket: str | None = None,
    prefix: str | None = None,
    create_bucket: bool = False,
    progress: bool = True,
) -> UploadResult:
    """Upload what changed under the four channels; returns counts (uploaded, skipped)."""
    from boto3.s3.transfer import TransferConfig

    root = Path(prepared_dir) if prepared_dir else settings.resolve(settings.data.prepared_dir)
    PreparedData(root).check()
    concurrency = max(1, settings.aws.upload_concurrency)
    client = make_client(settings, "s3", max_pool=concurrency + 4)
    bucket = bucket or resolve_bucket(settings)
    prefix = settings.aws.data_prefix if prefix is None else prefix
    check_bucket(client, bucket, create_bucket, settings.aws.region)
    result = UploadResult(bucket, _join(prefix))
    started = time.perf_counter()
    config = TransferConfig(max_concurrency=concurrency, use_threads=True)
    try:
        remote = remote_objects(client, bucket, prefix)
    except botocore.exceptions.ClientError as exc:
        raise explain_client_error(exc, f"listing s3://{bucket}/{prefix}") from exc
    todo = []
    for path, key in local_files(root, prefix):
        size = path.stat().st_size
        have = remote.get(key)
        if (
            have
            and have[0] == size
            and have[1] == etag_of(path, config.multipart_threshold, config.multipart_chunksize)
        ):
            result.skipped += 1
        else:
            todo.append((path, key, size))
    transfer(client, config, bucket, todo, result, progress)
    result.seconds = time.perf_counter() - started
    if result.failed:
        raise DogbreedError(
            f"{len(result.failed)} of {len(todo)} upload(s) failed (first: {result.failed[0]})",
            hint="re-run `dogbreed data upload`: what is already there is skipped",
        )
    return result


def transfer(
    client, config, bucket: str, todo: list[tuple[Path, str, int]], result: UploadResult, progress
) -> None:
    """PUT each (file, key, size) in parallel, counting into `result` (failures listed, not
    raised), with one byte progress bar."""
    from s3transfer.manager import TransferManager
    from s3transfer.subscribers import BaseSubscriber

    lock = threading.Lock()
    bar = progress_bar(
        total=sum(s for _, _, s in todo),
        unit="B",
        unit_scale=True,
        desc="upload",
        disable=not progress or not todo,
    )

    class Progress(BaseSubscriber):
        def on_progress(self, future, bytes_transferred, **kwargs):
            with lock:
                bar.update(bytes_transferred)

    try:
        with TransferManager(client, config) as manager:
            futures = [
                (
                    key,
                    size,
                    manager.upload(
                        str(path),
                        bucket,
                        key,
                        extra_args={
                            "ContentType": CONTENT_TYPES.get(
                                path.suffix.lower(), "application/octet-stream"
                            )
                        },
                        subscribers=[Progress()],
                    ),
                )
                for path, key, size in todo
            ]
            for key, size, future in futures:
                try:
                    future.result()
                    result.uploaded += 1
                    result.bytes_uploaded += size
                except (
                    botocore.exceptions.ClientError,
                    botocore.exceptions.BotoCoreError,
                    OSError,
                ) as exc:
                    result.failed.append(f"{key}: {exc}")
    finally:
        bar.close()
