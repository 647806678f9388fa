"""`data upload` against a real moto server over HTTP: channels, skip-unchanged, resume, errors."""

from __future__ import annotations

import os

import boto3
import pytest

from ops.data.manifest import CHANNELS
from ops.data.upload import etag_of, local_files, upload_prepared
from ops.errors import DogbreedError
from ops.settings import Settings


def s3_settings(moto_url: str, bucket: str = "dogs-data") -> Settings:
    s = Settings()
    s.aws.endpoint_url = moto_url
    s.aws.bucket = bucket
    s.aws.upload_concurrency = 8
    return s


def s3(moto_url):
    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")


def keys(client, bucket: str) -> dict[str, int]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out


def test_upload_four_channels_then_skip_unchanged(moto_url, prepared_dir):
    client = s3(moto_url)
    client.create_bucket(Bucket="dogs-data")
    result = upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)
    expected = {
        key: path.stat().st_size for path, key in local_files(prepared_dir, "stanford-dogs")
    }
    assert keys(client, "dogs-data") == expected
    assert {k.split("/")[1] for k in expected} == set(CHANNELS)
    assert "stanford-dogs/train_lst/train.lst" in expected
    assert "stanford-dogs/validation/n02085620-Chihuahua/n02085620_500.jpg" in expected
    assert (result.uploaded, result.skipped) == (len(expected), 0)
    body = client.get_object(Bucket="dogs-data", Key="stanford-dogs/train_lst/train.lst")[
        "Body"
    ].read()
    assert body == (prepared_dir / "train_lst" / "train.lst").read_bytes()
    assert result.channel_uris()["train"] == "s3://dogs-data/stanford-dogs/train/"

    again = upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)
    assert (again.uploaded, again.skipped) == (0, len(expected))

    # a changed file (same size, different bytes) is uploaded again, nothing else
    lst = prepared_dir / "validation_lst" / "validation.lst"
    lst.write_text(lst.read_text().replace("\t0\t", "\t1\t", 1))
    third = upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)
    assert (third.uploaded, third.skipped) == (1, len(expected) - 1)


def test_rerun_after_an_interrupted_upload_sends_only_what_is_missing(moto_url, prepared_dir):
    client = s3(moto_url)
    client.create_bucket(Bucket="dogs-data")
    upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)
    # what an interruption leaves: some objects never arrived (each PUT is all or nothing)
    missing = sorted(keys(client, "dogs-data"))[::3]
    for key in missing:
        client.delete_object(Bucket="dogs-data", Key=key)
    result = upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)
    assert result.uploaded == len(missing)
    assert set(missing) <= set(keys(client, "dogs-data"))


def test_missing_bucket_is_a_clear_error_or_created_on_request(moto_url, prepared_dir):
    with pytest.raises(DogbreedError, match="bucket dogs-data does not exist"):
        upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)
    result = upload_prepared(
        s3_settings(moto_url), prepared_dir, create_bucket=True, progress=False
    )
    assert result.uploaded > 0


def test_default_bucket_name_comes_from_sts(moto_url, prepared_dir):
    result = upload_prepared(
        s3_settings(moto_url, bucket=""), prepared_dir, create_bucket=True, progress=False
    )
    assert result.bucket == "dogbreed-123456789012-us-east-1"
    assert keys(s3(moto_url), result.bucket)


def test_no_credentials_is_a_clear_error(moto_url, prepared_dir, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(DogbreedError, match="no AWS credentials"):
        upload_prepared(s3_settings(moto_url), prepared_dir, progress=False)


def test_not_a_prepared_folder(moto_url, tmp_path):
    with pytest.raises(DogbreedError, match="not a prepared data folder"):
        upload_prepared(s3_settings(moto_url), tmp_path, progress=False)


def test_multipart_etag_matches_what_s3_reports(moto_url, tmp_path):
    from boto3.s3.transfer import TransferConfig

    client = s3(moto_url)
    client.create_bucket(Bucket="big")
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(6 * 1024 * 1024 + 123))
    mb5 = 5 * 1024 * 1024
    client.upload_file(
        str(path),
        "big",
        "big.bin",
        Config=TransferConfig(multipart_threshold=mb5, multipart_chunksize=mb5),
    )
    etag = client.head_object(Bucket="big", Key="big.bin")["ETag"].strip('"')
    assert etag.endswith("-2")
    assert etag_of(path, mb5, mb5) == etag


@pytest.mark.slow
def test_real_interrupt_then_rerun_completes_the_upload(moto_url, tmp_path):
    """SIGINT a real `dogbreed data upload` mid-way, run it again: S3 ends up equal to the folder."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO_ROOT
    from tests.factories import make_prepared
    from tests.fake_sagemaker import FakeSageMaker

    # A loopback proxy in front of moto holds each PUT 50 ms (and answers no 100-continue, so
    # botocore waits its second for each): 600 files at concurrency 4 then take minutes, and the
    # SIGINT after the first 20 objects lands mid-way however fast this machine is.
    with FakeSageMaker(upstream=moto_url) as proxy:
        proxy.put_delay_s = 0.05
        prepared = make_prepared(
            tmp_path / "prepared", n_classes=3, train_per_class=150, val_per_class=50, size=32
        )
        client = s3(moto_url)
        client.create_bucket(Bucket="dogs-data")
        cfg = tmp_path / "dogbreed.toml"
        cfg.write_text(
            f'[aws]\nendpoint_url = "{proxy.url}"\nbucket = "dogs-data"\nupload_concurrency = 4\n'
            f'[data]\nprepared_dir = "{prepared}"\n'
        )
        exe = REPO_ROOT / ".venv" / "bin" / "dogbreed"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ops"]
        env = {**os.environ, "DOGBREED_CONFIG": str(cfg)}
        proc = subprocess.Popen(
            [*cmd, "data", "upload", "--quiet"],
            env=env,
            # a terminal's Ctrl-C: under a background or nohup'd test run SIGINT is inherited as
            # ignored, and Python then installs no KeyboardInterrupt handler in the child
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while (
            client.list_objects_v2(Bucket="dogs-data").get("KeyCount", 0) < 20
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        local = {key: path for path, key in local_files(prepared, "stanford-dogs")}
        partial = keys(client, "dogs-data")
        assert proc.returncode != 0, "the upload finished before the interrupt: raise put_delay_s"
        assert 0 < len(partial) < len(local)
        assert "Traceback" not in err, err
        # the re-run goes to moto directly: nothing to hold up any more
        cfg.write_text(cfg.read_text().replace(proxy.url, moto_url))
        rerun = subprocess.run(
            [*cmd, "data", "upload", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert f"skipped {len(partial):,} unchanged" in rerun.stdout
        assert keys(client, "dogs-data") == {k: p.stat().st_size for k, p in local.items()}
        for key, path in list(local.items())[::50]:
            assert (
                client.get_object(Bucket="dogs-data", Key=key)["Body"].read() == path.read_bytes()
            )
