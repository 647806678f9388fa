"""`dogbreed demo`: fetch -> prepare -> train -> serve -> evaluate, each stage its own CLI command.

Stages run as child processes of the same CLI (python -m ops ...), so what the demo does is
exactly what a user would type, each stage shows its own progress, and a failure names the
command to re-run. The local stack started for the evaluation is stopped in every case.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import click

from ops.api.serve_process import ServeProcess, cli_command
from ops.errors import DogbreedError
from ops.settings_sections import LocalSettings
from ops.train.record import read_training

QUICK_CLASSES = 10
QUICK_EPOCHS = 5
# --quick trains the lighter Lite0 (224 px, about 2x faster to extract features than the default
# Lite2 at 260 px) without flipped training views, unless the settings chose a backbone.
QUICK_BACKBONE = "tf_efficientnet_lite0"


def _local_args(global_args: list[str]) -> list[str]:
    """The caller's global options with the backend forced to local."""
    out, skip = [], False
    for i, arg in enumerate(global_args):
        if skip:
            skip = False
            continue
        if arg == "--backend":
            skip = i + 1 < len(global_args)
            continue
        out.append(arg)
    return [*out, "--backend", "local"]


class Stages:
    """Runs and times the numbered stages, printing each command before it runs."""

    def __init__(self, total: int, global_args: list[str]):
        self.total = total
        self.global_args = global_args
        self.number = 0
        self.timings: list[tuple[str, float]] = []

    def banner(self, title: str, command: list[str] | None = None) -> None:
        self.number += 1
        shown = " ".join(shlex.quote(c) for c in command) if command else ""
        click.secho(f"\n[{self.number}/{self.total}] {title}", fg="cyan", bold=True)
        if shown:
            click.secho(f"    $ dogbreed {shown}", fg="cyan")

    def run(self, title: str, *args: str) -> None:
        self.banner(title, list(args))
        start = time.monotonic()
        proc = subprocess.Popen(cli_command(*args, global_args=self.global_args))
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            # The child got the same Ctrl-C (same process group): let it save its work.
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        self.timings.append((title, time.monotonic() - start))
        if code != 0:
            raise DogbreedError(
                f"stage {self.number}/{self.total} ({title}) failed with exit code {code}",
                hint=f"fix it and re-run `dogbreed {' '.join(args)}` or the demo",
            )

    def summary(self) -> None:
        click.echo("\nStage timings:")
        for title, seconds in self.timings:
            click.echo(f"  {title:<34} {seconds / 60:6.1f} min")


def run_demo(
    settings,
    global_args: list[str] | None = None,
    quick: bool = False,
    source: str | None = None,
    epochs: int | None = None,
    limit: int | None = None,
) -> Path:
    """Run every stage; returns the report path. Raises DogbreedError naming the failed stage."""
    args = _local_args(global_args or [])
    if quick:
        if settings.local.backbone == LocalSettings().backbone:
            args = ["--set", f"local.backbone={QUICK_BACKBONE}", *args]
        args = ["--set", "local.flip_views=false", *args]
    prepared = Path(settings.data.prepared_dir)
    reports = Path(settings.evaluate.reports_dir)
    if quick:
        prepared = prepared.with_name(prepared.name + "-quick")
        epochs = epochs or QUICK_EPOCHS
    prepared = settings.resolve(str(prepared))
    out = settings.resolve(str(reports / ("demo-quick" if quick else "demo")))
    stages = Stages(total=5, global_args=args)
    previous = _sigterm_as_interrupt()
    try:
        raw = settings.resolve(settings.data.raw_dir)
        return _run_stages(stages, args, prepared, out, quick, source, epochs, limit, raw=raw)
    except KeyboardInterrupt:
        raise DogbreedError(
            f"interrupted during stage {stages.number}/{stages.total}",
            hint="re-run the demo: finished stages are quick to redo, evaluation resumes",
        ) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sigterm_as_interrupt():
    """SIGTERM behaves like Ctrl-C, so the servers are stopped by the same `finally`."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(*_):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _quick_classes(raw: Path) -> int:
    """QUICK_CLASSES, or fewer when the fetched dataset has fewer (asking for more is an error)."""
    images = raw / "Images"
    found = sum(p.is_dir() for p in images.iterdir()) if images.is_dir() else 0
    return min(QUICK_CLASSES, found) or QUICK_CLASSES


def _run_stages(stages, args, prepared, out, quick, source, epochs, limit, *, raw: Path) -> Path:

    begin = time.monotonic()

    stages.run("fetch the dataset", "data", "fetch", *(["--source", source] if source else []))
    prepare = ["data", "prepare", "--out", str(prepared)]
    subset = _quick_classes(raw) if quick else 0
    if quick:
        prepare += ["--num-classes", str(subset)]
    stages.run(
        f"prepare {'a ' + str(subset) + '-breed subset' if quick else 'all breeds'}",
        *prepare,
    )
    stages.run(
        "train (local backend)",
        "train",
        "--data",
        str(prepared),
        *(["--epochs", str(epochs)] if epochs else []),
    )
    training = read_training()
    artifact = training.artifact if training and training.backend == "local" else None
    if not artifact:
        raise DogbreedError("training finished but recorded no artifact in the state file")

    serve_args = ["serve", "--api", "--port", "0", "--api-port", "0", "--artifact", artifact]
    stages.banner("serve the model + local POST /classify", serve_args)
    start = time.monotonic()
    stack = ServeProcess(artifact=Path(artifact), global_args=args)
    try:
        stack.start()
        stages.timings.append(("serve (until ready)", time.monotonic() - start))
        click.echo(f"    local API ready: {stack.api_url}")
        evaluate = ["evaluate", "--url", stack.api_url, "--data", str(prepared), "--out", str(out)]
        if limit:
            evaluate += ["--limit", str(limit)]
        stages.run("evaluate through the API", *evaluate)
    finally:
        click.echo("stopping the local stack...")
        stack.stop()
    report = out / "report.html"
    stages.summary()
    click.echo(f"  {'total':<34} {(time.monotonic() - begin) / 60:6.1f} min")
    return report
