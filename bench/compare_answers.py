"""Same answers here and on SageMaker: the serving image's entrypoint vs `dogbreed serve`.

    python bench/compare_answers.py [--artifact artifacts/latest] [--data data/prepared] [--limit N]
    python bench/compare_answers.py --photos ../shared/stanford-dogs-full-dev   # resized vs original
    python bench/compare_answers.py --reports reports/a reports/b     # two saved `evaluate` runs

The same images go, one image per request, to two model servers started from the same artifact:
  container  the Dockerfile's exact ENTRYPOINT + `serve` as a process on the staged build context,
             /opt/ml a temporary folder holding the model data `deploy` uploads
             (tests/container_helpers.py); POST /invocations, the route SageMaker calls
  serve      `dogbreed serve --api` as a child process (ops/api/serve_process.py, what
             `evaluate --local` starts); POST /endpoints/<name>/invocations, the route boto3
             invoke_endpoint calls from the local stack's handler
Both with the endpoint's environment (serve.max_batch_size 4; local.threads from --threads), the
same request (application/x-image, the answer object with the dog score, as the Lambda asks), the
same HTTP client and the evaluation runner (ops/evaluate/runner.py: 8 images per batch, 4 batches
in flight; photos whose longest side is over 1024 px resized as `evaluate` and `classify` do,
unless --original). The images are split into --rounds parts and the routes alternate part by part,
so other jobs' load on a shared machine hits both alike.

Printed, per route: images answered, top-1, images/s (wall time of the runner, client included);
between the routes: images with a different top-1, the largest |p1 - p2| over all class
probabilities (as the servers send them, unrounded) and over the dog score, answers whose
verdict differs. Figures: docs/deploy-local-model.md.

--photos DIR (list.txt + Images/<wnid>-<breed>/, the layout of ../shared/stanford-dogs-full-dev)
sends the photos twice per route, resized as `evaluate` sends them and as they are (--original),
and prints the top-1 of each and on how many photos the top-1 changed. That folder is from the
train split (its dogs were seen, cropped, in training): its top-1 is optimistic; the point is the
difference between the two.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ops.evaluate.endpoint import EndpointClient  # noqa: E402
from ops.evaluate.records import EvalItem, load_items  # noqa: E402

ROUTES = ("container", "serve")
BATCH_SIZE = "4"  # the endpoint's environment (docs/deploy-local-model.md); no timing at start


class InvocationsClient(EndpointClient):
    """EndpointClient's answers (ranking + the Lambda's verdict) from a model server's URL over
    plain HTTP, with the request invoke_endpoint makes: the same client for both routes."""

    def __init__(self, url: str, classes):
        import requests

        from lambda_src.answer import CUSTOM_ATTRIBUTE

        self.endpoint_name = url
        self.classes = sorted(classes, key=lambda c: c.index)
        self.session = requests.Session()
        self.headers = {
            "Content-Type": "application/x-image",
            "Accept": "application/json",
            "X-Amzn-SageMaker-Custom-Attributes": CUSTOM_ATTRIBUTE,
        }

    def _invoke(self, image: bytes) -> bytes | dict:
        import requests

        from ops.api.client import ApiError

        try:
            resp = self.session.post(
                self.endpoint_name, data=image, headers=self.headers, timeout=120
            )
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach {self.endpoint_name}: {exc}", status=None) from exc
        if resp.status_code >= 500:
            raise ApiError(f"{self.endpoint_name}: HTTP {resp.status_code}", resp.status_code)
        if resp.status_code >= 400:
            return {"error": f"HTTP {resp.status_code}: {resp.text[:200]}"}
        return resp.content

    def close(self) -> None:
        self.session.close()


@contextlib.contextmanager
def container_route(artifact: Path, tmp: Path, threads: int) -> Iterator[tuple[str, Callable]]:
    """The entrypoint serving `artifact` from a temporary /opt/ml, started; yields its
    /invocations URL and a function that waits until it answers /ping (it loads meanwhile)."""
    from tests.container_helpers import (
        opt_ml_layout,
        staged_context,
        start_entrypoint,
        wait_healthy,
    )

    context = staged_context(tmp / "context")
    env = {"DOGBREED_SERVE__MAX_BATCH_SIZE": BATCH_SIZE, "DOGBREED_LOCAL__THREADS": str(threads)}
    ep = start_entrypoint(context, opt_ml_layout(tmp, artifact), tmp / "entrypoint.log", env=env)
    try:
        yield ep.url + "/invocations", lambda: wait_healthy(ep, timeout=300)
    finally:
        ep.stop()


@contextlib.contextmanager
def serve_route(artifact: Path, tmp: Path, threads: int) -> Iterator[tuple[str, Callable]]:
    """`dogbreed serve --api` (its own state file), ready; yields its runtime API invocations
    URL and a function with nothing left to wait for."""
    from ops.api.serve_process import ServeProcess

    os.environ["DOGBREED_STATE_FILE"] = str(tmp / "state.json")  # the child writes its URLs here
    settings = ["--set", f"serve.max_batch_size={BATCH_SIZE}", "--set", f"local.threads={threads}"]
    with ServeProcess(artifact, global_args=settings) as serve:
        record = serve.record
        url = f"{record.runtime_url.rstrip('/')}/endpoints/{record.endpoint_name}/invocations"
        yield url, lambda: None


@dataclass
class Run:
    """One route's answers to one set of images: records by item index, runner wall seconds."""

    records: dict[int, dict] = field(default_factory=dict)
    seconds: float = 0.0

    def answered(self) -> list[dict]:
        return [r for r in self.records.values() if r.get("ok")]


def run_routes(items, urls: dict[str, str], classes, tmp: Path, args, original: bool) -> dict:
    """{route: Run} for `items` sent through each route by the evaluation runner, the routes
    alternating over `args.rounds` interleaved parts of the items."""
    from ops.evaluate.runner import evaluate_items
    from ops.evaluate.store import ResultStore

    how = "original" if original else "resized"
    runs = {route: Run() for route in urls}
    stores = {
        route: ResultStore(tmp / f"{route}-{how}.jsonl", {"route": route, "how": how})
        for route in urls
    }
    rounds = max(1, min(args.rounds, len(items)))
    for part in range(rounds):
        chunk = items[part::rounds]
        order = list(urls) if part % 2 == 0 else list(urls)[::-1]
        for route in order:
            t0 = time.perf_counter()
            outcome = evaluate_items(
                chunk,
                stores[route],
                lambda url=urls[route]: InvocationsClient(url, classes),
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                top_k=len(classes),  # every class: the whole probability vector is compared
                progress=False,
                original=original,
            )
            runs[route].seconds += time.perf_counter() - t0
            runs[route].records.update({r["i"]: r for r in outcome.records})
        done = sum(len(c) for c in (items[p::rounds] for p in range(part + 1)))
        print(
            f"  {how if args.photos else 'images'}: part {part + 1}/{rounds} sent ({done}/{len(items)} images)",
            flush=True,
        )
    return runs


def top1_correct(record: dict, wnids: list[str]) -> bool:
    return bool(record.get("ok")) and record["predictions"][0]["wnid"] == wnids[record["label"]]


def compare(a: dict, b: dict) -> dict:
    """Two runs' records (same keys = same image): how many both answered, how many have a
    different top-1, the largest probability and dog-score differences, verdicts that differ."""
    common = [k for k in a if k in b and a[k].get("ok") and b[k].get("ok")]
    other_top1 = [
        k for k in common if a[k]["predictions"][0]["wnid"] != b[k]["predictions"][0]["wnid"]
    ]
    max_dp = 0.0
    max_dog = 0.0
    other_verdict = 0
    for k in common:
        pb = {p["wnid"]: p["probability"] for p in b[k]["predictions"]}
        diffs = [
            abs(p["probability"] - pb[p["wnid"]]) for p in a[k]["predictions"] if p["wnid"] in pb
        ]
        max_dp = max([max_dp, *diffs])
        va, vb = a[k].get("answer") or {}, b[k].get("answer") or {}
        if va.get("dog_score") is not None and vb.get("dog_score") is not None:
            max_dog = max(max_dog, abs(va["dog_score"] - vb["dog_score"]))
        other_verdict += any(va.get(f) != vb.get(f) for f in ("dog", "uncertain", "breed_known"))
    return {
        "both": len(common),
        "other_top1": other_top1,
        "max_dp": max_dp,
        "max_dog": max_dog,
        "other_verdict": other_verdict,
    }


def print_routes(runs: dict, items, wnids: list[str], label: str = "") -> None:
    label = f"{label} " if label else ""
    for route, run in runs.items():
        answered = run.answered()
        right = sum(top1_correct(r, wnids) for r in answered)
        print(
            f"{label}{route:9}: {len(answered)}/{len(items)} answered, top-1 "
            f"{right / max(1, len(answered)):.2%} ({right}), {len(answered) / run.seconds:.1f} "
            f"images/s ({run.seconds:.0f} s)"
        )
    if len(runs) == 2:
        first, second = runs.values()
        c = compare(first.records, second.records)
        shown = ", ".join(first.records[k]["path"] for k in c["other_top1"][:5])
        print(
            f"{label}{' vs '.join(runs)}: same top-1 on {c['both'] - len(c['other_top1'])} / "
            f"{c['both']} answered by both; {len(c['other_top1'])} disagreements{f' ({shown})' if shown else ''}; "
            f"max |dp| {c['max_dp']:.2e} over all {len(wnids)} probabilities; "
            f"max |d dog_score| {c['max_dog']:.2e}; {c['other_verdict']} verdicts differ"
        )


def photo_items(folder: Path, wnids: list[str], limit: int) -> list[EvalItem]:
    """The photos of list.txt, labelled by their folder's wnid; --limit spreads over the list."""
    rels = (folder / "list.txt").read_text().split()
    if limit and limit < len(rels):
        rels = rels[:: len(rels) // limit][:limit]
    index = {w: i for i, w in enumerate(wnids)}
    return [
        EvalItem(i, rel, folder / "Images" / rel, index[rel.split("-", 1)[0]])
        for i, rel in enumerate(rels)
    ]


def longest_side(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as img:
        return max(img.size)


def print_photo_size(resized: dict, original: dict, items, wnids: list[str]) -> None:
    """Per route: top-1 resized vs original, on all photos and on those over MAX_SIDE."""
    from ops.api.photo_size import MAX_SIDE

    big = {it.index for it in items if longest_side(it.path) > MAX_SIDE}
    print(f"photos: {len(items)}, {len(big)} with the longest side over {MAX_SIDE} px (resized)")
    for route in resized:
        a, b = resized[route].records, original[route].records
        both = [i for i in a if a[i].get("ok") and b.get(i, {}).get("ok")]
        ra = {i for i in both if top1_correct(a[i], wnids)}
        rb = {i for i in both if top1_correct(b[i], wnids)}
        changed = [
            i for i in both if a[i]["predictions"][0]["wnid"] != b[i]["predictions"][0]["wnid"]
        ]
        on_big = [i for i in both if i in big]
        print(
            f"photo size {route:9}: top-1 resized {len(ra) / max(1, len(both)):.2%} vs original "
            f"{len(rb) / max(1, len(both)):.2%} ({len(ra) - len(rb):+d} photos of {len(both)}); on "
            f"the {len(on_big)} over {MAX_SIDE} px: {len(ra & big)} vs {len(rb & big)} right; "
            f"top-1 changed on {len(changed)}, right only resized {len(ra - rb)}, only original "
            f"{len(rb - ra)}"
        )
        for i in changed[:5]:
            print(
                f"  {a[i]['path']} ({longest_side(items[i].path)} px): resized "
                f"{a[i]['predictions'][0]['breed']}, original {b[i]['predictions'][0]['breed']}"
            )


def report_records(folder: str) -> dict[str, dict]:
    """path -> the last answer record of an `evaluate` report folder's results-*.jsonl."""
    (results,) = glob.glob(f"{folder}/results-*.jsonl")
    rows: dict[str, dict] = {}
    with open(results) as fh:
        for line in fh:
            record = json.loads(line)
            if "i" in record and record.get("ok"):
                rows[record["path"]] = record
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, default=REPO / "artifacts" / "latest")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "prepared")
    parser.add_argument("--photos", type=Path, help="full photos: resized vs --original")
    parser.add_argument("--limit", type=int, default=0, help="N images, spread over the classes")
    parser.add_argument("--rounds", type=int, default=4, help="parts the routes alternate over")
    parser.add_argument("--threads", type=int, default=0, help="local.threads of both servers")
    parser.add_argument("--batch-size", type=int, default=8, help="images per runner batch")
    parser.add_argument("--concurrency", type=int, default=4, help="runner batches in flight")
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES))
    parser.add_argument("--reports", nargs=2, metavar="FOLDER", help="compare two report folders")
    args = parser.parse_args()

    if args.reports:
        c = compare(*(report_records(f) for f in args.reports))
        print(
            f"{c['both']} images answered by both; same top-1 on {c['both'] - len(c['other_top1'])}; "
            f"largest |dp| over matching entries {c['max_dp']:.2e}"
        )
        return

    from ops.artifact.reader import resolve_artifact_dir
    from ops.data.manifest import load_classes

    artifact = resolve_artifact_dir(args.artifact.resolve())
    classes = load_classes(artifact / "classes.json")
    wnids = [c.wnid for c in sorted(classes, key=lambda c: c.index)]
    if args.photos:
        items = photo_items(args.photos, wnids, args.limit)
    else:
        items = load_items(args.data, "validation", args.limit)  # the official test split
    print(
        f"artifact {artifact}; {len(items)} images from {args.photos or args.data}; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    starts = {"container": container_route, "serve": serve_route}
    with (
        tempfile.TemporaryDirectory(prefix="compare-answers-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmp)
        urls, waits = {}, []
        for route in args.routes:  # the container loads while `dogbreed serve` starts
            (tmp / route).mkdir()
            urls[route], wait = stack.enter_context(
                starts[route](artifact, tmp / route, args.threads)
            )
            waits.append(wait)
        for wait in waits:
            wait()
        resized = run_routes(items, urls, classes, tmp, args, original=False)
        original = (
            run_routes(items, urls, classes, tmp, args, original=True) if args.photos else None
        )
        print(
            f"load average {os.getloadavg()[0]:.1f}; server settings: max_batch_size {BATCH_SIZE}, "
            f"local.threads {args.threads}"
        )
        print_routes(resized, items, wnids, "resized " if args.photos else "")
        if original is not None:
            print_routes(original, items, wnids, "original")
            print_photo_size(resized, original, items, wnids)


if __name__ == "__main__":
    main()
