"""One evaluation run end to end: send the manifest (resumably) to a Target, write the report.

The command (`dogbreed evaluate`) and tests call `run_evaluation`; the batch transform route
(ops/evaluate/batch_transform.py) shares its RunPlan, so both routes write the same report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.data.manifest import PreparedData
from ops.errors import DogbreedError
from ops.evaluate.records import EvalItem, load_items
from ops.evaluate.report.write import ReportFiles, describe_images, write_report
from ops.evaluate.runner import RunOutcome, evaluate_items
from ops.evaluate.store import ResultStore, key_digest, results_file, run_key
from ops.evaluate.targets import Target
from ops.run_lock import WRITE_ERRORS, exclusive_run


@dataclass
class EvaluationResult:
    """What a run did (outcome), the report it wrote (files) and that report's metrics.json."""

    outcome: RunOutcome
    files: ReportFiles
    metrics: dict[str, Any]

    @property
    def complete(self) -> bool:
        return self.outcome.complete

    def summary(self) -> str:
        """One line: top-1/top-5 on how many images, and what is missing when incomplete."""
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


def default_out_dir(settings, split: str, key: dict[str, Any]) -> Path:
    """<evaluate.reports_dir>/<split>-<digest of the run key>: one folder per run."""
    return settings.resolve(settings.evaluate.reports_dir) / f"{split}-{key_digest(key, 8)}"


@dataclass
class RunPlan:
    """What one run sends and where its report goes, the same for every route (API, endpoint,
    batch transform): the data, the items, the run key and the report folder."""

    settings: Any
    prepared: Any  # ops.data.manifest.PreparedData, checked
    classes: list  # its BreedClass list
    split: str
    limit: int
    items: list[EvalItem]
    key: dict[str, Any]
    out_dir: Path
    started: str

    @classmethod
    def make(
        cls, settings, prepared_dir: Path, split: str, limit: int, model: str, out_dir: Path | None
    ) -> RunPlan:
        """Check the data, pick the items, and key the run by manifest + `model` + top-k."""

        prepared = PreparedData(Path(prepared_dir)).check()
        classes = prepared.classes()
        items = load_items(prepared.root, split, limit)
        key = run_key(prepared.lst_path(split), model, settings.evaluate.top_k)
        out_dir = Path(out_dir) if out_dir else default_out_dir(settings, split, key)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(settings, prepared, classes, split, limit, items, key, out_dir, started)

    def report(
        self, outcome: RunOutcome, route: dict[str, Any], **sending: Any
    ) -> EvaluationResult:
        """Write the report of `outcome`. `route` names who answered (route, model, url, and the
        route's own fields); `sending` is batch_size, concurrency and results_file."""
        ev = self.settings.evaluate
        run = {
            "route": route["route"],
            "model": route["model"],
            "model_key": self.key["model"],
            **route,
            "data": str(self.prepared.root.resolve()),
            "manifest": self.key["manifest"],
            "split": self.split,
            "limit": self.limit,
            "images": describe_images(self.prepared.root, self.split),
            "batch_size": sending["batch_size"],
            "concurrency": sending["concurrency"],
            "top_k": ev.top_k,
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "results_file": sending["results_file"],
            "sent_this_run": outcome.sent_now,
            "reused_from_earlier_runs": outcome.reused,
            "interrupted": outcome.interrupted,
        }
        files = write_report(
            outcome.records,
            self.classes,
            run,
            self.out_dir,
            self.prepared.images_dir(self.split),
            worst_k=ev.worst_classes,
        )
        return EvaluationResult(outcome, files, json.loads(files.metrics.read_text()))


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
    plan = RunPlan.make(settings, prepared_dir, split, limit, target.key, out_dir)
    with exclusive_run(plan.out_dir, "evaluate"):  # two runs into one folder sent images twice
        try:
            return _send_and_report(plan, target, progress, on_batch)
        except OSError as exc:
            if exc.errno not in WRITE_ERRORS:
                raise
            raise DogbreedError(
                f"cannot write the report to {plan.out_dir}: {exc.strerror}",
                hint="the answers saved so far are kept: free some space and re-run to continue",
            ) from exc


def _send_and_report(plan: RunPlan, target: Target, progress: bool, on_batch) -> EvaluationResult:
    """run_evaluation's work, under the report folder's lock."""
    ev = plan.settings.evaluate
    store = ResultStore(results_file(plan.out_dir, plan.key), plan.key)
    outcome = evaluate_items(
        plan.items,
        store,
        target.factory,
        batch_size=ev.batch_size,
        concurrency=ev.concurrency,
        top_k=ev.top_k,
        progress=progress,
        on_batch=on_batch,
        original=ev.original_photos,
    )
    route = {"route": target.route, "model": target.model, "url": target.url}
    return plan.report(
        outcome,
        route,
        batch_size=ev.batch_size,
        concurrency=ev.concurrency,
        results_file=str(store.path),
    )


def resolve_prepared(settings, data: Path | None) -> Path:
    """The prepared data folder (--data, else data.prepared_dir); an error when it is absent."""
    path = Path(data) if data else settings.resolve(settings.data.prepared_dir)
    if not path.is_dir():
        raise DogbreedError(
            f"prepared data folder {path} not found",
            hint="run `dogbreed data prepare` or pass --data",
        )
    return path
