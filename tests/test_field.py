"""What makes the field app installable and usable offline: manifest, service worker, shell."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

from server.web import field
from server.web.auth import MEMBER_COOKIE

from .conftest import World, login


def test_manifest_is_installable(client: TestClient) -> None:
    response = client.get("/manifest.webmanifest")
    assert response.headers["content-type"].startswith("application/manifest+json")
    data = response.json()
    assert (data["short_name"], data["lang"], data["start_url"], data["display"]) == (
        "Làng Số",
        "vi",
        "/app",
        "standalone",
    )
    assert data["theme_color"]
    sizes = {(i["sizes"], i["purpose"]) for i in data["icons"]}
    assert {
        ("192x192", "any"),
        ("512x512", "any"),
        ("192x192", "maskable"),
        ("512x512", "maskable"),
    } <= sizes
    for icon in data["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(png.content[16:20], "big")
        assert f"{width}x{width}" == icon["sizes"]


def test_service_worker_precaches_a_shell_that_exists(client: TestClient) -> None:
    response = client.get("/sw.js")
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    version = re.search(r'const VERSION = "([0-9a-f]{12})"', response.text).group(1)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", response.text).group(1))
    assert "/app" in shell and "/offline" in shell and "/static/js/app.js" in shell
    assert "/static/vendor/idb/idb.js" in shell and "/static/i18n/vi.json" in shell
    for url in shell:
        assert client.get(url).status_code == 200, url
    install = response.text.split('addEventListener("install"')[1].split("});")[0]
    assert "event.waitUntil(" in install and "await cache.addAll(" in install
    assert field.shell_files()[1] == version


def test_a_residents_phone_keeps_a_few_files_and_no_app(client: TestClient) -> None:
    worker = client.get("/sw.js").text
    reader = json.loads(re.search(r"const READER = (\[.*?\]);", worker).group(1))
    assert reader == field.READER
    shell = field.shell_files()[0]
    assert set(reader) <= set(shell)  # the app's phone has them too
    assert "/app" not in reader and not any("/js/app.js" in url for url in reader)
    size = 0
    for url in reader:
        response = client.get(url)
        assert response.status_code == 200, url
        size += len(response.content)
    assert size < 60_000  # raw; a fraction of that as sent (bench/guides_pages.py)
    assert "No connection" in client.get("/en/offline").text
    assert '<html lang="vi">' in client.get("/vi/offline").text
    assert client.get("/fr/offline").status_code == 404


def test_service_worker_version_follows_the_shell_files(tmp_path, monkeypatch) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "styles.css").write_text("a{}")
    (tmp_path / "js" / "app.js").write_text("1")
    monkeypatch.setattr(field, "PWA", tmp_path)
    field.shell_files.cache_clear()
    try:
        before = field.shell_files()[1]
        (tmp_path / "js" / "app.js").write_text("2")
        field.shell_files.cache_clear()
        assert field.shell_files()[1] != before
    finally:
        field.shell_files.cache_clear()


def test_shell_has_no_personal_data_and_works_signed_out(client: TestClient) -> None:
    response = client.get("/app")
    assert response.status_code == 200
    assert '<script type="module" src="/static/js/app.js">' in response.text
    assert 'rel="manifest"' in response.text


def test_offline_page_is_in_vietnamese(client: TestClient) -> None:
    assert "Không có mạng" in client.get("/offline").text


def test_opening_the_app_signed_out_goes_straight_to_sign_in(
    client: TestClient, world: World
) -> None:
    navigate = {"Sec-Fetch-Mode": "navigate"}
    response = client.get("/app", headers=navigate, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/app"
    # The service worker keeping the shell is no navigation: it gets the shell.
    assert client.get("/app", headers={"Sec-Fetch-Mode": "same-origin"}).status_code == 200

    login(client, world.phone("vol_a"))
    client.cookies.delete(MEMBER_COOKIE)  # a session from before the member cookie existed
    response = client.get("/app", headers=navigate, follow_redirects=False)
    assert response.status_code == 200 and "/static/js/app.js" in response.text
    # The sign-in page sends a signed-in member on, and tells the app who is signed in.
    response = client.get("/login?next=/app", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/app"
    assert response.cookies.get(MEMBER_COOKIE) == str(world.vol_a.id)
