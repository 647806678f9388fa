"""The try-it page (lambda_src/index.html) against the real local stack: a tiny real model behind
the model server, the unchanged Lambda handler behind the local gateway, driven by headless
Chromium through Playwright. Also CORS at the HTTP level: the gateway's preflight and the
handler's Access-Control-Allow-Origin, for an allowed origin and for another one.

The photo is a Stanford Dogs photo when ../shared holds the dataset, else a generated JPEG; the
expected top-1 is the model's own answer for the exact bytes the page sent.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image

from lambda_src.page import cors_headers, is_page_request, page_security_headers
from tests.conftest import REPO_ROOT
from tests.factories import class_image
from tests.local_artifacts import make_tiny_artifact

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()),
    None,
)
API_KEY = "page-test-key"
PAGE = REPO_ROOT / "lambda_src" / "index.html"
SHARED_PHOTOS = REPO_ROOT.parent / "shared" / "stanford-dogs" / "Images"

NO_CHROMIUM = (
    "Debian's Chromium is not installed: apt-get install -y chromium "
    "(Playwright drives it at /usr/bin/chromium; its own browser download is not used)"
)


def dog_photo() -> tuple[str, bytes]:
    """(name, JPEG bytes): a real Stanford Dogs photo when the dataset is present, else generated."""
    if SHARED_PHOTOS.is_dir():
        first = next(iter(sorted(SHARED_PHOTOS.glob("*/*.jpg"))), None)
        if first is not None:
            return first.name, first.read_bytes()
    buf = io.BytesIO()
    class_image(2, 7, 300).save(buf, format="JPEG", quality=90)
    return "generated-dog.jpg", buf.getvalue()


class StaticSite:
    """The page served from another origin (http://localhost:PORT), as S3 or a CDN would."""

    def __init__(self, folder: Path):
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Two other origins serving a copy of the page: the first is allowed by CORS, the second not."""
    folder = tmp_path_factory.mktemp("site")
    shutil.copy(PAGE, folder / "index.html")
    allowed, other = StaticSite(folder), StaticSite(folder)
    yield allowed, other
    allowed.close()
    other.close()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return make_tiny_artifact(tmp_path_factory.mktemp("page-model") / "model", num_classes=8)


@pytest.fixture
def stack(artifact, sites):
    """The real local stack (model server + gateway + handler), API key on, CORS for sites[0].

    Per test: the gateway sets the handler's environment, which the autouse fixture resets."""
    from ops.api.local_stack import start_local_stack
    from ops.settings import Settings

    settings = Settings().with_overrides(
        {
            "serve.port": 0,
            "serve.api_port": 0,
            "serve.api_key": API_KEY,
            "serve.max_batch_size": 2,
            "serve.cors_origins": [sites[0].origin],
        }
    )
    with start_local_stack(settings, artifact, api=True) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install -e .[dev]"
    )
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def open_page(page, url: str, key: str | None = API_KEY, api_url: str | None = None) -> None:
    page.goto(url)
    if key is not None:
        page.fill("#api-key", key)
    if api_url is not None:
        page.fill("#api-url", api_url)


def choose(page, files: list[tuple[str, str, bytes]]) -> list[dict]:
    """Set files on the file input; wait for every card to finish; return what each request sent."""
    sent: list[dict] = []
    page.on(
        "request",
        lambda r: (
            sent.append(json.loads(r.post_data))
            if r.method == "POST" and r.url.endswith("/classify")
            else None
        ),
    )
    page.set_input_files(
        "#files", files=[{"name": n, "mimeType": t, "buffer": data} for n, t, data in files]
    )
    page.wait_for_function(
        "n => document.querySelectorAll('article.card:not([data-state=working])').length >= n",
        arg=len(files),
        timeout=60_000,
    )
    return sent


def expected_top(stack, image: bytes, k: int = 5) -> list[str]:
    """The model's own top-k breed names for these bytes (no HTTP)."""
    probs = stack.runtime.predict_images([image])[0]
    return [p.name for p in stack.runtime.top_k(probs, k)]


def shown_breeds(card) -> list[tuple[str, float]]:
    items = card.locator("ol.breeds li")
    return [
        (
            items.nth(i).get_attribute("data-breed"),
            float(items.nth(i).get_attribute("data-probability")),
        )
        for i in range(items.count())
    ]


# --- in a real browser --------------------------------------------------------------------------


def test_a_dog_photo_shows_its_top_5_breeds_with_the_models_top_1(stack, page):
    name, photo = dog_photo()
    open_page(page, f"{stack.api_url}/")
    assert page.title() == "Dog Breed ID"
    (request,) = choose(page, [(name, "image/jpeg", photo)])
    card = page.locator("article.card").first
    assert card.get_attribute("data-state") == "done", card.inner_text()
    sent = base64.b64decode(request["images"][0])
    if max(Image.open(io.BytesIO(photo)).size) <= 1024:
        assert sent == photo  # small enough: the original bytes, not re-encoded
    breeds = shown_breeds(card)
    assert [b for b, _ in breeds] == expected_top(stack, sent)
    assert len(breeds) == 5 and breeds == sorted(breeds, key=lambda b: -b[1])
    widths = card.locator(".fill").evaluate_all("els => els.map(e => parseFloat(e.style.width))")
    assert widths[0] == pytest.approx(100 * breeds[0][1], abs=0.01)
    # The headline is the API's own verdict for these bytes: the top-1 breed, or "A or B" when
    # the top two are close (lambda_src/answer.py).
    answer = requests.post(
        f"{stack.api_url}/classify",
        json={"images": [request["images"][0]]},
        headers={"x-api-key": API_KEY},
        timeout=30,
    ).json()
    assert "answers" in answer, answer
    answer = answer["answers"][0]
    assert answer["breed"] == breeds[0][0]
    assert card.locator("[data-testid=verdict]").inner_text() == answer["label"]


def test_several_photos_one_card_each_and_a_big_one_is_resized(stack, page):
    big = io.BytesIO()
    class_image(5, 1, 64).resize((3000, 2200)).save(big, format="PNG")  # ~100 KB, 6.6 Mpx
    small = io.BytesIO()
    class_image(1, 2, 200).save(small, format="JPEG")
    open_page(page, f"{stack.api_url}/")
    sent = choose(
        page,
        [("big.png", "image/png", big.getvalue()), ("small.jpg", "image/jpeg", small.getvalue())],
    )
    assert len(sent) == 2
    cards = {c.locator(".name").inner_text(): c for c in page.locator("article.card").all()}
    assert set(cards) == {"big.png", "small.jpg"}
    big_card = cards["big.png"]
    assert big_card.get_attribute("data-resized") == "true"
    resized = next(
        base64.b64decode(s["images"][0])
        for s in sent
        if base64.b64decode(s["images"][0])[:3] == b"\xff\xd8\xff"
        and Image.open(io.BytesIO(base64.b64decode(s["images"][0]))).size != (200, 200)
    )
    assert max(Image.open(io.BytesIO(resized)).size) == 1024
    assert [b for b, _ in shown_breeds(big_card)] == expected_top(stack, resized)
    assert cards["small.jpg"].get_attribute("data-state") == "done"


def test_a_file_that_is_not_an_image_shows_the_apis_error(stack, page):
    open_page(page, f"{stack.api_url}/")
    choose(page, [("notes.txt", "text/plain", b"these are not pixels\n" * 20)])
    card = page.locator("article.card").first
    assert card.get_attribute("data-state") == "error"
    error = card.locator("[data-testid=error]").inner_text()
    assert "400" in error and "not a JPEG or PNG image" in error
    assert card.locator("ol.breeds").count() == 0


def test_a_wrong_api_key_is_shown_as_such(stack, page):
    open_page(page, f"{stack.api_url}/", key="not-the-key")
    name, photo = dog_photo()
    choose(page, [(name, "image/jpeg", photo)])
    error = page.locator("[data-testid=error]").first.inner_text()
    assert "403" in error and "API key" in error


def test_the_key_is_kept_in_session_storage_only(stack, page):
    open_page(page, f"{stack.api_url}/")
    assert page.evaluate("sessionStorage.getItem('dogbreed.apiKey')") == API_KEY
    assert page.evaluate("localStorage.length") == 0
    assert API_KEY not in PAGE.read_text()
    page.reload()
    assert page.input_value("#api-key") == API_KEY  # same tab: still there


def test_a_page_on_an_allowed_origin_calls_the_api_cross_origin(stack, page, sites):
    allowed, _ = sites
    open_page(page, f"{allowed.origin}/index.html", api_url=stack.api_url)
    name, photo = dog_photo()
    choose(page, [(name, "image/jpeg", photo)])
    card = page.locator("article.card").first
    assert card.get_attribute("data-state") == "done", card.inner_text()
    assert [b for b, _ in shown_breeds(card)] == expected_top(stack, photo)


def test_a_page_on_another_origin_is_refused_by_cors(stack, page, sites):
    _, other = sites
    open_page(page, f"{other.origin}/index.html", api_url=stack.api_url)
    name, photo = dog_photo()
    choose(page, [(name, "image/jpeg", photo)])
    error = page.locator("[data-testid=error]").first.inner_text()
    assert "CORS" in error


def test_not_a_dog_and_uncertain_answers_are_shown(stack, page):
    """The answers field of issue 18 (dog / uncertain verdicts), answered by the real handler
    once that lands; here the browser's /classify answer is set so the page's rendering is checked."""
    ranked = [
        {"breed": "Maltese_dog", "wnid": "n1", "probability": 0.41},
        {"breed": "Pekinese", "wnid": "n2", "probability": 0.33},
    ]
    answers = iter(
        [
            {"dog": False, "label": "no dog recognised", "uncertain": False},
            {"dog": True, "uncertain": True, "label": "Maltese_dog or Pekinese"},
        ]
    )

    def fulfil(route):
        body = {"predictions": [ranked], "answers": [next(answers)], "request_id": "r"}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    open_page(page, f"{stack.api_url}/")
    page.route("**/classify", fulfil)
    choose(page, [("cat.jpg", "image/jpeg", dog_photo()[1])])
    choose(page, [("torn.jpg", "image/jpeg", dog_photo()[1])])
    verdicts = {
        c.locator(".name").inner_text(): c.locator("[data-testid=verdict]")
        for c in page.locator("article.card").all()
    }
    assert verdicts["cat.jpg"].inner_text() == "Not a dog"
    assert "notdog" in verdicts["cat.jpg"].get_attribute("class")
    assert verdicts["torn.jpg"].inner_text() == "Maltese_dog or Pekinese"


# --- HTTP level: the page route and CORS (no browser) ----------------------------------------------


def test_get_root_serves_the_page_with_a_csp_that_allows_its_script(stack):
    resp = requests.get(f"{stack.api_url}/", timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert resp.text == PAGE.read_text()
    assert (
        resp.headers["Content-Security-Policy"]
        == page_security_headers(resp.text)["Content-Security-Policy"]
    )
    assert "'sha256-" in resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(f"{stack.api_url}/classify", timeout=30).status_code == 404


def test_the_preflight_allows_the_listed_origin_only(stack, sites):
    allowed, other = sites
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key,content-type",
    }
    ok = requests.options(
        f"{stack.api_url}/classify", headers={"Origin": allowed.origin, **ask}, timeout=30
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == allowed.origin
    assert set(ok.headers["Access-Control-Allow-Headers"].split(",")) == {
        "content-type",
        "x-api-key",
    }
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    refused = requests.options(
        f"{stack.api_url}/classify", headers={"Origin": other.origin, **ask}, timeout=30
    )
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_answers_and_the_gateways_own_errors_carry_cors_for_allowed_origins(stack, sites):
    allowed, other = sites
    url = f"{stack.api_url}/classify"
    body = {"images": [base64.b64encode(dog_photo()[1]).decode()]}
    good = requests.post(
        url, json=body, headers={"Origin": allowed.origin, "x-api-key": API_KEY}, timeout=60
    )
    assert good.status_code == 200
    assert (
        good.headers["Access-Control-Allow-Origin"] == allowed.origin
        and good.headers["Vary"] == "Origin"
    )
    no_key = requests.post(url, json=body, headers={"Origin": allowed.origin}, timeout=60)
    assert (
        no_key.status_code == 403
        and no_key.headers["Access-Control-Allow-Origin"] == allowed.origin
    )
    foreign = requests.post(
        url, json=body, headers={"Origin": other.origin, "x-api-key": API_KEY}, timeout=60
    )
    assert foreign.status_code == 200 and "Access-Control-Allow-Origin" not in foreign.headers


def test_cors_headers_rules():
    assert cors_headers("https://a.org", []) == {}  # CORS off
    assert cors_headers("", ["https://a.org"]) == {}  # same-origin or non-browser caller
    assert cors_headers("https://a.org", ["https://a.org"]) == {
        "Access-Control-Allow-Origin": "https://a.org",
        "Vary": "Origin",
    }
    assert cors_headers("https://b.org", ["https://a.org"]) == {}
    assert cors_headers("https://b.org", ["*"]) == {"Access-Control-Allow-Origin": "*"}
    assert is_page_request({"httpMethod": "GET", "resource": "/", "path": "/"})
    assert not is_page_request({"httpMethod": "GET", "resource": "/classify"})
    assert not is_page_request({"httpMethod": "POST", "resource": "/"})
    assert not is_page_request("not an event")
    assert not is_page_request({"httpMethod": "GET", "body": None})  # no route: a 405, not the page


# --- where the model looked (issue 27): the answer's map, drawn over the photo on demand ------

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
