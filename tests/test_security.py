"""Web hardening (issue 10): security headers and a CSP the built dashboard runs under, CORS off
by default, per-client rate limits (HTTP and WebSocket), HEAD wherever GET works, a public API
that is read-only (every write route refuses a request without the admin token), and the admin
token never in a response, a log line or the logs table."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from conftest import child_env, free_port, wait_for
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.routing import Mount
from starlette.testclient import WebSocketDenialResponse

from btcpulse.config import Settings
from btcpulse.store.db import Store
from btcpulse.web.app import STATIC, create_app
from btcpulse.web.security import TokenBuckets, content_security_policy, is_exempt

TOKEN = f"tok-{uuid.uuid4().hex}"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
RULES = {"rules": ["index>80"]}


def make_settings(tmp: Path, **extra: Any) -> Settings:
    s = Settings(data_dir=tmp / "var", live_sources=False, _env_file=None, **extra)
    store = Store(s.resolved_store_url)
    store.migrate()
    store.dispose()
    return s


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, admin_token=TOKEN))) as c:
        yield c


def _asset(suffix: str) -> str:
    return "/assets/" + next((STATIC / "assets").glob(f"*{suffix}")).name


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}


# -- headers and CSP ------------------------------------------------------------------------------
def test_every_response_has_the_security_headers(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("btcpulse.store.queries.venues", broken)
    answers = {
        "/": 200,
        _asset(".js"): 200,
        "/api/v1/news": 200,
        "/api/v1/news/nope": 404,
        "/nowhere": 404,
        "/api/v1/news?limit=0": 422,
        "/api/v1/venues": 500,  # an unexpected error: still the headers, and no detail
    }
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        for path, status in answers.items():
            r = quiet.get(path)
            assert r.status_code == status, path
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["x-frame-options"] == "DENY", path
            assert r.headers["referrer-policy"] == "no-referrer", path
            csp = _directives(r.headers["content-security-policy"])
            assert csp["frame-ancestors"] == ["'none'"] and csp["script-src"] == ["'self'"], path
        assert quiet.get("/api/v1/venues").json() == {"detail": "Internal Server Error"}
    r = client.put("/api/v1/alerts/rules", json=RULES)
    assert r.status_code == 401 and "content-security-policy" in r.headers


def test_the_csp_allows_exactly_what_the_dashboard_needs(client: TestClient) -> None:
    csp = _directives(client.get("/").headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"] and csp["img-src"] == ["'self'", "data:"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    # the page's own host only (TestClient's Host is "testserver"), never any ws: host
    assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert not any("'unsafe-eval'" in values for values in csp.values())
    # a Host header cannot inject directives
    evil = _directives(content_security_policy("/", "x; script-src *"))
    assert evil["connect-src"] == ["'self'"] and evil["script-src"] == ["'self'"]
    assert content_security_policy("/", "[::1]:8000").count("ws://[::1]:8000") == 1
    # /docs keeps working (Swagger UI from its CDN, inline start-up script), never framed
    docs = _directives(client.get("/docs").headers["content-security-policy"])
    assert "https://cdn.jsdelivr.net" in docs["script-src"] and docs["frame-ancestors"]


class _Inline(HTMLParser):
    """Whatever in a page a CSP without 'unsafe-inline' scripts would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._in_script = tag == "script"
        if tag == "script":
            src = a.get("src") or ""
            self.scripts.append(src)
            if not src.startswith("/") or src.startswith("//"):
                self.problems.append(f"script not from the page's origin: {src!r}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"inline handler {name} on <{tag}>")
            if (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag} {name}>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]!r}")


def test_the_built_dashboard_needs_no_inline_script() -> None:
    page = _Inline()
    page.feed((STATIC / "index.html").read_text())
    assert page.problems == [] and len(page.scripts) == 1
    assert (STATIC / page.scripts[0].lstrip("/")).is_file()


# -- CORS -----------------------------------------------------------------------------------------
def test_cors_is_off_by_default(client: TestClient) -> None:
    r = client.get("/api/v1/news", headers={"Origin": "https://elsewhere.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = client.options(
        "/api/v1/news",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_listed_origins_may_read_but_never_write(tmp_path: Path) -> None:
    ok = "https://dash.example"
    s = make_settings(tmp_path, admin_token=TOKEN, cors_origins=[ok])
    with TestClient(create_app(s)) as c:
        r = c.get("/api/v1/news", headers={"Origin": ok})
        assert r.headers["access-control-allow-origin"] == ok
        assert "access-control-allow-credentials" not in r.headers
        other = c.get("/api/v1/news", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        pre = c.options(
            "/api/v1/news", headers={"Origin": ok, "Access-Control-Request-Method": "GET"}
        )
        assert pre.status_code == 200 and "PUT" not in pre.headers["access-control-allow-methods"]
        put = c.options(
            "/api/v1/alerts/rules",
            headers={
                "Origin": ok,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        # a failed preflight (not 2xx): the browser never sends the PUT
        assert put.status_code == 400 and "PUT" not in put.headers["access-control-allow-methods"]


@pytest.mark.parametrize("bad", ["https://dash.example/", "dash.example", "https://a.b/path"])
def test_a_malformed_cors_origin_is_refused_at_start_up(bad: str) -> None:
    with pytest.raises(ValidationError, match="CORS origin"):
        Settings(cors_origins=[bad], _env_file=None)


# -- rate limits ----------------------------------------------------------------------------------
def test_token_bucket_bursts_refills_and_stays_bounded() -> None:
    now = [100.0]
    b = TokenBuckets(2.0, 3, clock=lambda: now[0], max_keys=10)
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("a") == pytest.approx(0.5)  # empty: one token in 1/rate s
    assert b.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert b.take("a") == 0.0 and b.take("a") == pytest.approx(0.5)
    now[0] += 100.0  # a long pause refills to the burst, never beyond it
    assert [b.take("a") for _ in range(4)][-1] > 0
    for i in range(50):  # many clients: idle full buckets are forgotten, memory is bounded
        now[0] += 10.0
        b.take(f"ip{i}")
        assert len(b) <= 10


def test_api_requests_beyond_the_burst_get_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, api_rate_per_s=1.0, api_rate_burst=3))
    with TestClient(app, client=("10.0.0.1", 1000)) as c:
        assert [c.get("/api/v1/news").status_code for _ in range(3)] == [200] * 3
        r = c.get("/api/v1/news")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert "too many requests" in r.json()["detail"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert c.put("/api/v1/alerts/rules", json=RULES).status_code == 429
        # probes, metrics and the dashboard's files are never limited
        for path in ("/livez", "/readyz", "/metrics", "/", _asset(".js"), _asset(".css")):
            assert c.get(path).status_code == 200, path
        # and a WebSocket connect costs a token too
        with pytest.raises(WebSocketDenialResponse) as denied, c.websocket_connect("/ws"):
            pass
        assert denied.value.status_code == 429 and denied.value.headers["retry-after"] == "1"
        with TestClient(app, client=("10.0.0.2", 1000)) as other:  # another IP is not held up
            assert other.get("/api/v1/news").status_code == 200
        wait_for(lambda: c.get("/api/v1/news").status_code == 200, 5, "the bucket to refill")
    assert is_exempt("/assets/x.js") and not is_exempt("/api/v1/news")


def test_a_websocket_within_the_limit_connects(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json()["type"] == "hello"


# -- HEAD -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/", "/api/v1/news?limit=2", "/api/v1/venues", "/livez", "/openapi.json", "JS"]
)
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    path = _asset(".js") if path == "JS" else path
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code == 200, path
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["content-security-policy"] == got.headers["content-security-policy"]


def test_head_of_a_streamed_export(client: TestClient) -> None:
    r = client.head("/api/v1/export/news")
    assert (
        r.status_code == 200
        and r.content == b""
        and r.headers["content-type"].startswith("text/csv")
    )
    assert client.head("/api/v1/news?limit=0").status_code == 422  # errors as GET's


# -- the public API is read-only ------------------------------------------------------------------
def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _routes(app: Any) -> list[Any]:
    """Every route of the app, those of included routers too (FastAPI 0.163 keeps an included
    router as one entry of ``app.routes``)."""
    return list(iter_route_contexts(app.routes))


def _write_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in _routes(app):
        methods = route.methods or set()
        found += [(m, route.path) for m in sorted(methods) if m not in ("GET", "HEAD")]
    return found


def _all_paths(app: Any) -> list[str]:
    paths = []
    for route in _routes(app):
        if isinstance(route.original_route, Mount):
            paths.append(route.path + "/x.js")
        else:
            paths.append(_concrete(route.path))
    return sorted(set(paths))


def test_every_write_route_needs_the_admin_token(tmp_path: Path) -> None:
    s = make_settings(tmp_path, admin_token=TOKEN)
    with TestClient(create_app(s)) as c:
        writes = _write_routes(c.app)
        assert ("PUT", "/api/v1/alerts/rules") in writes  # the walk sees the routes
        spec = c.get("/openapi.json").json()
        documented = {
            (m.upper(), p)
            for p, ops in spec["paths"].items()
            for m in ops
            if m not in ("get", "head")
        }
        assert documented <= set(writes)
        for method, path in writes:
            url = _concrete(path)
            assert c.request(method, url, json=RULES).status_code == 401, (method, path)
            for bad in ("Bearer wrong", "Basic " + TOKEN, TOKEN, "Bearer " + TOKEN + "x"):
                r = c.request(method, url, json=RULES, headers={"Authorization": bad})
                assert r.status_code == 401, (method, path, bad)
        # a write to any path with any other method is not allowed at all
        for path in _all_paths(c.app):
            for method in WRITE_METHODS:
                if (method, path) in {(m, _concrete(p)) for m, p in writes}:
                    continue
                status = c.request(method, path, json=RULES).status_code
                assert status in (404, 405), (method, path, status)
        # the token itself works (the refusals above were about the token)
        ok = c.put("/api/v1/alerts/rules", json=RULES, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["rules"] == RULES["rules"]
    with TestClient(create_app(make_settings(tmp_path / "none"))) as c:
        for method, path in _write_routes(c.app):
            r = c.request(method, _concrete(path), json=RULES, headers={"Authorization": "Bearer "})
            assert r.status_code == 403, (method, path)


# -- secrets never leak ---------------------------------------------------------------------------
def test_the_token_is_in_no_response(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import btcpulse.web.api_admin as admin

    s = client.app.state.settings  # type: ignore[attr-defined]
    assert TOKEN not in repr(s) and TOKEN not in str(s) and TOKEN not in s.model_dump_json()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    seen = []
    for path in ("/openapi.json", "/api/v1/alerts/rules", "/api/v1/health", "/readyz", "/metrics"):
        seen.append(client.get(path))
    seen.append(client.put("/api/v1/alerts/rules", json={"rules": ["nonsense"]}, headers=auth))
    seen.append(client.put("/api/v1/alerts/rules", json={"rules": "x" * 5}, headers=auth))
    seen.append(client.put("/api/v1/alerts/rules", content=b"{", headers=auth))
    seen.append(client.put("/api/v1/alerts/rules", json=RULES, headers={"Authorization": "x"}))

    def leaky(*_a: Any, **_k: Any) -> None:  # a bug that puts the token into an error
        raise RuntimeError(f"cannot save with {auth}")

    monkeypatch.setattr(admin, "save_rules", leaky)
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        seen.append(quiet.put("/api/v1/alerts/rules", json=RULES, headers=auth))
    assert [r.status_code for r in seen[-5:]] == [422, 422, 422, 401, 500]
    for r in seen:
        assert TOKEN not in r.text and TOKEN not in str(r.headers), r.request.url


def _get(url: str, data: bytes | None = None, token: str = "") -> int:
    req = urllib.request.Request(url, data=data, method="PUT" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.slow
def test_the_token_is_in_no_log_line_nor_the_logs_table(tmp_path: Path) -> None:
    """A real `btcpulse serve` with the token, debug logs, bad tokens and a server error
    during an authorised write: neither its output nor the store's logs table holds it."""
    s = make_settings(tmp_path, port=free_port())
    env = child_env(s, BTCPULSE_ADMIN_TOKEN=TOKEN, BTCPULSE_LOG_LEVEL="DEBUG")
    out = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "btcpulse", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{s.port}"
    body = b'{"rules": ["index>80"]}'
    try:
        wait_for(lambda: _get(base + "/livez") == 200, 60, "`btcpulse serve` to answer")
        assert _get(base + "/api/v1/alerts/rules", body, token=TOKEN) == 200
        assert _get(base + "/api/v1/alerts/rules", body, token=TOKEN[:-1]) == 401
        db = str(s.data_dir / "store.db")
        with sqlite3.connect(db) as conn:  # break the store under the running server
            conn.execute("ALTER TABLE collector_state RENAME TO collector_state_moved")
        assert _get(base + "/api/v1/alerts/rules", body, token=TOKEN) == 500
        log = tmp_path / "serve.log"
        wait_for(lambda: "no such table" in log.read_text(errors="replace"), 20, "the error logged")
    finally:
        proc.terminate()  # a clean stop: the logs still queued for the store are written
        proc.wait(20)
        out.close()
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert "Traceback" in text and TOKEN not in text
    with sqlite3.connect(str(s.data_dir / "store.db")) as conn:
        rows = conn.execute("SELECT * FROM logs").fetchall()
    assert not any(TOKEN in str(r) for r in rows)
