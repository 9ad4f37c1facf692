"""The coordinator's sessions pages: filters and paging, review (approve, return, approve many),
conflicts settled either way, follow-ups, member activity, and the walls between communes."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from server import accounts, sync
from server.db import Database
from server.models import (
    AssistanceSession,
    AuditEvent,
    Member,
    Notification,
    RecordHistory,
    Role,
)

from .conftest import COMMUNE_A, COMMUNE_B, World, login, post

SESSION_LINK = re.compile(r'href="/console/sessions/([0-9a-f-]{36})"')


# --- Helpers shared with the households and exports tests -------------------------------------


def when(**delta: float) -> str:
    """A time as a phone in Vietnam writes it (local time with its offset)."""
    vn = datetime.now(UTC).astimezone(sync.TZ) - timedelta(**delta)
    return vn.isoformat(timespec="seconds")


def vn_today() -> date:
    return datetime.now(sync.TZ).date()


def line(service: str, outcome: str = "done", dossier: str | None = None) -> dict[str, Any]:
    reason = None if outcome == "done" else "missing_papers"
    return {"service": service, "outcome": outcome, "reason": reason, "dossier_code": dossier}


def session_data(village: uuid.UUID, **over: Any) -> dict[str, Any]:
    data = {
        "household_id": None,
        "village_id": str(village),
        "occurred_at": when(hours=1),
        "minutes": 20,
        "people_helped": 2,
        "services": [line("vneid_install")],
        "guide_slug": None,
        "notes": "",
        "follow_up_on": None,
    }
    data.update(over)
    return data


def op(entity: str, record_id: uuid.UUID, data: dict, base: int = 0) -> dict[str, Any]:
    return {
        "op_id": str(uuid.uuid4()),
        "entity": entity,
        "id": str(record_id),
        "base_version": base,
        "data": data,
    }


def push(db: Database, member: Member, ops: list[dict[str, Any]]) -> list[sync.Result]:
    with db.write() as s:
        results = sync.apply_ops(s, member, ops)
    assert all(r.status in ("applied", "conflict") for r in results), results
    return results


def log_sessions(
    db: Database, member: Member, village: uuid.UUID, n: int = 1, **over: Any
) -> list[uuid.UUID]:
    """n sessions sent through sync, as the field app sends them."""
    ids = [uuid.uuid4() for _ in range(n)]
    push(db, member, [op("session", sid, session_data(village, **over)) for sid in ids])
    return ids


def add_household(
    db: Database,
    member: Member,
    village: uuid.UUID,
    code: str,
    head_name: str = "Nguyễn Thị Lan",
    phone: str | None = "0912 345 678",
) -> uuid.UUID:
    hid = uuid.uuid4()
    data = {
        "village_id": str(village),
        "code": code,
        "head_name": head_name,
        "phone": phone,
        "consent": True,
        "consent_at": when(hours=3),
        "skills": ["payment"],
    }
    push(db, member, [op("household", hid, data)])
    return hid


def stored(db: Database, session_id: uuid.UUID) -> AssistanceSession:
    with db.read() as s:
        row = s.get(AssistanceSession, session_id)
        assert row is not None
        return row


def listed(html: str) -> set[str]:
    return set(SESSION_LINK.findall(html))


def pulled(db: Database, member: Member, cursor: int) -> dict[str, dict[str, Any]]:
    with db.read() as s:
        changes = sync.pull(s, member, cursor)["changes"]["sessions"]
    return {item["id"]: item for item in changes}


def cursor(db: Database) -> int:
    with db.read() as s:
        return sync.current_cursor(s)


# --- Filters and paging -----------------------------------------------------------------------


def test_filters_and_paging(client: TestClient, db: Database, world: World) -> None:
    many = log_sessions(db, world.vol_a, world.village_a, 52)
    filed = log_sessions(
        db,
        world.vol_a,
        world.village_a2,
        3,
        services=[line("dvc_birth", "not_finished", "H40.99-240315-0001"), line("safe_scam")],
    )
    old = log_sessions(db, world.vol_a, world.village_a, 2, occurred_at=when(days=40))
    log_sessions(db, world.vol_b, world.village_b, 2)
    login(client, world.phone("coord_a"))

    first = client.get("/console/sessions")
    assert first.status_code == 200
    assert len(listed(first.text)) == 50 and first.text.count('name="ids"') == 50
    second = client.get("/console/sessions?page=2")
    assert len(listed(second.text)) == 7
    assert listed(first.text) | listed(second.text) == {str(i) for i in many + filed + old}
    assert client.get("/console/sessions?page=99").status_code == 200  # clamped, not an error

    by_village = client.get(f"/console/sessions?village={world.village_a2}")
    assert listed(by_village.text) == {str(i) for i in filed}
    with_dossier = client.get("/console/sessions?dossier=yes&service=dvc_birth")
    assert listed(with_dossier.text) == {str(i) for i in filed}
    not_finished = client.get("/console/sessions?outcome=not_finished&service=dvc_birth")
    assert listed(not_finished.text) == {str(i) for i in filed}
    assert listed(client.get("/console/sessions?outcome=could_not").text) == set()
    assert len(listed(client.get("/console/sessions?dossier=no").text)) == 50  # page 1 of 54

    day = vn_today()
    recent = client.get(f"/console/sessions?from={day - timedelta(days=10)}&to={day}")
    assert str(old[0]) not in recent.text
    long_ago = day - timedelta(days=40)
    back_then = client.get(f"/console/sessions?from={long_ago - timedelta(days=1)}&to={long_ago}")
    assert listed(back_then.text) == {str(i) for i in old}

    someone = client.get(f"/console/sessions?volunteer={world.coord_a.id}")
    assert listed(someone.text) == set()

    bad_date = client.get("/console/sessions?from=31/12/2025")
    assert bad_date.status_code == 400 and "Hãy nhập ngày theo dạng 2026-10-31." in bad_date.text
    other_village = client.get(f"/console/sessions?village={world.village_b}")
    assert other_village.status_code == 400 and not listed(other_village.text)
    assert client.get("/console/sessions?outcome=maybe").status_code == 400
    assert "Giá trị này không được phép." in client.get("/console/sessions?state=x").text


# --- Review -----------------------------------------------------------------------------------


def test_approve_and_return_with_a_comment(client: TestClient, db: Database, world: World) -> None:
    [sid] = log_sessions(db, world.vol_a, world.village_a)
    start = cursor(db)
    login(client, world.phone("coord_a"))

    empty = post(client, f"/console/sessions/{sid}/return", {"comment": "   "})
    assert empty.status_code == 400
    assert "Hãy ghi rõ tổ viên cần sửa gì." in empty.text
    assert (stored(db, sid).review_state, stored(db, sid).version) == ("new", 1)
    long = post(client, f"/console/sessions/{sid}/return", {"comment": "x" * 1001})
    assert long.status_code == 400 and "Tối đa 1000 ký tự." in long.text
    assert 'name="comment"' in long.text and "x" * 1001 in long.text  # what was typed stays

    comment = "Thiếu mã hồ sơ, bổ sung giúp nhé"
    returned = post(client, f"/console/sessions/{sid}/return", {"comment": comment})
    assert returned.status_code == 303
    row = stored(db, sid)
    assert (row.review_state, row.review_comment, row.version) == ("returned", comment, 2)
    assert row.seq > start
    with db.read() as s:
        [note] = s.exec(select(Notification).where(Notification.kind == "session_returned")).all()
        assert note.member_id == world.vol_a.id
        assert note.payload == {"session_id": str(sid), "comment": comment}
    phone = pulled(db, world.vol_a, start)
    assert phone[str(sid)]["review_state"] == "returned"
    assert phone[str(sid)]["review_comment"] == comment
    assert comment in client.get(f"/console/sessions/{sid}").text

    approved = post(client, f"/console/sessions/{sid}/approve")
    assert approved.status_code == 303
    row = stored(db, sid)
    assert (row.review_state, row.reviewed_by, row.version) == ("approved", world.coord_a.id, 3)
    with db.read() as s:
        actions = s.exec(
            select(AuditEvent.action)
            .where(AuditEvent.target_id == str(sid))
            .order_by(col(AuditEvent.id))
        ).all()
        versions = s.exec(select(RecordHistory.version).where(RecordHistory.record_id == sid)).all()
    assert actions == ["session.returned", "session.approved"]
    assert sorted(versions) == [1, 2, 3]  # every version is in history
    # The phone can no longer change it.
    with db.write() as s:
        [result] = sync.apply_ops(
            s, world.vol_a, [op("session", sid, session_data(world.village_a), base=3)]
        )
    assert (result.status, result.reason) == ("rejected", "approved")


def test_bulk_approve(client: TestClient, db: Database, world: World) -> None:
    ids = log_sessions(db, world.vol_a, world.village_a, 3)
    [other] = log_sessions(db, world.vol_b, world.village_b)
    login(client, world.phone("coord_a"))
    page = client.get("/console/sessions")
    assert all(f'name="ids" value="{i}"' in page.text for i in ids)

    nothing = post(client, "/console/sessions/approve", {})
    assert nothing.status_code == 400 and 'class="alert"' in nothing.text

    # One id of another commune: nothing at all is approved.
    mixed = post(client, "/console/sessions/approve", {"ids": [*map(str, ids), str(other)]})
    assert mixed.status_code == 404
    assert {stored(db, i).review_state for i in ids} == {"new"}

    done = post(
        client,
        "/console/sessions/approve",
        {"ids": [str(i) for i in ids[:2]], "back": "village=" + str(world.village_a) + "&x=1"},
    )
    assert done.status_code == 303
    location = done.headers["location"]
    assert "approved=2" in location and f"village={world.village_a}" in location
    assert "x=1" not in location
    assert [stored(db, i).review_state for i in ids] == ["approved", "approved", "new"]
    assert stored(db, other).review_state == "new"
    again = post(client, "/console/sessions/approve", {"ids": [str(i) for i in ids]})
    assert "approved=1" in again.headers["location"] and "skipped=2" in again.headers["location"]
    assert post(client, "/console/sessions/approve", {"ids": ["not-an-id"]}).status_code == 404


# --- Conflicts --------------------------------------------------------------------------------


def make_conflict(db: Database, world: World) -> uuid.UUID:
    """The phone edits version 1 after the server moved on to version 2 (as in test_sync_api)."""
    sid = uuid.uuid4()
    base = session_data(world.village_a)
    push(db, world.vol_a, [op("session", sid, base)])
    push(db, world.vol_a, [op("session", sid, {**base, "people_helped": 3}, base=1)])
    [r] = push(
        db, world.vol_a, [op("session", sid, {**base, "people_helped": 4, "minutes": 50}, base=1)]
    )
    assert r.status == "conflict"
    row = stored(db, sid)
    assert (row.conflict, row.people_helped, row.minutes) == (True, 3, 50)
    return sid


def versions_table(html: str) -> str:
    match = re.search(r'<table class="versions">(.*?)</table>', html, re.S)
    assert match, "no side-by-side table"
    return match.group(1)


@pytest.mark.parametrize(("keep", "people"), [("client", 4), ("server", 3)])
def test_conflict_shown_side_by_side_and_resolved(
    client: TestClient, db: Database, world: World, keep: str, people: int
) -> None:
    sid = make_conflict(db, world)
    login(client, world.phone("coord_a"))
    assert listed(client.get("/console/sessions?state=conflict").text) == {str(sid)}
    page = client.get(f"/console/sessions/{sid}")
    table = versions_table(page.text)
    assert "Số người được giúp" in table
    assert re.search(r"<td>3</td>\s*<td>4</td>", table)  # server now, then the phone's
    assert "Thời gian" not in table  # minutes did not clash: both sides have 50

    refused = post(client, f"/console/sessions/{sid}/approve")
    assert refused.status_code == 400 and stored(db, sid).review_state == "new"
    assert post(client, f"/console/sessions/{sid}/resolve", {"keep": "x"}).status_code == 400

    start = cursor(db)
    resolved = post(client, f"/console/sessions/{sid}/resolve", {"keep": keep})
    assert resolved.status_code == 303
    row = stored(db, sid)
    assert (row.conflict, row.people_helped, row.minutes, row.version) == (False, people, 50, 4)
    assert row.seq > start
    phone = pulled(db, world.vol_a, start)[str(sid)]
    assert (phone["conflict"], phone["people_helped"]) == (False, people)
    with db.read() as s:
        last = s.exec(
            select(RecordHistory)
            .where(RecordHistory.record_id == sid)
            .order_by(col(RecordHistory.id).desc())
        ).first()
        event = s.exec(
            select(AuditEvent).where(AuditEvent.action == "session.conflict_resolved")
        ).one()
    assert last.version == 4 and last.data["people_helped"] == people
    assert last.data["_action"] == "session.conflict_resolved"
    assert event.detail == {"kept": keep}
    assert 'class="versions"' not in client.get(f"/console/sessions/{sid}").text
    again = post(client, f"/console/sessions/{sid}/resolve", {"keep": keep})
    assert again.status_code == 400 and stored(db, sid).version == 4
    assert post(client, f"/console/sessions/{sid}/approve").status_code == 303


# --- Follow-ups -------------------------------------------------------------------------------


def test_follow_ups_reassign_and_done(client: TestClient, db: Database, world: World) -> None:
    day = vn_today()
    [late] = log_sessions(
        db,
        world.vol_a,
        world.village_a,
        occurred_at=when(days=3),
        follow_up_on=str(day - timedelta(days=1)),
    )
    [soon] = log_sessions(
        db, world.vol_a, world.village_a2, follow_up_on=str(day + timedelta(days=3))
    )
    [later] = log_sessions(
        db, world.vol_a, world.village_a, follow_up_on=str(day + timedelta(days=30))
    )
    log_sessions(db, world.vol_b, world.village_b, follow_up_on=str(day + timedelta(days=1)))
    with db.write() as s:
        helper = accounts.create_member(
            s,
            name="Trần Văn Hai",
            phone="0900000009",
            role=Role.volunteer,
            commune_code=COMMUNE_A,
            password=None,
        )
    login(client, world.phone("coord_a"))

    page = client.get("/console/follow-ups")
    assert page.status_code == 200
    assert listed(page.text) == {str(late), str(soon)}  # due within a week; not the later one
    assert "Quá hạn từ" in page.text and "Thôn Đông Hòa" in page.text and "Thôn Tây" in page.text
    by_volunteer = client.get("/console/follow-ups?by=volunteer")
    assert "Nguyễn Văn Tình" in by_volunteer.text and listed(by_volunteer.text) == {
        str(late),
        str(soon),
    }
    assert str(later) not in page.text

    start = cursor(db)
    elsewhere = post(
        client, f"/console/follow-ups/{late}/reassign", {"volunteer": str(world.vol_b.id)}
    )
    assert elsewhere.status_code == 400 and stored(db, late).volunteer_id == world.vol_a.id
    garbage = post(client, f"/console/follow-ups/{late}/reassign", {"volunteer": "x"})
    assert garbage.status_code == 400

    moved = post(client, f"/console/follow-ups/{late}/reassign", {"volunteer": str(helper.id)})
    assert moved.status_code == 303
    row = stored(db, late)
    assert row.volunteer_id == helper.id and row.version == 2 and row.seq > start
    # The new volunteer's phone gets the session at its next sync; the old one is told to drop it.
    assert str(late) in pulled(db, helper, start)
    assert pulled(db, world.vol_a, start)[str(late)]["deleted"] is True
    with db.read() as s:
        notes = {
            (n.member_id, n.kind)
            for n in s.exec(select(Notification).where(col(Notification.kind).startswith("follow")))
        }
    assert notes == {(helper.id, "follow_up_assigned"), (world.vol_a.id, "follow_up_reassigned")}
    # The new volunteer may now edit it; the old one may not.
    with db.write() as s:
        [mine] = sync.apply_ops(
            s,
            helper,
            [
                op(
                    "session",
                    late,
                    session_data(world.village_a, occurred_at=when(days=3), notes="Đã gọi lại"),
                    base=2,
                )
            ],
        )
        [theirs] = sync.apply_ops(
            s, world.vol_a, [op("session", late, session_data(world.village_a), base=3)]
        )
    assert mine.status == "applied" and (theirs.status, theirs.reason) == ("rejected", "not_yours")

    closed = post(client, f"/console/follow-ups/{soon}/done", {"by": "volunteer"})
    assert closed.status_code == 303 and "by=volunteer" in closed.headers["location"]
    assert stored(db, soon).follow_up_done_at is not None and stored(db, soon).version == 2
    assert str(soon) not in client.get("/console/follow-ups").text
    assert post(client, f"/console/follow-ups/{soon}/done").status_code == 400  # already closed
    with db.read() as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "follow_up.done")).one()


# --- Member activity --------------------------------------------------------------------------


def test_members_page_shows_this_months_activity(
    client: TestClient, db: Database, world: World
) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-001")
    log_sessions(db, world.vol_a, world.village_a, 2, household_id=str(hh))
    log_sessions(db, world.vol_a, world.village_a, 1)  # a walk-in: no household
    login(client, world.phone("coord_a"))
    page = client.get("/console/members")
    row = re.search(r"Nguyễn Văn Tình.*?</tr>", page.text, re.S)
    assert row
    cell = re.search(r'<td class="activity">(.*?)</td>', row.group(0), re.S)
    assert cell and re.findall(r"\d+", cell.group(1)) == ["3", "1"]


# --- Scope ------------------------------------------------------------------------------------


def test_coordinator_of_a_never_sees_commune_b(
    client: TestClient, db: Database, world: World
) -> None:
    day = vn_today()
    hb = add_household(db, world.vol_b, world.village_b, "B-001", "Vũ Thị Bình", "0987 654 321")
    [sb] = log_sessions(
        db, world.vol_b, world.village_b, household_id=str(hb), follow_up_on=str(day)
    )
    [sa] = log_sessions(db, world.vol_a, world.village_a, follow_up_on=str(day))
    login(client, world.phone("coord_a"))
    for path in (
        f"/console/sessions/{sb}",
        f"/console/households/{hb}",
        f"/console/households/{hb}/card",
        f"/console/households/{hb}/export",
        f"/console/households/{hb}/export.json",
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/console/sessions/{sb}/approve",
        f"/console/follow-ups/{sb}/done",
        f"/console/households/{hb}/erase",
    ):
        assert post(client, path, {"confirm": "B-001"}).status_code == 404, path
    assert stored(db, sb).review_state == "new" and stored(db, sb).follow_up_done_at is None

    lists = [
        client.get("/console/sessions").text,
        client.get("/console/households?q=binh").text,
        client.get("/console/households").text,
        client.get("/console/follow-ups").text,
        client.get("/console/exports").text,
        client.get("/console/sessions?commune=00004").text,  # the parameter is the admin's only
    ]
    for html in lists:
        assert str(sb) not in html and str(hb) not in html and "Vũ Thị Bình" not in html
    assert str(sa) in lists[0]
    csv_text = client.get("/console/exports/sessions.csv?commune=00004").content.decode("utf-8-sig")
    assert str(sa) in csv_text and str(sb) not in csv_text and "Tổ dân phố 1" not in csv_text

    # The admin works on the communes of the own province only.
    client.cookies.clear()
    login(client, world.phone("admin"))
    assert client.get(f"/console/sessions?commune={COMMUNE_B}").status_code == 403
    assert client.get(f"/console/sessions/{sb}").status_code == 404
    assert client.get(f"/console/exports/sessions.csv?commune={COMMUNE_B}").status_code == 403
    mine = client.get(f"/console/sessions?commune={COMMUNE_A}")
    assert mine.status_code == 200 and listed(mine.text) == {str(sa)}
    assert post(client, f"/console/sessions/{sa}/approve").status_code == 303
    assert stored(db, sa).review_state == "approved"


NEW_ROUTES = [
    ("GET", "/console/sessions"),
    ("POST", "/console/sessions/approve"),
    ("GET", "/console/sessions/{id}"),
    ("POST", "/console/sessions/{id}/approve"),
    ("POST", "/console/sessions/{id}/return"),
    ("POST", "/console/sessions/{id}/resolve"),
    ("GET", "/console/follow-ups"),
    ("POST", "/console/follow-ups/{id}/reassign"),
    ("POST", "/console/follow-ups/{id}/done"),
    ("GET", "/console/households"),
    ("GET", "/console/households/{hh}"),
    ("GET", "/console/households/{hh}/card"),
    ("GET", "/console/households/{hh}/export"),
    ("GET", "/console/households/{hh}/export.json"),
    ("POST", "/console/households/{hh}/erase"),
    ("GET", "/console/exports"),
    ("GET", "/console/exports/sessions.csv"),
    ("GET", "/console/exports/sessions.xlsx"),
    ("GET", "/console/exports/summary.xlsx"),
    ("GET", "/console/audit"),
]


def test_a_volunteer_gets_403_on_every_console_route(
    client: TestClient, db: Database, world: World
) -> None:
    hh = add_household(db, world.vol_a, world.village_a, "A-002")
    [sid] = log_sessions(
        db, world.vol_a, world.village_a, household_id=str(hh), follow_up_on=str(vn_today())
    )
    login(client, world.phone("vol_a"))
    for method, template in NEW_ROUTES:
        path = template.replace("{id}", str(sid)).replace("{hh}", str(hh))
        response = client.get(path) if method == "GET" else post(client, path, {"confirm": "A-002"})
        assert response.status_code == 403, (method, path)
    row = stored(db, sid)
    assert (row.review_state, row.version, row.follow_up_done_at) == ("new", 1, None)


ODD_QUERIES = [
    "/console/sessions?page=-3",
    "/console/sessions?page=abc",
    "/console/sessions?to=9999-12-31",
    "/console/sessions?from=0001-01-01",
    "/console/sessions?from=2026-02-30",
    "/console/sessions?volunteer=%00",
    "/console/sessions?village=" + "x" * 500,
    "/console/sessions/not-a-uuid",
    "/console/households?q=" + "%25_" * 40,
    "/console/households?page=1e9",
    "/console/households/not-a-uuid/card",
    "/console/follow-ups?by=%3Cscript%3E",
    "/console/exports?from=9999-12-31&to=9999-12-31",
    "/console/exports/sessions.csv?from=2026-01-01&to=",
    "/console/exports/..%2F..%2Fetc%2Fpasswd",
    "/console/audit?action=%27%3B--&page=0",
    "/console/audit?from=0001-01-01",
]


def test_odd_input_never_breaks_a_page(client: TestClient, db: Database, world: World) -> None:
    log_sessions(db, world.vol_a, world.village_a)
    login(client, world.phone("coord_a"))
    statuses = {}
    for path in ODD_QUERIES:
        response = client.get(path)
        assert "Traceback" not in response.text
        statuses[path] = response.status_code
    assert statuses == {
        "/console/sessions?page=-3": 200,
        "/console/sessions?page=abc": 200,
        "/console/sessions?to=9999-12-31": 400,
        "/console/sessions?from=0001-01-01": 400,
        "/console/sessions?from=2026-02-30": 400,
        "/console/sessions?volunteer=%00": 400,
        "/console/sessions?village=" + "x" * 500: 400,
        "/console/sessions/not-a-uuid": 404,
        "/console/households?q=" + "%25_" * 40: 200,
        "/console/households?page=1e9": 200,
        "/console/households/not-a-uuid/card": 404,
        "/console/follow-ups?by=%3Cscript%3E": 200,
        "/console/exports?from=9999-12-31&to=9999-12-31": 400,
        "/console/exports/sessions.csv?from=2026-01-01&to=": 400,  # the last day is missing
        "/console/exports/..%2F..%2Fetc%2Fpasswd": 404,
        "/console/audit?action=%27%3B--&page=0": 200,
        "/console/audit?from=0001-01-01": 400,
    }
    too_long = post(client, f"/console/sessions/{uuid.uuid4()}/return", {"comment": "x" * 5000})
    assert too_long.status_code == 404
