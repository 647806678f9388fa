"""What the evaluation report says about the API's verdicts: refusals ("no dog recognised"),
breeds not recognised (the open-set verdict) and uncertain answers ("A or B"), from the `answer`
field the runner keeps per image."""

from __future__ import annotations

from typing import Any


def answer_counts(records: list[dict[str, Any]], names_by_wnid: dict[str, int]) -> dict[str, Any]:
    """Refused / uncertain counts and top-1 with and without them; empty when no verdicts came.

    `suggested_min_top_probability` is the top-probability threshold that keeps 99 % of these
    (dog) images: the DOG_MIN_TOP_PROBABILITY to give the Lambda for an endpoint without a dog
    score (the built-in algorithm), when this evaluation ran on the validation split.
    """
    from ops.model.ranking import choose_threshold

    answered = [r for r in records if r.get("ok")]
    judged = [r for r in answered if r.get("answer")]
    if not judged:
        return {}

    def correct(r: dict[str, Any]) -> bool:
        top = r["predictions"][0] if r["predictions"] else {}
        return names_by_wnid.get(top.get("wnid")) == r["label"]

    refused = [r for r in judged if not r["answer"]["dog"]]
    accepted = [r for r in judged if r["answer"]["dog"]]
    # every evaluated image is of a known breed: "breed not recognised" is a false alarm here
    unknown = [r for r in accepted if r["answer"].get("breed_known") is False]
    named = [r for r in accepted if r["answer"].get("breed_known") is not False]
    uncertain = [r for r in accepted if r["answer"]["uncertain"]]
    sure = [r for r in accepted if not r["answer"]["uncertain"]]

    def share(part: list, whole: list) -> float | None:
        return len(part) / len(whole) if whole else None

    def top1(rs: list) -> float | None:
        return sum(map(correct, rs)) / len(rs) if rs else None

    signals = sorted({str(r["answer"].get("dog_signal")) for r in judged})
    tops = [r["predictions"][0]["probability"] for r in answered if r["predictions"]]
    return {
        "judged": len(judged),
        "dog_signal": ", ".join(signals),
        "refused": len(refused),
        "refused_share": share(refused, judged),
        "uncertain": len(uncertain),
        "uncertain_share": share(uncertain, judged),
        "top1_accepted": top1(accepted),
        "top1_uncertain": top1(uncertain),
        "top1_sure": top1(sure),
        "top1_refusals_wrong": sum(map(correct, accepted)) / len(judged),
        "open_set": any(r["answer"].get("breed_known") is not None for r in judged),
        "not_recognised": len(unknown),
        "not_recognised_share": share(unknown, accepted),
        "top1_named": top1(named),
        "top1_not_recognised": top1(unknown),
        "suggested_min_top_probability": round(choose_threshold(tops), 6) if tops else None,
    }
