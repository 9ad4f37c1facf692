"""A coordinator imports a volunteer's exported file: stored once, however often imported."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import func, select
from starlette.testclient import TestClient

from server.db import Database
from server.models import AssistanceSession, AuditEvent

from .conftest import World, csrf, login


def exported(world: World, member_id: uuid.UUID, n: int = 3, village=None) -> bytes:
    when = datetime.now(UTC) - timedelta(hours=2)
    ops = [
        {
            "op_id": str(uuid.uuid4()),
            "entity": "session",
            "id": str(uuid.uuid4()),
            "base_version": 0,
            "data": {
                "household_id": None,
                "village_id": str(village or world.village_a),
                "occurred_at": when.isoformat(),
                "minutes": 15,
                "people_helped": 2,
                "services": [
                    {
                        "service": "pay_electricity",
                        "outcome": "done",
                        "reason": None,
                        "dossier_code": None,
                    }
                ],
                "guide_slug": None,
                "notes": "Trả tiền điện qua ngân hàng",
                "follow_up_on": None,
            },
        }
        for _ in range(n)
    ]
    return json.dumps(
        {"format": "langso-unsent", "version": 1, "member": {"id": str(member_id)}, "ops": ops}
    ).encode()


def upload(client: TestClient, content: bytes, name: str = "langso-chua-gui.json"):
    return client.post(
        "/console/import",
        data={"csrf_token": csrf(client)},
        files={"file": (name, content, "application/json")},
    )


def count(db: Database) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(AssistanceSession)).one()


def test_import_twice_stores_once(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    content = exported(world, world.vol_a.id)
    first = upload(client, content)
    assert first.status_code == 200 and "3 mục mới đã lưu" in first.text
    second = upload(client, content)
    assert second.status_code == 200 and "3 mục đã nhận trước đó" in second.text
    assert count(db) == 3
    with db.read() as s:
        sessions = s.exec(select(AssistanceSession)).all()
        assert {x.volunteer_id for x in sessions} == {world.vol_a.id}  # the volunteer's work
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "import.unsent")).all()


def test_import_refuses_another_communes_volunteer(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    response = upload(client, exported(world, world.vol_b.id, village=world.village_b))
    assert response.status_code == 400 and "ngoài xã của bạn" in response.text
    assert count(db) == 0


def test_import_refuses_other_files(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    for content in (b"not json", b'{"format": "other"}', b"[]", "Xin chào".encode()):
        response = upload(client, content)
        assert response.status_code == 400
        assert "không phải tệp xuất từ Làng Số" in response.text
    assert client.post("/console/import", data={"csrf_token": csrf(client)}).status_code == 400
    assert count(db) == 0


def test_import_reports_rejected_records(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    data = json.loads(exported(world, world.vol_a.id, n=2))
    data["ops"][1]["data"]["occurred_at"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = upload(client, json.dumps(data).encode())
    assert response.status_code == 200
    assert "1 mục mới đã lưu" in response.text and "1 mục không lưu được" in response.text
    assert count(db) == 1


def test_the_audit_log_says_who_imported_for_whom_and_which_records(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    content = exported(world, world.vol_a.id, n=2)
    upload(client, content)
    upload(client, content)
    with db.read() as s:
        first, second = s.exec(
            select(AuditEvent).where(AuditEvent.action == "import.unsent").order_by(AuditEvent.id)
        ).all()
        stored = {str(x.id) for x in s.exec(select(AssistanceSession)).all()}
    assert first.actor_id == world.coord_a.id and first.target_id == str(world.vol_a.id)
    assert set(first.detail["records"]) == stored and second.detail["records"] == []
    page = client.get("/console/audit?action=import.unsent").text
    assert "Nhập dữ liệu chưa gửi" in page
    assert "Cho Nguyễn Văn Tình: 2 mới, 0 đã nhận trước đó, 0 không lưu được" in page
    assert "Cho Nguyễn Văn Tình: 0 mới, 2 đã nhận trước đó, 0 không lưu được" in page
    assert "Phạm Điều Phối" in page  # who imported
