"""Small things a first user notices: `/` leads to the first setup on a new install, and the
browser finds an icon for the tab."""

from __future__ import annotations

from starlette.testclient import TestClient

from .conftest import World


def test_a_new_install_leads_from_the_root_to_setup(client: TestClient) -> None:
    first = client.get("/", follow_redirects=False)
    assert first.status_code == 302 and first.headers["location"] == "/setup"


def test_once_someone_exists_the_root_leads_to_the_guides(client: TestClient, world: World) -> None:
    client.headers["Accept-Language"] = "en"
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 302 and root.headers["location"] == "/en/"


def test_the_tab_has_an_icon(client: TestClient, world: World) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG")
    page = client.get("/login").text
    assert '<link rel="icon" href="/static/icons/icon.svg" type="image/svg+xml">' in page
    assert client.get("/static/icons/icon.svg").status_code == 200
