"""Who answers an evaluation (a Target): a POST /classify URL, a SageMaker endpoint called
directly, or, by default, the API the settings or the state file name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.evaluate.endpoint import EndpointClient
from ops.records import DeploymentRecord, ServeRecord, read_deployment, read_serve


@dataclass
class Target:
    """Who answers: a client factory (ClassifyClient or EndpointClient), and names for the report."""

    url: str
    model: str
    factory: Any
    route: str = "api"  # the report names it: "api" (POST /classify) or "endpoint"
    identity: str | None = None  # what the server recorded (the local stack: its weights' digest)

    @property
    def key(self) -> str:
        """The model's identity for resuming: what the server recorded for it (the local stack
        records its weights' digest, so a re-exported identical model resumes), else its name."""
        return self.identity or self.model


def model_for_url(url: str) -> str:
    """What model answers at `url`, from the state file when we started or deployed it."""
    return _recorded_model(url)[0]


def _recorded_model(url: str) -> tuple[str, str | None]:
    """(model, identity the server recorded for it) of the API at `url`, from the state file."""
    from ops.api.client import classify_url

    norm = classify_url(url)
    serve = read_serve() or ServeRecord()
    if serve.api_url and classify_url(serve.api_url) == norm:
        return str(serve.artifact or url), serve.model_identity
    deployment = read_deployment() or DeploymentRecord()
    if deployment.api_url and classify_url(deployment.api_url) == norm:
        for name in (deployment.model_data_url, deployment.model_name, deployment.endpoint_name):
            if name:
                return name, None
    return url, None


def url_target(url: str, api_key: str | None, settings, model: str | None = None) -> Target:
    """A POST /classify API at `url`; the model is named from the state file unless given."""
    from ops.api.client import ClassifyClient

    ev = settings.evaluate

    def factory():
        return ClassifyClient(url, api_key=api_key, timeout=ev.timeout_s, retries=ev.retries)

    recorded, identity = _recorded_model(url)
    return Target(url=url, model=model or recorded, factory=factory, identity=identity)


def endpoint_target(endpoint: str, settings, classes) -> Target:
    """A SageMaker endpoint called through invoke_endpoint, its answers named by `classes`."""

    EndpointClient(settings, endpoint, classes).close()  # credentials / region errors: now, once
    return Target(
        url=f"sagemaker-runtime endpoint {endpoint}",
        model=f"endpoint:{endpoint}",
        factory=lambda: EndpointClient(settings, endpoint, classes),
        route="endpoint",
    )


def default_target(settings) -> Target:
    """evaluate.url, else the running `serve --api` or the last deployment's API (state file)."""
    from ops.api.client import default_api

    try:
        api_url, key = default_api(settings)
    except DogbreedError as exc:
        raise DogbreedError(
            exc.message,
            hint="pass --url, start `dogbreed serve --api` (or `deploy`), or run "
            "`dogbreed evaluate --local` to start the local stack for this run",
        ) from None
    return url_target(api_url, key, settings)


def choose_target(settings, prepared_dir: Path, endpoint: str | None = None, stack=None) -> Target:
    """The endpoint when named, else the started local stack (a ServeProcess), else the default."""
    if endpoint:
        classes = PreparedData(Path(prepared_dir)).check().classes()
        return endpoint_target(endpoint, settings, classes)
    if stack is not None:
        return url_target(stack.api_url, None, settings, model=stack.model)
    return default_target(settings)
