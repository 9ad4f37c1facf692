"""Search keys: Vietnamese found without diacritics, whatever the keyboard typed."""

from __future__ import annotations

import unicodedata

import pytest
from sqlmodel import Session

from server import places, villages
from server.db import Database
from server.text import fold, matches, nfc


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Hòa Bình", "hoa binh"),
        ("Hoà Bình", "hoa binh"),  # reformed tone placement folds to the same key
        ("Xã Đại Sơn", "xa dai son"),
        ("ĐẮK LẮK", "dak lak"),
        ("Ðà Nẵng", "da nang"),  # U+00D0, typed by some keyboards in place of Đ
        ("Thừa  Thiên\tHuế ", "thua thien hue"),
        ("Phường Ngọc Hà", "phuong ngoc ha"),
        (unicodedata.normalize("NFD", "Nguyễn Thị Ánh"), "nguyen thi anh"),
    ],
)
def test_fold_makes_one_key_for_every_spelling(text: str, key: str) -> None:
    assert fold(text) == key


def test_nfc_joins_combining_marks() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn")
    assert len(decomposed) == 8
    assert nfc(decomposed) == "Nguyễn" and len(nfc(decomposed)) == 6


def test_matches_needs_every_word() -> None:
    assert matches("dai son", fold("Xã Đại Sơn"))
    assert not matches("dai thanh", fold("Xã Đại Sơn"))


@pytest.mark.parametrize(
    ("query", "province", "expected"),
    [
        ("dai son", "24", "Xã Đại Sơn"),
        ("ĐẠI SƠN", "24", "Xã Đại Sơn"),
        ("ba dinh", "01", "Phường Ba Đình"),
        ("hoan kiem", "01", "Phường Hoàn Kiếm"),
        ("thuan hoa", None, "Xã Thuận Hoà"),  # stored with the reformed "oà"
        ("thuận hòa", None, "Xã Thuận Hoà"),
    ],
)
def test_commune_search_ignores_diacritics(
    db: Database, query: str, province: str | None, expected: str
) -> None:
    with db.read() as session:
        names = [c.name for c in places.search_communes(session, query, province=province)]
    assert expected in names


def test_commune_search_keeps_to_the_province(db: Database) -> None:
    with db.read() as session:
        found = places.search_communes(session, "ba dinh", province="24")
    assert all(c.province_code == "24" for c in found)
    assert "Phường Ba Đình" not in [c.name for c in found]


def test_province_search_ignores_diacritics(db: Database) -> None:
    with db.read() as session:
        assert [p.name for p in places.search_provinces(session, "bac ninh")] == ["Bắc Ninh"]
        assert "Thành phố Hà Nội" in [p.name for p in places.search_provinces(session, "HA NOI")]


def test_official_list_has_34_provinces_and_3321_communes(db: Database) -> None:
    from sqlmodel import func, select

    from server.models import Commune, Province

    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Province)).one() == 34
        assert session.exec(select(func.count()).select_from(Commune)).one() == 3321


@pytest.mark.parametrize(
    ("query", "expected"),
    [("dong hoa", "Thôn Đông Hòa"), ("ĐÔNG HOÀ", "Thôn Đông Hòa"), ("tay", "Thôn Tây")],
)
def test_village_search_ignores_diacritics(db: Database, world, query: str, expected: str) -> None:
    with db.read() as session:
        assert isinstance(session, Session)
        names = [v.name for v in villages.search_villages(session, "07627", query)]
    assert names == [expected]
