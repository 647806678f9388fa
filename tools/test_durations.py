"""Per-file test durations from pytest's JUnit XML, one run or a before/after pair.

    python -m tools.test_durations build/junit.xml                  # one run
    python -m tools.test_durations before.xml build/junit.xml       # before -> after
    python -m tools.test_durations build/junit.xml --write tests/durations.json

`--write` keeps one run's seconds per file for `make test`'s work queue (tests/scheduling.py):
refresh it after a whole-suite run when files are added or become much slower or faster.

`make test` writes build/junit.xml. A file's figure is the sum of its tests' durations (setup,
call and teardown, as pytest records them), so under pytest-xdist it is the time the file held
one worker, not wall time. Files are matched by path; a file moved or split shows on one side.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

MAX_XML_BYTES = 64 * 1024 * 1024  # a run's report: a few MB


def per_file(report: Path) -> dict[str, tuple[int, float]]:
    """{test file: (tests, seconds)} of a JUnit XML report."""
    if report.stat().st_size > MAX_XML_BYTES:
        raise SystemExit(f"{report}: over {MAX_XML_BYTES} bytes, not a test report")
    out: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        name = "/".join(p for p in module if not p[:1].isupper()) + ".py"
        out[name][0] += 1
        out[name][1] += float(case.get("time") or 0)
    return {name: (n, s) for name, (n, s) in out.items()}


def table(before: dict | None, after: dict, top: int) -> list[str]:
    """Markdown rows, slowest (after) first; `top` rows then one for the rest and the total."""
    names = sorted(set(after) | set(before or {}), key=lambda n: -after.get(n, (0, 0.0))[1])
    if before is None:
        lines = ["| file | tests | seconds |", "|---|---|---|"]
        cell = {n: f"{after[n][0]} | {after[n][1]:.1f}" for n in names}
    else:
        lines = [
            "| file | tests before | s before | tests after | s after |",
            "|---|---|---|---|---|",
        ]
        cell = {
            n: " | ".join(
                f"{side[n][0]} | {side[n][1]:.1f}" if n in side else "- | -"
                for side in (before, after)
            )
            for n in names
        }
    lines += [f"| {n} | {cell[n]} |" for n in names[:top]]
    rest = names[top:]
    for label, group in (("(the other files)", rest), ("**total**", names)):
        if not group:
            continue
        sides = [after] if before is None else [before, after]
        sums = [
            f"{sum(s[n][0] for n in group if n in s)} | {sum(s[n][1] for n in group if n in s):.1f}"
            for s in sides
        ]
        lines.append(f"| {label} | {' | '.join(sums)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="one JUnit XML, or before and after")
    parser.add_argument("--top", type=int, default=25, help="files listed before the rest")
    parser.add_argument(
        "--write",
        type=Path,
        metavar="JSON",
        help="write {file: seconds} of the (last) report, for tests/scheduling.py",
    )
    args = parser.parse_args(argv)
    if len(args.reports) > 2:
        parser.error("one report, or two (before, after)")
    runs = [per_file(r) for r in args.reports]
    if args.write:
        seconds = {name: round(s, 1) for name, (_, s) in sorted(runs[-1].items())}
        args.write.write_text(json.dumps(seconds, indent=1) + "\n")
        print(f"wrote {len(seconds)} files' seconds to {args.write}")
        return 0
    before, after = (None, runs[0]) if len(runs) == 1 else runs
    print("\n".join(table(before, after, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
