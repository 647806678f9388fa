"""Hostile clients against both stdlib servers on loopback (issue 23): bytes trickled slower than
any deadline but faster than the idle timeout, one address taking every connection, the API key
bypassed through the model server, blind cross-site posts, and image formats the two disagree on.

Each client is generated here, on loopback, and bounded in time; the model is the tiny real one.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import socket
import time

import pytest
import requests
from PIL import Image

from lambda_src.formats import IMAGE_FORMATS_TEXT, image_kind
from ops.api.gateway import start_gateway
from ops.endpoint.server import ModelServer
from ops.errors import DogbreedError
from ops.settings import Settings
from tests.bad_inputs import good_image
from tests.serving_fixtures import ENDPOINT, RUNTIME_PATH

DEADLINE_S = 1.5  # the request deadline the servers get here (the default is 30 s)
TRICKLE_EVERY_S = 0.3  # far under the idle timeout (30 s, 120 s): only the deadline can stop it


@pytest.fixture(scope="module")
def strict_server(runtime):
    """A model server with a short request deadline and 4 connections per client address."""
    with ModelServer(
        runtime,
        port=0,
        endpoint_name=ENDPOINT,
        max_batch_size=2,
        request_deadline_s=DEADLINE_S,
        max_connections_per_client=4,
    ) as srv:
        yield srv


@pytest.fixture
def strict_gateway(strict_server, runtime):
    gw = start_gateway(
        "127.0.0.1",
        0,
        strict_server.url,
        ENDPOINT,
        runtime.artifact_dir / "classes.json",
        request_deadline_s=DEADLINE_S,
        max_connections_per_client=4,
    )
    yield gw
    gw.shutdown()


def ports(strict_server, strict_gateway) -> dict[str, tuple[int, str]]:
    """server name -> (port, a POST path it serves)."""
    return {
        "model server": (strict_server.port, RUNTIME_PATH),
        "gateway": (strict_gateway.port, "/classify"),
    }


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A client socket from `source` (any 127.x.y.z is loopback: a second client address)."""
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def trickle(
    sock: socket.socket, data: bytes, every_s: float, give_up_s: float
) -> tuple[float, bytes]:
    """Send `data` one byte every `every_s` until the server answers or closes; (seconds it
    took, what the server sent). Gives up (the server never cut it off) after `give_up_s`."""
    started = time.monotonic()
    sock.settimeout(every_s)
    for byte in data:
        with contextlib.suppress(OSError):  # closed by the server: read what it answered
            sock.sendall(bytes([byte]))
        try:
            got = sock.recv(65536)
        except TimeoutError:
            if time.monotonic() - started > give_up_s:
                return time.monotonic() - started, b""
            continue
        except OSError:
            return time.monotonic() - started, b""
        sock.settimeout(5)
        rest = b""
        while True:  # the rest of the answer, until the server closes
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
        return time.monotonic() - started, got + rest
    return time.monotonic() - started, b""


def status_and_json(raw: bytes) -> tuple[int | None, dict]:
    if not raw.startswith(b"HTTP/"):
        return None, {}
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}")


# --- a total deadline for a whole request ------------------------------------------------------


@pytest.mark.parametrize("where", ["model server", "gateway"])
@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_request_trickled_a_byte_at_a_time_gets_a_408_at_the_deadline(
    strict_server, strict_gateway, where, part
):
    port, path = ports(strict_server, strict_gateway)[where]
    image = good_image()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(image)}\r\nX-Pad: {'a' * 200}\r\n\r\n"
    ).encode()
    with connect(port) as sock:
        if part == "body":
            sock.sendall(head)  # the headers at once, then the body a byte at a time
            took, answer = trickle(sock, image, TRICKLE_EVERY_S, give_up_s=8)
        else:
            took, answer = trickle(sock, head + image, TRICKLE_EVERY_S, give_up_s=8)
    status, body = status_and_json(answer)
    assert status == 408, f"not cut off after {took:.1f} s: {answer[:200]!r}"
    assert "serve.request_deadline_s" in body["message"]
    assert DEADLINE_S - 0.1 <= took <= DEADLINE_S + 2.5


def test_the_deadline_counts_from_a_requests_first_byte_not_from_an_idle_keep_alive(
    strict_gateway,
):
    """A keep-alive connection idle for longer than the deadline still serves its next request."""
    with requests.Session() as session:
        assert session.get(f"{strict_gateway.url}/ping", timeout=10).status_code == 200
        time.sleep(DEADLINE_S + 0.5)  # idle, under the 30 s idle timeout
        answer = session.post(
            strict_gateway.classify_url,
            data=good_image(),
            headers={"Content-Type": "image/jpeg"},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text


def test_a_slow_but_steady_upload_within_the_deadline_is_served(strict_server):
    image = good_image()
    head = (
        f"POST {RUNTIME_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(image)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with connect(strict_server.port) as sock:
        sock.sendall(head)
        for i in range(0, len(image), len(image) // 3 + 1):  # three pieces over ~0.6 s
            time.sleep(0.2)
            sock.sendall(image[i : i + len(image) // 3 + 1])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, body = status_and_json(answer)
    assert status == 200 and len(body) > 1


# --- connections per client address ------------------------------------------------------------


@pytest.mark.parametrize("where", ["model server", "gateway"])
def test_one_address_cannot_take_every_connection(strict_server, strict_gateway, where):
    port, _ = ports(strict_server, strict_gateway)[where]
    held = [connect(port, source="127.0.0.2") for _ in range(4)]
    try:
        time.sleep(0.2)
        with connect(port, source="127.0.0.2") as fifth:
            fifth.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            fifth.settimeout(5)
            status, body = status_and_json(fifth.recv(65536))
        assert status == 429
        assert "limit is 4 per client" in body["message"]
        assert "serve.max_connections_per_client" in body["message"]
        # Another address is still served while the first holds its four.
        other = requests.get(f"http://127.0.0.1:{port}/ping", timeout=10)
        assert other.status_code == 200
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)  # the slots come back once those connections close
    with connect(port, source="127.0.0.2") as again:
        again.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        again.settimeout(5)
        assert status_and_json(again.recv(65536))[0] == 200


def test_a_full_server_evicts_the_slowest_arriving_request_for_a_new_client(runtime, monkeypatch):
    """Tricklers from as many addresses as there are slots (the per-address cap cannot help):
    a new client still gets in, and the trickler that started first gets the 408."""
    from ops.endpoint import http_hardening

    monkeypatch.setattr(http_hardening.HardenedServer, "max_connections", 4)
    with ModelServer(runtime, port=0, endpoint_name=ENDPOINT, max_batch_size=2) as srv:
        tricklers = []
        for i in range(4):  # 127.0.0.2 .. 127.0.0.5, one connection each
            sock = connect(srv.port, source=f"127.0.0.{2 + i}")
            sock.sendall(b"POST /invocations HTTP/1.1\r\n")
            tricklers.append(sock)
            time.sleep(0.3)
        time.sleep(1.0)  # each has been arriving for over a second (EVICT_AFTER_S)
        answer = requests.post(
            f"{srv.url}/invocations",
            data=good_image(),
            headers={"Content-Type": "image/jpeg"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        first = tricklers[0]
        first.settimeout(5)
        status, body = status_and_json(first.recv(65536))
        assert status == 408 and "arriving the longest" in body["message"]
        for sock in tricklers[1:]:  # the others still hold their slots
            sock.settimeout(0.2)
            with pytest.raises(TimeoutError):
                sock.recv(100)
        for sock in tricklers:
            sock.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("request_deadline_s", 0),
        ("request_deadline_s", 601),
        ("request_deadline_s", float("nan")),
        ("max_connections_per_client", 0),
        ("max_connections_per_client", 257),
    ],
)
def test_the_slow_client_settings_are_bounded(key, value):
    with pytest.raises(DogbreedError, match=rf"serve\.{key} must be in"):
        Settings().with_overrides({f"serve.{key}": value})


def test_the_slow_client_settings_accept_their_range():
    for key, value in [("request_deadline_s", 1), ("request_deadline_s", 600)]:
        assert getattr(Settings().with_overrides({f"serve.{key}": value}).serve, key) == value
    for value in (1, 256):
        settings = Settings().with_overrides({"serve.max_connections_per_client": value})
        assert settings.serve.max_connections_per_client == value


# --- the API key is not bypassed through the model server --------------------------------------


def test_with_an_api_key_the_model_server_beyond_loopback_requires_it(artifact):
    from ops.api.local_stack import start_local_stack

    settings = Settings().with_overrides(
        {
            "serve.host": "0.0.0.0",
            "serve.port": 0,
            "serve.api_key": "s3cret",
            "serve.max_batch_size": 2,
        }
    )
    with start_local_stack(settings, artifact) as stack:
        assert stack.server.httpd.server_address[0] == "0.0.0.0"
        url = f"{stack.runtime_url}/invocations"
        jpeg = {"Content-Type": "image/jpeg"}
        refused = requests.post(url, data=good_image(), headers=jpeg, timeout=30)
        assert refused.status_code == 403 and "x-api-key" in refused.json()["message"]
        runtime_api = requests.post(
            f"{stack.runtime_url}/endpoints/{stack.endpoint_name}/invocations",
            data=good_image(),
            headers=jpeg,
            timeout=30,
        )
        assert runtime_api.status_code == 403
        assert runtime_api.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        wrong = requests.post(
            url, data=good_image(), headers={**jpeg, "x-api-key": "no"}, timeout=30
        )
        assert wrong.status_code == 403
        ok = requests.post(
            url, data=good_image(), headers={**jpeg, "x-api-key": "s3cret"}, timeout=30
        )
        assert ok.status_code == 200 and len(ok.json()) > 1
        assert requests.get(f"{stack.runtime_url}/ping", timeout=10).status_code == 200


def test_with_the_api_only_the_gateway_listens_beyond_loopback(artifact):
    from ops.api.local_stack import start_local_stack

    settings = Settings().with_overrides(
        {
            "serve.host": "0.0.0.0",
            "serve.port": 0,
            "serve.api_port": 0,
            "serve.api_key": "s3cret",
            "serve.max_batch_size": 2,
        }
    )
    with start_local_stack(settings, artifact, api=True) as stack:
        assert stack.server.httpd.server_address[0] == "127.0.0.1"
        assert stack.gateway._server.server_address[0] == "0.0.0.0"
        payload = {"images": [base64.b64encode(good_image()).decode()]}
        url = f"{stack.api_url}/classify"
        assert requests.post(url, json=payload, timeout=30).status_code == 403
        ok = requests.post(url, json=payload, headers={"x-api-key": "s3cret"}, timeout=30)
        assert ok.status_code == 200


# --- blind cross-site posts --------------------------------------------------------------------


def images_classified(server: ModelServer) -> int:
    return server.stats()["images"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,  # a no-cors fetch of a Blob: the browser sends no Content-Type, but an Origin
    ],
)
def test_a_cross_site_post_a_page_may_send_without_preflight_is_a_415(
    strict_server, strict_gateway, content_type
):
    before = images_classified(strict_server)
    headers = {"Origin": "http://evil.example"}
    if content_type:
        headers["Content-Type"] = content_type
    body = json.dumps({"images": [base64.b64encode(good_image()).decode()]})
    for data in (body.encode(), good_image()):
        answer = requests.post(strict_gateway.classify_url, data=data, headers=headers, timeout=30)
        assert answer.status_code == 415, answer.text
        assert "Content-Type" in answer.json()["error"]
    assert images_classified(strict_server) == before  # nothing was classified


def test_the_same_post_with_application_json_is_classified(strict_server, strict_gateway):
    body = {"images": [base64.b64encode(good_image()).decode()]}
    answer = requests.post(
        strict_gateway.classify_url, json=body, headers={"Origin": "http://a.example"}, timeout=30
    )
    assert answer.status_code == 200, answer.text


# --- one definition of the image formats served ------------------------------------------------


def encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(good_image())).convert("RGB").save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP"])
def test_the_model_server_and_post_classify_accept_the_same_formats(
    strict_server, strict_gateway, fmt
):
    data = encoded(fmt)
    direct = requests.post(
        f"{strict_server.url}/invocations",
        data=data,
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    body = {"images": [base64.b64encode(data).decode()]}
    through_api = requests.post(strict_gateway.classify_url, json=body, timeout=30)
    served = image_kind(data) is not None
    assert served == (fmt in ("JPEG", "PNG"))
    assert (direct.status_code == 200) == served, direct.text
    assert (through_api.status_code == 200) == served, through_api.text
    if not served:
        assert direct.status_code == through_api.status_code == 400
        assert f"not a {IMAGE_FORMATS_TEXT} image" in direct.json()["message"]
        assert f"not a {IMAGE_FORMATS_TEXT} image" in through_api.json()["error"]


def test_a_no_cors_fetch_from_another_site_in_a_real_browser_classifies_nothing(
    strict_server, strict_gateway, tmp_path
):
    """Chromium on another origin POSTs Blobs with mode "no-cors" (no preflight, no Content-Type,
    the answer opaque): a JSON request as a plain Blob and a JPEG Blob. Neither is classified."""
    from tests.test_page import CHROMIUM, NO_CHROMIUM, StaticSite

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    (tmp_path / "index.html").write_text("<!doctype html><title>another site</title>")
    site = StaticSite(tmp_path)
    before = images_classified(strict_server)
    request = json.dumps({"images": [base64.b64encode(good_image()).decode()]})
    script = """async ([url, json, bytes]) => {
        const kinds = [];
        for (const body of [new Blob([json]), new Blob([new Uint8Array(bytes)], {type: "image/jpeg"})]) {
            const answer = await fetch(url, {method: "POST", mode: "no-cors", body});
            kinds.push(answer.type);
        }
        return kinds;
    }"""
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"{site.origin}/")
            kinds = page.evaluate(
                script, [strict_gateway.classify_url, request, list(good_image())]
            )
            browser.close()
    finally:
        site.close()
    assert kinds == ["opaque", "opaque"]  # both went out (the page cannot read the answers)
    assert images_classified(strict_server) == before


def test_serve_with_a_setting_out_of_range_is_a_one_line_error(tmp_path):
    from click.testing import CliRunner

    from ops.cli import cli

    result = CliRunner().invoke(cli, ["--set", "serve.request_deadline_s=0", "serve"])
    assert result.exit_code == 2
    assert "serve.request_deadline_s must be in [1, 600], not 0" in result.output
    assert "Traceback" not in result.output


def test_an_answer_to_connection_close_says_so_so_clients_do_not_reuse_the_socket(
    strict_gateway,
):
    """RFC 9112 9.6: the server closes after the answer and SHOULD say `Connection: close`.
    Without it, a pooled client sent its next request into the closing socket and got no answer
    (1 in 50 requests under load: bench/slow_clients.py)."""
    body = {"images": [base64.b64encode(good_image()).decode()]}
    with requests.Session() as session:
        for _ in range(20):
            answer = session.post(
                strict_gateway.classify_url,
                json=body,
                headers={"Connection": "close"},
                timeout=30,
            )
            assert answer.status_code == 200
            assert answer.headers["Connection"] == "close"
