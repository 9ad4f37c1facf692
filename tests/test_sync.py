"""Sync as plain functions over a real database: apply, replay, conflicts, rejections, pull."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlmodel import col, func, select

from server import accounts, sync
from server.db import Database
from server.models import (
    AppliedOp,
    AssistanceSession,
    Counter,
    Household,
    Member,
    RecordHistory,
    Role,
    SessionService,
)
from server.sync import store

from .conftest import COMMUNE_A, World


def when(**delta: float) -> str:
    """A time as a phone in Vietnam writes it (local time with its offset)."""
    vn = datetime.now(UTC).astimezone(sync.TZ) - timedelta(**delta)
    return vn.isoformat(timespec="seconds")


def session_data(village: uuid.UUID, **over: Any) -> dict[str, Any]:
    data = {
        "household_id": None,
        "village_id": str(village),
        "occurred_at": when(hours=1),
        "minutes": 20,
        "people_helped": 2,
        "services": [
            {"service": "vneid_install", "outcome": "done", "reason": None, "dossier_code": None},
            {
                "service": "dvc_birth",
                "outcome": "not_finished",
                "reason": "missing_papers",
                "dossier_code": "H40.99-240315-0001",
            },
        ],
        "guide_slug": None,
        "notes": "Bà Lan cần mang giấy khai sinh",
        "follow_up_on": None,
    }
    data.update(over)
    return data


def household_data(village: uuid.UUID, code: str, **over: Any) -> dict[str, Any]:
    data = {
        "village_id": str(village),
        "code": code,
        "head_name": "Nguyễn Thị Lan",
        "phone": "0912 345 678",
        "consent": True,
        "consent_at": when(hours=2),
        "skills": ["payment", "safety"],
    }
    data.update(over)
    return data


def op(entity: str, record_id: uuid.UUID, data: dict, base: int = 0, op_id=None) -> dict:
    return {
        "op_id": str(op_id or uuid.uuid4()),
        "entity": entity,
        "id": str(record_id),
        "base_version": base,
        "data": data,
    }


def push(db: Database, member: Member, ops: list[dict]) -> list[sync.Result]:
    with db.write() as s:
        return sync.apply_ops(s, member, ops)


def count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def counter(db: Database) -> int:
    with db.read() as s:
        row = s.get(Counter, "sync")
        return row.value if row else 0


def stored(db: Database, session_id: uuid.UUID) -> AssistanceSession:
    with db.read() as s:
        row = s.get(AssistanceSession, session_id)
        assert row is not None
        return row


def history(db: Database, record_id: uuid.UUID) -> list[RecordHistory]:
    with db.read() as s:
        stmt = select(RecordHistory).where(RecordHistory.record_id == record_id)
        return list(s.exec(stmt.order_by(col(RecordHistory.version))).all())


# --- Apply and replay -------------------------------------------------------------------------


def test_a_new_session_is_stored_with_its_services_history_and_seq(db, world: World) -> None:
    sid = uuid.uuid4()
    [result] = push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    assert (result.status, result.version, result.reason) == ("applied", 1, None)
    row = stored(db, sid)
    assert row.volunteer_id == world.vol_a.id and row.created_by == world.vol_a.id
    assert row.commune_code == COMMUNE_A and row.version == 1 and row.review_state == "new"
    assert row.seq == counter(db) and row.seq > 0
    assert count(db, SessionService, SessionService.session_id == sid) == 2
    [h] = history(db, sid)
    assert (h.version, h.member_id, h.conflict) == (1, world.vol_a.id, False)
    assert h.data["minutes"] == 20 and h.data["volunteer_id"] == str(world.vol_a.id)
    with db.read() as s:
        applied = s.get(AppliedOp, uuid.UUID(h.op_id.hex if h.op_id else ""))
    assert applied is not None and (applied.result, applied.version) == ("applied", 1)


def test_a_replayed_op_is_a_duplicate_and_changes_nothing(db, world: World) -> None:
    sid = uuid.uuid4()
    the_op = op("session", sid, session_data(world.village_a))
    assert push(db, world.vol_a, [the_op])[0].status == "applied"
    seq = counter(db)
    for _ in range(3):
        [again] = push(db, world.vol_a, [the_op])
        assert (again.status, again.version) == ("duplicate", 1)
    assert count(db, AssistanceSession) == 1
    assert count(db, AppliedOp) == 1
    assert len(history(db, sid)) == 1
    assert counter(db) == seq
    assert stored(db, sid).version == 1


def test_the_same_op_twice_in_one_batch_is_applied_once(db, world: World) -> None:
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    first, second = push(db, world.vol_a, [the_op, the_op])
    assert (first.status, second.status) == ("applied", "duplicate")
    assert second.version == 1
    assert count(db, AssistanceSession) == 1


def test_a_replay_is_a_duplicate_even_when_its_data_would_now_be_rejected(db, world) -> None:
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    push(db, world.vol_a, [the_op])
    the_op["data"]["minutes"] = 9999
    assert push(db, world.vol_a, [the_op])[0].status == "duplicate"


def test_the_database_decides_what_is_a_replay(db, world: World) -> None:
    """An op_id already in applied_op is a duplicate, whatever else exists: the claim is the
    INSERT that the database refuses, not a lookup of the record."""
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    with db.write() as s:
        s.add(
            AppliedOp(
                op_id=uuid.UUID(the_op["op_id"]),
                member_id=world.vol_a.id,
                entity="session",
                record_id=uuid.UUID(the_op["id"]),
                result="applied",
                version=7,
            )
        )
    assert [(r.status, r.version) for r in push(db, world.vol_a, [the_op])] == [("duplicate", 7)]
    assert count(db, AssistanceSession) == 0


def test_two_senders_of_the_same_op_at_once_apply_it_once(db, world: World) -> None:
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    start = threading.Barrier(2)
    statuses: list[str] = []

    def sender() -> None:
        start.wait()
        statuses.extend(r.status for r in push(db, world.vol_a, [the_op]))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["applied", "duplicate"]
    assert count(db, AssistanceSession) == 1 and count(db, RecordHistory) == 1


def test_results_echo_the_op_id_as_sent(db, world: World) -> None:
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    the_op["op_id"] = the_op["op_id"].upper()
    [r] = push(db, world.vol_a, [the_op])
    assert (r.op_id, r.status) == (the_op["op_id"], "applied")
    the_op["op_id"] = the_op["op_id"].lower()
    [again] = push(db, world.vol_a, [the_op])
    assert (again.op_id, again.status) == (the_op["op_id"], "duplicate")


def test_records_sent_back_from_memory_match_the_stored_ones(db, world: World) -> None:
    hid, sid = uuid.uuid4(), uuid.uuid4()
    ops = [
        op("household", hid, household_data(world.village_a, "A-5")),
        op("session", sid, session_data(world.village_a, household_id=str(hid), notes="mã 1234")),
    ]
    with db.write() as s:
        answer = sync.exchange(s, world.vol_a, 0, ops)
    with db.read() as s:
        stored_page = sync.pull(s, world.vol_a, 0)
    assert answer["changes"] == stored_page["changes"]
    assert answer["cursor"] == stored_page["cursor"] == counter(db)
    assert answer["changes"]["sessions"][0]["notes"] == "mã •••"


# --- Edits and conflicts ----------------------------------------------------------------------


def test_an_edit_on_the_current_version_is_applied(db, world: World) -> None:
    sid = uuid.uuid4()
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    changed = session_data(world.village_a2, minutes=45)
    [r] = push(db, world.vol_a, [op("session", sid, changed, base=1)])
    assert (r.status, r.version) == ("applied", 2)
    row = stored(db, sid)
    assert (row.minutes, row.village_id, row.conflict) == (45, world.village_a2, False)
    assert [h.version for h in history(db, sid)] == [1, 2]


def test_a_stale_edit_is_merged_field_by_field_and_flagged(db, world: World) -> None:
    sid = uuid.uuid4()
    base = session_data(world.village_a)
    push(db, world.vol_a, [op("session", sid, base)])
    seq_before = stored(db, sid).seq
    # The tablet changes the notes; then the phone, still on version 1, changes notes and minutes.
    tablet = {**base, "notes": "Đã hẹn thứ Hai"}
    phone = {**base, "notes": "Hẹn chiều thứ Ba", "minutes": 35}
    assert push(db, world.vol_a, [op("session", sid, tablet, base=1)])[0].version == 2
    [r] = push(db, world.vol_a, [op("session", sid, phone, base=1)])
    assert (r.status, r.version) == ("conflict", 3)
    row = stored(db, sid)
    assert row.conflict is True
    assert row.notes == "Đã hẹn thứ Hai"  # both changed it: the other side is kept
    assert row.minutes == 35  # only the phone changed it: applied
    assert row.seq > seq_before
    versions = history(db, sid)
    assert [(h.version, h.conflict) for h in versions] == [(1, False), (2, False), (3, True)]
    assert versions[1].data["notes"] == "Đã hẹn thứ Hai"
    assert versions[2].data["_client"]["notes"] == "Hẹn chiều thứ Ba"  # nothing is lost
    assert versions[2].data["_kept"] == ["notes"]


def test_creating_an_id_that_exists_goes_down_the_conflict_path(db, world: World) -> None:
    sid = uuid.uuid4()
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    [r] = push(db, world.vol_a, [op("session", sid, session_data(world.village_a, minutes=5))])
    assert (r.status, r.version) == ("conflict", 2)
    row = stored(db, sid)
    assert row.minutes == 20 and row.conflict is True


def test_only_the_author_edits_and_not_once_approved(db, world: World) -> None:
    sid = uuid.uuid4()
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    [r] = push(db, world.coord_a, [op("session", sid, session_data(world.village_a), base=1)])
    assert (r.status, r.reason) == ("rejected", "not_yours")
    with db.write() as s:
        row = s.get(AssistanceSession, sid)
        row.review_state, row.review_comment = "returned", "Thiếu mã hồ sơ"
        s.add(row)
    [r] = push(db, world.vol_a, [op("session", sid, session_data(world.village_a), base=1)])
    assert r.status == "applied" and stored(db, sid).review_state == "new"
    with db.write() as s:
        row = s.get(AssistanceSession, sid)
        row.review_state = "approved"
        s.add(row)
    delete = op("session", sid, {"deleted": True}, base=2)
    [r] = push(db, world.vol_a, [delete])
    assert (r.status, r.reason) == ("rejected", "approved")
    assert stored(db, sid).deleted_at is None and stored(db, sid).version == 2


def test_a_volunteer_deletes_an_own_session(db, world: World) -> None:
    sid = uuid.uuid4()
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a))])
    [r] = push(db, world.vol_a, [op("session", sid, {"deleted": True}, base=1)])
    assert (r.status, r.version) == ("applied", 2)
    assert stored(db, sid).deleted_at is not None
    with db.read() as s:
        page = sync.pull(s, world.vol_a, 0)
    assert page["changes"]["sessions"] == [{"id": str(sid), "deleted": True, "version": 2}]


# --- Rejections -------------------------------------------------------------------------------


def rejected(db: Database, member: Member, the_op: dict) -> sync.Result:
    before = (counter(db), count(db, AppliedOp), count(db, RecordHistory))
    [r] = push(db, member, [the_op])
    assert r.status == "rejected" and r.version is None
    assert (counter(db), count(db, AppliedOp), count(db, RecordHistory)) == before
    return r


def test_a_bad_outcome_is_rejected_with_the_field(db, world: World) -> None:
    data = session_data(world.village_a)
    data["services"][0]["outcome"] = "maybe"
    r = rejected(db, world.vol_a, op("session", uuid.uuid4(), data))
    assert r.reason == "invalid" and set(r.fields) == {"services.0.outcome"}
    assert count(db, AssistanceSession) == 0


def test_a_visit_in_the_future_is_rejected(db, world: World) -> None:
    r = rejected(
        db,
        world.vol_a,
        op("session", uuid.uuid4(), session_data(world.village_a, occurred_at=when(minutes=-30))),
    )
    assert r.reason == "invalid" and list(r.fields) == ["occurred_at"]


def test_more_rules_of_a_session(db, world: World) -> None:
    cases = {
        "minutes": session_data(world.village_a, minutes=601),
        "people_helped": session_data(world.village_a, people_helped=0),
        "occurred_at": session_data(world.village_a, occurred_at="2026-03-09T09:00:00"),
        "follow_up_on": session_data(
            world.village_a,
            occurred_at=when(days=3),
            follow_up_on=(datetime.now(UTC) - timedelta(days=5)).date().isoformat(),
        ),
        "services": session_data(world.village_a, services=[]),
        "services.0.reason": session_data(
            world.village_a, services=[{"service": "pay_vietqr", "outcome": "could_not"}]
        ),
        "services.0.service": session_data(
            world.village_a, services=[{"service": "teleport", "outcome": "done"}]
        ),
        "village_id": session_data(world.village_a, village_id=None),
    }
    for name, data in cases.items():
        r = rejected(db, world.vol_a, op("session", uuid.uuid4(), data))
        assert (r.reason, list(r.fields)) == ("invalid", [name]), name
        assert r.fields[name]
    old = session_data(world.village_a, occurred_at=when(days=400))
    too_old = rejected(db, world.vol_a, op("session", uuid.uuid4(), old)).fields["occurred_at"]
    soon = session_data(world.village_a, occurred_at=when(minutes=-30))
    too_new = rejected(db, world.vol_a, op("session", uuid.uuid4(), soon)).fields["occurred_at"]
    assert too_old and too_new and too_old != too_new
    # Times that cannot even be written in UTC are told apart the same way.
    for edge, message in (
        ("0001-01-01T00:00:00+05:00", too_old),
        ("9999-12-31T23:59:00-05:00", too_new),
    ):
        data = session_data(world.village_a, occurred_at=edge)
        r = rejected(db, world.vol_a, op("session", uuid.uuid4(), data))
        assert r.fields == {"occurred_at": message}, edge


def test_a_household_without_consent_is_rejected(db, world: World) -> None:
    for consent in (False, None, "true"):
        data = household_data(world.village_a, "A-001", consent=consent)
        r = rejected(db, world.vol_a, op("household", uuid.uuid4(), data))
        assert (r.reason, list(r.fields)) == ("no_consent", ["consent"])
    assert count(db, Household) == 0


def test_a_rejected_op_leaves_its_batch_neighbours_and_can_come_back_fixed(db, world) -> None:
    bad = op("session", uuid.uuid4(), session_data(world.village_a, minutes=-1))
    good = op("session", uuid.uuid4(), session_data(world.village_a))
    results = push(db, world.vol_a, [bad, good])
    assert [r.status for r in results] == ["rejected", "applied"]
    assert count(db, AssistanceSession) == 1
    bad["data"]["minutes"] = 10
    assert push(db, world.vol_a, [bad])[0].status == "applied"  # same op_id, now fixed


def test_another_communes_village_or_household_is_rejected(db, world: World) -> None:
    hid = uuid.uuid4()
    push(db, world.vol_b, [op("household", hid, household_data(world.village_b, "B-001"))])
    cases = [
        op("session", uuid.uuid4(), session_data(world.village_b)),
        op("session", uuid.uuid4(), session_data(world.village_a, household_id=str(hid))),
        op("household", uuid.uuid4(), household_data(world.village_b, "A-002")),
        op("household", hid, household_data(world.village_a, "B-001"), base=1),
    ]
    for the_op in cases:
        assert rejected(db, world.vol_a, the_op).reason == "other_commune"
    assert count(db, AssistanceSession) == 0 and count(db, Household) == 1


def test_a_forged_author_is_ignored(db, world: World) -> None:
    sid, hid = uuid.uuid4(), uuid.uuid4()
    forged = {"volunteer_id": str(world.vol_b.id), "created_by": str(world.coord_a.id)}
    results = push(
        db,
        world.vol_a,
        [
            op("household", hid, household_data(world.village_a, "a-7", **forged)),
            op("session", sid, session_data(world.village_a, household_id=str(hid), **forged)),
        ],
    )
    assert [r.status for r in results] == ["applied", "applied"]
    row = stored(db, sid)
    assert (row.volunteer_id, row.created_by, row.updated_by) == (world.vol_a.id,) * 3
    with db.read() as s:
        household = s.get(Household, hid)
    assert household.created_by == world.vol_a.id and household.consent_by == world.vol_a.id
    assert household.code == "A-7" and household.phone == "+84912345678"
    assert household.head_name_key == "nguyen thi lan"


def test_any_member_of_the_commune_edits_a_household_and_stale_edits_merge(db, world) -> None:
    hid = uuid.uuid4()
    base = household_data(world.village_a, "A-3")
    push(db, world.vol_a, [op("household", hid, base)])
    renamed = {**base, "head_name": "Trần Văn Bảy"}
    [r] = push(db, world.coord_a, [op("household", hid, renamed, base=1)])
    assert (r.status, r.version) == ("applied", 2)
    stale = {**base, "skills": ["shopping"], "head_name": "Trần Bảy"}
    [r] = push(db, world.vol_a, [op("household", hid, stale, base=1)])
    assert (r.status, r.version) == ("conflict", 3)
    with db.read() as s:
        row = s.get(Household, hid)
    assert (row.head_name, row.head_name_key) == ("Trần Văn Bảy", "tran van bay")
    assert row.skills == ["shopping"] and row.updated_by == world.vol_a.id
    assert row.created_by == world.vol_a.id and row.version == 3
    assert [h.conflict for h in history(db, hid)] == [False, False, True]


def test_a_household_code_is_used_once(db, world: World) -> None:
    push(db, world.vol_b, [op("household", uuid.uuid4(), household_data(world.village_b, "X-1"))])
    r = rejected(
        db, world.vol_a, op("household", uuid.uuid4(), household_data(world.village_a, "X-1"))
    )
    assert (r.reason, list(r.fields)) == ("code_taken", ["code"])


def test_notes_are_masked_before_they_are_stored(db, world: World) -> None:
    sid = uuid.uuid4()
    notes = "CCCD 001122334455, SĐT 0912 345 678\nmã OTP 482913"
    push(db, world.vol_a, [op("session", sid, session_data(world.village_a, notes=notes))])
    assert stored(db, sid).notes == "CCCD •••, SĐT 0912 345 678\nmã OTP •••"
    assert "001122334455" not in str(history(db, sid)[0].data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_value_in_any_field_is_answered_never_raised(db, world: World, data) -> None:
    """Whatever a broken or hostile client puts in an op, every op gets a result."""
    template = data.draw(
        st.sampled_from(
            [
                op("session", uuid.uuid4(), session_data(world.village_a)),
                op("household", uuid.uuid4(), household_data(world.village_a, "H-1")),
            ]
        )
    )
    the_op = json.loads(json.dumps(template))
    the_op["op_id"] = str(uuid.uuid4())
    where = data.draw(st.sampled_from([*the_op, *(f"data.{k}" for k in the_op["data"])]))
    value = data.draw(JSON)
    if where.startswith("data."):
        the_op["data"][where[5:]] = value
    else:
        the_op[where] = value
    results = push(db, world.vol_a, [the_op, data.draw(JSON)])
    assert len(results) == 2
    for r in results:
        assert r.status in ("applied", "conflict", "rejected")
        assert all(isinstance(m, str) and m for m in r.fields.values())
        assert isinstance(r.as_json()["message"], str | None)


# --- Pull -------------------------------------------------------------------------------------


def test_pull_gives_the_commune_and_own_records_only(db, world: World) -> None:
    ha, hb = uuid.uuid4(), uuid.uuid4()
    sa_, sb = uuid.uuid4(), uuid.uuid4()
    push(db, world.vol_a, [op("household", ha, household_data(world.village_a, "A-1"))])
    push(db, world.vol_a, [op("session", sa_, session_data(world.village_a))])
    push(db, world.vol_b, [op("household", hb, household_data(world.village_b, "B-1"))])
    push(db, world.vol_b, [op("session", sb, session_data(world.village_b))])
    with db.read() as s:
        a = sync.pull(s, world.vol_a, 0)
        b = sync.pull(s, world.vol_b, 0)
        coord_a = sync.pull(s, world.coord_a, 0)
    assert [h["id"] for h in a["changes"]["households"]] == [str(ha)]
    assert [x["id"] for x in a["changes"]["sessions"]] == [str(sa_)]
    assert {v["id"] for v in a["changes"]["villages"]} == {
        str(world.village_a),
        str(world.village_a2),
    }
    assert [h["id"] for h in b["changes"]["households"]] == [str(hb)]
    assert [x["id"] for x in b["changes"]["sessions"]] == [str(sb)]
    assert [v["id"] for v in b["changes"]["villages"]] == [str(world.village_b)]
    assert coord_a["changes"]["sessions"] == []  # the coordinator's console shows them, not sync
    assert a["cursor"] == b["cursor"] == counter(db) and not a["more"]
    session = a["changes"]["sessions"][0]
    assert session["review_state"] == "new" and session["version"] == 1
    assert session["services"][1]["dossier_code"] == "H40.99-240315-0001"
    with db.read() as s:
        again = sync.pull(s, world.vol_a, a["cursor"])
    assert again["changes"] == {"households": [], "sessions": [], "villages": []}


def test_pull_pages_by_seq(db, world: World) -> None:
    ids = [uuid.uuid4() for _ in range(7)]
    push(db, world.vol_a, [op("session", i, session_data(world.village_a)) for i in ids])
    seen, cursor, pages = [], 0, 0
    while True:
        with db.read() as s:
            page = sync.pull(s, world.vol_a, cursor, limit=3)
        pages += 1
        seen += [x["id"] for x in page["changes"]["sessions"]]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert seen == [str(i) for i in ids] and pages == 3
    assert cursor == counter(db)


def test_a_deleted_household_is_pulled_without_personal_data(db, world: World) -> None:
    hid = uuid.uuid4()
    push(db, world.vol_a, [op("household", hid, household_data(world.village_a, "A-9"))])
    with db.write() as s:
        seq = sync.next_seqs(s)
        s.execute(
            sa.update(Household)
            .where(col(Household.id) == hid)
            .values(deleted_at=datetime.now(UTC), seq=seq, head_name="", phone=None)
        )
    with db.read() as s:
        page = sync.pull(s, world.vol_a, seq - 1)
        boot = sync.bootstrap(s, world.vol_a)
    assert page["changes"]["households"] == [{"id": str(hid), "deleted": True}]
    assert boot["households"] == []


def test_village_renames_and_merges_reach_the_phone(db, world) -> None:
    """A phone that already synced hears of a village renamed or merged afterwards."""
    from server import sync as core
    from server import villages
    from server.models import Member, Village

    with db.read() as s:
        cursor = core.pull(s, s.get(Member, world.vol_a.id), 0)["cursor"]
    with db.write() as s:
        coord = s.get(Member, world.coord_a.id)
        villages.rename_village(s, s.get(Village, world.village_a), "Thôn Đông Hòa Mới", coord)
        villages.merge_village(
            s, s.get(Village, world.village_a2), s.get(Village, world.village_a), coord
        )
    with db.read() as s:
        changes = core.pull(s, s.get(Member, world.vol_a.id), cursor)["changes"]["villages"]
    by_id = {v["id"]: v for v in changes}
    assert by_id[str(world.village_a)]["name"] == "Thôn Đông Hòa Mới"
    assert by_id[str(world.village_a2)]["merged_into_id"] == str(world.village_a)
    assert str(world.village_b) not in by_id


def test_a_follow_up_given_away_leaves_the_first_phone_and_reaches_the_second(db, world) -> None:
    from datetime import date as _date

    from server import review
    from server.models import Member

    sid = uuid.uuid4()
    with db.write() as s:
        other = accounts.create_member(
            s,
            name="Lý Thị Hai",
            phone="0900000077",
            role=Role.volunteer,
            commune_code=world.vol_a.commune_code,
        )
    push(
        db,
        world.vol_a,
        [
            op(
                "session",
                sid,
                session_data(
                    world.village_a, follow_up_on=(_date.today() + timedelta(days=3)).isoformat()
                ),
            )
        ],
    )
    with db.read() as s:
        cursor = sync.pull(s, s.get(Member, world.vol_a.id), 0)["cursor"]
    with db.write() as s:
        review.reassign_follow_up(s, sid, s.get(Member, world.coord_a.id), other.id)
    with db.read() as s:
        first = sync.pull(s, s.get(Member, world.vol_a.id), cursor)["changes"]["sessions"]
        second = sync.pull(s, s.get(Member, other.id), 0)["changes"]["sessions"]
    assert [x["id"] for x in first] == [str(sid)] and first[0]["deleted"] is True
    assert [x["id"] for x in second] == [str(sid)] and "deleted" not in second[0]
    with db.write() as s:
        review.follow_up_done(s, sid, s.get(Member, world.coord_a.id))
    with db.read() as s:
        again = sync.pull(s, s.get(Member, other.id), 0)["changes"]["sessions"]
    assert again[0]["follow_up_done"] is True


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
    )
)
def test_a_batch_writes_times_as_every_other_writer_does(when: datetime) -> None:
    # Sync batches write their rows without SQLAlchemy's per-row work (server/sync/store.py);
    # a time must still read back, sort and compare as what the console and the triggers write.
    column = store.T_SESSION.c.occurred_at
    dialect = sqlite.dialect()
    convert = store._converter(column, dialect)
    assert convert is not None
    by_sqlalchemy = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert convert([when, None]) == [by_sqlalchemy(when), None]
