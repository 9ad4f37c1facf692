"""The dashboard, the province roll-up, API keys and the indicators API over HTTP; seed-demo."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import func, select
from starlette.testclient import TestClient

from server import accounts, periods, reports
from server.db import Database
from server.demo import COMMUNE as DEMO_COMMUNE
from server.demo import DemoError, seed_demo
from server.models import (
    ApiToken,
    AssistanceSession,
    Commune,
    Household,
    Member,
    Role,
    SessionService,
    Village,
)

from .conftest import COMMUNE_A, COMMUNE_B, World, login, post
from .test_cli import run
from .test_reports import add_session

OTHER_IN_24 = "07582"  # Xã Lục Ngạn, Bắc Ninh: in the admin's province, no activity


def today() -> date:
    return periods.today_in_vietnam()


def this_month_at(day: int = 1, hour: int = 9) -> datetime:
    """A time in the current month, in the past."""
    now = datetime.now(UTC)
    first = periods.month_of(today()).bounds()[0]
    return min(first + timedelta(days=day - 1, hours=hour), now - timedelta(minutes=1))


def seed(db: Database, world: World) -> None:
    """Commune A: 3 sessions, 4 people, one dossier. Commune B: 17 sessions, 29 people."""
    lines = [("dvc_birth", "done", None, "H24.46-261102-0001")]
    add_session(db, world, at=this_month_at(1), village=world.village_a, people=2, lines=lines)
    add_session(db, world, at=this_month_at(1, 10), village=world.village_a)
    add_session(
        db,
        world,
        at=this_month_at(1, 11),
        village=world.village_a2,
        lines=[("vneid_activate", "could_not", "needs_police", None)],
    )
    for i in range(17):
        add_session(
            db,
            world,
            at=this_month_at(1, 12),
            commune=COMMUNE_B,
            village=world.village_b,
            people=2 if i < 12 else 1,
            lines=[("safe_scam", "done", None, None)],
        )


def english(client: TestClient) -> TestClient:
    client.cookies.set("lang", "en")
    return client


def card(html: str, label: str) -> str:
    match = re.search(
        rf'<span class="figure-label">{re.escape(label)}</span>\s*<strong>([^<]*)</strong>', html
    )
    assert match, f"no card {label!r}"
    return match.group(1)


# --- The coordinator's dashboard ----------------------------------------------------------------


def test_coordinator_sees_only_own_communes_numbers(client: TestClient, world: World, db) -> None:
    seed(db, world)
    login(english(client), world.phone("coord_a"))
    page = client.get("/console/")
    assert page.status_code == 200
    assert card(page.text, "Sessions") == "3"
    assert card(page.text, "People helped") == "4"
    assert card(page.text, "Dossiers filed") == "1"
    assert "Tổ dân phố 1" not in page.text  # commune B's village
    # Naming commune B changes nothing for a coordinator.
    forged = client.get(f"/console/?commune={COMMUNE_B}")
    assert card(forged.text, "Sessions") == "3"

    client.cookies.clear()
    login(english(client), world.phone("coord_b"))
    page_b = client.get("/console/")
    assert (card(page_b.text, "Sessions"), card(page_b.text, "People helped")) == ("17", "29")
    assert "Thôn Đông Hòa" not in page_b.text


def test_dashboard_shows_charts_with_their_numbers(client: TestClient, world: World, db) -> None:
    seed(db, world)
    login(english(client), world.phone("coord_a"))
    html = client.get("/console/").text
    for chart in ("weeks", "skills", "reasons", "villages", "coverage"):
        assert f'id="{chart}-title"' in html
    assert html.count('<svg class="') >= 4
    assert html.count('<details class="numbers">') >= 4
    assert "style=" not in html and "<script" not in html  # the CSP forbids both
    reasons = html[html.index('id="reasons-title"') : html.index('id="villages-title"')]
    assert "Needs the police" in reasons


@pytest.mark.parametrize(
    "query",
    [
        "period=yesterday",
        "period=custom",
        "period=custom&from=2026-10-10&to=2026-10-01",
        "period=custom&from=31/10/2026&to=2026-11-01",
        "from=2026-02-30&to=2026-03-01",
        "period=9999-99",
    ],
)
def test_a_bad_period_is_a_400_page_not_a_500(client: TestClient, world: World, query) -> None:
    login(english(client), world.phone("coord_a"))
    page = client.get(f"/console/?{query}")
    assert page.status_code == 400
    assert 'class="error"' in page.text and "This period cannot be shown" in page.text
    login(client, world.phone("admin"))
    assert client.get(f"/console/province?{query}").status_code == 400


def test_periods_change_the_figures(client: TestClient, world: World, db) -> None:
    seed(db, world)
    long_ago = datetime(2026, 3, 10, 3, tzinfo=UTC)
    add_session(db, world, at=long_ago, people=9)
    login(english(client), world.phone("coord_a"))
    march = client.get("/console/?period=2026-03")
    assert card(march.text, "Sessions") == "1" and card(march.text, "People helped") == "9"
    custom = client.get("/console/?period=custom&from=2026-03-10&to=2026-03-10")
    assert card(custom.text, "Sessions") == "1"
    after = client.get("/console/?period=custom&from=2026-03-11&to=2026-03-31")
    assert card(after.text, "Sessions") == "0"


# --- Roles ---------------------------------------------------------------------------------------

MINE = [
    ("GET", "/console/"),
    ("GET", "/console/province"),
    ("GET", f"/console/province/communes/{COMMUNE_A}"),
    ("GET", "/console/province/tokens"),
    ("POST", "/console/province/tokens"),
    ("POST", f"/console/province/tokens/{uuid.uuid4()}/revoke"),
]


@pytest.mark.parametrize(("method", "path"), MINE)
def test_a_volunteer_gets_403_on_every_dashboard_page(
    client: TestClient, world: World, method: str, path: str
) -> None:
    login(client, world.phone("vol_a"))
    response = client.get(path) if method == "GET" else post(client, path, {"name": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "code",
    [COMMUNE_B, OTHER_IN_24, "99999", "not-a-code", "00004' OR 1=1 --"],
)
def test_admin_drill_down_refuses_communes_outside_the_province(
    client: TestClient, world: World, code: str
) -> None:
    login(client, world.phone("admin"))
    assert client.get(f"/console/province/communes/{code}").status_code == 404


def test_admin_drills_down_into_a_commune_of_the_province(
    client: TestClient, world: World, db
) -> None:
    seed(db, world)
    login(english(client), world.phone("admin"))
    page = client.get(f"/console/province/communes/{COMMUNE_A}")
    assert page.status_code == 200
    assert card(page.text, "Sessions") == "3"
    assert f'action="/console/province/communes/{COMMUNE_A}"' in page.text
    # From the drill-down the admin reaches the commune's lists, each about that commune.
    links = re.findall(r'href="(/console/[a-z-]+\?commune=' + COMMUNE_A + ')"', page.text)
    paths = {link.split("?")[0] for link in links}
    assert {"/console/sessions", "/console/households", "/console/follow-ups"} <= paths
    assert {"/console/exports", "/console/audit", "/console/members"} <= paths
    for link in sorted(set(links)):
        opened = client.get(link)
        assert opened.status_code == 200, link
        assert "Xã Đại Sơn" in opened.text or "Dai Son" in opened.text, link


def test_coordinators_cannot_open_the_province_pages(client: TestClient, world: World) -> None:
    login(client, world.phone("coord_a"))
    assert client.get(f"/console/province/communes/{COMMUNE_A}").status_code == 403
    assert client.get("/console/province/tokens").status_code == 403


# --- The province roll-up -----------------------------------------------------------------------


def rollup_rows(html: str) -> list[tuple[str, str, bool]]:
    """(commune code, sessions, marked inactive) for each row of the roll-up, in order."""
    body = html[html.index("<tbody>", html.index('class="figures-table rollup"')) :]
    body = body[: body.index("</tbody>")]
    rows = []
    for row in body.split("<tr")[1:]:
        code = re.search(r"/console/province/communes/(\d{5})", row).group(1)
        sessions = re.search(r'<td class="num">([^<]*)<br>', row).group(1)
        rows.append((code, sessions, 'class="inactive"' in row and "No activity" in row))
    return rows


def test_rollup_lists_communes_in_use_sorted_with_inactive_marked(
    client: TestClient, world: World, db
) -> None:
    seed(db, world)
    with db.write() as s:
        accounts.use_commune(s, OTHER_IN_24)
    login(english(client), world.phone("admin"))
    by_name = rollup_rows(client.get("/console/province").text)
    assert by_name == [(COMMUNE_A, "3", False), (OTHER_IN_24, "0", True)]  # Đại Sơn, Lục Ngạn
    most = rollup_rows(client.get("/console/province?sort=sessions&order=desc").text)
    assert [r[0] for r in most] == [COMMUNE_A, OTHER_IN_24]
    least = rollup_rows(client.get("/console/province?sort=sessions&order=asc").text)
    assert [r[0] for r in least] == [OTHER_IN_24, COMMUNE_A]
    page = client.get("/console/province?sort=sessions&order=desc").text
    assert 'aria-sort="descending"' in page
    assert "order=asc" in page  # the sorted heading now sorts the other way
    assert COMMUNE_B not in page  # another province
    nonsense = client.get("/console/province?sort=drop+table&order=sideways")
    assert nonsense.status_code == 200
    assert [r[0] for r in rollup_rows(nonsense.text)] == [COMMUNE_A, OTHER_IN_24]
    backwards = rollup_rows(client.get("/console/province?sort=name&order=desc").text)
    assert [r[0] for r in backwards] == [OTHER_IN_24, COMMUNE_A]


# --- API keys and the indicators API -------------------------------------------------------------


def make_key(client: TestClient, world: World, name: str = "Kho dữ liệu tỉnh") -> str:
    login(client, world.phone("admin"))
    page = post(client, "/console/province/tokens", {"name": name})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    match = re.search(r'id="new-key" type="text" class="copy" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def api(client: TestClient, key: str | None, query: str = "") -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = client.get(f"/api/v1/indicators{query}", headers=headers)
    return response.status_code, response.json()


def test_a_key_is_shown_once_and_stored_as_its_hash(client: TestClient, world: World, db) -> None:
    key = make_key(client, world)
    with db.read() as s:
        row = s.exec(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(key.encode()).hexdigest()
    assert (row.province_code, row.name, row.last_used_at) == ("24", "Kho dữ liệu tỉnh", None)
    listing = client.get("/console/province/tokens")
    assert key not in listing.text and "Kho dữ liệu tỉnh" in listing.text
    refused = post(client, "/console/province/tokens", {"name": "   "})
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text


def test_the_api_gives_the_keys_province_only(client: TestClient, world: World, db) -> None:
    seed(db, world)
    with db.write() as s:
        accounts.use_commune(s, OTHER_IN_24)
    key = make_key(client, world)
    client.cookies.clear()  # the API never looks at cookies
    status, body = api(client, key)
    assert status == 200
    assert body["province"]["code"] == "24"
    codes = {c["code"] for c in body["communes"]}
    assert codes == {COMMUNE_A, OTHER_IN_24}
    a = next(c for c in body["communes"] if c["code"] == COMMUNE_A)
    assert (a["sessions"], a["people_helped"], a["dossiers_filed"]) == (3, 4, 1)
    assert a["not_done_reasons"]["could_not"] == {"needs_police": 1}
    assert a["services_done_by_skill"]["public_services"] == 1
    assert body["period"]["key"] == periods.month_of(today()).key
    with db.read() as s:
        assert s.exec(select(ApiToken)).one().last_used_at is not None

    # A key of Hà Nội (province 01) sees commune B and nothing of Bắc Ninh.
    other = "lsk_" + uuid.uuid4().hex
    with db.write() as s:
        s.add(ApiToken(province_code="01", name="Hà Nội", token_hash=accounts.token_hash(other)))
    status, body = api(client, other)
    assert status == 200
    assert {c["code"] for c in body["communes"]} == {COMMUNE_B}
    assert body["communes"][0]["sessions"] == 17


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic bHNrOng=", "Bearer lsk_not-a-real-key", "lsk_no_scheme"],
)
def test_no_key_or_a_bad_key_is_401(client: TestClient, world: World, header) -> None:
    login(client, world.phone("admin"))  # a signed-in admin's cookie is not a key
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/indicators", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and error["message"] and error["fields"] == {}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_key_is_401(client: TestClient, world: World, db) -> None:
    key = make_key(client, world)
    assert api(client, key)[0] == 200
    with db.read() as s:
        token_id = s.exec(select(ApiToken.id)).one()
    revoked = post(client, f"/console/province/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    status, body = api(client, key)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    with db.read() as s:
        assert s.exec(select(ApiToken)).one().revoked_at is not None


def test_an_admin_cannot_revoke_another_provinces_key(client: TestClient, world: World, db) -> None:
    with db.write() as s:
        row = ApiToken(province_code="01", name="Hà Nội", token_hash="0" * 64)
        s.add(row)
    login(client, world.phone("admin"))
    assert post(client, f"/console/province/tokens/{row.id}/revoke").status_code == 404
    assert post(client, "/console/province/tokens/not-a-uuid/revoke").status_code == 404
    with db.read() as s:
        assert s.get(ApiToken, row.id).revoked_at is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?period=2026-13", "period"),
        ("?period=last-year", "period"),
        ("?period=custom&from=2026-10-01", "to"),
        ("?from=2026-10-10&to=2026-10-01", "to"),
        ("?from=yesterday&to=2026-10-01", "from"),
        ("?from=2020-01-01&to=2026-01-01", "to"),
    ],
)
def test_a_bad_period_is_a_400_json_error(client: TestClient, world: World, query, field) -> None:
    key = make_key(client, world)
    status, body = api(client, key, query)
    assert status == 400
    assert body["error"]["code"] == "bad_request" and field in body["error"]["fields"]


def test_the_api_reads_a_month_and_dates(client: TestClient, world: World, db) -> None:
    add_session(db, world, at=datetime(2026, 3, 31, 16, 59, tzinfo=UTC), people=5)  # 23:59 VN
    add_session(db, world, at=datetime(2026, 3, 31, 17, 0, tzinfo=UTC))  # 1 April, 00:00 VN
    key = make_key(client, world)
    status, body = api(client, key, "?period=2026-03")
    a = next(c for c in body["communes"] if c["code"] == COMMUNE_A)
    assert (status, a["sessions"], a["people_helped"], a["previous"]["sessions"]) == (200, 1, 5, 0)
    assert body["period"] == {
        "kind": "month",
        "key": "2026-03",
        "from": "2026-03-01",
        "to": "2026-03-31",
    }
    _, body = api(client, key, "?from=2026-04-01&to=2026-04-01")
    a = next(c for c in body["communes"] if c["code"] == COMMUNE_A)
    assert a["sessions"] == 1 and body["previous_period"]["from"] == "2026-03-31"


def test_openapi_describes_the_indicators(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/indicators"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"period", "from", "to"}
    assert set(operation["responses"]) == {"200", "400", "401"}


# --- seed-demo -----------------------------------------------------------------------------------


def count(db: Database, model, *where) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def test_seed_demo_loads_the_stated_counts_once(database_url: str, tmp_path) -> None:
    result = run(["seed-demo"], database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    password = re.search(r"password (\S+)", result.stdout).group(1)
    assert "0900 999 000" in result.stdout

    db = Database(database_url)
    try:
        in_demo = Member.commune_code == DEMO_COMMUNE
        assert count(db, Village, Village.commune_code == DEMO_COMMUNE) == 6
        assert count(db, Member, in_demo, Member.role == Role.volunteer) == 8
        assert count(db, Member, in_demo, Member.role == Role.coordinator) == 1
        assert count(db, Household, Household.commune_code == DEMO_COMMUNE) == 300
        assert count(db, AssistanceSession, AssistanceSession.commune_code == DEMO_COMMUNE) == 2000
        with db.read() as s:
            names = s.exec(select(Member.name).where(in_demo)).all()
            assert all(n.endswith("(demo)") for n in names)
            assert accounts.authenticate(s, "+84900999000", password) is not None
            sessions = s.exec(select(AssistanceSession)).all()
            seqs = [r.seq for r in sessions]
            assert min(seqs) > 0 and len(set(seqs)) == len(seqs)
            assert len({r.occurred_at.date() for r in sessions}) > 100  # spread over months
            assert all(r.occurred_at < datetime.now(UTC) for r in sessions)
            states = {r.review_state for r in sessions}
            assert states == {"new", "approved", "returned"}
            returned = [r for r in sessions if r.review_state == "returned"]
            assert all(r.review_comment for r in returned)
            open_ = [r for r in sessions if r.follow_up_on and not r.follow_up_done_at]
            assert any(r.follow_up_on < today() for r in open_)  # some overdue
            lines = s.exec(select(SessionService)).all()
            assert any(ln.dossier_code for ln in lines)
            assert {ln.reason for ln in lines if ln.outcome != "done"} >= {"needs_police"}
            assert all(ln.reason for ln in lines if ln.outcome != "done")
            households = s.exec(select(Household)).all()
            assert all(h.consent_at and h.code.startswith("DEMO-") for h in households)
            commune = s.get(Commune, DEMO_COMMUNE)
            half_year = periods.Period("custom", today() - timedelta(days=181), today())
            board = reports.dashboard(s, commune, half_year, today())
            assert board.now.sessions > 0 and board.now.dossiers > 0
            assert sum(board.coverage.values()) > 0

        again = run(["seed-demo"], database_url, tmp_path)
        assert again.returncode == 1 and "already loaded" in again.stderr
        assert count(db, AssistanceSession) == 2000
    finally:
        db.dispose()


def test_seed_demo_refuses_a_commune_in_real_use(db: Database, world: World) -> None:
    with db.write() as s, pytest.raises(DemoError, match="already has members"):
        seed_demo(s, COMMUNE_A)
    assert count(db, AssistanceSession) == 0
    assert count(db, Member, Member.phone == "+84900999000") == 0


def test_nothing_is_seeded_by_default(db: Database) -> None:
    assert count(db, AssistanceSession) == 0
    assert count(db, Member) == 0
    with db.read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM daily_line_count")).scalar() == 0
