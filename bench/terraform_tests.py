"""Benchmark: the Terraform test files of two checkouts, side by side in one run.

For each test file, runs it with pytest in checkout A (before) and in checkout B (after), one
after the other or (--together) at the same time, with a `terraform` shim first on PATH that
logs every invocation's subcommand; prints wall seconds, passed/failed counts, terraform runs
per subcommand and the load average around each run (the machine is shared: compare a file's
two runs, not files).

    .venv/bin/python bench/terraform_tests.py --before /work/main --after . \\
        tests/test_aws_rules.py tests/test_terraform_cors.py [--together] [--log-dir DIR] \\
        [--pytest-args=--durations=30]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# The log's path is written into the shim: tests pass Terraform a cleaned environment.
SHIM = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in -*) ;; *) echo "$arg" >> {log}; break ;; esac
done
exec {real} "$@"
"""


def shim_dir(real: str, log: Path) -> Path:
    """A folder holding a `terraform` that logs its subcommand to `log`, then runs `real`."""
    folder = Path(tempfile.mkdtemp(prefix="tf-shim-"))
    shim = folder / "terraform"
    shim.write_text(SHIM.format(real=shlex.quote(real), log=shlex.quote(str(log))))
    shim.chmod(0o755)
    return folder


def run_file(
    repo: Path, test_file: str, real: str, extra: list[str], log_dir: Path | None = None
) -> dict:
    """pytest on one file of `repo` (or several, comma-separated, in one session); returns wall
    seconds, the outcome line and the terraform runs."""
    log = Path(tempfile.mkstemp(prefix="tf-count-")[1])
    shim = shim_dir(real, log)
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(repo)}
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *test_file.split(","),
            "-q",
            "-p",
            "no:cacheprovider",
            *extra,
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - start
    if log_dir is not None:  # pytest's own output, e.g. its --durations table
        name = f"{repo.name}-{'+'.join(Path(f).stem for f in test_file.split(','))}.log"
        (log_dir / name).write_text(proc.stdout + proc.stderr)
    runs = collections.Counter(log.read_text().split())
    log.unlink()
    shutil.rmtree(shim)
    summary = [line for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return {
        "wall": wall,
        "load": (load_before, os.getloadavg()[0]),
        "outcome": summary[-1].strip("= ") if summary else proc.stdout[-300:],
        "runs": runs,
    }


def line(label: str, result: dict) -> str:
    runs = result["runs"]
    detail = ", ".join(f"{name} {count}" for name, count in sorted(runs.items()))
    return (
        f"  {label:7s} {result['wall']:7.1f} s  terraform runs {sum(runs.values()):3d} ({detail})"
        f"  load {result['load'][0]:.1f}->{result['load'][1]:.1f}  [{result['outcome']}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "files", nargs="+", help="test files relative to both checkouts; a,b: one session"
    )
    parser.add_argument("--before", type=Path, required=True, help="checkout A (e.g. main)")
    parser.add_argument("--after", type=Path, default=Path("."), help="checkout B")
    parser.add_argument(
        "--together", action="store_true", help="run a file's two checkouts at the same time"
    )
    parser.add_argument("--log-dir", type=Path, help="keep each pytest run's output here")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments")
    args = parser.parse_args()
    real = shutil.which("terraform")
    if real is None:
        sys.exit("terraform is not on PATH")
    extra = shlex.split(args.pytest_args)
    print(f"cores {os.cpu_count()}, pytest args: {extra or 'none'}")
    totals = {"before": [0.0, 0], "after": [0.0, 0]}
    for test_file in args.files:
        print(test_file)
        checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
        if args.together:  # both at once: each sees the other's load, and the same machine load
            with ThreadPoolExecutor(2) as pool:
                futures = {
                    k: pool.submit(run_file, r, test_file, real, extra, args.log_dir)
                    for k, r in checkouts.items()
                }
                results = {label: future.result() for label, future in futures.items()}
        else:
            results = {
                k: run_file(r, test_file, real, extra, args.log_dir) for k, r in checkouts.items()
            }
        for label, result in results.items():
            totals[label][0] += result["wall"]
            totals[label][1] += sum(result["runs"].values())
            print(line(label, result), flush=True)
    for label, (wall, runs) in totals.items():
        print(f"total {label}: {wall:.1f} s, {runs} terraform runs")


if __name__ == "__main__":
    main()
