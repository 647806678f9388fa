"""The one printer of top-k breeds per image (with the dog/uncertain verdict), for `predict` (in process) and `classify` (API)."""

from __future__ import annotations

import json

import click

from ops.errors import DogbreedError
from ops.safe_text import for_terminal


def answer_line(answer: dict) -> str:
    """The verdict for people: the label ("no dog recognised", "a dog, breed not recognised",
    "A or B"), the dog score and the known-breed score."""
    score = (
        f"dog score {answer['dog_score']:.3f} ({answer['dog_signal']}, "
        f"threshold {answer['dog_threshold']:.3f})"
    )
    if not answer["dog"]:
        return f"{answer['label']}: {score}"
    if answer.get("known_score") is not None:
        score += (
            f"; known-breed score {answer['known_score']:.3f} "
            f"(threshold {answer['known_threshold']:.3f})"
        )
    if not answer.get("breed_known", True):
        return f"{answer['label']} (closest: {answer.get('closest')}); {score}"
    flag = " [uncertain: the top two breeds are close]" if answer["uncertain"] else ""
    return f"{answer['label']}{flag}; {score}"


def print_predictions(results: list[dict]) -> None:
    """Per image: its name (never wrapped or cut), the verdict line when the answer has one
    (lambda_src/answer.py), then a table of rank, breed, wnid and probability (none for "no
    dog recognised"); an image that failed is one red line on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for result in results:
        if "error" in result:
            line = f"{for_terminal(result['image'])}: {for_terminal(result['error'])}"
            click.secho(line, fg="red", err=True)
            continue
        console.print(for_terminal(result["image"]), style="bold", markup=False, soft_wrap=True)
        answer = result.get("answer")
        if answer:
            console.print(for_terminal(answer_line(answer)), markup=False, soft_wrap=True)
        if result.get("explain") or result.get("explain_error"):
            where = result.get("explain") or result["explain_error"]
            console.print(
                f"where it looked: {for_terminal(str(where))}", markup=False, soft_wrap=True
            )
        if answer and not answer["dog"]:
            continue
        table = Table()
        table.add_column("#", justify="right")
        table.add_column("breed")
        table.add_column("wnid")
        table.add_column("probability", justify="right")
        for rank, p in enumerate(result["predictions"], 1):
            breed, wnid = for_terminal(p["breed"]), for_terminal(p["wnid"])
            table.add_row(str(rank), breed, wnid, f"{p['probability']:.2%}")
        console.print(table)


def show_results(results: list[dict], as_json: bool) -> None:
    """What `predict` and `classify` end with: the results as JSON or tables, then exit 1 when
    any image could not be classified (the others are still shown)."""

    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        print_predictions(results)
    failed = [r for r in results if "error" in r]
    if failed:
        raise DogbreedError(f"{len(failed)} of {len(results)} images could not be classified")
