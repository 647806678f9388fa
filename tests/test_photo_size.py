"""Photos made to fit AWS's payload limits before `classify` sends them: a 5 MB phone-sized photo
goes through the local stack resized, as the page sends it; --original refuses it before sending."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ops.api.local_stack import start_local_stack
from ops.api.photo_size import (
    LAMBDA_SYNC_BYTES,
    MAX_SIDE,
    encoded_size,
    request_batches,
    shrink,
)
from ops.cli import cli
from ops.settings import load_settings
from tests.dog_artifacts import make_dog_artifact


def _photo(width: int, height: int, quality: int = 95, seed: int = 0) -> bytes:
    """A noisy (hard to compress) JPEG: a phone photo's size in bytes at a phone's resolution."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 2, width // 2, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.NEAREST)
    noise = rng.integers(-40, 40, (height, width, 3))
    pixels = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "phone.jpg"
    path.write_bytes(_photo(2400, 1800))
    assert 4_500_000 < path.stat().st_size < 6_500_000, path.stat().st_size  # a ~5 MB photo
    return path


@pytest.fixture(scope="module")
def dog_artifact(tmp_path_factory):
    return make_dog_artifact(tmp_path_factory.mktemp("dog") / "model")


@pytest.fixture
def stack(dog_artifact):
    """The local stack (model server + POST /classify); per test, as the gateway's handler
    environment lives in os.environ, which each test starts without (tests/conftest.py)."""
    artifact = dog_artifact
    settings = load_settings(
        environ={
            "DOGBREED_SERVE__PORT": "0",
            "DOGBREED_SERVE__API_PORT": "0",
            "DOGBREED_SERVE__MAX_BATCH_SIZE": "2",
        }
    )
    with start_local_stack(settings, artifact, api=True) as running:
        yield running


def test_a_5_mb_photo_goes_through_classify_resized(stack, big_photo):
    before = stack.server.stats()["images"]
    result = CliRunner().invoke(cli, ["classify", str(big_photo), "--url", stack.api_url, "--json"])
    assert result.exit_code == 0, result.output
    assert '"predictions"' in result.output and '"error"' not in result.output
    assert stack.server.stats()["images"] == before + 1


def test_original_refuses_the_photo_before_sending_naming_it(stack, big_photo):
    before = stack.server.stats()["requests"]
    result = CliRunner().invoke(
        cli, ["classify", str(big_photo), "--url", stack.api_url, "--original"]
    )
    assert result.exit_code == 2
    assert str(big_photo) in result.output and "nothing was sent" in result.output
    assert "Traceback" not in result.output
    assert stack.server.stats()["requests"] == before


def test_shrink_resizes_only_photos_over_1024_px(big_photo):
    small = _photo(640, 480)
    assert shrink(small) == small
    resized = Image.open(io.BytesIO(shrink(big_photo.read_bytes())))
    assert max(resized.size) == MAX_SIDE and resized.size == (1024, 768)
    assert shrink(b"not an image") == b"not an image"  # the API answers for it


def test_requests_split_before_lambdas_6_mb():
    photos = [b"x" * 700_000] * 16
    batches = list(request_batches(photos, max_images=16))
    assert [end - start for start, end in batches] == [6, 6, 4]
    for start, end in batches:
        assert sum(encoded_size(p) for p in photos[start:end]) < LAMBDA_SYNC_BYTES
    assert list(request_batches([b"x"] * 20, max_images=16)) == [(0, 16), (16, 20)]


def test_evaluate_sends_large_photos_resized_unless_original(stack, big_photo):
    """The evaluation runner's requests, through the local stack: resized by default (the
    server's answer), sent as they are with original=True (over the limit: an error record)."""
    from ops.api.client import ClassifyClient
    from ops.evaluate.records import EvalItem
    from ops.evaluate.runner import _BatchSender

    item = EvalItem(index=0, rel="phone.jpg", path=big_photo, label=0)
    factory = lambda: ClassifyClient(stack.api_url)  # noqa: E731
    (resized,) = _BatchSender(factory, top_k=3)([item])
    assert resized["ok"] is True, resized
    (original,) = _BatchSender(factory, top_k=3, original=True)([item])
    assert original["ok"] is False and "over the limit" in json.dumps(original), original
