"""A volunteer closes a follow-up, or moves its day, from the phone: a "follow_up" sync op,
applied exactly once, that the coordinator's follow-ups page shows with who closed it and when."""

from __future__ import annotations

import uuid
from datetime import timedelta

from server import accounts, review, sync
from server.models import Member, ReviewState, Role
from server.periods import today_in_vietnam

from .conftest import login
from .test_sync import history, op, push, session_data, stored


def _day(days: int) -> str:
    return (today_in_vietnam() + timedelta(days=days)).isoformat()


def _visit(db, world, days: int | None = 3) -> uuid.UUID:
    sid = uuid.uuid4()
    follow = _day(days) if days is not None else None
    [r] = push(
        db, world.vol_a, [op("session", sid, session_data(world.village_a, follow_up_on=follow))]
    )
    assert r.status == "applied"
    return sid


def _pulled(db, world, sid: uuid.UUID) -> dict:
    with db.read() as s:
        sessions = sync.pull(s, s.get(Member, world.vol_a.id), 0)["changes"]["sessions"]
    return next(x for x in sessions if x["id"] == str(sid))


def test_a_follow_up_closed_on_the_phone_is_stored_once_with_who_and_when(db, world) -> None:
    sid = _visit(db, world)
    close = op("follow_up", sid, {"done": True}, base=1)
    [first] = push(db, world.vol_a, [close])
    [again] = push(db, world.vol_a, [close])  # the answer was lost: the phone sends it again
    assert (first.status, first.version) == ("applied", 2)
    assert (again.status, again.version) == ("duplicate", 2)
    row = stored(db, sid)
    assert row.follow_up_done_at is not None and row.follow_up_done_by == world.vol_a.id
    assert row.version == 2 and row.review_state == ReviewState.new
    assert [h.data.get("_action") for h in history(db, sid)] == [None, "follow_up.done"]
    assert _pulled(db, world, sid)["follow_up_done"] is True


def test_a_follow_up_moved_on_the_phone_keeps_the_visit_as_it_was(db, world) -> None:
    sid = _visit(db, world)
    before = stored(db, sid)
    [r] = push(db, world.vol_a, [op("follow_up", sid, {"follow_up_on": _day(10)}, base=1)])
    assert r.status == "applied"
    row = stored(db, sid)
    assert row.follow_up_on.isoformat() == _day(10) and row.follow_up_done_at is None
    assert (row.notes, row.minutes, row.occurred_at) == (
        before.notes,
        before.minutes,
        before.occurred_at,
    )
    assert _pulled(db, world, sid)["follow_up_on"] == _day(10)


def test_a_session_made_and_closed_offline_arrives_in_one_batch(db, world) -> None:
    sid = uuid.uuid4()
    ops = [
        op("session", sid, session_data(world.village_a, follow_up_on=_day(2))),
        op("follow_up", sid, {"follow_up_on": _day(5)}, base=1),
        op("follow_up", sid, {"done": True}, base=2),
    ]
    assert [r.status for r in push(db, world.vol_a, ops)] == ["applied"] * 3
    row = stored(db, sid)
    assert row.version == 3 and row.follow_up_on.isoformat() == _day(5)
    assert row.follow_up_done_by == world.vol_a.id


def test_an_approved_or_returned_visit_can_still_have_its_follow_up_closed(db, world) -> None:
    approved, returned = _visit(db, world), _visit(db, world)
    with db.write() as s:
        coordinator = s.get(Member, world.coord_a.id)
        review.approve(s, approved, coordinator)
        review.return_to_volunteer(s, returned, coordinator, "Thiếu mã hồ sơ")
    results = push(
        db,
        world.vol_a,
        [
            op("follow_up", approved, {"done": True}, 2),
            op("follow_up", returned, {"done": True}, 2),
        ],
    )
    assert [r.status for r in results] == ["applied", "applied"]
    assert stored(db, approved).review_state == ReviewState.approved
    assert stored(db, returned).review_state == ReviewState.returned  # still the volunteer's to fix


def test_what_a_follow_up_op_may_not_do(db, world) -> None:
    with db.write() as s:
        other = accounts.create_member(
            s,
            name="Lý Thị Hai",
            phone="0900000077",
            role=Role.volunteer,
            commune_code=world.vol_a.commune_code,
        )
    mine, none, closed = _visit(db, world), _visit(db, world, None), _visit(db, world)
    push(db, world.vol_a, [op("follow_up", closed, {"done": True}, 1)])
    cases = [
        (other, op("follow_up", mine, {"done": True}, 1), "not_yours"),
        (world.vol_b, op("follow_up", mine, {"done": True}, 1), "other_commune"),
        (world.vol_a, op("follow_up", uuid.uuid4(), {"done": True}), "not_found"),
        (world.vol_a, op("follow_up", none, {"done": True}, 1), "no_follow_up"),
        (world.vol_a, op("follow_up", closed, {"follow_up_on": _day(9)}, 2), "follow_up_closed"),
        (world.vol_a, op("follow_up", mine, {"follow_up_on": _day(-30)}, 1), "invalid"),
        (world.vol_a, op("follow_up", mine, {"follow_up_on": _day(400)}, 1), "invalid"),
        (world.vol_a, op("follow_up", mine, {"follow_up_on": "9/12/2026"}, 1), "invalid"),
        (world.vol_a, op("follow_up", mine, {}, 1), "invalid"),
        (world.vol_a, op("follow_up", mine, {"done": True}, 7), "bad_version"),
    ]
    for member, one, reason in cases:
        [r] = push(db, member, [one])
        assert (r.status, r.reason) == ("rejected", reason), (one["data"], r)
        assert r.as_json()["message"]
    row = stored(db, mine)
    assert (
        row.version == 1
        and row.follow_up_done_at is None
        and row.follow_up_on.isoformat() == _day(3)
    )


def test_the_coordinator_sees_who_closed_a_follow_up_and_when(client, db, world) -> None:
    by_phone, by_console = _visit(db, world), _visit(db, world)
    push(db, world.vol_a, [op("follow_up", by_phone, {"done": True}, 1)])
    with db.write() as s:
        review.follow_up_done(s, by_console, s.get(Member, world.coord_a.id))
    login(client, world.phone("coord_a"))
    page = client.get("/console/follow-ups?show=closed")
    assert page.status_code == 200
    html = page.text
    assert f'id="f-{by_phone}"' in html and f'id="f-{by_console}"' in html
    phone_item = html.split(f'id="f-{by_phone}"')[1].split("</li>")[0]
    console_item = html.split(f'id="f-{by_console}"')[1].split("</li>")[0]
    assert world.vol_a.name in phone_item and world.coord_a.name in console_item
    assert today_in_vietnam().strftime("%-d/%-m/%Y") in phone_item
    assert "Mark done" not in html and "Đánh dấu" not in html  # nothing to close on this tab
    still_open = client.get("/console/follow-ups").text
    assert f'id="f-{by_phone}"' not in still_open
