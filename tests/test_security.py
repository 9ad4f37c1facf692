"""CSRF on every state-changing request, strict headers, and errors that never leak a trace."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from server.security import CSP

from .conftest import World, csrf, login


def test_form_post_without_token_is_refused(client: TestClient, world: World) -> None:
    login(client, "0900000002")
    response = client.post("/console/villages", data={"name": "Thôn Giả"})
    assert response.status_code == 403
    assert "Trang này đã cũ" in response.text
    page = client.get("/console/villages")
    assert "Thôn Giả" not in page.text


def test_form_post_with_wrong_token_is_refused(client: TestClient, world: World) -> None:
    login(client, "0900000002")
    response = client.post("/console/villages", data={"name": "Thôn Giả", "csrf_token": "x" * 43})
    assert response.status_code == 403


def test_token_from_another_browser_is_refused(app, world: World) -> None:
    with TestClient(app) as other:
        stolen = csrf(other)
    with TestClient(app, follow_redirects=False) as client:
        login(client, "0900000002")
        response = client.post("/console/villages", data={"name": "Thôn", "csrf_token": stolen})
    assert response.status_code == 403


def test_api_write_without_header_gets_json_error(client: TestClient, world: World) -> None:
    login(client, "0900000004")
    response = client.post("/api/v1/me", json={"anything": 1})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf"
    assert "Trang này đã cũ" in response.json()["error"]["message"]


def test_api_write_with_header_passes_csrf(client: TestClient, world: World) -> None:
    login(client, "0900000004")
    response = client.post("/api/v1/me", json={}, headers={"X-CSRF-Token": csrf(client)})
    assert response.status_code == 405  # past CSRF; the route itself only reads


def test_multipart_form_carries_the_token(client: TestClient, world: World) -> None:
    login(client, "0900000002")
    response = client.post(
        "/console/villages",
        data={"csrf_token": csrf(client), "name": "Thôn Mới"},
        files={"ignored": ("a.txt", b"hello", "text/plain")},
    )
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/vi/", "/login", "/healthz", "/nowhere", "/api/v1/me"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_cookies_are_httponly_and_lax(client: TestClient, world: World) -> None:
    response = client.get("/login")
    assert "HttpOnly" in response.headers["set-cookie"]
    assert "SameSite=Lax" in response.headers["set-cookie"]


def test_secure_cookies_when_https_only(settings, world: World) -> None:
    from dataclasses import replace

    from server.app import create_app

    app = create_app(replace(settings, https_only=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert "Secure" in client.get("/login").headers["set-cookie"]
        response = login(client, "0900000004")
        assert "Secure" in response.headers["set-cookie"]
        assert "strict-transport-security" in response.headers


def test_unexpected_error_is_a_friendly_page(app, client: TestClient, monkeypatch) -> None:
    from server.web import public

    def broken(*_a, **_k):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.state.db, "ping", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/healthz")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert "Hệ thống đang gặp lỗi" in response.text
    assert public.healthz  # the handler under test


def test_healthz_checks_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.json() == {"status": "ok", "database": True}


@pytest.mark.parametrize("path", ["/fr/", "/xx/guides", "/console/villages/not-a-uuid"])
def test_unknown_pages_are_404_in_vietnamese(client: TestClient, world: World, path: str) -> None:
    login(client, "0900000002")
    response = client.get(path)
    assert response.status_code == 404
    assert "Không tìm thấy trang" in response.text


def test_api_404_is_json(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no token in the page"
    return match.group(1)


def test_pages_mask_the_token_afresh_and_each_mask_is_accepted(
    client: TestClient, world: World
) -> None:
    login(client, "0900000002")
    first = _form_token(client.get("/console/villages").text)
    second = _form_token(client.get("/console/villages").text)
    raw = csrf(client)
    # A gzipped page must not carry the same secret twice (BREACH): never the cookie's value.
    assert first != second and raw not in (first, second)
    for n, token in enumerate((first, second), start=1):
        added = client.post("/console/villages", data={"name": f"Thôn {n}", "csrf_token": token})
        assert added.status_code == 303
    flipped = first[:-2] + ("AA" if not first.endswith("AA") else "BB")
    refused = client.post("/console/villages", data={"name": "Thôn 3", "csrf_token": flipped})
    assert refused.status_code == 403
    assert "Thôn 3" not in client.get("/console/villages").text


def test_pages_and_scripts_are_gzipped_and_the_api_is_left_to_itself(
    client: TestClient, world: World
) -> None:
    for path in ("/login", "/static/styles.css", "/static/js/app.js", "/sw.js"):
        packed = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip", path
        assert "Accept-Encoding" in packed.headers["vary"]
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        if path != "/login":  # the login form's token is masked afresh each time
            assert plain.content == packed.content
    api = client.get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert api.status_code == 200 and "content-encoding" not in api.headers
