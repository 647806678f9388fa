"""Property-based tests (hypothesis, bounded examples) of request parsing and image decoding.

Whatever the bytes or the JSON, the handler's parser either accepts the request or raises its
RequestError (a 4xx), and the image decoder either returns an RGB image within the limits or
raises BadImageError: no other exception escapes to become a 5xx.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lambda_src import config as lambda_config
from lambda_src import handler as lambda_handler
from lambda_src.config import RequestError
from lambda_src.request import MAX_JSON_DEPTH, json_too_deep, parse_request
from ops.model.preprocess import (
    MAX_ASPECT_RATIO,
    MAX_IMAGE_PIXELS,
    BadImageError,
    check_image_size,
    decode_image,
)
from tests.local_artifacts import jpeg_bytes, png_bytes
from tests.runtime_stub import RuntimeStub, fake_jpeg

LIMITS = {**lambda_config.settings(), "max_images": 4, "max_image_bytes": 4096}
BOUNDED = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["images", "top_k", "x"]) | st.text(max_size=5), children, max_size=4
        )
    ),
    max_leaves=20,
)
SEED_IMAGES = [jpeg_bytes(0, seed=1, size=48), png_bytes(1, seed=2, size=40)]


def _event(body, content_type="application/json", b64=False) -> dict:
    return {
        "httpMethod": "POST",
        "headers": {"Content-Type": content_type},
        "body": body,
        "isBase64Encoded": b64,
        "requestContext": {"requestId": "prop"},
    }


def _parse(event) -> None:
    try:
        images, top_k = parse_request(event, LIMITS, 3)
    except RequestError as exc:
        assert 400 <= exc.status < 500 and exc.message
        return
    assert 1 <= len(images) <= LIMITS["max_images"] and 1 <= top_k <= 3


@BOUNDED
@given(JSON_VALUES)
def test_any_json_value_is_accepted_or_a_4xx(value):
    _parse(_event(json.dumps(value)))


@BOUNDED
@given(st.text(max_size=200))
def test_any_text_body_is_accepted_or_a_4xx(text):
    _parse(_event(text))


@BOUNDED
@given(
    st.lists(st.binary(max_size=64) | st.sampled_from([fake_jpeg("class=1")]), max_size=6),
    st.one_of(st.none(), st.integers(-5, 50), st.floats(), st.text(max_size=5)),
)
def test_any_image_list_and_top_k_is_accepted_or_a_4xx(images, top_k):
    body = json.dumps({"images": [base64.b64encode(i).decode() for i in images], "top_k": top_k})
    _parse(_event(body))


@BOUNDED
@given(st.binary(max_size=300), st.sampled_from(["image/jpeg", "image/png", "application/json"]))
def test_any_base64_body_is_accepted_or_a_4xx(data, content_type):
    _parse(_event(base64.b64encode(data).decode(), content_type, b64=True))


@BOUNDED
@given(st.integers(0, 80), st.text(alphabet='[]{}"\\ab', max_size=10))
def test_depth_check_matches_the_real_depth(depth, noise):
    value = json.dumps(noise)  # brackets and quotes inside a string never count
    for i in range(depth):
        value = f"[{value}]" if i % 2 else f'{{"k": {value}}}'
    assert json_too_deep(value) == (depth > MAX_JSON_DEPTH)


@pytest.fixture(scope="module")
def stub():
    with RuntimeStub(num_classes=3) as server:
        yield server


@BOUNDED
@given(st.text(max_size=100) | JSON_VALUES.map(json.dumps))
def test_the_handler_never_answers_a_5xx_to_a_request_problem(stub, tmp_path_factory, text):
    classes = tmp_path_factory.getbasetemp() / "prop-classes.json"
    if not classes.exists():
        classes.write_text(json.dumps(["a", "b", "c"]))
    env = {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": stub.url,
        "ENDPOINT_NAME": stub.endpoint_name,
        "CLASSES_PATH": str(classes),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        result = lambda_handler.handler(_event(text), None)
    assert result["statusCode"] < 500, result
    assert json.loads(result["body"])


def _check_decoded(data: bytes) -> None:
    try:
        img = decode_image(data, min_side=32)
    except BadImageError as exc:
        assert str(exc)
        return
    assert img.mode == "RGB"
    w, h = img.size
    assert w * h <= MAX_IMAGE_PIXELS and max(w, h) / min(w, h) <= MAX_ASPECT_RATIO


@BOUNDED
@given(st.binary(max_size=2048))
def test_decoding_any_bytes_is_an_image_or_bad_image_error(data):
    _check_decoded(data)


@BOUNDED
@given(
    st.sampled_from(SEED_IMAGES),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=8),
    st.integers(0, 10_000),
)
def test_decoding_damaged_real_images_is_an_image_or_bad_image_error(seed, flips, cut):
    data = bytearray(seed)
    for at, mask in flips:
        data[at % len(data)] ^= mask
    _check_decoded(bytes(data[: max(1, len(data) - cut % len(data))]))


@BOUNDED
@given(st.integers(1, 30_000), st.integers(1, 30_000))
def test_size_check_refuses_exactly_what_is_over_a_limit(w, h):
    over = w * h > MAX_IMAGE_PIXELS or max(w, h) / min(w, h) > MAX_ASPECT_RATIO
    try:
        check_image_size(w, h)
    except BadImageError:
        assert over
    else:
        assert not over


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.sampled_from(["PNG", "JPEG", "GIF", "BMP"]))
def test_any_valid_image_within_limits_decodes(w, h, fmt):
    if max(w, h) / min(w, h) > MAX_ASPECT_RATIO:
        return
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (w % 255, h % 255, 7)).save(buf, format=fmt)
    assert decode_image(buf.getvalue()).size == (w, h)
