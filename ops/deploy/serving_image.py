"""The serving image of a locally trained model, by digest: given, found in ECR, or built and pushed.

In this order:
  1. `--image <repository>@sha256:<digest>` (built elsewhere: CI, CodeBuild) is used as given;
  2. the project repository already holds this code's tag (ops/deploy/container_image.image_tag:
     the same code gives the same tag, and tags are immutable), so its digest is read from ECR;
  3. a Docker daemon answers: build the staged context and push, printing Docker's progress;
  4. otherwise a one-line error with the two commands that build and push it elsewhere.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.deploy.container_image import image_tag, stage_context
from ops.errors import DogbreedError

DIGEST_URI = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def check_digest_uri(image_uri: str) -> str:
    """An image URI that names its bytes (`...@sha256:<64 hex>`); DogbreedError otherwise."""
    if not DIGEST_URI.match(image_uri):
        raise DogbreedError(
            f"--image {image_uri!r} must name the serving image by digest: "
            "<repository>@sha256:<64 hex digits> (the digest `docker push` prints)",
            exit_code=2,
        )
    return image_uri


def repository_name(settings) -> str:
    """The project repository's name (terraform/main.tf module "ecr")."""
    return f"{settings.project.name}-serving"


def repository_url(settings) -> str:
    """<account>.dkr.ecr.<region>.amazonaws.com/<project>-serving, the account from STS."""
    from ops.aws.session import make_client

    account = make_client(settings, "sts").get_caller_identity()["Account"]
    return f"{account}.dkr.ecr.{settings.aws.region}.amazonaws.com/{repository_name(settings)}"


def repository_exists(settings) -> bool:
    """Whether the project repository exists yet (the first deploy creates it with the bucket)."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error, make_client

    try:
        make_client(settings, "ecr").describe_repositories(
            repositoryNames=[repository_name(settings)]
        )
        return True
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
            return False
        raise explain_client_error(exc, f"reading repository {repository_name(settings)}") from exc


def pushed_digest(settings, tag: str) -> str | None:
    """The digest of `tag` in the project repository; None when the tag (or repository) is absent."""
    import botocore.exceptions

    from ops.aws.session import explain_client_error, make_client

    ecr = make_client(settings, "ecr")
    try:
        found = ecr.describe_images(
            repositoryName=repository_name(settings), imageIds=[{"imageTag": tag}]
        )
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return None
        raise explain_client_error(exc, f"reading {repository_name(settings)}:{tag}") from exc
    details = found.get("imageDetails") or []
    return details[0]["imageDigest"] if details else None


def docker_available() -> str | None:
    """None when a Docker daemon answers, else why not (one short phrase)."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    probe = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return "no Docker daemon answers `docker info`"
    return None


def _run_streaming(cmd: list[str], echo: Callable[[str], Any], stdin: str | None = None) -> str:
    """Run a docker command, echoing each output line as it comes; its whole output."""
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    lines = []
    for line in proc.stdout or []:
        lines.append(line)
        echo(f"  {line.rstrip()}")
    if proc.wait() != 0:
        raise DogbreedError(f"`{' '.join(cmd[:2])}` failed (exit {proc.returncode}): see above")
    return "".join(lines)


def build_and_push(settings, context: Path, image: str, echo: Callable[[str], Any]) -> str:
    """docker build + login + push of `image` (repository:tag); the pushed digest URI."""
    from ops.aws.session import make_client

    repository = image.rsplit(":", 1)[0]
    echo(f"Building the serving image {image}")
    _run_streaming(["docker", "build", "--progress=plain", "-t", image, str(context)], echo)
    token = make_client(settings, "ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    registry = repository.split("/", 1)[0]
    cmd = ["docker", "login", "--username", user, "--password-stdin", registry]
    _run_streaming(cmd, echo, stdin=password)
    echo(f"Pushing {image}")
    output = _run_streaming(["docker", "push", image], echo)
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", output)
    if match is None:
        raise DogbreedError(f"`docker push {image}` printed no digest")
    return f"{repository}@{match.group(1)}"


def resolve_serving_image(
    settings, context: Path, echo: Callable[[str], Any], image_uri: str | None = None
) -> str:
    """The serving image's digest URI for this code (see the module docstring for the order)."""

    if image_uri:
        return check_digest_uri(image_uri)
    tag = image_tag()
    repository = repository_url(settings)
    digest = pushed_digest(settings, tag)
    if digest:
        echo(f"Serving image {repository}:{tag} is in ECR ({digest})")
        return f"{repository}@{digest}"
    stage_context(context)
    why = docker_available()
    if why is None:
        return build_and_push(settings, context, f"{repository}:{tag}", echo)
    raise DogbreedError(
        f"the serving image {repository}:{tag} is not in ECR and it cannot be built here "
        f"({why}): run `docker build -t {repository}:{tag} {context}` and "
        f"`docker push {repository}:{tag}` where Docker runs (after `aws ecr get-login-password "
        f"| docker login --username AWS --password-stdin {repository.split('/', 1)[0]}`), "
        "then deploy again (or pass --image <repository>@sha256:<digest>)"
    )
