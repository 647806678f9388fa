"""One evaluation run end to end: pick the API, send the manifest (resumably), write the report.

The command (`dogbreed evaluate`) and `demo` call `run_evaluation`; tests call it directly too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.errors import DogbreedError
from ops.evaluate.report import ReportFiles, describe_images, write_report
from ops.evaluate.runner import (
    ResultStore,
    RunOutcome,
    evaluate_items,
    load_items,
    results_file,
    run_key,
)


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


@dataclass
class EvaluationResult:
    outcome: RunOutcome
    files: ReportFiles
    metrics: dict[str, Any]

    @property
    def complete(self) -> bool:
        return self.outcome.complete

    def summary(self) -> str:
        m, counts = self.metrics["metrics"], self.metrics["counts"]
        head = (
            f"top-1 {_pct(m['top1'])}, top-5 {_pct(m['top5'])} on {counts['answered']} of "
            f"{counts['images']} images"
        )
        if self.complete:
            return head
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(counts["failures_by_kind"].items()))
        state = "interrupted" if self.outcome.interrupted else "incomplete"
        return f"{state}: {counts['failed']} image(s) without an answer ({kinds}); {head}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def model_for_url(url: str) -> str:
    """What model answers at `url`, from the state file when we started or deployed it."""
    return _recorded_model(url)[0]


def _recorded_model(url: str) -> tuple[str, str | None]:
    """(model, identity the server recorded for it) of the API at `url`, from the state file."""
    from ops.serving.client import classify_url
    from ops.state import load_state

    state = load_state()
    norm = classify_url(url)
    serve = state.get("serve") or {}
    if serve.get("api_url") and classify_url(serve["api_url"]) == norm:
        return str(serve.get("artifact") or url), serve.get("model_identity")
    deployment = state.get("deployment") or {}
    if deployment.get("api_url") and classify_url(deployment["api_url"]) == norm:
        for key in ("model_data_url", "model_name", "endpoint_name"):
            if deployment.get(key):
                return str(deployment[key]), None
    return url, None


def url_target(url: str, api_key: str | None, settings, model: str | None = None) -> Target:
    from ops.serving.client import ClassifyClient

    ev = settings.evaluate

    def factory():
        return ClassifyClient(url, api_key=api_key, timeout=ev.timeout_s, retries=ev.retries)

    recorded, identity = _recorded_model(url)
    return Target(url=url, model=model or recorded, factory=factory, identity=identity)


def endpoint_target(endpoint: str, settings, classes) -> Target:
    from ops.evaluate.endpoint import EndpointClient

    EndpointClient(settings, endpoint, classes).close()  # credentials / region errors: now, once
    return Target(
        url=f"sagemaker-runtime endpoint {endpoint}",
        model=f"endpoint:{endpoint}",
        factory=lambda: EndpointClient(settings, endpoint, classes),
        route="endpoint",
    )


def default_out_dir(settings, split: str, key: dict[str, Any]) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return settings.resolve(settings.evaluate.reports_dir) / f"{split}-{digest}"


def run_evaluation(
    settings,
    target: Target,
    prepared_dir: Path,
    split: str = "validation",
    limit: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
    on_batch=None,
) -> EvaluationResult:
    """Send what is not answered yet, then write metrics.json, per_class.csv and report.html."""
    from ops.data.manifest import PreparedData

    ev = settings.evaluate
    prepared = PreparedData(Path(prepared_dir)).check()
    classes = prepared.classes()
    items = load_items(prepared.root, split, limit)
    key = run_key(prepared.lst_path(split), target.key, ev.top_k)
    out_dir = Path(out_dir) if out_dir else default_out_dir(settings, split, key)
    store = ResultStore(results_file(out_dir, key), key)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    outcome = evaluate_items(
        items,
        store,
        target.factory,
        batch_size=ev.batch_size,
        concurrency=ev.concurrency,
        top_k=ev.top_k,
        progress=progress,
        on_batch=on_batch,
    )
    run = {
        "route": target.route,
        "model": target.model,
        "model_key": key["model"],
        "url": target.url,
        "data": str(prepared.root.resolve()),
        "manifest": key["manifest"],
        "split": split,
        "limit": limit,
        "images": describe_images(prepared.root, split),
        "batch_size": ev.batch_size,
        "concurrency": ev.concurrency,
        "top_k": ev.top_k,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "results_file": str(store.path),
        "sent_this_run": outcome.sent_now,
        "reused_from_earlier_runs": outcome.reused,
        "interrupted": outcome.interrupted,
    }
    files = write_report(
        outcome.records,
        classes,
        run,
        out_dir,
        prepared.images_dir(split),
        worst_k=ev.worst_classes,
    )
    metrics = json.loads(files.metrics.read_text())
    return EvaluationResult(outcome, files, metrics)


def resolve_prepared(settings, data: Path | None) -> Path:
    path = Path(data) if data else settings.resolve(settings.data.prepared_dir)
    if not path.is_dir():
        raise DogbreedError(
            f"prepared data folder {path} not found",
            hint="run `dogbreed data prepare` or pass --data",
        )
    return path
