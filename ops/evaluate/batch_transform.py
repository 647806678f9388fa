"""`evaluate --batch-transform`: the validation channel through a SageMaker batch transform job,
read back from S3 into the same report as the API route (no 10 requests/s throttle, no endpoint).

The job reads exactly the images of the manifest (a ManifestFile input listing the .lst paths
under the uploaded channel), one image per request with ContentType application/x-image (what the
built-in image-classification algorithm and the locally trained model's container accept), and
writes one `<image>.out` per image: the class probabilities in class-index order, as a JSON list
or, from the built-in algorithm, as {"prediction": [...]} (how AWS's image-classification example
notebooks read them). These become the same answer records the API route stores, and the report
code turns them into the same figures.

References:
- CreateTransformJob / TransformS3DataSource (ManifestFile format), TransformOutput (one .out per
  input object): https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformS3DataSource.html
  https://docs.aws.amazon.com/sagemaker/latest/dg/API_TransformOutput.html
- aws/amazon-sagemaker-examples, introduction_to_amazon_algorithms/imageclassification_caltech:
  batch transform with ContentType application/x-image, outputs read as data["prediction"].
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ops.errors import DogbreedError
from ops.evaluate.endpoint import ranked_predictions
from ops.evaluate.records import answer_record, failure_record, failures_by_kind, verdict_fields
from ops.evaluate.runner import RunOutcome
from ops.evaluate.store import key_digest
from ops.progress import progress_bar
from ops.records import read_deployment

ROUTE = "batch-transform"
TERMINAL = ("Completed", "Failed", "Stopped")
REUSABLE = ("Completed", "InProgress")  # a re-run waits for / reads these instead of paying again
MAX_PAYLOAD_MB = 6  # SageMaker's limit per request; larger images fail as a record
READ_THREADS = 16


@dataclass
class TransformJob:
    """One transform job of this run: its name, where its inputs and outputs are, its last state."""

    name: str
    manifest_uri: str
    output_uri: str
    description: dict[str, Any]
    reused: bool

    @property
    def status(self) -> str:
        return str(self.description.get("TransformJobStatus", "?"))


def split_s3(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    if not uri.startswith("s3://"):
        raise DogbreedError(f"{uri!r} is not an s3:// URL")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def model_to_transform(model_name: str | None) -> str:
    """The SageMaker model to run: the given name, else the last `dogbreed deploy`'s model."""
    if model_name:
        return model_name

    deployment = read_deployment()
    if deployment and deployment.deployed and deployment.model_name:
        return deployment.model_name
    raise DogbreedError(
        "no SageMaker model to run the batch transform with",
        hint="deploy one with `dogbreed deploy` (built-in or locally trained model), "
        "or pass --model NAME",
    )


def job_stem(project: str, key: dict[str, Any], limit: int) -> str:
    """The part of a job name that identifies the run (manifest + model + top-k + limit)."""
    return f"{project}-eval-{key_digest([key, limit], 10)}"


def manifest_document(channel_uri: str, rel_paths: list[str]) -> list[Any]:
    """A TransformS3DataSource ManifestFile: [{"prefix": ...}, "relative/path", ...]."""
    return [{"prefix": channel_uri.rstrip("/") + "/"}, *rel_paths]


def transform_request(
    settings, name: str, model_name: str, manifest_uri: str, output_uri: str
) -> dict[str, Any]:
    """The CreateTransformJob request: one image per request, application/x-image in, JSON out."""
    ev = settings.evaluate
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        "MaxConcurrentTransforms": ev.transform_max_concurrent,
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest_uri}},
            "ContentType": "application/x-image",
            "SplitType": "None",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "application/json"},
        "TransformResources": {
            "InstanceType": ev.transform_instance_type,
            "InstanceCount": ev.transform_instance_count,
        },
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(settings.aws.tags.items())],
    }


def find_job(sm, stem: str) -> dict[str, Any] | None:
    """The newest job of this run that is running or done (a failed or stopped one is not reused)."""
    summaries = sm.list_transform_jobs(
        NameContains=stem, SortBy="CreationTime", SortOrder="Descending", MaxResults=20
    )["TransformJobSummaries"]
    summaries.sort(key=lambda summary: summary["CreationTime"], reverse=True)
    for summary in summaries:
        if summary["TransformJobName"].startswith(stem) and (
            summary["TransformJobStatus"] in REUSABLE
        ):
            description = sm.describe_transform_job(TransformJobName=summary["TransformJobName"])
            if description["TransformJobStatus"] in REUSABLE:
                return description
    return None


def missing_inputs(s3, channel_uri: str, rel_paths: list[str]) -> list[str]:
    """Manifest images that are not in the uploaded channel (the job would fail on them)."""
    bucket, prefix = split_s3(channel_uri.rstrip("/") + "/")
    present: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        present.update(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
    return [rel for rel in rel_paths if rel not in present]


def start_job(
    settings,
    sm,
    s3,
    model_name: str,
    stem: str,
    channel_uri: str,
    rel_paths: list[str],
    bucket: str,
) -> TransformJob:
    """Write the manifest next to the job's outputs and create the job."""
    name = f"{stem}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
    base = f"{settings.evaluate.transform_prefix.strip('/')}/{name}"
    manifest_key = f"{base}/manifest.json"
    s3.put_object(
        Bucket=bucket,
        Key=manifest_key,
        Body=json.dumps(manifest_document(channel_uri, rel_paths)).encode(),
        ContentType="application/json",
    )
    manifest_uri, output_uri = f"s3://{bucket}/{manifest_key}", f"s3://{bucket}/{base}/output"
    sm.create_transform_job(
        **transform_request(settings, name, model_name, manifest_uri, output_uri)
    )
    description = sm.describe_transform_job(TransformJobName=name)
    return TransformJob(name, manifest_uri, output_uri, description, reused=False)


def list_outputs(s3, output_uri: str) -> dict[str, str]:
    """{key relative to the output path: full key} of every .out object the job wrote."""
    bucket, prefix = split_s3(output_uri.rstrip("/") + "/")
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".out"):
                found[obj["Key"][len(prefix) :]] = obj["Key"]
    return found


def match_outputs(rel_paths: list[str], outputs: dict[str, str]) -> dict[str, str]:
    """{input relative path: output key}. AWS's documentation shows the output either under the
    input's relative path or under its file name alone, so both are accepted (file names are
    unique in a prepared channel: they start with the class's wnid)."""
    by_name: dict[str, list[str]] = {}
    for rel in outputs:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    matched: dict[str, str] = {}
    for rel in rel_paths:
        out = f"{rel}.out"
        if out in outputs:
            matched[rel] = outputs[out]
            continue
        candidates = [o for o in outputs if o.endswith("/" + out)] or by_name.get(
            PurePosixPath(out).name, []
        )
        if len(candidates) == 1:
            matched[rel] = outputs[candidates[0]]
    return matched


def wait_for_job(
    sm,
    s3,
    job: TransformJob,
    total: int,
    poll_seconds: float,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> TransformJob:
    """Poll until the job ends; the bar counts the .out files written so far."""

    bar = progress_bar(total=total, unit="img", desc="batch transform", disable=not progress)
    try:
        while True:
            job.description = sm.describe_transform_job(TransformJobName=job.name)
            done = len(list_outputs(s3, job.output_uri))
            bar.update(max(0, min(done, total) - bar.n))
            bar.set_postfix(status=job.status)
            if job.status in TERMINAL:
                return job
            sleep(max(0.05, poll_seconds))
    except KeyboardInterrupt:
        raise DogbreedError(
            f"interrupted: transform job {job.name} keeps running in SageMaker",
            hint="re-run the same command to wait for it and read its outputs, or stop it with "
            f"`aws sagemaker stop-transform-job --transform-job-name {job.name}`",
        ) from None
    finally:
        bar.close()


def parse_probabilities(body: bytes, num_classes: int) -> list[float]:
    """One .out: a JSON list of class probabilities, or the built-in algorithm's {"prediction": [...]}."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"not JSON: {body[:60]!r}") from exc
    if isinstance(data, dict):
        data = data.get("prediction")
    if not isinstance(data, list) or not all(isinstance(p, int | float) for p in data):
        raise ValueError("not a list of class probabilities")
    if len(data) != num_classes:
        raise ValueError(f"{len(data)} probabilities, the data has {num_classes} classes")
    return [float(p) for p in data]


def read_bodies(s3, bucket: str, keys: dict[str, str], progress: bool) -> dict[str, bytes]:
    """{input relative path: .out body}, read concurrently."""

    def get(item: tuple[str, str]) -> tuple[str, bytes]:
        rel, key = item
        return rel, s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    bodies: dict[str, bytes] = {}
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        results = pool.map(get, sorted(keys.items()))
        for rel, body in progress_bar(
            results, total=len(keys), unit="file", desc="reading outputs", disable=not progress
        ):
            bodies[rel] = body
    return bodies


def answer_records(
    items, bodies: dict[str, bytes], classes, top_k: int, missing_why: str
) -> list[dict[str, Any]]:
    """The runner's answer records (same fields, so the same report) from the job's outputs."""
    from lambda_src import answer

    ordered = sorted(classes, key=lambda c: c.index)
    records = []
    for item in items:
        body = bodies.get(item.rel)
        if body is None:
            records.append(failure_record(item, "no_output", missing_why))
            continue
        try:
            probs = parse_probabilities(body, len(ordered))
        except ValueError as exc:
            records.append(failure_record(item, "bad_response", f"{item.rel}.out: {exc}"))
            continue
        ranked = ranked_predictions(probs, ordered, max(top_k, 2))
        # the Lambda's verdict for a built-in-algorithm answer (top-probability fallback)
        verdict = verdict_fields(answer.verdict(ranked, None))
        records.append(answer_record(item, ranked[:top_k], batch=1, **verdict))
    return records


def job_for_run(
    settings, sm, s3, plan, model_name: str, echo: Callable[[str], Any]
) -> TransformJob:
    """The running or finished job of this run when there is one, else a new job (after checking
    that every manifest image is in the uploaded channel: a job missing some would fail)."""
    from ops.aws.session import resolve_bucket

    bucket = resolve_bucket(settings)
    channel_uri = f"s3://{bucket}/{settings.aws.data_prefix.strip('/')}/{plan.split}/"
    rel_paths = [item.rel for item in plan.items]
    stem = job_stem(settings.project.name, plan.key, plan.limit)
    found = find_job(sm, stem)
    if found:
        out_uri = found["TransformOutput"]["S3OutputPath"]
        manifest_uri = found["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        job = TransformJob(found["TransformJobName"], manifest_uri, out_uri, found, reused=True)
        echo(f"reusing transform job {job.name} ({job.status})")
        return job
    absent = missing_inputs(s3, channel_uri, rel_paths)
    if absent:
        raise DogbreedError(
            f"{len(absent)} of {len(rel_paths)} {plan.split} images are not in {channel_uri} "
            f"(first: {absent[0]})",
            hint="run `dogbreed data upload` with the same prepared folder",
        )
    job = start_job(settings, sm, s3, model_name, stem, channel_uri, rel_paths, bucket)
    echo(f"started transform job {job.name}: {len(rel_paths)} images, model {model_name}")
    return job


def missing_why(job: TransformJob) -> str:
    """What the report says of an image the job wrote no output for."""
    if job.status == "Completed":
        return "the transform job completed without an output for this image"
    reason = job.description.get("FailureReason") or "no reason given"
    return f"the transform job wrote no output for this image (job {job.status}: {reason})"


def run_batch_transform(
    settings,
    prepared_dir: Path,
    model_name: str | None = None,
    split: str = "validation",
    limit: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
    sleep: Callable[[float], None] = time.sleep,
):
    """Run (or reuse) the transform job for this manifest + model, wait, read, write the report."""
    from ops.aws.session import connection_errors, make_client
    from ops.evaluate.evaluation import RunPlan

    ev = settings.evaluate
    model_name = model_to_transform(model_name)
    plan = RunPlan.make(settings, prepared_dir, split, limit, f"{ROUTE}:{model_name}", out_dir)
    total = len(plan.items)
    with connection_errors("the batch transform"):
        sm = make_client(settings, "sagemaker")
        s3 = make_client(settings, "s3", max_pool=READ_THREADS)
        job = job_for_run(settings, sm, s3, plan, model_name, echo)
        job = wait_for_job(sm, s3, job, total, settings.aws.poll_seconds, progress, sleep)
        matched = match_outputs([it.rel for it in plan.items], list_outputs(s3, job.output_uri))
        bodies = read_bodies(s3, split_s3(job.output_uri)[0], matched, progress)
    records = answer_records(plan.items, bodies, plan.classes, ev.top_k, missing_why(job))
    outcome = RunOutcome(
        records=records,
        sent_now=0 if job.reused else total,
        reused=total if job.reused else 0,
        failures=failures_by_kind(records),
    )
    route = {
        "route": ROUTE,
        "model": f"SageMaker model {model_name}",
        "url": job.output_uri,
        "transform_job": job.name,
        "transform_status": job.status,
        "transform_instances": f"{ev.transform_instance_count} x {ev.transform_instance_type}",
    }
    concurrent = ev.transform_max_concurrent * ev.transform_instance_count
    return plan.report(
        outcome, route, batch_size=1, concurrency=concurrent, results_file=job.output_uri
    )
