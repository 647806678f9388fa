"""`evaluate --endpoint NAME`: call a SageMaker endpoint directly (no API Gateway, no Lambda).

It has the ClassifyClient interface, so the runner does not care which one it talks to. The
endpoint answers class probabilities in class-index order (the built-in algorithm's format);
they are named with the prepared classes.json, which must be the one the model was trained on.
Works against the local model server too (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://...).
"""

from __future__ import annotations

import json
from typing import Any

from lambda_src import answer
from ops.data.manifest import BreedClass
from ops.errors import DogbreedError


class EndpointClient:
    """classify(images, top_k) through sagemaker-runtime invoke_endpoint, one image per call."""

    def __init__(self, settings, endpoint_name: str, classes: list[BreedClass]):
        from ops.aws.session import make_client

        self.endpoint_name = endpoint_name
        self.classes = sorted(classes, key=lambda c: c.index)
        self.client = make_client(settings, "sagemaker-runtime")

    def classify(self, images: list[bytes], top_k: int = 5) -> list[list[dict] | dict]:
        return self.classify_answers(images, top_k)[0]

    def classify_answers(self, images: list[bytes], top_k: int = 5) -> tuple[list, list]:
        """(rankings, verdicts) as the Lambda makes them (lambda_src/answer.py): the endpoint's
        dog score when it answers one, else the top-probability fallback."""
        answers = [self._one(image, top_k) for image in images]
        return [a[0] if isinstance(a, tuple) else a for a in answers], [
            a[1] if isinstance(a, tuple) else None for a in answers
        ]

    def _one(self, image: bytes, top_k: int) -> tuple[list[dict], dict] | dict:
        body = self._invoke(image)
        if isinstance(body, dict):
            return body
        try:
            probs, dog = answer.read_endpoint_body(json.loads(body))
        except (ValueError, TypeError, IndexError):
            probs, dog = None, {}
        if not isinstance(probs, list) or len(probs) != len(self.classes):
            raise DogbreedError(
                f"endpoint {self.endpoint_name} answered {len(probs) if isinstance(probs, list) else '?'} "
                f"probabilities, the data has {len(self.classes)} classes",
                hint="evaluate with the prepared folder the model was trained on (--data)",
            )
        ranked = ranked_predictions(probs, self.classes, max(top_k, 2))
        return ranked[:top_k], answer.verdict(ranked, dog)

    def _invoke(self, image: bytes) -> bytes | dict:
        """The endpoint's answer body for one image, or {"error": message} when it rejected the
        image (a 4xx); ApiError when the endpoint cannot answer at all."""
        import botocore.exceptions

        from ops.api.client import ApiError

        try:
            response = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType="application/x-image",
                Accept="application/json",
                CustomAttributes=answer.CUSTOM_ATTRIBUTE,  # the dog score, where the model has it
                Body=image,
            )
        except botocore.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("ModelError", "ValidationError") and status and status < 500:
                if "not found" in message.lower() and "endpoint" in message.lower():
                    raise ApiError(message, status=status) from exc
                return {"error": message}
            raise ApiError(f"{self.endpoint_name}: {code} {message}", status=status) from exc
        except (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.ReadTimeoutError,
        ) as exc:
            raise ApiError(f"cannot reach the endpoint: {exc}", status=None) from exc
        return response["Body"].read()

    def close(self) -> None:
        close: Any = getattr(self.client, "close", None)
        if close:
            close()


def ranked_predictions(probs: list[float], classes: list[BreedClass], top_k: int) -> list[dict]:
    """The built-in algorithm's answer (one probability per class, class-index order) as the
    API's top-k list; `classes` sorted by index. Shared by --endpoint and --batch-transform."""
    from ops.model.ranking import rank

    order = [int(i) for i in rank(probs, top_k)]
    return [
        {"breed": classes[i].name, "wnid": classes[i].wnid, "probability": float(probs[i])}
        for i in order
    ]
