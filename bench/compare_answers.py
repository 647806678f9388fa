"""Two evaluation runs image by image: same top-1? largest probability difference?

    python bench/compare_answers.py reports/onnx-240 reports/container-240

Reads each report folder's results-*.jsonl (what `dogbreed evaluate` saves as answers arrive;
a retried image's last answer counts) and prints how many images both answered, on how many the
top-1 breed is the same, and the largest |p1 - p2| over the top-5 entries of the same breed
(answers carry 6 decimals).
"""

from __future__ import annotations

import glob
import json
import sys


def answers(folder: str) -> dict[str, dict]:
    """path -> the last successful answer record of a report folder."""
    rows: dict[str, dict] = {}
    (results,) = glob.glob(f"{folder}/results-*.jsonl")
    with open(results) as fh:
        for line in fh:
            record = json.loads(line)
            if "i" in record and record.get("ok"):
                rows[record["path"]] = record
    return rows


def main(first: str, second: str) -> None:
    a, b = answers(first), answers(second)
    common = sorted(set(a) & set(b))
    same = sum(a[p]["predictions"][0]["wnid"] == b[p]["predictions"][0]["wnid"] for p in common)
    diff = max(
        (
            abs(x["probability"] - y["probability"])
            for p in common
            for x in a[p]["predictions"]
            for y in b[p]["predictions"]
            if x["wnid"] == y["wnid"]
        ),
        default=0.0,
    )
    print(
        f"{len(common)} images answered by both; same top-1 on {same}; "
        f"largest |dp| over matching top-5 entries {diff:.2e}"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
