"""Guide pages and the catalogue, kept whole for visitors who are not signed in: the same bytes
for everyone, a 304 for a phone that has them, no cookie, and never a page that is out of date
after a guide changes; and kept per role for members, each response with its own form token
(server/web/page_cache.py)."""

from __future__ import annotations

import gzip
import re
from datetime import date

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from server.db import Database
from server.guides import load_guides
from server.models import Guide

from .conftest import World, login
from .test_guide_editor import create, edit

SLUG = "lien-thong-khai-sinh-thuong-tru-bhyt"
PAGE = f"/vi/guides/{SLUG}"


def _catalogue(db: Database) -> None:
    with db.write() as s:
        load_guides(s)


def test_every_visitor_gets_the_same_page_and_no_cookie(app: Starlette, db: Database) -> None:
    _catalogue(db)
    pages = []
    for _ in range(3):
        with TestClient(app) as browser:
            for path in (PAGE, "/vi/"):
                response = browser.get(path)
                assert response.status_code == 200
                assert "set-cookie" not in response.headers
                assert response.headers["content-language"] == "vi"
                pages.append((path, response.headers["etag"], response.content))
    assert len(set(pages)) == 2  # one page per address, byte for byte


def test_a_phone_that_has_the_page_gets_304(client: TestClient, db: Database) -> None:
    _catalogue(db)
    first = client.get(PAGE)
    again = client.get(PAGE, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = client.get(PAGE, headers={"If-None-Match": 'W/"0123"'})
    assert other.status_code == 200 and other.content == first.content


def test_the_page_is_sent_gzipped_to_who_accepts_it(client: TestClient, db: Database) -> None:
    _catalogue(db)
    plain = client.get(PAGE, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with client.stream("GET", PAGE, headers={"Accept-Encoding": "gzip"}) as packed:
        raw = b"".join(packed.iter_raw())
        assert packed.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in packed.headers["vary"]
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content) / 3


def test_thanks_and_search_are_pages_of_their_own(client: TestClient, db: Database) -> None:
    _catalogue(db)
    plain = client.get(PAGE).text
    thanks = client.get(f"{PAGE}?feedback=thanks").text
    assert '<div class="answers">' in plain and '<div class="answers" hidden>' in thanks
    assert '<div class="answers">' in client.get(PAGE).text
    found = client.get("/vi/?q=khai+sinh").text
    assert "khai sinh" in found and found != client.get("/vi/").text


def test_a_signed_in_member_never_gets_the_shared_page(
    app: Starlette, db: Database, world: World
) -> None:
    _catalogue(db)
    with TestClient(app) as reader, TestClient(app, follow_redirects=False) as coordinator:
        assert 'action="/logout"' not in reader.get(PAGE).text
        login(coordinator, world.phone("coord_a"))
        own = coordinator.get(PAGE)
        assert own.status_code == 200 and 'action="/logout"' in own.text
        assert 'name="csrf_token"' in own.text  # the sign-out form's token, masked for it
        assert 'action="/logout"' not in reader.get(PAGE).text


def test_a_guide_edited_in_the_console_shows_at_once(
    app: Starlette, db: Database, world: World
) -> None:
    with TestClient(app, follow_redirects=False) as coordinator, TestClient(app) as reader:
        login(coordinator, world.phone("coord_a"))
        slug = create(coordinator, status="published")
        before = reader.get(f"/vi/guides/{slug}")
        assert before.status_code == 200 and "Đặt lịch" in before.text
        changed = {"step-2": "Bấm **Gửi yêu cầu**.", "status": "published"}
        assert edit(coordinator, slug, 1, **changed).status_code == 303
        after = reader.get(f"/vi/guides/{slug}")
        assert "Gửi yêu cầu" in after.text
        assert after.headers["etag"] != before.headers["etag"]
        listed = reader.get("/vi/").text
        assert edit(coordinator, slug, 2, status="draft").status_code == 303
        assert reader.get(f"/vi/guides/{slug}").status_code == 404
        assert (
            f"/vi/guides/{slug}" in listed and f"/vi/guides/{slug}" not in reader.get("/vi/").text
        )


@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "member"])
def test_a_change_by_another_process_shows_within_the_ttl(
    app: Starlette, client: TestClient, db: Database, world: World, signed_in: bool
) -> None:
    _catalogue(db)
    if signed_in:  # the page kept for the role, with its own TTL check
        login(client, world.phone("vol_a"))
    assert "Cập nhật ngày 3/1/2025" not in client.get(PAGE).text
    # Another process (langso load-guides, SQL by hand) writes nothing this process hears of.
    with db.write() as s:
        s.execute(sa.update(Guide).where(Guide.slug == SLUG).values(reviewed_on=date(2025, 1, 3)))
    assert "Cập nhật ngày 3/1/2025" not in client.get(PAGE).text  # within the TTL: kept
    app.state.pages.ttl = 0
    assert "Cập nhật ngày 3/1/2025" in client.get(PAGE).text


def test_only_a_page_with_a_form_sets_the_token_cookie(client: TestClient, db: Database) -> None:
    _catalogue(db)
    assert "langso_csrf" not in client.get(PAGE).headers.get("set-cookie", "")
    assert "langso_csrf" not in client.get("/vi/").headers.get("set-cookie", "")
    login_page = client.get("/login")
    assert "langso_csrf=" in login_page.headers["set-cookie"]
    assert 'name="csrf_token"' in login_page.text


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no form token in the page"
    return found.group(1)


def test_members_of_one_role_share_the_page_each_with_a_token_of_their_own(
    app: Starlette, db: Database, world: World
) -> None:
    """The page kept for a role carries each member's own masked token, which signs that
    member out; another role gets its own menu; a session signed out gets a visitor's page."""
    _catalogue(db)
    with (
        TestClient(app, follow_redirects=False) as coord_a,
        TestClient(app, follow_redirects=False) as coord_b,
        TestClient(app, follow_redirects=False) as volunteer,
        TestClient(app) as reader,
    ):
        for client, who in ((coord_a, "coord_a"), (coord_b, "coord_b"), (volunteer, "vol_a")):
            login(client, world.phone(who))
        first, second = coord_a.get(PAGE).text, coord_a.get(PAGE).text
        other = coord_b.get(PAGE).text
        assert all('href="/console/members"' in page for page in (first, second, other))
        tokens = {_form_token(page) for page in (first, second, other)}
        assert len(tokens) == 3  # masked afresh for every response, kept page or not
        own = volunteer.get(PAGE).text
        assert 'action="/logout"' in own and 'href="/console/members"' not in own
        assert 'action="/logout"' not in reader.get(PAGE).text

        session = coord_b.cookies["langso_session"]
        assert post_token(coord_b, "/logout", _form_token(other)).status_code == 303
        coord_b.cookies.set("langso_session", session)  # the old cookie, sent again
        after = coord_b.get(PAGE).text
        assert 'action="/logout"' not in after
        assert 'action="/logout"' in coord_a.get(PAGE).text  # the others stay signed in


def post_token(client: TestClient, url: str, token: str):
    return client.post(url, data={"csrf_token": token})
