"""A loopback stand-in for SageMaker batch transform, in front of moto server.

moto records CreateTransformJob and reports every job Completed at once, but runs nothing. This
proxy (tests/fake_sagemaker.py's FakeSageMaker) forwards every request to moto, and after a
CreateTransformJob it does what the service does: it reads the job's ManifestFile from moto S3,
sends each listed image to a model (a callable: image bytes -> response body, e.g. a real model
server's POST /invocations, the inference-container contract), and puts one `<image>.out` per
image under the job's S3OutputPath. DescribeTransformJob says InProgress until the outputs are
in place, then moto's Completed, or Failed with a reason when the test scripts a failure.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import boto3

from tests.fake_sagemaker import FakeSageMaker


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class FakeTransform(FakeSageMaker):
    """`model(image) -> bytes`; `flat` writes `<output>/<file name>.out` instead of keeping the
    input's relative path (AWS's documentation shows both); images in `skip` get no output and
    the job then ends Failed with `failure_reason`."""

    def __init__(
        self,
        upstream: str,
        model: Callable[[bytes], bytes],
        flat: bool = False,
        skip: tuple[str, ...] = (),
        failure_reason: str = "ClientError: See job logs for more information",
    ):
        super().__init__(upstream)
        self.model = model
        self.flat = flat
        self.skip = set(skip)
        self.failure_reason = failure_reason
        self.running: dict[str, threading.Thread] = {}
        self.failed: set[str] = set()  # jobs that skipped an image end Failed
        self.sent: list[str] = []  # relative paths of the images given to the model, in order
        self.s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=upstream)

    def _handle_post(self, handler, body: bytes) -> None:
        target = handler.headers.get("X-Amz-Target", "")
        action = target.split(".", 1)[1] if target.startswith("SageMaker.") else ""
        if action == "CreateTransformJob":
            request = json.loads(body)
            with self._lock:
                self.calls.append((action, request))
            self._forward(handler, body)
            worker = threading.Thread(target=self._transform, args=(request,), daemon=True)
            self.running[request["TransformJobName"]] = worker
            worker.start()
            return
        if action == "DescribeTransformJob":
            name = json.loads(body)["TransformJobName"]
            with self._lock:
                self.calls.append((action, {"TransformJobName": name}))
            status, answer = self._upstream(handler, body)
            if status == 200:
                answer.update(self._state(name))
            return self._reply(handler, status, answer)
        if action == "ListTransformJobs":
            status, answer = self._upstream(handler, body)
            for summary in answer.get("TransformJobSummaries", []):
                summary.update(self._state(summary["TransformJobName"]))
            return self._reply(handler, status, answer)
        return super()._handle_post(handler, body)

    def _state(self, name: str) -> dict[str, str]:
        """What the service would say about a job this fake runs ({} = moto's answer stands)."""
        worker = self.running.get(name)
        if worker is None:
            return {}
        if worker.is_alive():
            return {"TransformJobStatus": "InProgress"}
        if name in self.failed:
            return {"TransformJobStatus": "Failed", "FailureReason": self.failure_reason}
        return {}

    def _transform(self, request: dict[str, Any]) -> None:
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        assert source["S3DataType"] == "ManifestFile", source
        bucket, key = _split(source["S3Uri"])
        manifest = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        in_bucket, in_prefix = _split(manifest[0]["prefix"])
        out_bucket, out_prefix = _split(request["TransformOutput"]["S3OutputPath"].rstrip("/"))
        for rel in manifest[1:]:
            if rel in self.skip:
                self.failed.add(request["TransformJobName"])
                continue
            image = self.s3.get_object(Bucket=in_bucket, Key=in_prefix + rel)["Body"].read()
            self.sent.append(rel)
            name = PurePosixPath(rel).name if self.flat else rel
            self.s3.put_object(
                Bucket=out_bucket, Key=f"{out_prefix}/{name}.out", Body=self.model(image)
            )
