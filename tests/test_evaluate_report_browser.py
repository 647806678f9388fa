"""The HTML report rendered by a real headless Chromium: sections present, every image decoded,
figures equal to metrics.json, and a screenshot that is not blank."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ops.evaluate.report.write import fmt_pct
from tests.evaluate_helpers import DomScan, write_scenario_report

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install -y chromium chromium-driver; .ci/run does)",
)

SECTIONS = {
    "summary",
    "per-class",
    "confusion",
    "worst-classes",
    "calibration",
    "latency",
    "failures",
    "settings",
}

# Appended to a copy of the report: after load, marks each <img> with whether the browser
# decoded it (naturalWidth > 0), so --dump-dom shows what the browser saw.
PROBE = """
<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  imgs.forEach(img => img.setAttribute('data-decoded', img.complete && img.naturalWidth > 0 ? 'yes' : 'no'));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({images: imgs.length,
    decoded: imgs.filter(i => i.naturalWidth > 0).length});
  document.body.appendChild(out);
});
</script>
"""


def chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={user_data}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def report(prepared_dir, tmp_path):
    """A report with answers, misclassifications (thumbnails) and one failure (a 500)."""
    return write_scenario_report(prepared_dir, tmp_path / "report")


@pytest.mark.slow
def test_report_renders_in_headless_chromium_with_sections_and_images(report, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text((report / "report.html").read_text().replace("</body>", PROBE + "</body>"))

    dom = chromium(
        "--virtual-time-budget=5000", "--dump-dom", probed.as_uri(), user_data=tmp_path / "ud1"
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    scan = DomScan()
    scan.feed(dom.stdout)

    assert scan.sections >= SECTIONS
    ids = {img.get("id") for img in scan.images}
    assert {"confusion-overview", "reliability", "latency-plot"} <= ids
    thumbs = [img for img in scan.images if img.get("class") == "thumb"]
    assert thumbs, "misclassified images should have thumbnails"
    assert all(img["src"].startswith("data:image/") for img in scan.images)  # self-contained
    assert all(img.get("data-decoded") == "yes" for img in scan.images), scan.images
    probe = json.loads(scan.text["probe"])
    assert probe["images"] == probe["decoded"] == len(scan.images)

    metrics = json.loads((report / "metrics.json").read_text())
    assert scan.text["top1"].strip() == fmt_pct(metrics["metrics"]["top1"])
    assert scan.text["top5"].strip() == fmt_pct(metrics["metrics"]["top5"])
    assert scan.text["ece"].strip() == fmt_pct(metrics["metrics"]["calibration"]["ece"])
    assert scan.text["answered"].strip() == "8 / 9"
    assert "http_5xx: 1" in scan.text["incomplete"]

    shot = tmp_path / "report.png"
    run = chromium(
        f"--screenshot={shot}",
        "--window-size=1200,1800",
        (report / "report.html").as_uri(),
        user_data=tmp_path / "ud2",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    from PIL import Image, ImageStat

    with Image.open(shot) as img:
        assert img.format == "PNG" and img.size == (1200, 1800)
        rgb = img.convert("RGB")
        assert max(ImageStat.Stat(rgb).stddev) > 20  # not a blank page
        assert len(rgb.resize((120, 180)).getcolors(maxcolors=1 << 16) or []) > 50
