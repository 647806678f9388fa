"""Screenshot of the try-it page with real photos and a real model, for docs/ (not a test).

Starts the local stack in this process (model server + gateway + the Lambda handler) on the
given artifact, opens GET / in Debian's Chromium through Playwright, chooses the photos, waits
for every answer and writes a PNG:

    .venv/bin/python tests/page_screenshot.py --artifact .bench/lite2/model \\
        --out docs/page.png ../shared/stanford-dogs/Images/n02085620-Chihuahua/n02085620_10074.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "page.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("photos", type=Path, nargs="+")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from ops.api.local_stack import start_local_stack
    from ops.settings import Settings

    settings = Settings().with_overrides(
        {"serve.port": 0, "serve.api_port": 0, "serve.max_batch_size": 4}
    )
    with (
        start_local_stack(settings, args.artifact, api=True) as stack,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(f"{stack.api_url}/")
        page.set_input_files("#files", files=[str(path) for path in args.photos])
        page.wait_for_function(
            "n => document.querySelectorAll('article.card:not([data-state=working])').length >= n",
            arg=len(args.photos),
            timeout=120_000,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        for card in page.locator("article.card").all():
            print(card.inner_text().replace("\n", " | "))
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
