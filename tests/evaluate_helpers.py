"""A scripted POST /classify API on loopback and the hand-computed scenario the evaluation tests share.

The fake API is a real HTTP server: it decodes the base64 images of each request and answers the
predictions scripted for that image (keyed by the image's sha256), so the evaluation sees known
answers and the tests can count how many times each image was sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import Counter
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ops.data.manifest import PreparedData
from tests.factories import BREEDS

OUTSIDE_WNID = "n09999999"  # a breed that is not among the evaluated classes

# The 9 validation images of make_prepared (3 classes x 3), in manifest order:
# (ranked predicted class indices, -1 = OUTSIDE_WNID; top-1 probability).
SCENARIO = [
    ([0, 1, 2], 0.90),  # class 0: right
    ([0, 2, 1], 0.62),  # class 0: right
    ([1, 0, 2], 0.70),  # class 0: wrong (-> 1)
    ([1, 0, 2], 0.82),  # class 1: right
    ([2, 1, 0], 0.50),  # class 1: wrong (-> 2)
    ([1, 2, 0], 0.95),  # class 1: right
    ([2, 0, 1], 0.90),  # class 2: right
    ([1, 2, 0], 0.42),  # class 2: wrong (-> 1)
    ([0, -1, 1], 0.55),  # class 2: wrong (-> 0), and not even in the top 3
]
LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 2]

# Hand-computed from SCENARIO (see tests/test_evaluate_metrics.py for the arithmetic).
EXPECTED = {
    "top1": 5 / 9,
    "top5": 8 / 9,
    "recall": [2 / 3, 2 / 3, 1 / 3],
    "precision": [2 / 3, 1 / 2, 1 / 2],
    "f1": [2 / 3, 4 / 7, 2 / 5],
    "confusion": [[2, 1, 0], [0, 2, 1], [1, 1, 1]],
    "ece": 2.98 / 9,
}


def scenario_predictions(ranked: list[int], top1: float) -> list[dict]:
    """The API's answer for one image: top-1 gets `top1`, the rest share what is left."""
    rest = (1 - top1) / max(1, len(ranked) - 1)
    out = []
    for rank, index in enumerate(ranked):
        wnid, name = (OUTSIDE_WNID, "Not_a_test_breed") if index < 0 else BREEDS[index]
        out.append({"breed": name, "wnid": wnid, "probability": top1 if rank == 0 else rest})
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scenario_answers(prepared_dir: Path) -> dict[str, list[dict]]:
    """sha256 of each validation image -> its scripted answer."""
    paths = PreparedData(Path(prepared_dir)).image_paths("validation")
    assert [label for _, label in paths] == LABELS
    return {
        sha(path.read_bytes()): scenario_predictions(ranked, p)
        for (path, _), (ranked, p) in zip(paths, SCENARIO, strict=True)
    }


class FakeClassifyApi:
    """POST /classify on 127.0.0.1:<free port>. `fail_whole_batch` holds image hashes that make
    the whole request a 500 (like a crashing backend); `reject` holds hashes answered with a
    per-image {"error"} in place."""

    def __init__(self, answers: dict[str, list[dict]]):
        self.answers = answers
        self.received: Counter[str] = Counter()  # images answered with predictions
        self.requests = 0
        self.fail_whole_batch: set[str] = set()
        self.reject: set[str] = set()
        self.forbidden = False  # answer 403 to everything, like API Gateway without a valid key
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hashes = [sha(base64.b64decode(img)) for img in body["images"]]
                with api.lock:
                    api.requests += 1
                if api.forbidden:
                    self._send(403, {"message": "Forbidden"})
                    return
                if self.path != "/classify":
                    self._send(404, {"error": "not found"})
                    return
                if any(h in api.fail_whole_batch for h in hashes):
                    self._send(500, {"error": "internal error"})
                    return
                predictions = []
                for h in hashes:
                    if h in api.reject or h not in api.answers:
                        predictions.append({"error": "not an image this API knows"})
                        continue
                    with api.lock:
                        api.received[h] += 1
                    predictions.append(api.answers[h][: int(body.get("top_k", 5))])
                self._send(200, {"predictions": predictions})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeClassifyApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class DomScan(HTMLParser):
    """Section ids, <img> attributes and the text of elements with an id."""

    def __init__(self):
        super().__init__()
        self.sections: set[str] = set()
        self.images: list[dict[str, str]] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and attrs.get("id"):
            self.sections.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        if attrs.get("id") and tag in ("div", "pre", "p"):
            self._open.append(attrs["id"])
            self.text.setdefault(attrs["id"], "")
        elif tag in ("div", "pre", "p"):
            self._open.append("")

    def handle_endtag(self, tag):
        if tag in ("div", "pre", "p") and self._open:
            self._open.pop()

    def handle_data(self, data):
        for ident in self._open:
            if ident:
                self.text[ident] += data


def write_scenario_report(prepared_dir: Path, out: Path) -> Path:
    """`dogbreed evaluate` against the scenario API, one image failing with a 500; the report folder."""
    from click.testing import CliRunner

    from ops.cli import cli

    with FakeClassifyApi(scenario_answers(prepared_dir)) as api:
        broken = sorted((prepared_dir / "validation").rglob("*.jpg"))[2]
        api.fail_whole_batch.add(sha(broken.read_bytes()))
        result = CliRunner().invoke(
            cli,
            ["--set", "evaluate.retries=0", "evaluate", "--quiet", "--url", api.url]
            + ["--data", str(prepared_dir), "--out", str(out)],
        )
    assert result.exit_code == 1, result.output  # one image failed: the run is incomplete
    return out


def evaluate_through_the_stack(artifact: Path, prepared_dir: Path, out_dir: Path, endpoint: str):
    """`evaluate` of a prepared folder through the real stack on loopback: the model server,
    the local gateway and the Lambda handler; returns the run's result."""
    from ops.api.gateway import start_gateway
    from ops.endpoint.onnx_runtime import load_runtime
    from ops.endpoint.server import ModelServer
    from ops.evaluate.evaluation import run_evaluation
    from ops.evaluate.targets import url_target
    from ops.settings import load_settings

    settings = load_settings(environ={})
    runtime = load_runtime(artifact, threads=1)
    with ModelServer(runtime, port=0, endpoint_name=endpoint) as server:
        gw = start_gateway("127.0.0.1", 0, server.url, endpoint, artifact / "classes.json")
        try:
            return run_evaluation(
                settings,
                url_target(gw.url, None, settings, model=str(artifact)),
                prepared_dir,
                out_dir=out_dir,
                progress=False,
            )
        finally:
            gw.shutdown()
