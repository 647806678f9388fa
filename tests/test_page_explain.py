"""The page's "Where it looked" overlay, in headless Chromium against the real local stack (tiny
real model whose graph answers the activation map, unchanged Lambda handler, local gateway).
Fixtures and helpers are test_page.py's."""

from __future__ import annotations

import base64

import requests

from tests.test_page import (  # noqa: F401 - pytest fixtures, used by name
    API_KEY,
    artifact,
    browser,
    choose,
    dog_photo,
    open_page,
    page,
    sites,
    stack,
)

# Mean absolute difference between the overlay canvas and the same square of the plain photo.
OVERLAY_DIFFERENCE = """card => {
  const overlay = card.querySelector("canvas.overlay");
  const img = card.querySelector("img");
  const plain = document.createElement("canvas");
  plain.width = overlay.width; plain.height = overlay.height;
  const side = Math.min(img.naturalWidth, img.naturalHeight);
  plain.getContext("2d").drawImage(img, (img.naturalWidth - side) / 2,
    (img.naturalHeight - side) / 2, side, side, 0, 0, plain.width, plain.height);
  const a = overlay.getContext("2d").getImageData(0, 0, overlay.width, overlay.height).data;
  const b = plain.getContext("2d").getImageData(0, 0, plain.width, plain.height).data;
  let total = 0;
  for (let i = 0; i < a.length; i += 4) total += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
  return total / (a.length / 4);
}"""


def test_the_api_answers_where_the_model_looked(stack):
    _, photo = dog_photo()
    answer = requests.post(
        f"{stack.api_url}/classify",
        json={"images": [base64.b64encode(photo).decode()]},
        headers={"x-api-key": API_KEY},
        timeout=60,
    ).json()["answers"][0]
    cam = answer["cam"]
    assert len(cam) >= 2 and all(len(row) == len(cam[0]) for row in cam)
    values = [v for row in cam for v in row]
    assert min(values) == 0.0 and max(values) == 1.0  # scaled: the peak is 1


def test_where_it_looked_overlay_appears_on_demand(stack, page):
    name, photo = dog_photo()
    open_page(page, f"{stack.api_url}/")
    choose(page, [(name, "image/jpeg", photo)])
    card = page.locator("article.card").first
    assert card.get_attribute("data-state") == "done", card.inner_text()
    assert card.locator("canvas.overlay").count() == 0  # drawn on demand only
    button = card.locator("[data-testid=explain]")
    assert button.inner_text() == "Where it looked"

    button.click()
    overlay = card.locator("[data-testid=overlay]")
    overlay.wait_for(state="visible")
    assert card.locator("img").is_hidden()
    assert button.get_attribute("aria-pressed") == "true"
    # the overlay is the photo with the heat map over it, not a blank or unchanged square
    assert card.evaluate(OVERLAY_DIFFERENCE) > 5

    button.click()  # back to the photo
    assert card.locator("img").is_visible() and overlay.is_hidden()
