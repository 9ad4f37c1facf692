"""First-run setup, invitations, signing in and out, throttling, turned-off members."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from server import accounts
from server.db import Database, utcnow
from server.models import AuthSession, Invitation, Member, Role

from .conftest import PASSWORD, World, csrf, login, post


def test_setup_creates_the_admin_then_is_gone(client: TestClient, db: Database) -> None:
    page = client.get("/setup")
    assert page.status_code == 200
    response = post(
        client,
        "/setup",
        {
            "name": "Trần Văn Tỉnh",
            "phone": "0912 345 678",
            "password": "mot hai ba bon",
            "confirm": "mot hai ba bon",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/province"
    with db.read() as s:
        admin = s.exec(select(Member)).one()
    assert (admin.role, admin.phone, admin.name) == (Role.admin, "+84912345678", "Trần Văn Tỉnh")
    assert admin.password_hash and admin.password_hash.startswith("$argon2id$")
    assert client.get("/console/province").status_code == 200  # signed in right away
    assert client.get("/setup").status_code == 404
    again = post(
        client,
        "/setup",
        {
            "name": "Kẻ Thứ Hai",
            "phone": "0987654321",
            "password": "mot hai ba bon",
            "confirm": "mot hai ba bon",
        },
    )
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "phone": "0912345678"}, "name", "Vui lòng nhập họ tên."),
        ({"name": "A" * 81, "phone": "0912345678"}, "name", "Tối đa 80 ký tự."),
        ({"name": "Lan", "phone": "12345"}, "phone", "Số điện thoại này không đúng"),
        ({"name": "Lan", "phone": "091234567a"}, "phone", "Số điện thoại này không đúng"),
        ({"name": "Lan", "phone": "0912345678", "password": "ngan"}, "password", "ít nhất 8"),
        (
            {"name": "Lan", "phone": "0912345678", "confirm": "khac nhau lam"},
            "confirm",
            "không giống nhau",
        ),
    ],
)
def test_setup_refuses_bad_input_in_vietnamese(
    client: TestClient, db: Database, data, field, message
) -> None:
    form = {"password": "mot hai ba bon", "confirm": "mot hai ba bon", **data}
    if "password" in data and "confirm" not in data:
        form["confirm"] = data["password"]
    response = post(client, "/setup", form)
    assert response.status_code == 400
    assert message in response.text
    assert f'id="e-{field}"' in response.text
    with db.read() as s:
        assert s.exec(select(Member)).first() is None  # nothing half-written


def test_sign_in_and_out(client: TestClient, world: World, db: Database) -> None:
    response = login(client, "0900000004")
    assert response.headers["location"] == "/app"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=2592000" in cookie
    assert client.get("/api/v1/me").status_code == 200
    with db.read() as s:
        assert len(s.exec(select(AuthSession)).all()) == 1
    assert post(client, "/logout").status_code == 303
    with db.read() as s:
        assert s.exec(select(AuthSession)).all() == []  # ended on the server too
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/console/").headers["location"].startswith("/login")


def test_stolen_cookie_stops_working_after_sign_out(app, world: World) -> None:
    with (
        TestClient(app, follow_redirects=False) as phone,
        TestClient(app, follow_redirects=False) as thief,
    ):
        login(phone, "0900000004")
        thief.cookies.set("langso_session", phone.cookies.get("langso_session"))
        assert thief.get("/api/v1/me").status_code == 200
        post(phone, "/logout")
        assert thief.get("/api/v1/me").status_code == 401


def test_sign_in_goes_back_to_the_page_asked_for(client: TestClient, world: World) -> None:
    assert client.get("/console/villages").headers["location"] == "/login?next=/console/villages"
    response = post(
        client, "/login", {"phone": "0900000002", "password": PASSWORD, "next": "/console/villages"}
    )
    assert response.headers["location"] == "/console/villages"


def test_sign_in_never_redirects_to_another_site(client: TestClient, world: World) -> None:
    response = post(
        client, "/login", {"phone": "0900000002", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert response.headers["location"] == "/console/"


def test_wrong_password_is_refused_in_vietnamese(client: TestClient, world: World) -> None:
    response = post(client, "/login", {"phone": "0900000004", "password": "sai mat khau"})
    assert response.status_code == 401
    assert "Số điện thoại hoặc mật khẩu không đúng." in response.text
    assert "langso_session" not in response.headers.get("set-cookie", "")


def test_phone_is_accepted_in_any_usual_form(client: TestClient, world: World) -> None:
    for phone in ("0900 000 004", "+84900000004", "84 900 000 004"):
        client.cookies.clear()
        assert login(client, phone).status_code == 303


def test_repeated_failures_are_throttled_per_phone(app, world: World) -> None:
    """Twenty wrong passwords for one phone, each from another address: the next one waits."""
    for i in range(accounts.THROTTLE_LIMITS["phone"]):
        with TestClient(app, follow_redirects=False, client=(f"10.0.1.{i}", 5000)) as c:
            wrong = post(c, "/login", {"phone": "0900000004", "password": "x" * 8})
            assert wrong.status_code == 401
    with TestClient(app, follow_redirects=False, client=("10.0.0.99", 5000)) as c:
        response = post(c, "/login", {"phone": "0900000004", "password": PASSWORD})
        assert response.status_code == 429
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60 + 1
        assert "Bạn đã nhập sai quá nhiều lần. Vui lòng đợi 15 phút" in response.text
        # Another member is not held back by someone guessing this phone.
        assert post(c, "/login", {"phone": "0900000002", "password": PASSWORD}).status_code == 303


NAT = ("100.64.7.9", 40000)  # a carrier NAT address: the whole commune signs in from it


def test_one_persons_mistakes_never_lock_out_the_commune_behind_one_address(
    app, settings, world: World
) -> None:
    """Counts live in the database (a second app, another server process, sees them) and are
    kept per phone number at an address: the commune's other members still sign in."""
    from server.app import create_app

    with TestClient(app, follow_redirects=False, client=NAT) as one:
        for _ in range(accounts.THROTTLE_LIMIT):
            wrong = post(one, "/login", {"phone": "0900000004", "password": "x" * 8})
            assert wrong.status_code == 401
    with TestClient(create_app(settings), follow_redirects=False, client=NAT) as two:
        held = post(two, "/login", {"phone": "0900000004", "password": PASSWORD})
        assert held.status_code == 429  # the same number at the same address waits
        for who in ("0900000002", "0900000003", "0900000005"):
            two.cookies.clear()
            assert post(two, "/login", {"phone": who, "password": PASSWORD}).status_code == 303
    with TestClient(app, follow_redirects=False, client=("10.9.9.9", 5000)) as elsewhere:
        assert login(elsewhere, "0900000004").status_code == 303  # the number, elsewhere


def test_a_script_trying_many_numbers_from_one_address_meets_a_ceiling(
    app, world: World, db: Database
) -> None:
    """A hundred wrong tries from one address stop new sign-ins from it, except in browsers
    that signed in before (their device cookie), which are counted on their own."""
    with TestClient(app, follow_redirects=False, client=NAT) as known:
        login(known, "0900000005")
        assert accounts.DEVICE_COOKIE in known.cookies
        post(known, "/logout")
    keys = [accounts.throttle_keys(f"+849110{i:05d}", NAT[0]) for i in range(100)]
    with db.write() as s:
        for k in keys:
            accounts.record_attempt(s, k)
    with TestClient(app, follow_redirects=False, client=NAT) as stranger:
        assert (
            post(stranger, "/login", {"phone": "0900000002", "password": PASSWORD}).status_code
            == 429
        )
    with TestClient(app, follow_redirects=False, client=NAT) as again:
        again.cookies.set(accounts.DEVICE_COOKIE, known.cookies[accounts.DEVICE_COOKIE])
        assert (
            post(again, "/login", {"phone": "0900000005", "password": PASSWORD}).status_code == 303
        )
        # The cookie is only for the number it was given to.
        again.cookies.clear()
        again.cookies.set(accounts.DEVICE_COOKIE, known.cookies[accounts.DEVICE_COOKIE])
        assert (
            post(again, "/login", {"phone": "0900000004", "password": PASSWORD}).status_code == 429
        )


def test_throttle_forgets_after_the_window(db: Database) -> None:
    keys = accounts.throttle_keys("+84900000004", "10.0.0.1")
    with db.write() as s:
        for _ in range(5):
            accounts.record_attempt(s, keys)
        assert accounts.retry_after(s, keys) > 0
        later = utcnow() + accounts.THROTTLE_WINDOW + timedelta(seconds=1)
        assert accounts.retry_after(s, keys, now=later) == 0


def test_turned_off_member_cannot_sign_in(client: TestClient, world: World, db: Database) -> None:
    with db.write() as s:
        member = s.get(Member, world.vol_a.id)
        member.active = False
        s.add(member)
    response = post(client, "/login", {"phone": "0900000004", "password": PASSWORD})
    assert response.status_code == 403
    assert "Tài khoản này đã bị tắt" in response.text


def test_turning_off_ends_open_sessions(app, world: World) -> None:
    with (
        TestClient(app, follow_redirects=False) as vol,
        TestClient(app, follow_redirects=False) as coord,
    ):
        login(vol, "0900000004")
        login(coord, "0900000002")
        assert post(coord, f"/console/members/{world.vol_a.id}/deactivate").status_code == 303
        assert vol.get("/api/v1/me").status_code == 401


def _invite(client: TestClient, world: World) -> str:
    login(client, "0900000002")
    page = post(
        client,
        "/console/members",
        {"name": "Vũ Thị Mới", "phone": "0977 111 222", "role": "volunteer"},
    )
    assert page.status_code == 200
    link = page.text.split('value="http://testserver/invite/')[1].split('"')[0]
    assert "<svg" in page.text  # the QR code of the link
    client.cookies.clear()
    return f"/invite/{link}"


def test_invitation_sets_password_and_signs_in(
    client: TestClient, world: World, db: Database
) -> None:
    url = _invite(client, world)
    page = client.get(url)
    assert page.status_code == 200 and "Vũ Thị Mới" in page.text
    response = post(client, url, {"password": "hoa sen 2026", "confirm": "hoa sen 2026"})
    assert response.status_code == 303 and response.headers["location"] == "/app"
    assert client.get("/api/v1/me").json()["name"] == "Vũ Thị Mới"
    # Used: the link now explains itself instead of working again.
    client.cookies.clear()
    reused = client.get(url)
    assert reused.status_code == 410 and "đã được dùng" in reused.text
    assert (
        post(client, url, {"password": "khac nua 2026", "confirm": "khac nua 2026"}).status_code
        == 410
    )
    login(client, "0977111222", "hoa sen 2026")


def test_expired_invitation_is_refused(client: TestClient, world: World, db: Database) -> None:
    url = _invite(client, world)
    with db.write() as s:
        for inv in s.exec(select(Invitation)).all():
            inv.expires_at = utcnow() - timedelta(minutes=1)
            s.add(inv)
    page = client.get(url)
    assert page.status_code == 410 and "đã hết hạn" in page.text
    response = post(client, url, {"password": "hoa sen 2026", "confirm": "hoa sen 2026"})
    assert response.status_code == 410
    with db.read() as s:
        member = s.exec(select(Member).where(Member.phone == "+84977111222")).one()
        assert member.password_hash is None


def test_reissued_invitation_replaces_the_old_link(
    client: TestClient, world: World, db: Database
) -> None:
    old = _invite(client, world)
    login(client, "0900000002")
    with db.read() as s:
        member = s.exec(select(Member).where(Member.phone == "+84977111222")).one()
    page = post(client, f"/console/members/{member.id}/invite")
    new = "/invite/" + page.text.split('value="http://testserver/invite/')[1].split('"')[0]
    client.cookies.clear()
    assert client.get(old).status_code == 410
    assert client.get(new).status_code == 200


def test_a_new_password_ends_the_members_other_sessions(app, world: World) -> None:
    """A lost phone: the coordinator sends a new invitation; once it is used, the old phone's
    session no longer works, and the new one does."""
    with (
        TestClient(app, follow_redirects=False) as lost,
        TestClient(app, follow_redirects=False) as coord,
        TestClient(app, follow_redirects=False) as new_phone,
    ):
        login(lost, "0900000004")
        assert lost.get("/api/v1/me").status_code == 200
        login(coord, "0900000002")
        page = post(coord, f"/console/members/{world.vol_a.id}/invite")
        url = "/invite/" + page.text.split('value="http://testserver/invite/')[1].split('"')[0]
        assert lost.get("/api/v1/me").status_code == 200  # a link alone changes nothing
        accepted = post(
            new_phone, url, {"password": "mat khau moi 2026", "confirm": "mat khau moi 2026"}
        )
        assert accepted.status_code == 303
        assert lost.get("/api/v1/me").status_code == 401
        assert new_phone.get("/api/v1/me").status_code == 200
        assert coord.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("token", ["forged-token-123456", "x" * 200, "a"])
def test_forged_invitation_is_not_found(client: TestClient, world: World, token: str) -> None:
    page = client.get(f"/invite/{token}")
    assert page.status_code == 404
    assert "Đường link mời này không đúng." in page.text


def test_an_invitation_link_with_a_nul_is_refused(client: TestClient) -> None:
    page = client.get("/invite/%00")
    assert page.status_code == 400 and "Có chữ không đọc được" in page.text


def test_invitation_password_rules(client: TestClient, world: World, db: Database) -> None:
    url = _invite(client, world)
    response = post(client, url, {"password": "ngan", "confirm": "ngan"})
    assert response.status_code == 400 and "ít nhất 8" in response.text
    with db.read() as s:
        assert s.exec(select(Invitation)).one().used_at is None


def test_session_expires_after_thirty_days(client: TestClient, world: World, db: Database) -> None:
    login(client, "0900000004")
    with db.write() as s:
        row = s.exec(select(AuthSession)).one()
        assert (row.expires_at - row.created_at).days == accounts.SESSION_DAYS
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    assert client.get("/api/v1/me").status_code == 401


def test_csrf_token_is_required_to_sign_in(client: TestClient, world: World) -> None:
    csrf(client)
    response = client.post("/login", data={"phone": "0900000004", "password": PASSWORD})
    assert response.status_code == 403
