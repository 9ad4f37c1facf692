"""Households in the console: search without accents, the audited detail and QR card, and the
privacy actions of the 2026 law: a full export, and an erasure that leaves no personal field in
any table or export while the counts stay the same. Also the audit log page."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import timedelta

import cairosvg
import sqlalchemy as sa
import zxingcpp
from PIL import Image
from sqlmodel import SQLModel, select
from starlette.testclient import TestClient

from server import exports, periods, sync
from server.db import Database
from server.models import AuditEvent, Household, Member

from .conftest import World, login, post
from .test_console_sessions import (
    add_household,
    line,
    log_sessions,
    op,
    push,
    session_data,
    vn_today,
    when,
)

HOUSEHOLD_LINK = re.compile(r'href="/console/households/([0-9a-f-]{36})"')
NAME, PHONE = "Nguyễn Thị Lan", "0912 345 678"


def found(html: str) -> set[str]:
    return set(HOUSEHOLD_LINK.findall(html))


def events(db: Database, action: str) -> list[AuditEvent]:
    with db.read() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_search_without_diacritics(client: TestClient, db: Database, world: World) -> None:
    lan = add_household(db, world.vol_a, world.village_a, "A-001", NAME)
    duc = add_household(db, world.vol_a, world.village_a2, "A-002", "Trần Văn Đức", None)
    hoa = add_household(db, world.vol_a, world.village_a, "A-003", "Lê Thị Hoà", None)
    add_household(db, world.vol_b, world.village_b, "B-001", NAME)  # same name, commune B
    login(client, world.phone("coord_a"))

    assert found(client.get("/console/households?q=nguyen thi lan").text) == {str(lan)}
    assert found(client.get("/console/households?q=NGUYEN LAN").text) == {str(lan)}
    assert found(client.get("/console/households?q=duc").text) == {str(duc)}
    assert found(client.get("/console/households?q=Đức trần").text) == {str(duc)}
    assert found(client.get("/console/households?q=le thi hòa").text) == {str(hoa)}
    assert found(client.get("/console/households?q=a-002").text) == {str(duc)}
    assert found(client.get("/console/households?q=thi").text) == {str(lan), str(hoa)}
    assert found(client.get("/console/households?q=xyz").text) == set()
    assert found(client.get("/console/households?q=%25").text) == set()  # LIKE wildcards escaped
    by_village = client.get(f"/console/households?village={world.village_a2}")
    assert found(by_village.text) == {str(duc)}
    assert found(client.get("/console/households").text) == {str(lan), str(duc), str(hoa)}
    wrong = client.get(f"/console/households?village={world.village_b}")
    assert wrong.status_code == 400 and found(wrong.text) == set()


def test_households_come_fifty_a_page(client: TestClient, db: Database, world: World) -> None:
    ops = []
    for i in range(51):
        data = {
            "village_id": str(world.village_a),
            "code": f"P-{i:03}",
            "head_name": f"Phạm Văn {i:03}",
            "consent": True,
        }
        ops.append(op("household", uuid.uuid4(), data))
    push(db, world.vol_a, ops)
    login(client, world.phone("coord_a"))
    first = client.get("/console/households?q=pham")
    second = client.get("/console/households?q=pham&page=2")
    assert len(found(first.text)) == 50 and len(found(second.text)) == 1
    assert found(first.text).isdisjoint(found(second.text))
    assert 'href="/console/households?q=pham&amp;page=2"' in first.text
    assert "Phạm Văn 050" in second.text


def decode_qr(svg: str) -> list[str]:
    png = cairosvg.svg2png(bytestring=svg.encode(), output_width=400, background_color="white")
    image = Image.open(io.BytesIO(png)).convert("L")
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_detail_and_card_are_audited(client: TestClient, db: Database, world: World) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    [sid] = log_sessions(
        db,
        world.vol_a,
        world.village_a,
        household_id=str(hh),
        services=[line("pay_electricity"), line("safe_scam", "could_not")],
    )
    login(client, world.phone("coord_a"))
    page = client.get(f"/console/households/{hh}")
    assert page.status_code == 200
    assert NAME in page.text and PHONE in page.text and "Thôn Đông Hòa" in page.text
    assert f"/console/sessions/{sid}" in page.text
    skills = re.search(r'<ul class="skills">(.*?)</ul>', page.text, re.S)
    assert skills
    assert re.findall(r'<li class="yes">', skills.group(1)) == ['<li class="yes">']  # payment
    assert "Thanh toán không dùng tiền mặt" in skills.group(1)

    card = client.get(f"/console/households/{hh}/card")
    assert card.status_code == 200
    svg = re.search(r"<svg.*?</svg>", card.text, re.S)
    assert svg and decode_qr(svg.group(0)) == ["A-001"]
    viewed = events(db, "household.viewed")
    assert [(e.target_id, e.actor_id, e.detail) for e in viewed] == [
        (str(hh), world.coord_a.id, {}),
        (str(hh), world.coord_a.id, {"page": "card"}),
    ]
    assert all(NAME not in json.dumps(e.detail, ensure_ascii=False) for e in viewed)


def test_privacy_export_contains_the_households_data(
    client: TestClient, db: Database, world: World
) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    log_sessions(
        db,
        world.vol_a,
        world.village_a,
        household_id=str(hh),
        notes="Bà Lan cần mang giấy khai sinh",
        services=[line("dvc_birth", "not_finished", "H40.99-240315-0001")],
    )
    log_sessions(db, world.vol_a, world.village_a)  # another session: not in the export
    login(client, world.phone("coord_a"))

    download = client.get(f"/console/households/{hh}/export.json")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    day = periods.today_in_vietnam().isoformat()  # the day in Vietnam, not in UTC
    assert download.headers["content-disposition"] == f'attachment; filename="ho-A-001-{day}.json"'
    data = download.json()
    assert data["format"] == "langso-household-export"
    assert data["household"]["head_name"] == NAME
    assert data["household"]["phone"] == "+84912345678"
    assert data["household"]["village"] == "Thôn Đông Hòa"
    assert data["household"]["consent_by"] == "Nguyễn Văn Tình"
    [session] = data["sessions"]
    assert session["notes"] == "Bà Lan cần mang giấy khai sinh"
    assert session["services"] == [
        {
            "service": "dvc_birth",
            "name": "Khai sinh, thường trú, BHYT cho trẻ",
            "outcome": "not_finished",
            "reason": "missing_papers",
            "dossier_code": "H40.99-240315-0001",
        }
    ]
    assert [v["data"]["head_name"] for v in data["history"]] == [NAME]

    page = client.get(f"/console/households/{hh}/export")
    assert page.status_code == 200
    assert NAME in page.text and "Bà Lan cần mang giấy khai sinh" in page.text
    assert "H40.99-240315-0001" in page.text
    assert [e.detail for e in events(db, "household.exported")] == [
        {"format": "json"},
        {"format": "page"},
    ]


# --- Erasure ----------------------------------------------------------------------------------


def every_text(db: Database) -> list[tuple[str, str]]:
    """(table, text) for every text or JSON value in every table."""
    out = []
    with db.read() as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in s.execute(sa.select(table)).mappings():
                for name, value in row.items():
                    if isinstance(value, str):
                        out.append((f"{table.name}.{name}", value))
                    elif isinstance(value, (dict, list)):
                        out.append((f"{table.name}.{name}", json.dumps(value, ensure_ascii=False)))
    return out


def leaks(texts: list[tuple[str, str]], needles: list[str]) -> list[tuple[str, str]]:
    return [
        (where, needle)
        for where, text in texts
        for needle in needles
        if needle.casefold() in text.casefold()
    ]


def tallies(db: Database) -> dict[tuple[str, str], list[int]]:
    day = vn_today()
    with db.read() as s:
        summary = exports.monthly_summary(
            s, "07627", periods.Period("custom", day - timedelta(days=30), day + timedelta(days=1))
        )
    return {key: t.values() for key, t in summary.tallies.items()}


def test_erasing_leaves_no_personal_field_anywhere(
    client: TestClient, db: Database, world: World
) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    keep = add_household(db, world.vol_a, world.village_a, "A-002", "Trần Văn Đức", None)
    base = {
        "village_id": str(world.village_a),
        "code": "A-001",
        "head_name": NAME,
        "phone": PHONE,
        "consent": True,
        "skills": ["payment"],
    }
    # Two edits from version 1: the second clashes, so history keeps the phone's copy too.
    push(db, world.vol_a, [op("household", hh, {**base, "skills": ["safety"]}, base=1)])
    push(db, world.vol_a, [op("household", hh, {**base, "skills": ["shopping"]}, base=1)])
    own = log_sessions(
        db,
        world.vol_a,
        world.village_a,
        2,
        household_id=str(hh),
        notes=f"Bà {NAME}, số 0912345678, cần mang giấy khai sinh",
        services=[line("dvc_birth", "not_finished", "H40.99-240315-0001"), line("safe_scam")],
        follow_up_on=str(vn_today() + timedelta(days=2)),
    )
    [neighbour] = log_sessions(
        db, world.vol_a, world.village_a, household_id=str(keep), notes=f"Hàng xóm nhà {NAME}"
    )
    login(client, world.phone("coord_a"))
    post(client, f"/console/sessions/{own[0]}/return", {"comment": f"Hỏi lại {NAME} giúp"})
    # The volunteer fixes it with a stale copy: history keeps the phone's notes as `_client`.
    push(
        db,
        world.vol_a,
        [
            op(
                "session",
                own[1],
                session_data(
                    world.village_a, household_id=str(hh), notes=f"Gọi {PHONE}", minutes=30
                ),
                base=1,
            )
        ],
    )
    push(
        db,
        world.vol_a,
        [op("session", own[1], session_data(world.village_a, household_id=str(hh)), base=1)],
    )
    client.get(f"/console/households/{hh}")
    client.get(f"/console/households/{hh}/export.json")
    needles = [NAME, "nguyen thi lan", "+84912345678", PHONE, "0912345678", "A-001"]
    assert leaks(every_text(db), needles)  # the scan does find them before
    before = tallies(db)
    with db.read() as s:
        cursor = sync.current_cursor(s)

    wrong = post(client, f"/console/households/{hh}/erase", {"confirm": "A-002"})
    assert wrong.status_code == 400 and 'id="e-confirm"' in wrong.text
    with db.read() as s:
        assert s.get(Household, hh).head_name == NAME  # nothing half-done

    erased = post(client, f"/console/households/{hh}/erase", {"confirm": "a-001 "})
    assert erased.status_code == 303
    assert leaks(every_text(db), needles) == []
    assert tallies(db) == before

    with db.read() as s:
        row = s.get(Household, hh)
        assert row.deleted_at is not None and row.phone is None and row.head_name == "Hộ đã xóa"
        other = s.get(Household, keep)
        assert other.head_name == "Trần Văn Đức"  # other households are untouched
        changes = sync.pull(s, s.get(Member, world.vol_a.id), cursor)["changes"]
    assert {"id": str(hh), "deleted": True} in changes["households"]
    assert {item["id"] for item in changes["sessions"]} == {*map(str, own), str(neighbour)}
    assert all(item["notes"] == "" for item in changes["sessions"] if item["id"] != str(neighbour))

    texts = [
        client.get(f"/console/households/{hh}/export.json").text,
        client.get(f"/console/households/{hh}/export").text,
        client.get(f"/console/households/{hh}").text,
        client.get(f"/console/sessions/{own[0]}").text,
        client.get("/console/exports/sessions.csv").content.decode("utf-8-sig"),
        client.get("/console/audit").text,
    ]
    assert leaks([("export", t) for t in texts], needles) == []
    assert str(hh) not in client.get("/console/households").text
    assert client.get(f"/console/households/{hh}/card").status_code == 404
    again = post(client, f"/console/households/{hh}/erase", {"confirm": "A-001"})
    assert again.status_code == 400
    [event] = events(db, "household.erased")
    assert event.detail == {"sessions": 2, "other_sessions": 1}


# --- Audit log --------------------------------------------------------------------------------


def test_audit_log_lists_and_filters(client: TestClient, db: Database, world: World) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    [sid] = log_sessions(db, world.vol_a, world.village_a, occurred_at=when(hours=2))
    login(client, world.phone("coord_a"))
    client.get(f"/console/households/{hh}")
    post(client, f"/console/sessions/{sid}/approve")
    post(client, f"/console/members/{world.vol_a.id}/deactivate")
    post(client, f"/console/villages/{world.village_a2}/rename", {"name": "Thôn Tây Mới"})
    post(client, "/console/villages", {"name": "Thôn Bắc"})
    post(client, "/console/members", {"name": "Mai Thị Hạnh", "phone": "0933111222"})

    with db.read() as s:
        actions = set(s.exec(select(AuditEvent.action)).all())
    assert {
        "household.viewed",
        "session.approved",
        "member.deactivated",
        "village.renamed",
        "village.created",
        "member.created",
    } <= actions

    page = client.get("/console/audit")
    assert page.status_code == 200
    assert page.text.count('class="event"') >= 6
    assert f"/console/sessions/{sid}" in page.text and f"/console/households/{hh}" in page.text
    assert "Thôn Tây → Thôn Tây Mới" in page.text
    only = client.get("/console/audit?action=village.renamed")
    assert only.text.count('class="event"') == 1
    day = vn_today()
    assert client.get(f"/console/audit?from={day}&to={day}").text.count('class="event"') >= 6
    past = client.get(f"/console/audit?to={day - timedelta(days=2)}")
    assert past.text.count('class="event"') == 0
    bad = client.get("/console/audit?from=hôm qua")
    assert bad.status_code == 400 and "Hãy nhập ngày theo dạng 2026-10-31." in bad.text
    # Commune B's coordinator sees none of it.
    client.cookies.clear()
    login(client, world.phone("coord_b"))
    assert client.get("/console/audit").text.count('class="event"') == 0


def test_a_households_export_names_services_in_the_readers_language(
    client: TestClient, db: Database, world: World
) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-002")
    log_sessions(
        db, world.vol_a, world.village_a, household_id=str(hh), services=[line("dvc_birth")]
    )
    login(client, world.phone("coord_a"))
    client.get("/language/en?next=/console/")
    [session] = client.get(f"/console/households/{hh}/export.json").json()["sessions"]
    assert session["services"][0]["name"] == "Birth, residence and child health insurance"
