"""Text that cannot be read or stored (a lone UTF-16 surrogate, bytes that are not UTF-8, NUL)
is refused where it enters, in the user's language, with nothing half-saved and never a 500."""

from __future__ import annotations

import json
import uuid

from sqlmodel import func, select
from starlette.testclient import TestClient

from server.db import Database
from server.models import AppliedOp, Household, Village

from .conftest import COMMUNE_A, World, csrf, login
from .test_sync import household_data, op, session_data
from .test_sync_api import SYNC, headers

MESSAGE = "Có chữ không đọc được trong nội dung gửi lên. Hãy gõ lại."


def sync_raw(client: TestClient, body: dict) -> dict:
    """POST the body as JSON with \\uXXXX escapes, as a broken phone or a script would."""
    raw = json.dumps(body).encode()  # ensure_ascii: a lone surrogate is written "\ud800"
    hdrs = headers(client, **{"Content-Type": "application/json"})
    response = client.post(SYNC, content=raw, headers=hdrs)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_a_lone_surrogate_in_a_record_refuses_that_record_only(
    client: TestClient, db: Database, world: World
) -> None:
    login(client, world.phone("vol_a"))
    good = op("session", uuid.uuid4(), session_data(world.village_a, notes="Bà Lan 😊"))
    bad_code = op("household", uuid.uuid4(), household_data(world.village_a, "A-\ud800"))
    bad_name = op("household", uuid.uuid4(), household_data(world.village_a, "A-2"))
    bad_name["data"]["head_name"] = "Lan \udc00"
    bad_op_id = {**op("session", uuid.uuid4(), session_data(world.village_a)), "op_id": "x\ud800"}
    ops = [bad_code, good, bad_name, bad_op_id]
    for attempt in range(2):  # sent again, the answer is the same and nothing more is stored
        answer = sync_raw(client, {"cursor": 0, "ops": ops})
        results = answer["results"]
        assert [r["status"] for r in results] == [
            "rejected",
            "applied" if attempt == 0 else "duplicate",
            "rejected",
            "rejected",
        ]
        assert results[0]["fields"] == {"code": MESSAGE}
        assert results[2]["fields"] == {"head_name": MESSAGE}
        assert results[3]["op_id"] is None and results[3]["fields"] == {"op_id": MESSAGE}
        assert results[0]["op_id"] == bad_code["op_id"]
    with db.read() as s:
        assert s.exec(select(func.count()).select_from(Household)).one() == 0
        assert s.exec(select(func.count()).select_from(AppliedOp)).one() == 1  # only the good one


def test_a_lone_surrogate_in_the_sync_envelope_is_a_400(client: TestClient, world: World) -> None:
    login(client, world.phone("vol_a"))
    raw = json.dumps({"cursor": 0, "member": "\ud800", "ops": []}).encode()
    hdrs = headers(client, **{"Content-Type": "application/json"})
    response = client.post(SYNC, content=raw, headers=hdrs)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["fields"] == {"member": "Mã định danh không đúng."}


def test_a_path_or_query_that_is_not_utf8_or_has_nul_is_a_400(
    client: TestClient, world: World
) -> None:
    for url in ("/vi/?q=%ED%A0%80", "/vi/?q=%FF", "/vi/?q=a%00b", "/vi/guides/%00", "/vi/%C0"):
        page = client.get(url)
        assert page.status_code == 400, url
        assert MESSAGE in page.text and "<html" in page.text, url
    api = client.get("/api/v1/indicators?period=%ED%A0%80")
    assert api.status_code == 400 and api.json()["error"]["message"] == MESSAGE
    assert client.get("/vi/?q=c%C4%83n+c%C6%B0%E1%BB%9Bc").status_code == 200  # "căn cước"


def test_a_form_with_unreadable_text_saves_nothing(
    client: TestClient, db: Database, world: World
) -> None:
    login(client, world.phone("coord_a"))
    token = csrf(client)
    for name in ("Th%F4n", "Th%00n", "Th%ED%A0%80n"):
        body = f"csrf_token={token}&name={name}"
        response = client.post(
            "/console/villages",
            content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400, (name, response.text[:300])
        assert MESSAGE in response.text
    boundary = "b0undary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a\x00.png"\r\n'
        f"Content-Type: image/png\r\n\r\nPNG\r\n--{boundary}--\r\n"
    )
    upload = client.post(
        "/console/villages",
        content=multipart.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert upload.status_code == 400, upload.text[:300]
    with db.read() as s:
        names = s.exec(select(Village.name).where(Village.commune_code == COMMUNE_A)).all()
    assert sorted(names) == ["Thôn Tây", "Thôn Đông Hòa"]


def test_json_with_a_lone_surrogate_is_a_400(client: TestClient, world: World) -> None:
    login(client, world.phone("vol_a"))
    raw = json.dumps({"endpoint": "https://fcm.googleapis.com/\ud800", "keys": {}}).encode()
    hdrs = headers(client, **{"Content-Type": "application/json"})
    response = client.post("/api/v1/push/subscribe", content=raw, headers=hdrs)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == MESSAGE


def test_headers_with_bytes_that_are_not_utf8_are_no_500(client: TestClient) -> None:
    weird = {
        "Accept-Language": b"vi\xff",
        "Cookie": b"lang=\xff; langso_session=\xfe",
        "Referer": b"\xff",
    }
    for url in ("/", "/vi/", "/login", "/app"):
        response = client.get(url, headers=weird)
        assert response.status_code < 500, url
