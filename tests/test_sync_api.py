"""/api/v1/bootstrap and /api/v1/sync over HTTP: the protocol the field app is written against."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from starlette.testclient import TestClient

from server.models import AppliedOp, AssistanceSession, AuthSession, Household, RecordHistory

from .conftest import World, csrf, login
from .test_sync import count, household_data, op, session_data, stored, when

SYNC = "/api/v1/sync"


def headers(client: TestClient, **extra: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf(client), **extra}


def send(client: TestClient, ops: list[dict], cursor: int = 0, status: int = 200) -> dict:
    response = client.post(SYNC, json={"cursor": cursor, "ops": ops}, headers=headers(client))
    assert response.status_code == status, response.text[:500]
    return response.json()


def send_raw(client: TestClient, body: bytes, **extra: str):
    hdrs = headers(client, **{"Content-Type": "application/json", **extra})
    return client.post(SYNC, content=body, headers=hdrs)


def assert_error(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and isinstance(error["fields"], dict)
    return error


def signed_in(client: TestClient, world: World, who: str = "vol_a") -> TestClient:
    login(client, world.phone(who))
    return client


# --- Applying over HTTP -----------------------------------------------------------------------


def test_sync_applies_an_op_and_returns_it_in_the_changes(client, db, world: World) -> None:
    signed_in(client, world)
    sid = uuid.uuid4()
    answer = send(client, [op("session", sid, session_data(world.village_a))])
    [result] = answer["results"]
    assert result["status"] == "applied" and result["version"] == 1
    assert result["reason"] is None and result["message"] is None and result["fields"] == {}
    [session] = answer["changes"]["sessions"]
    assert session["id"] == str(sid) and session["version"] == 1
    assert session["review_state"] == "new" and session["conflict"] is False
    assert answer["cursor"] == stored(db, sid).seq and answer["more"] is False
    assert {v["id"] for v in answer["changes"]["villages"]} == {
        str(world.village_a),
        str(world.village_a2),
    }


def test_a_replay_over_http_is_a_duplicate_three_times(client, db, world: World) -> None:
    signed_in(client, world)
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    cursor = send(client, [the_op])["cursor"]
    for _ in range(3):
        answer = send(client, [the_op], cursor)
        assert [(r["status"], r["version"]) for r in answer["results"]] == [("duplicate", 1)]
        assert answer["changes"]["sessions"] == [] and answer["cursor"] == cursor
    assert count(db, AssistanceSession) == 1
    assert count(db, RecordHistory) == 1


def test_a_stale_edit_over_http_is_a_conflict_flagged_for_the_coordinator(client, db, world):
    signed_in(client, world)
    sid = uuid.uuid4()
    base = session_data(world.village_a)
    send(client, [op("session", sid, base)])
    send(client, [op("session", sid, {**base, "people_helped": 3}, base=1)])
    answer = send(client, [op("session", sid, {**base, "people_helped": 4, "minutes": 50}, 1)])
    [result] = answer["results"]
    assert (result["status"], result["version"]) == ("conflict", 3)
    assert result["message"]
    [session] = answer["changes"]["sessions"]
    assert session["conflict"] is True and session["people_helped"] == 3
    assert session["minutes"] == 50
    assert count(db, RecordHistory, RecordHistory.record_id == sid) == 3


def test_rejections_over_http_say_why_in_the_users_language(client, db, world) -> None:
    signed_in(client, world)
    bad_enum = session_data(world.village_a)
    bad_enum["services"][0]["outcome"] = "maybe"
    future = session_data(world.village_a, occurred_at=when(hours=-2))
    no_consent = household_data(world.village_a, "A-1", consent=False)
    answer = send(
        client,
        [
            op("session", uuid.uuid4(), bad_enum),
            op("session", uuid.uuid4(), future),
            op("household", uuid.uuid4(), no_consent),
            op("session", uuid.uuid4(), session_data(world.village_b)),
        ],
    )
    got = [(r["status"], r["reason"], sorted(r["fields"])) for r in answer["results"]]
    assert got == [
        ("rejected", "invalid", ["services.0.outcome"]),
        ("rejected", "invalid", ["occurred_at"]),
        ("rejected", "no_consent", ["consent"]),
        ("rejected", "other_commune", ["village_id"]),
    ]
    assert all(r["message"] and r["version"] is None for r in answer["results"])
    assert count(db, AssistanceSession) == 0 and count(db, Household) == 0
    client.cookies.set("lang", "en")
    answer = send(client, [op("session", uuid.uuid4(), future)])
    assert answer["results"][0]["fields"]["occurred_at"] == "This time is in the future."


def test_a_household_of_another_commune_is_rejected_over_http(client, db, world) -> None:
    signed_in(client, world, "vol_b")
    hid = uuid.uuid4()
    send(client, [op("household", hid, household_data(world.village_b, "B-1"))])
    client.post("/logout", data={"csrf_token": csrf(client)})
    signed_in(client, world, "vol_a")
    data = session_data(world.village_a, household_id=str(hid))
    [result] = send(client, [op("session", uuid.uuid4(), data)])["results"]
    assert (result["status"], result["reason"]) == ("rejected", "other_commune")


def test_a_forged_author_over_http_is_ignored_and_notes_are_masked(client, db, world) -> None:
    signed_in(client, world)
    sid = uuid.uuid4()
    data = session_data(
        world.village_a,
        volunteer_id=str(world.vol_b.id),
        created_by=str(world.vol_b.id),
        notes="Số định danh 0011 2233 4455 của bà Tư",
    )
    answer = send(client, [op("session", sid, data)])
    assert answer["results"][0]["status"] == "applied"
    row = stored(db, sid)
    assert row.volunteer_id == world.vol_a.id and row.created_by == world.vol_a.id
    assert row.notes == "Số định danh ••• của bà Tư"
    assert answer["changes"]["sessions"][0]["notes"] == "Số định danh ••• của bà Tư"


def test_garbage_ops_are_rejected_one_by_one_never_a_500(client, db, world) -> None:
    signed_in(client, world)
    good = op("session", uuid.uuid4(), session_data(world.village_a))
    garbage: list[Any] = [
        1,
        "x",
        None,
        [],
        {"op_id": "nope"},
        {**good, "op_id": str(uuid.uuid4()), "entity": "guide"},
        {**good, "op_id": str(uuid.uuid4()), "base_version": -1},
        {**good, "op_id": str(uuid.uuid4()), "id": str(uuid.uuid4()), "data": None},
        op("session", uuid.uuid4(), {**session_data(world.village_a), "notes": 5}),
        op(
            "session",
            uuid.uuid4(),
            session_data(world.village_a, occurred_at="0001-01-01T00:00+05:00"),
        ),
        op("session", uuid.uuid4(), session_data(world.village_a, minutes=10**40)),
        op("session", uuid.uuid4(), session_data(world.village_a, notes="a\x00b" * 10)),
        op("household", uuid.uuid4(), household_data(world.village_a, "A-1", phone="12")),
        op("household", uuid.uuid4(), household_data(world.village_a, "a b", skills=["x"])),
    ]
    answer = send(client, [*garbage, good], cursor=10**30)
    statuses = [r["status"] for r in answer["results"]]
    assert len(statuses) == len(garbage) + 1
    assert statuses[-1] == "applied"
    assert statuses[:-1].count("rejected") == len(garbage) - 1  # the NUL bytes are dropped
    assert [r["op_id"] for r in answer["results"][:5]] == [None, None, None, None, "nope"]
    nul = stored(db, uuid.UUID(garbage[11]["id"]))
    assert "\x00" not in nul.notes


# --- Limits and errors ------------------------------------------------------------------------


def test_ops_sent_for_another_member_are_refused_and_nothing_is_written(client, db, world):
    """A phone that opened for volunteer A sends A's ops while B is signed in on it: 409, so
    that A's records are never written as B's; sent for B, they go."""
    signed_in(client, world, "vol_a")
    sid = uuid.uuid4()
    ops = [op("session", sid, session_data(world.village_a))]
    body = {"cursor": 0, "member": str(world.vol_b.id), "ops": ops}
    response = client.post(SYNC, json=body, headers=headers(client))
    error = assert_error(response, 409, "member_changed")
    assert "Người khác" in error["message"]
    assert count(db, AssistanceSession) == 0
    body["member"] = 12
    assert_error(client.post(SYNC, json=body, headers=headers(client)), 400, "bad_request")
    body["member"] = str(world.vol_a.id)
    answer = client.post(SYNC, json=body, headers=headers(client)).json()
    assert [r["status"] for r in answer["results"]] == ["applied"]
    assert stored(db, sid).volunteer_id == world.vol_a.id


def test_more_than_200_ops_is_413_and_nothing_is_written(client, db, world) -> None:
    signed_in(client, world)
    ops = [op("session", uuid.uuid4(), session_data(world.village_a)) for _ in range(201)]
    response = client.post(SYNC, json={"cursor": 0, "ops": ops}, headers=headers(client))
    assert_error(response, 413, "too_large")
    assert count(db, AssistanceSession) == 0
    assert len(send(client, ops[:200])["results"]) == 200


def test_more_than_256_kb_is_413_plain_or_gzipped(client, db, world) -> None:
    signed_in(client, world)
    body = json.dumps({"cursor": 0, "ops": [], "pad": "x" * (256 * 1024)}).encode()
    assert_error(send_raw(client, body), 413, "too_large")
    # Small on the wire, too large unpacked: a gzip bomb is stopped while unpacking.
    packed = gzip.compress(body)
    assert len(packed) < 4096
    assert_error(send_raw(client, packed, **{"Content-Encoding": "gzip"}), 413, "too_large")
    assert count(db, AssistanceSession) == 0


def test_ten_thousand_ops_in_one_batch_are_413_and_nothing_is_written(client, db, world) -> None:
    signed_in(client, world)
    real = [op("session", uuid.uuid4(), session_data(world.village_a)) for _ in range(10_000)]
    packed = gzip.compress(json.dumps({"cursor": 0, "ops": real}).encode())
    error = assert_error(send_raw(client, packed, **{"Content-Encoding": "gzip"}), 413, "too_large")
    assert error["message"] == "Dữ liệu gửi lên quá lớn. Hãy gửi ít hơn mỗi lần."
    # Ten thousand that fit in the byte limit are refused by their number.
    tiny = json.dumps({"cursor": 0, "ops": [{}] * 10_000}).encode()
    error = assert_error(send_raw(client, tiny), 413, "too_large")
    assert error["message"] == "Mỗi lần gửi tối đa 200 thay đổi."
    assert count(db, AssistanceSession) == 0 and count(db, AppliedOp) == 0


def test_one_op_id_twice_in_a_batch_is_400_and_nothing_is_written(client, db, world) -> None:
    """The phone's outbox never sends that; the two may differ, so neither is taken."""
    signed_in(client, world)
    first = op("session", uuid.uuid4(), session_data(world.village_a))
    other = op("session", uuid.uuid4(), session_data(world.village_a))
    again = {**first, "op_id": first["op_id"].upper(), "id": str(uuid.uuid4())}
    body = json.dumps({"cursor": 0, "ops": [first, other, again]}).encode()
    error = assert_error(send_raw(client, body), 400, "bad_request")
    assert error["message"] == "Một thay đổi có hai lần trong lần gửi này. Chưa lưu gì."
    assert list(error["fields"]) == ["ops.2.op_id"]
    assert count(db, AssistanceSession) == 0 and count(db, AppliedOp) == 0
    client.cookies.set("lang", "en")
    error = assert_error(send_raw(client, body), 400, "bad_request")
    assert error["fields"]["ops.2.op_id"] == "This change is in the batch twice."
    assert [r["status"] for r in send(client, [first, other])["results"]] == ["applied"] * 2


def test_a_phone_clock_years_ahead_is_rejected_op_by_op_and_stores_nothing(
    client, db, world
) -> None:
    """Each op stamped by a clock five years fast is rejected with the field and why, in
    the user's language; an op of the same batch with right times still goes, and the times
    the server keeps (created_at, seq) are its own."""
    signed_in(client, world)
    ahead = when(days=-5 * 365)
    session = session_data(world.village_a, occurred_at=ahead, created_at=ahead)
    household = household_data(world.village_a, "A-9", consent_at=ahead)
    good = op("session", uuid.uuid4(), session_data(world.village_a, updated_at=ahead))
    answer = send(
        client,
        [op("session", uuid.uuid4(), session), op("household", uuid.uuid4(), household), good],
    )
    got = [(r["status"], r["reason"], r["fields"]) for r in answer["results"]]
    assert got[:2] == [
        ("rejected", "invalid", {"occurred_at": "Thời gian này ở tương lai."}),
        ("rejected", "invalid", {"consent_at": "Thời gian này ở tương lai."}),
    ]
    assert got[2][0] == "applied"
    assert count(db, AssistanceSession) == 1 and count(db, Household) == 0
    row = stored(db, uuid.UUID(good["id"]))
    assert row.created_at < datetime.now(UTC) + timedelta(minutes=1)
    assert row.updated_at < datetime.now(UTC) + timedelta(minutes=1)


def test_malformed_bodies_are_400_json_errors(client, world) -> None:
    signed_in(client, world)
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000, b'{"ops": 5}'):
        assert_error(send_raw(client, body), 400, "bad_request")
    error = assert_error(send_raw(client, b'{"cursor": -1, "ops": []}'), 400, "bad_request")
    assert list(error["fields"]) == ["cursor"]
    bad_gzip = send_raw(client, b"not gzip at all", **{"Content-Encoding": "gzip"})
    assert_error(bad_gzip, 400, "bad_request")
    cut = gzip.compress(b'{"cursor": 0, "ops": []}')[:-10]
    assert_error(send_raw(client, cut, **{"Content-Encoding": "gzip"}), 400, "bad_request")
    form = client.post(SYNC, data={"cursor": "0"}, headers=headers(client))
    assert_error(form, 400, "bad_request")


def test_a_gzipped_body_is_accepted_and_the_answer_is_gzipped(client, db, world) -> None:
    signed_in(client, world)
    ops = [op("session", uuid.uuid4(), session_data(world.village_a)) for _ in range(20)]
    body = gzip.compress(json.dumps({"cursor": 0, "ops": ops}).encode())
    response = send_raw(client, body, **{"Content-Encoding": "gzip", "Accept-Encoding": "gzip"})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-encoding"] == "gzip"
    assert [r["status"] for r in response.json()["results"]] == ["applied"] * 20
    assert count(db, AssistanceSession) == 20


def test_without_the_csrf_header_sync_is_refused(client, db, world) -> None:
    signed_in(client, world)
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    response = client.post(SYNC, json={"cursor": 0, "ops": [the_op]})
    assert_error(response, 403, "csrf")
    assert count(db, AssistanceSession) == 0


def test_without_a_valid_session_sync_is_401_json(client, db, world) -> None:
    the_op = op("session", uuid.uuid4(), session_data(world.village_a))
    body = {"cursor": 0, "ops": [the_op]}
    assert_error(client.post(SYNC, json=body, headers=headers(client)), 401, "unauthorized")
    signed_in(client, world)
    with db.write() as s:
        s.execute(
            sa.update(AuthSession)
            .where(col(AuthSession.member_id) == world.vol_a.id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert_error(client.post(SYNC, json=body, headers=headers(client)), 401, "unauthorized")
    assert_error(client.get("/api/v1/bootstrap"), 401, "unauthorized")
    assert count(db, AssistanceSession) == 0


def test_a_member_without_a_commune_gets_403(client, world) -> None:
    signed_in(client, world, "admin")
    client.cookies.set("lang", "en")
    error = assert_error(client.get("/api/v1/bootstrap"), 403, "forbidden")
    assert error["message"] == "Only members of a commune can use the field app."
    response = client.post(SYNC, json={"cursor": 0, "ops": []}, headers=headers(client))
    assert_error(response, 403, "forbidden")


# --- What each member may see -----------------------------------------------------------------


def test_commune_b_never_receives_commune_a_records(client, db, world) -> None:
    signed_in(client, world, "vol_a")
    ha, sa_ = uuid.uuid4(), uuid.uuid4()
    send(
        client,
        [
            op("household", ha, household_data(world.village_a, "A-1")),
            op("session", sa_, session_data(world.village_a, household_id=str(ha))),
        ],
    )
    client.post("/logout", data={"csrf_token": csrf(client)})
    signed_in(client, world, "vol_b")
    hb = uuid.uuid4()
    answer = send(client, [op("household", hb, household_data(world.village_b, "B-1"))])
    text = json.dumps(answer)
    assert str(ha) not in text and str(sa_) not in text and str(world.village_a) not in text
    assert [h["id"] for h in answer["changes"]["households"]] == [str(hb)]
    assert answer["changes"]["sessions"] == []
    boot = client.get("/api/v1/bootstrap")
    assert boot.status_code == 200
    assert str(ha) not in boot.text and str(world.village_a) not in boot.text
    assert [h["id"] for h in boot.json()["households"]] == [str(hb)]
    assert boot.json()["commune"]["code"] == world.vol_b.commune_code
    # The coordinator of commune A pulls nobody's sessions and commune A's households only.
    client.post("/logout", data={"csrf_token": csrf(client)})
    signed_in(client, world, "coord_a")
    answer = send(client, [])
    assert [h["id"] for h in answer["changes"]["households"]] == [str(ha)]
    assert answer["changes"]["sessions"] == []


def test_a_first_start_gets_what_makes_it_usable_before_the_households(client, db, world) -> None:
    signed_in(client, world)
    send(
        client,
        [
            op("household", uuid.uuid4(), household_data(world.village_a, f"C-{i}"))
            for i in range(3)
        ],
    )
    core = client.get("/api/v1/bootstrap?part=core")
    assert core.status_code == 200
    data = core.json()
    assert "households" not in data and data["households_total"] == 3
    assert data["villages"] and data["services"] and data["csrf_token"]
    assert data["member"]["id"] == str(world.vol_a.id)
    assert core.headers["etag"] != client.get("/api/v1/bootstrap").headers["etag"]
    assert core.cookies["langso_member"] == str(world.vol_a.id)
    client.post("/logout", data={"csrf_token": csrf(client)})
    assert "langso_member" not in client.cookies  # signing out forgets who it was
    assert client.get("/api/v1/bootstrap?part=core").status_code == 401


def test_bootstrap_is_compact_cached_and_revalidated(client, db, world) -> None:
    signed_in(client, world)
    hid = uuid.uuid4()
    cursor = send(client, [op("household", hid, household_data(world.village_a, "A-1"))])["cursor"]
    response = client.get("/api/v1/bootstrap", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-cache"
    assert response.headers["content-encoding"] == "gzip"
    data = response.json()
    assert list(data) == [
        "member",
        "commune",
        "villages",
        "services",
        "households_total",
        "cursor",
        "households",
        "guides",
        "csrf_token",
        "session",
    ]
    assert data["households_total"] == len(data["households"]) == 1
    assert response.cookies["langso_member"] == str(world.vol_a.id)
    assert data["member"] == {
        "id": str(world.vol_a.id),
        "name": world.vol_a.name,
        "role": "volunteer",
        "commune": world.vol_a.commune_code,
    }
    assert data["commune"]["province"] and data["cursor"] == cursor
    assert data["csrf_token"] == csrf(client)
    assert {"code": "vneid_install", "skill": "vneid"}.items() <= data["services"][0].items()
    [household] = data["households"]
    assert household == {
        "id": str(hid),
        "village_id": str(world.village_a),
        "code": "A-1",
        "head_name": "Nguyễn Thị Lan",
        "phone": "+84912345678",
        "skills": ["payment", "safety"],
        "version": 1,
    }
    etag = response.headers["etag"]
    again = client.get("/api/v1/bootstrap", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    send(client, [op("household", uuid.uuid4(), household_data(world.village_a, "A-2"))])
    changed = client.get("/api/v1/bootstrap", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["households"]) == 2


def test_the_api_description_covers_sync(client) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/bootstrap"]["get"]["responses"]) == {"200", "304", "401", "403"}
    sync_doc = paths["/api/v1/sync"]["post"]
    assert {"200", "400", "401", "403", "413"} <= set(sync_doc["responses"])
    assert "requestBody" in sync_doc
