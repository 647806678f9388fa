"""One test (or more) per defect of issue 12, each run against the real parts: a tiny real model,
the real model server and gateway on loopback, real files, real processes, real Terraform."""

from __future__ import annotations

import base64
import io
import json
import multiprocessing
import os
import shutil
import socket
import stat
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from PIL import Image

from lambda_src import config as lambda_config
from lambda_src import handler as lambda_handler
from lambda_src import request as lambda_request
from ops.api import gateway as gateway_module
from ops.api.client import ApiError, ClassifyClient
from ops.api.gateway import proxy_event
from ops.cli import cli
from ops.endpoint.commands import predict_files
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from ops.errors import DogbreedError
from ops.model import features as F
from ops.model.preprocess import (
    MAX_ASPECT_RATIO,
    BadImageError,
    ImageTooLargeError,
    Preprocessing,
    decode_image,
    preprocess_bytes,
)
from ops.state import get_record, load_state, update_state
from tests.bad_inputs import good_image, hostile_images, send_raw
from tests.local_artifacts import jpeg_bytes
from tests.serving_fixtures import gateway_for

PREP = Preprocessing(input_size=64)


def handler_call(event) -> tuple[int, dict]:
    result = lambda_handler.handler(event, None)
    return result["statusCode"], json.loads(result["body"])


def json_event(text: str) -> dict:
    return proxy_event("POST", "/classify", {"Content-Type": "application/json"}, text.encode())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- 1. a tiny image must not take the memory ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("wide-20000x1.png", "aspect ratio"),
        ("huge-12500x12500.png", "Mpx"),
        ("tall-1x6000.png", "aspect"),
    ],
)
def test_images_over_the_pixel_budget_or_aspect_limit_are_refused_before_decoding(name, limit):
    with pytest.raises(ImageTooLargeError, match=limit) as info:
        preprocess_bytes(hostile_images()[name], PREP)
    assert "limit" in str(info.value)


def test_aspect_ratio_at_the_limit_still_decodes():
    buf = io.BytesIO()
    Image.new("RGB", (int(50 * MAX_ASPECT_RATIO), 50), (9, 9, 9)).save(buf, format="PNG")
    assert preprocess_bytes(buf.getvalue(), PREP).shape == (3, 64, 64)


def test_big_jpeg_is_decoded_at_a_reduced_scale_with_the_shorter_side_kept():
    buf = io.BytesIO()
    Image.new("RGB", (3000, 2000), (120, 30, 60)).save(buf, format="JPEG")
    img = decode_image(buf.getvalue(), min_side=64)
    assert img.size == (375, 250)  # 1/8 DCT scale: 8x fewer pixels in each direction
    assert decode_image(buf.getvalue()).size == (3000, 2000)  # training decodes in full


def test_png_with_a_bad_crc_is_refused_at_decode_time():
    with pytest.raises(BadImageError):
        decode_image(hostile_images()["png-bad-crc.png"])


def test_model_server_answers_a_wide_image_with_a_400_that_states_the_limit(model_server):
    resp = requests.post(
        f"{model_server.url}/invocations",
        data=hostile_images()["wide-20000x1.png"],
        headers={"Content-Type": "image/png"},
        timeout=30,
    )
    assert resp.status_code == 400
    assert f"{MAX_ASPECT_RATIO:g}:1" in resp.json()["message"]


def test_predict_reports_a_hostile_image_in_place(runtime, tmp_path):
    bad, good = tmp_path / "huge.png", tmp_path / "dog.jpg"
    bad.write_bytes(hostile_images()["huge-12500x12500.png"])
    good.write_bytes(jpeg_bytes(0, seed=3))
    results = predict_files(runtime, [bad, good], top_k=2)
    assert "25 Mpx" in results[0]["error"] and "predictions" not in results[0]
    assert len(results[1]["predictions"]) == 2


# --- 2. JSON that API Gateway delivers must not make the handler raise --------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": ["%s"], "top_k": Infinity}', "Infinity is not valid JSON"),
        ('{"images": ["%s"], "top_k": NaN}', "NaN is not valid JSON"),
        ('{"images": ["%s"], "top_k": 1e400}', "1e400 overflows a double"),
        ('{"images": ["%s"], "top_k": ' + "7" * 4301 + "}", "a number of 4301 digits"),
        ("[" * 2000 + '"%s"' + "]" * 2000, "nested deeper than 32 levels"),
        ('{"images": ["%s"], "x": ' + '{"a":' * 1500 + "1" + "}" * 1500 + "}", "nested deeper"),
    ],
    ids=["Infinity", "NaN", "1e400", "4301-digits", "deep-lists", "deep-objects"],
)
def test_json_numbers_and_depth_that_used_to_raise_are_specific_400s(handler_env, text, message):
    status, body = handler_call(json_event(text.replace("%s", b64(good_image()))))
    assert status == 400
    assert message in body["error"]


def test_depth_within_the_limit_is_parsed_normally(handler_env):
    text = '{"images": ["' + b64(good_image()) + '"], "extra": ' + "[" * 30 + "]" * 30 + "}"
    status, body = handler_call(json_event(text))
    assert status == 200 and body["predictions"][0][0]["breed"]


def nested_request(depth: int) -> dict:
    """A valid request whose JSON nests `depth` levels: the object, then depth - 1 lists."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return json_event('{"images": ["' + b64(good_image()) + '"], "x": ' + inner + "}")


@pytest.mark.parametrize("depth", [33, 34, 50, 100])
def test_parse_request_refuses_json_just_over_the_depth_limit(depth):
    """The request path's own check (json_shape_problem), at the depths a 10x limit would pass."""
    limits = lambda_config.settings()
    with pytest.raises(lambda_config.RequestError, match="nested deeper than 32 levels") as exc:
        lambda_request.parse_request(nested_request(depth), limits, n_classes=3)
    assert exc.value.status == 400


def test_parse_request_accepts_json_exactly_at_the_depth_limit():
    images, _ = lambda_request.parse_request(nested_request(32), lambda_config.settings(), 3)
    assert images == [good_image()]


def test_an_unexpected_error_is_a_json_500_with_the_request_id_and_a_logged_traceback(
    handler_env, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(lambda_handler, "parse_request", broken)
    event = json_event("{}")
    event["requestContext"]["requestId"] = "req-bug-1"
    result = lambda_handler.handler(event, None)
    assert result["statusCode"] == 500
    assert json.loads(result["body"]) == {"error": "internal error", "request_id": "req-bug-1"}
    logged = [json.loads(r.getMessage()) for r in caplog.records if "req-bug-1" in r.getMessage()]
    assert logged and "Traceback" in logged[-1]["traceback"] and "a bug" in logged[-1]["error"]


# --- 3. requests in flight when the endpoint dies still get an answer ---------------------------


class _HangUp(BaseHTTPRequestHandler):
    """Reads the request, then closes the connection without answering (an endpoint dying)."""

    protocol_version = "HTTP/1.1"
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def test_endpoint_closing_the_connection_mid_request_is_a_503(handler_env, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HangUp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv(
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_address[1]}"
        )
        monkeypatch.setenv("INVOKE_RETRIES", "1")
        status, body = handler_call(json_event(json.dumps({"images": [b64(good_image())]})))
    finally:
        server.shutdown()
        server.server_close()
    assert status == 503, body
    assert "endpoint" in body["error"] and body["request_id"]
    assert _HangUp.calls == 2  # retried once, like an unreachable endpoint


# --- 4. a broken image alone is a 4xx, in a batch a per-image error; the client never retries it -


def test_single_broken_image_is_a_400_and_the_client_does_not_retry(gateway, model_server):
    before = model_server.stats()["requests"]
    client = ClassifyClient(gateway.url, retries=3)
    with pytest.raises(ApiError) as info:
        client.classify_one(hostile_images()["truncated.jpg"])
    assert info.value.status == 400
    assert "rejected the image" in str(info.value) and "decode" in str(info.value)
    assert model_server.stats()["requests"] - before == 1  # one call: no retry of a 4xx


def test_broken_raw_image_body_is_a_400(gateway):
    resp = requests.post(
        gateway.classify_url,
        data=hostile_images()["jpeg-magic-then-garbage.jpg"],
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert resp.status_code == 400 and "decode" in resp.json()["error"]


def test_broken_image_in_a_batch_is_a_per_image_error(gateway):
    client = ClassifyClient(gateway.url)
    good, bad = client.classify([good_image(), hostile_images()["truncated.jpg"]], top_k=2)
    assert len(good) == 2 and good[0]["breed"]
    assert "decode" in bad["error"]


def test_a_batch_of_only_broken_images_is_per_image_errors_not_a_5xx(gateway):
    client = ClassifyClient(gateway.url, retries=0)
    answers = client.classify([hostile_images()["truncated.jpg"]] * 2)
    assert all("error" in a for a in answers)


def test_classify_reports_a_lone_broken_image_in_place_and_prints_the_rest(
    gateway, tmp_path, monkeypatch
):
    import ops.api.commands as serving_commands

    monkeypatch.setattr(serving_commands, "BATCH", 1)  # each image is a request of its own
    good, bad = tmp_path / "dog.jpg", tmp_path / "broken.jpg"
    good.write_bytes(good_image())
    bad.write_bytes(hostile_images()["truncated.jpg"])
    result = CliRunner().invoke(
        cli, ["classify", str(bad), str(good), "--url", gateway.url, "--json"]
    )
    assert result.exit_code == 1
    printed = json.loads(result.output[: result.output.rindex("]") + 1])
    assert "rejected the image" in printed[0]["error"]
    assert printed[1]["predictions"][0]["breed"]


# --- 5. the feature cache heals --------------------------------------------------------------


def _features(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_a_missing_shard_never_makes_a_new_one_overwrite_a_good_one(tmp_path):
    store = F.FeatureStore(tmp_path)
    first = store.add(["a1", "a2"], _features(2))
    store.add(["b1", "b2"], _features(2, seed=1))
    first.unlink()  # e.g. deleted by hand, or lost
    F.FeatureStore(tmp_path).add(["c1"], _features(1, seed=2))
    assert set(F.FeatureStore(tmp_path).table) == {"b1", "b2", "c1"}


@pytest.mark.parametrize("damage", ["truncated", "crc", "not-a-zip", "shape"])
def test_a_damaged_shard_is_dropped_with_a_warning(tmp_path, damage):
    store = F.FeatureStore(tmp_path)
    good = store.add(["g1"], _features(1))
    bad = store.add(["x1", "x2"], _features(2, seed=5))
    data = bytearray(bad.read_bytes())
    if damage == "truncated":
        bad.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "crc":
        with zipfile.ZipFile(bad) as zf:
            info = zf.getinfo("features.npy")
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 140
        data[at] ^= 0xFF  # inside the stored array: only the zip CRC can tell
        bad.write_bytes(bytes(data))
    elif damage == "not-a-zip":
        bad.write_bytes(b"torn")
    else:
        np.savez(bad.with_suffix(".tmp.npz"), hashes=np.asarray(["x1"]), features=_features(2))
        os.replace(bad.with_suffix(".tmp.npz"), bad)
    with pytest.warns(UserWarning, match="damaged"):
        reopened = F.FeatureStore(tmp_path)
    assert set(reopened.table) == {"g1"}
    assert not bad.exists() and good.exists()


def test_images_of_a_damaged_shard_are_computed_again(prepared_dir, tmp_path):
    import timm
    import torch

    from ops.model.network import feature_extractor

    torch.manual_seed(0)
    extractor = feature_extractor(timm.create_model("test_efficientnet", pretrained=False))
    paths = sorted((prepared_dir / "train").rglob("*.jpg"))[:4]
    cache = tmp_path / "cache"
    first = F.extract_features(paths, extractor, PREP, cache, engine="torch")
    (shard,) = cache.glob("shard-*.npz")
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged"):
        again = F.extract_features(paths, extractor, PREP, cache, engine="torch")
    np.testing.assert_allclose(again, first, atol=1e-5)
    assert len(F.FeatureStore(cache).table) == 4  # written again, whole


# --- 6. the state file ---------------------------------------------------------------------------


def _state_file() -> Path:
    return Path(os.environ["DOGBREED_STATE_FILE"])


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"', b"\x00\xff{"])
def test_a_corrupt_state_file_is_one_line_naming_the_file(content):
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(DogbreedError) as info:
        load_state()
    text = str(info.value)
    assert str(path) in text and "\n" not in text and ("delete" in text or "fix" in text)


def test_cli_reading_a_corrupt_state_file_prints_one_line(tmp_path):
    _state_file().parent.mkdir(parents=True, exist_ok=True)
    _state_file().write_text('{"training": ')
    image = tmp_path / "dog.jpg"
    image.write_bytes(good_image())
    result = CliRunner().invoke(cli, ["predict", str(image)])
    assert result.exit_code == 1
    assert str(_state_file()) in result.output and "Traceback" not in result.output


def test_recording_over_a_corrupt_state_file_keeps_the_new_record(tmp_path):
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{truncated")
    with pytest.warns(UserWarning, match="moved it to"):
        update_state("training", {"artifact_dir": "/x"})
    assert get_record("training") == {"artifact_dir": "/x"}
    (aside,) = path.parent.glob("state.json.corrupt-*")
    assert aside.read_text() == "{truncated"


def _hammer(args: tuple[str, int, int]) -> None:
    state_file, worker, updates = args
    os.environ["DOGBREED_STATE_FILE"] = state_file
    for n in range(updates):
        update_state(f"worker{worker}-{n}", {"n": n})


def test_concurrent_updates_lose_no_key(tmp_path):
    """3 processes x 300 updates, each a new key: a lost read-modify-write loses a key."""
    state_file = str(_state_file())
    updates = 300
    # spawn, not fork: an xdist worker may already run torch threads, and fork can deadlock
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pool.map(_hammer, [(state_file, w, updates) for w in range(3)])
    state = load_state()
    expected = {f"worker{w}-{n}" for w in range(3) for n in range(updates)}
    assert set(state) == expected, f"{len(expected - set(state))} keys lost"


# --- 7. the local gateway: timeouts, clean error pages ------------------------------------------


def test_gateway_content_length_abc_is_a_json_400(gateway):
    raw = b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: abc\r\n\r\n"
    status, headers, body = send_raw(gateway.port, raw)
    assert status == 400 and headers["content-type"] == "application/json"
    assert "Content-Length" in json.loads(body)["message"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_unsupported_methods_are_json_405s_on_both_servers(gateway, model_server, method):
    for url in (gateway.classify_url, f"{model_server.url}/invocations"):
        resp = requests.request(method, url, timeout=10)
        assert resp.status_code == 405
        assert resp.headers["Content-Type"] == "application/json"
        assert method in resp.json()["message"] and "POST" in resp.headers["Allow"]


def test_oversize_headers_are_json_431s_on_both_servers(gateway, model_server):
    for url in (gateway.classify_url, f"{model_server.url}/invocations"):
        resp = requests.post(url, data=b"x", headers={"X-Big": "a" * 20_000}, timeout=10)
        assert resp.status_code == 431
        assert "limit" in resp.json()["message"]


def test_stalled_connections_are_dropped_after_the_socket_timeout(
    model_server, runtime, monkeypatch
):
    assert (
        0 < (gateway_module._Handler.timeout or 0) <= 60
    )  # by default a stalled client is dropped
    monkeypatch.setattr(gateway_module._Handler, "timeout", 0.5)
    gw = gateway_for(model_server, runtime)
    try:
        stalled = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(20)]
        for sock in stalled:
            sock.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        client = ClassifyClient(gw.url)
        assert client.classify_one(good_image(), top_k=1)[0]["breed"]  # still served
        for sock in stalled:
            sock.settimeout(5)
            assert sock.recv(100) == b""  # closed by the server, not left holding a thread
            sock.close()
    finally:
        gw.shutdown()


def test_connections_beyond_the_cap_get_a_json_503(model_server, runtime, monkeypatch):
    monkeypatch.setattr(gateway_module._Server, "max_connections", 3)
    monkeypatch.setattr(gateway_module._Handler, "timeout", 2)
    gw = gateway_for(model_server, runtime)
    try:
        held = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(3)]
        time.sleep(0.2)
        status, headers, body = send_raw(gw.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and "too many connections" in json.loads(body)["message"]
        for sock in held:
            sock.close()
    finally:
        gw.shutdown()


# --- 8. damaged artifacts ------------------------------------------------------------------------


@pytest.fixture
def artifact_copy(artifact, tmp_path) -> Path:
    dest = tmp_path / "artifact"
    shutil.copytree(artifact, dest)
    return dest


def test_export_records_the_sha256_of_every_file(artifact):
    import hashlib

    sums = json.loads((artifact / "metadata.json").read_text())["sha256"]
    assert set(sums) == {
        "model.onnx",
        "preprocessing.json",
        "classes.json",
        "model.pt",
        "metrics.json",
    }
    for name, digest in sums.items():
        assert hashlib.sha256((artifact / name).read_bytes()).hexdigest() == digest


def test_swapped_class_names_are_caught_by_the_checksum(artifact_copy):
    path = artifact_copy / "classes.json"
    classes = json.loads(path.read_text())
    classes[0]["name"], classes[1]["name"] = classes[1]["name"], classes[0]["name"]
    path.write_text(json.dumps(classes, indent=2))
    with pytest.raises(DogbreedError, match=r"classes\.json does not match its sha256"):
        load_runtime(artifact_copy, threads=1)


def test_a_flipped_onnx_weight_is_caught_by_the_checksum(artifact_copy):
    path = artifact_copy / "model.onnx"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DogbreedError, match=r"model\.onnx does not match its sha256"):
        load_runtime(artifact_copy, threads=1)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("classes.json", "[{not json", r"classes\.json is not valid JSON"),
        ("classes.json", '{"a": 1}', r"classes\.json is not a list"),
        ("preprocessing.json", "", r"preprocessing\.json is not valid JSON"),
        ("preprocessing.json", '{"input_size": 64}', r"preprocessing\.json is not valid"),
    ],
)
def test_invalid_artifact_json_is_an_error_naming_the_file(artifact_copy, name, content, message):
    (artifact_copy / "metadata.json").unlink()  # an artifact without checksums (older export)
    (artifact_copy / name).write_text(content)
    with pytest.raises(DogbreedError, match=message):
        load_runtime(artifact_copy, threads=1)


def test_a_truncated_tarball_is_a_one_line_error_not_aborted(artifact, tmp_path):
    tar = tmp_path / "model.tar.gz"
    data = (artifact / "model.tar.gz").read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    with pytest.raises(DogbreedError, match="truncated"):
        load_runtime(tar, threads=1)
    image = tmp_path / "dog.jpg"
    image.write_bytes(good_image())
    result = CliRunner().invoke(cli, ["predict", "--artifact", str(tar), str(image)])
    assert result.exit_code == 1
    assert "cannot extract model artifact" in result.output and "Aborted" not in result.output


# --- 9. a results file cut mid-line ------------------------------------------------------------


def test_a_results_file_cut_mid_line_loses_no_later_record(tmp_path):
    from ops.evaluate.store import ResultStore

    key = {"run": 1}
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps({"key": key}) + "\n" + json.dumps({"i": 0, "ok": True}) + '\n{"i": 1, "ok"'
    )
    store = ResultStore(path, key)
    assert set(store.records) == {0}
    store.append([{"i": 2, "ok": True}])
    assert set(ResultStore(path, key).records) == {0, 2}


# --- 10. local serving: API key, exposure warning, private Terraform state ----------------------


def test_serve_api_key_is_required_by_the_local_api(artifact):
    from ops.api.local_stack import start_local_stack
    from ops.settings import Settings

    settings = Settings().with_overrides(
        {"serve.port": 0, "serve.api_port": 0, "serve.api_key": "s3cret", "serve.max_batch_size": 2}
    )
    with start_local_stack(settings, artifact, api=True) as stack:
        url = f"{stack.api_url}/classify"
        payload = {"images": [b64(good_image())]}
        assert requests.post(url, json=payload, timeout=30).status_code == 403
        wrong = requests.post(url, json=payload, headers={"x-api-key": "nope"}, timeout=30)
        assert wrong.status_code == 403
        ok = requests.post(url, json=payload, headers={"x-api-key": "s3cret"}, timeout=30)
        assert ok.status_code == 200


def test_binding_beyond_loopback_warns(runtime):
    with ModelServer(runtime, host="0.0.0.0", port=0, max_batch_size=1) as srv:
        assert "beyond loopback" in srv.exposure_warning
    with ModelServer(runtime, host="127.0.0.1", port=0, max_batch_size=1) as srv:
        assert srv.exposure_warning is None


def test_terraform_state_is_written_owner_only(tmp_path, tf_env):
    from ops.deploy.terraform import Terraform

    if shutil.which("terraform") is None:
        pytest.skip("the terraform binary is not on PATH")
    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf").write_text(
        'variable "key" {\n  type = string\n}\n'
        'resource "terraform_data" "secret" {\n  input = var.key\n}\n'
    )
    tf = Terraform(work)
    tf.init()
    tf.apply({"key": "an api key"})
    state = work / "terraform.tfstate"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    state.chmod(0o644)  # left readable by an older run: fixed on the next call
    tf.apply({"key": "another api key"})  # a change: the old state becomes the backup
    for name in ("terraform.tfstate", "terraform.tfstate.backup"):
        assert stat.S_IMODE((work / name).stat().st_mode) == 0o600
