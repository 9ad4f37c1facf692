"""Exports read back as a spreadsheet would: the sessions CSV (UTF-8 with BOM) and XLSX, one row
per service line with Vietnamese headings, and the monthly summary checked against a recount."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, time, timedelta

import openpyxl
from sqlmodel import col, select
from starlette.testclient import TestClient

from server import exports, labels, villages
from server.db import Database
from server.models import AssistanceSession, AuditEvent, Member, Service, SessionService, Village

from .conftest import COMMUNE_A, World, login, post
from .test_console_sessions import (
    add_household,
    line,
    log_sessions,
    op,
    push,
    vn_today,
    when,
)


def period_query(days: int = 30) -> tuple[str, date, date]:
    end = vn_today()
    start = end - timedelta(days=days)
    return f"from={start}&to={end}", start, end


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def read_xlsx(body: bytes) -> list[list[object]]:
    wb = openpyxl.load_workbook(io.BytesIO(body))
    return [list(row) for row in wb.active.iter_rows(values_only=True)]


def test_sessions_csv_and_xlsx_read_back(client: TestClient, db: Database, world: World) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    three = log_sessions(
        db,
        world.vol_a,
        world.village_a,
        3,
        household_id=str(hh),
        services=[line("vneid_install"), line("dvc_birth", "not_finished", "H40.99-1")],
        notes="Bà Lan cần mang giấy khai sinh",
    )
    [walk_in] = log_sessions(
        db, world.vol_a, world.village_a2, services=[line("safe_scam")], notes="=1+1"
    )
    [gone] = log_sessions(db, world.vol_a, world.village_a)
    push(db, world.vol_a, [op("session", gone, {"deleted": True}, base=1)])
    log_sessions(db, world.vol_a, world.village_a, occurred_at=when(days=45))  # before the period
    log_sessions(db, world.vol_b, world.village_b)  # another commune
    query, start, end = period_query()
    login(client, world.phone("coord_a"))

    response = client.get(f"/console/exports/sessions.csv?{query}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    filename = f"luot-ho-tro_{COMMUNE_A}_{start}_{end}.csv"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    heading, *rows = read_csv(response.content)
    assert heading == exports.session_headings()
    assert heading[3] == "Thôn, tổ dân phố" and heading[4] == "Tổ viên"
    assert heading[12] == "Số người được giúp" and heading[15] == "Ghi chú"
    assert len(rows) == 3 * 2 + 1  # one row per service line; deleted and older ones left out
    assert {r[0] for r in rows} == {*map(str, three), str(walk_in)}
    birth = [r for r in rows if r[7] == "Khai sinh, thường trú, BHYT cho trẻ"]
    assert len(birth) == 3
    assert {(r[3], r[5], r[6], r[8], r[9], r[10]) for r in birth} == {
        (
            "Thôn Đông Hòa",
            "A-001",
            "Dịch vụ công trực tuyến",
            "Chưa xong",
            "Thiếu giấy tờ",
            "H40.99-1",
        )
    }
    assert {r[4] for r in rows} == {"Nguyễn Văn Tình"}
    assert {r[14] for r in rows} == {labels.label(labels.REVIEW_STATES, "new")}
    assert {r[15] for r in birth} == {"Bà Lan cần mang giấy khai sinh"}
    [scam] = [r for r in rows if r[0] == str(walk_in)]
    assert (scam[3], scam[5], scam[8]) == ("Thôn Tây", "Khách vãng lai", "Xong")
    assert scam[15] == "'=1+1"  # not a formula when the spreadsheet opens it
    assert all(date.fromisoformat(r[1]) >= start for r in rows)

    xlsx = client.get(f"/console/exports/sessions.xlsx?{query}")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-disposition"].endswith(f'{start}_{end}.xlsx"')
    x_heading, *x_rows = read_xlsx(xlsx.content)
    assert list(x_heading) == heading
    assert len(x_rows) == len(rows)
    assert [r[0] for r in x_rows] == [r[0] for r in rows]
    assert all(isinstance(r[1], datetime) and isinstance(r[2], time) for r in x_rows)
    assert [[str(v) if v is not None else "" for v in r[3:11]] for r in x_rows] == [
        r[3:11] for r in rows
    ]
    assert [r[15] for r in x_rows if r[0] == str(walk_in)] == ["'=1+1"]

    with db.read() as s:
        audited = s.exec(select(AuditEvent).where(AuditEvent.action == "export.sessions")).all()
    assert [(e.detail["format"], e.detail["rows"], e.actor_id) for e in audited] == [
        ("csv", 7, world.coord_a.id),
        ("xlsx", 7, world.coord_a.id),
    ]


def recount(db: Database, start: date, end: date) -> dict[tuple[str, str], list[int]]:
    """The summary computed another way: straight from the rows, merges followed by hand."""
    low = datetime.combine(start, time(), exports.TZ)
    high = datetime.combine(end + timedelta(days=1), time(), exports.TZ)
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6)
    with db.read() as s:
        places = {v.id: v for v in s.exec(select(Village).where(Village.commune_code == COMMUNE_A))}
        skill_of = {sv.code: sv.skill for sv in s.exec(select(Service))}
        rows = s.exec(
            select(AssistanceSession).where(
                AssistanceSession.commune_code == COMMUNE_A,
                col(AssistanceSession.deleted_at).is_(None),
                col(AssistanceSession.occurred_at) >= low,
                col(AssistanceSession.occurred_at) < high,
            )
        ).all()
        for row in rows:
            village = places[row.village_id]
            while village.merged_into_id:
                village = places[village.merged_into_id]
            lines = s.exec(select(SessionService).where(SessionService.session_id == row.id)).all()
            groups = {skill_of[x.service_code] for x in lines} | {"all"}
            for skill in groups:
                mine = [x for x in lines if skill in ("all", skill_of[x.service_code])]
                for name in (village.name, "*"):
                    t = out[name, skill]
                    t[0] += 1
                    t[1] += row.people_helped
                    t[2] += row.review_state == "approved"
                    t[3] += sum(x.outcome == "done" for x in mine)
                    t[4] += sum(bool(x.dossier_code) for x in mine)
                    t[5] += row.follow_up_on is not None
    return out


def test_monthly_summary_matches_a_recount(client: TestClient, db: Database, world: World) -> None:
    with db.write() as s:
        old = villages.add_village(s, COMMUNE_A, "Thôn Cũ", s.get(Member, world.coord_a.id))
        old_id = old.id
    day = vn_today()
    log_sessions(
        db,
        world.vol_a,
        world.village_a,
        4,
        people_helped=3,
        services=[line("vneid_install"), line("dvc_birth", "not_finished", "H40.99-2")],
        follow_up_on=str(day + timedelta(days=3)),
    )
    approved = log_sessions(
        db, world.vol_a, world.village_a2, 2, services=[line("pay_electricity"), line("shop_buy")]
    )
    log_sessions(
        db,
        world.vol_a,
        old_id,
        3,
        services=[line("dvc_residence", dossier="G22.1-1"), line("safe_zalo")],
    )
    log_sessions(db, world.vol_a, world.village_a, occurred_at=when(days=50))  # outside
    log_sessions(db, world.vol_b, world.village_b, 2)  # another commune
    login(client, world.phone("coord_a"))
    for sid in approved:
        assert post(client, f"/console/sessions/{sid}/approve").status_code == 303
    # "Thôn Cũ" is merged afterwards: its sessions now count for Thôn Đông Hòa.
    post(client, f"/console/villages/{old_id}/merge", {"into": str(world.village_a)})
    query, start, end = period_query()

    response = client.get(f"/console/exports/summary.xlsx?{query}")
    assert response.status_code == 200
    filename = f"bao-cao-tong-hop_{COMMUNE_A}_{start}_{end}.xlsx"
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    sheet = read_xlsx(response.content)
    assert sheet[0][0] == exports.gettext("Digital skills support: summary")
    assert "Xã Đại Sơn" in sheet[1][0] and "Bắc Ninh" in sheet[1][0]
    header_row = exports.SUMMARY_FIRST_ROW - 1
    assert list(sheet[header_row]) == exports.summary_headings()
    assert sheet[header_row][0] == "Thôn, tổ dân phố"
    body = sheet[header_row + 1 :]

    skill_names = {labels.label(labels.SKILLS, k): k for k in labels.SKILLS}
    skill_names[exports.gettext("All skills")] = "all"
    village_names = {
        "Thôn Đông Hòa": "Thôn Đông Hòa",
        "Thôn Tây": "Thôn Tây",
        exports.gettext("Whole commune"): "*",
    }
    got = {(village_names[r[0]], skill_names[r[1]]): list(r[2:]) for r in body}
    assert len(body) == 3 * 8  # two villages and the commune, seven skills and "all"
    assert "Thôn Cũ" not in {r[0] for r in body}
    expected = recount(db, start, end)
    for key, values in got.items():
        assert values == expected.get(key, [0] * 6), key
    assert set(expected) <= set(got)
    # Spot checks, so that a recount with the same mistake cannot pass.
    assert got["Thôn Đông Hòa", "all"] == [7, 18, 0, 10, 7, 4]
    assert got["Thôn Đông Hòa", "public_services"] == [7, 18, 0, 3, 7, 4]
    assert got["Thôn Tây", "payment"] == [2, 4, 2, 2, 0, 0]
    assert got["*", "all"] == [9, 22, 2, 14, 7, 4]
    assert got["Thôn Tây", "safety"] == [0] * 6

    page = client.get(f"/console/exports?{query}")
    totals = page.text.split('<table class="totals">')[1]
    assert "<td>9</td>" in totals.split(exports.gettext("All skills"))[1]
    with db.read() as s:
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "export.summary")).all()
    assert event.detail == {"from": str(start), "to": str(end)}
    client.get(f"/console/exports/sessions.xlsx?{query}")
    audit = client.get("/console/audit").text
    day = f"{start.day}/{start.month}/{start.year}"  # as people write it, not 2026-11-05
    assert f"XLSX, {day} → {end.day}/{end.month}/{end.year}" in audit
    assert str(start) not in audit


def test_default_period_is_this_month_and_bad_periods_are_refused(
    client: TestClient, db: Database, world: World
) -> None:
    login(client, world.phone("coord_a"))
    month = vn_today().strftime("%Y-%m")
    summary = client.get("/console/exports/summary.xlsx")
    assert summary.status_code == 200
    assert f'bao-cao-tong-hop_{COMMUNE_A}_{month}.xlsx"' in summary.headers["content-disposition"]
    page = client.get("/console/exports")
    assert page.status_code == 200 and f'value="{month}-01"' in page.text

    backwards = client.get("/console/exports/sessions.csv?from=2026-03-31&to=2026-03-01")
    assert backwards.status_code == 400 and 'id="e-to"' in backwards.text
    too_long = client.get("/console/exports/sessions.csv?from=2024-01-01&to=2026-01-01")
    assert too_long.status_code == 400
    bad = client.get("/console/exports/sessions.xlsx?from=1/3/2026")
    assert bad.status_code == 400 and "Hãy nhập ngày theo dạng 2026-10-31." in bad.text
    assert client.get("/console/exports/other.pdf").status_code == 404
    assert client.get("/console/exports?from=x").status_code == 400
    with db.read() as s:
        assert len(s.exec(select(AuditEvent)).all()) == 1  # only the summary that was sent


def test_a_csv_for_excel_in_vietnamese_splits_at_semicolons(
    client: TestClient, db: Database, world: World
) -> None:
    log_sessions(db, world.vol_a, world.village_a, 2, notes="Ghi chú, có dấu phẩy; và chấm phẩy")
    query, start, end = period_query()
    login(client, world.phone("coord_a"))
    page = client.get(f"/console/exports?{query}")
    assert "/console/exports/sessions-semicolon.csv?" in page.text
    comma = client.get(f"/console/exports/sessions.csv?{query}")
    semi = client.get(f"/console/exports/sessions-semicolon.csv?{query}")
    assert semi.status_code == 200 and semi.headers["content-type"].startswith("text/csv")
    name = f"luot-ho-tro-excel_{COMMUNE_A}_{start}_{end}.csv"
    assert semi.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert semi.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(semi.content.decode("utf-8-sig")), delimiter=";"))
    assert rows == read_csv(comma.content)  # the same cells, the notes' ";" quoted
    assert semi.content.decode("utf-8-sig").splitlines()[0].count(";") == len(rows[0]) - 1
