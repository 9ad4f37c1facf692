"""The admin sets up the province; coordinators keep villages and invite volunteers."""

from __future__ import annotations

from sqlmodel import select
from starlette.testclient import TestClient

from server.db import Database
from server.models import Commune, Member, Role, Village, VillageChange

from .conftest import PASSWORD, World, login, post


def test_admin_chooses_province_adds_commune_and_coordinator(
    client: TestClient, db: Database
) -> None:
    post(
        client,
        "/setup",
        {"name": "Quản Trị Tỉnh", "phone": "0911000000", "password": PASSWORD, "confirm": PASSWORD},
    )
    choose = client.get("/console/province?q=bac ninh")
    assert "Chọn tỉnh của bạn" in choose.text and "Bắc Ninh" in choose.text
    assert "Hà Nội" not in choose.text
    assert post(client, "/console/province", {"province": "24"}).status_code == 303
    found = client.get("/console/province?q=dai son")
    assert "Xã Đại Sơn, Bắc Ninh" in found.text
    assert post(client, "/console/province/communes", {"code": "07627"}).status_code == 303
    page = client.get("/console/province")
    assert "Xã Đại Sơn" in page.text and "07627" in page.text
    invited = post(
        client,
        "/console/members",
        {
            "commune": "07627",
            "name": "Phạm Điều Phối",
            "phone": "0922 000 111",
            "role": "coordinator",
        },
    )
    assert invited.status_code == 200 and "/invite/" in invited.text
    with db.read() as s:
        coordinator = s.exec(select(Member).where(Member.role == Role.coordinator)).one()
        assert coordinator.commune_code == "07627" and coordinator.province_code == "24"
        assert s.get(Commune, "07627").in_use_since is not None


def test_admin_cannot_choose_a_second_province(client: TestClient, world: World) -> None:
    login(client, world.phone("admin"))
    response = post(client, "/console/province", {"province": "01"})
    assert response.status_code == 400 and "Tỉnh của bạn đã được chọn rồi." in response.text


def test_admin_cannot_add_a_commune_of_another_province(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("admin"))
    response = post(client, "/console/province/communes", {"code": "00070"})  # Hoàn Kiếm, Hà Nội
    assert response.status_code == 403
    with db.read() as s:
        assert s.get(Commune, "00070").in_use_since is None


def test_admin_cannot_manage_members_of_another_province(client: TestClient, world: World) -> None:
    login(client, world.phone("admin"))
    assert client.get("/console/members?commune=00004").status_code == 403
    response = post(
        client,
        "/console/members",
        {"commune": "00004", "name": "Kẻ Lạ", "phone": "0933000000", "role": "volunteer"},
    )
    assert response.status_code == 403
    assert post(client, f"/console/members/{world.vol_b.id}/deactivate").status_code == 404


def test_coordinator_cannot_forge_role_or_commune(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    forged_role = post(
        client, "/console/members", {"name": "Ông Trùm", "phone": "0933000001", "role": "admin"}
    )
    assert forged_role.status_code == 403 and "Bạn không được giao vai trò này." in forged_role.text
    coord = post(
        client,
        "/console/members",
        {"name": "Ông Trùm", "phone": "0933000001", "role": "coordinator"},
    )
    assert coord.status_code == 403
    unknown = post(
        client, "/console/members", {"name": "Ông Trùm", "phone": "0933000001", "role": "boss"}
    )
    assert unknown.status_code == 400 and "Không có vai trò này." in unknown.text
    # A commune field for B is ignored: a coordinator only ever works in their own commune.
    ok = post(
        client,
        "/console/members",
        {"name": "Bà Tư", "phone": "0933000002", "role": "volunteer", "commune": "00004"},
    )
    assert ok.status_code == 200
    with db.read() as s:
        assert s.exec(select(Member).where(Member.phone == "+84933000001")).first() is None
        assert (
            s.exec(select(Member).where(Member.phone == "+84933000002")).one().commune_code
            == "07627"
        )


def test_coordinator_cannot_turn_off_another_coordinator(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    with db.write() as s:
        from server import accounts

        other = accounts.create_member(
            s, name="Phó Điều Phối", phone="0944000000", role=Role.coordinator, commune_code="07627"
        )
    assert post(client, f"/console/members/{other.id}/deactivate").status_code == 403


def test_duplicate_phone_is_refused(client: TestClient, world: World, db: Database) -> None:
    login(client, world.phone("coord_a"))
    response = post(
        client, "/console/members", {"name": "Trùng Số", "phone": "0900000005", "role": "volunteer"}
    )
    assert response.status_code == 400 and "Số điện thoại này đã có người dùng." in response.text


def test_members_page_lists_only_own_commune(client: TestClient, world: World) -> None:
    login(client, world.phone("coord_a"))
    page = client.get("/console/members").text
    assert "Nguyễn Văn Tình" in page and "Hoàng Thị Nguyện" not in page


def test_villages_add_rename_merge_keep_history(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    assert post(client, "/console/villages", {"name": "  Thôn  Bắc  "}).status_code == 303
    duplicate = post(client, "/console/villages", {"name": "thon bac"})
    assert duplicate.status_code == 400 and "Xã đã có thôn tên này." in duplicate.text
    empty = post(client, "/console/villages", {"name": "   "})
    assert empty.status_code == 400 and "Vui lòng nhập tên thôn." in empty.text
    too_long = post(client, "/console/villages", {"name": "T" * 81})
    assert too_long.status_code == 400
    with db.read() as s:
        bac = s.exec(select(Village).where(Village.name == "Thôn Bắc")).one()
    renamed = post(client, f"/console/villages/{bac.id}/rename", {"name": "Thôn Bắc Sơn"})
    assert renamed.status_code == 303
    merged = post(client, f"/console/villages/{world.village_a2}/merge", {"into": str(bac.id)})
    assert merged.status_code == 303
    page = client.get(f"/console/villages/{bac.id}").text
    assert "đổi tên từ Thôn Bắc thành Thôn Bắc Sơn" in page
    assert "Thôn Tây nhập vào Thôn Bắc Sơn" in page
    listing = client.get("/console/villages").text
    assert "Thôn đã nhập" in listing
    with db.read() as s:
        tay = s.get(Village, world.village_a2)
        assert tay.merged_into_id == bac.id
        kinds = [
            c.kind for c in s.exec(select(VillageChange).where(VillageChange.village_id == bac.id))
        ]
        assert kinds == ["created", "renamed"]


def test_merge_refuses_other_commune_and_itself(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("coord_a"))
    other = post(
        client, f"/console/villages/{world.village_a}/merge", {"into": str(world.village_b)}
    )
    assert other.status_code == 400
    itself = post(
        client, f"/console/villages/{world.village_a}/merge", {"into": str(world.village_a)}
    )
    assert itself.status_code == 400
    garbage = post(client, f"/console/villages/{world.village_a}/merge", {"into": "nope"})
    assert garbage.status_code == 400
    with db.read() as s:
        assert s.get(Village, world.village_a).merged_into_id is None


def test_coordinator_never_sees_another_communes_village(client: TestClient, world: World) -> None:
    login(client, world.phone("coord_a"))
    assert client.get(f"/console/villages/{world.village_b}").status_code == 404
    assert "Tổ dân phố 1" not in client.get("/console/villages").text
    response = post(client, f"/console/villages/{world.village_b}/rename", {"name": "Chiếm"})
    assert response.status_code == 404


def test_admin_manages_villages_of_a_commune_in_the_province(
    client: TestClient, world: World
) -> None:
    login(client, world.phone("admin"))
    page = client.get("/console/villages?commune=07627")
    assert page.status_code == 200 and "Thôn Đông Hòa" in page.text
    added = post(client, "/console/villages", {"commune": "07627", "name": "Thôn Mới"})
    assert added.headers["location"] == "/console/villages?commune=07627"
