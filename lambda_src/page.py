"""GET / (the try-it page with its security headers), CORS for allowed origins, and the JSON
proxy response every answer uses."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

try:
    from lambda_src import request
except ImportError:  # in the deployment zip the modules sit at the archive's root
    import request


PAGE_PATH = Path(__file__).with_name("index.html")
CORS_ALLOW_HEADERS = "content-type,x-api-key"
CORS_ALLOW_METHODS = "POST,OPTIONS"
CORS_MAX_AGE_S = 600


def response(status: int, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Request-Id": request_id},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def allowed_origins() -> list[str]:
    """CORS_ALLOWED_ORIGINS as a list (empty: CORS off)."""
    raw = os.environ.get("CORS_ALLOWED_ORIGINS", "")
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def cors_headers(origin: str, allowed: list[str] | None = None) -> dict[str, str]:
    """Access-Control-Allow-Origin (+ Vary) for an allowed Origin, else nothing.

    Browsers send Origin on cross-origin requests; an origin not listed gets no header, so the
    browser withholds the answer from that page. "*" allows any origin (no credentials are used:
    the API key is a header the page sets itself).
    """
    allowed = allowed_origins() if allowed is None else allowed
    origin = (origin or "").strip()
    if not origin or not allowed:
        return {}
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*"}
    if origin.rstrip("/") in allowed:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def preflight_headers(origin: str, allowed: list[str] | None = None) -> dict[str, str]:
    """The answer to an OPTIONS preflight for POST /classify from an allowed origin, else {}."""
    allow = cors_headers(origin, allowed)
    if not allow:
        return {}
    return {
        **allow,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
    }


def is_page_request(event: Any) -> bool:
    """GET on the API's root (resource "/"), where API Gateway sends the page request."""
    if not isinstance(event, dict) or request.request_method(event) != "GET":
        return False
    resource = event.get("resource") or event.get("rawPath") or event.get("path")
    return isinstance(resource, str) and resource.rstrip("/") == ""  # no route: not the page


def page_security_headers(html: str) -> dict[str, str]:
    """Headers for the page: no framing, no sniffing, and a CSP allowing only its own inline
    script (by hash) and style, blob: thumbnails and fetch to any HTTPS API or loopback."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    )
    csp = (
        "default-src 'none'; "
        f"script-src {hashes or chr(39) + 'none' + chr(39)}; style-src 'unsafe-inline'; "
        "img-src blob: data:; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def page_response(request_id: str) -> dict[str, Any]:
    """GET /: the try-it page, or a JSON 404 when this deployment ships none."""
    try:
        html = PAGE_PATH.read_text(encoding="utf-8")
    except OSError:
        return response(
            404, {"error": "no page in this deployment", "request_id": request_id}, request_id
        )
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "text/html; charset=utf-8",
            "X-Request-Id": request_id,
            **page_security_headers(html),
        },
        "body": html,
        "isBase64Encoded": False,
    }
