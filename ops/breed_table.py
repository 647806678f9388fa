"""The one printer of top-k breeds per image, for `predict` (in process) and `classify` (API)."""

from __future__ import annotations

import click


def print_predictions(results: list[dict]) -> None:
    """Per image: its name (never wrapped or cut), then a table of rank, breed, wnid and
    probability; an image that failed is one red line on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for result in results:
        if "error" in result:
            click.secho(f"{result['image']}: {result['error']}", fg="red", err=True)
            continue
        console.print(result["image"], style="bold", markup=False, soft_wrap=True)
        table = Table()
        table.add_column("#", justify="right")
        table.add_column("breed")
        table.add_column("wnid")
        table.add_column("probability", justify="right")
        for rank, p in enumerate(result["predictions"], 1):
            table.add_row(str(rank), str(p["breed"]), str(p["wnid"]), f"{p['probability']:.2%}")
        console.print(table)
