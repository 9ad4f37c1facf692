"""The official provinces and communes (post-1 July 2025), from the vietnam-provinces package."""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
import vietnam_provinces
from sqlmodel import Session, col, select

from .models import Commune, Province
from .text import fold

# The two-tier government and its new commune codes took effect on this day.
CODES_VALID_FROM = date(2025, 7, 1)


def province_code(code: int | str) -> str:
    return f"{int(code):02d}"


def commune_code(code: int | str) -> str:
    """Official commune codes are five digits; "7627" and "07627" are the same commune."""
    return f"{int(code):05d}"


def load_places(session: Session) -> int:
    """Insert any province or commune not yet in the table; return how many were added."""
    data = json.loads(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH.read_text(encoding="utf-8"))
    have_p = set(session.exec(select(Province.code)).all())
    have_c = set(session.exec(select(Commune.code)).all())
    provinces, communes = [], []
    for p in data:
        pcode = province_code(p["code"])
        if pcode not in have_p:
            provinces.append(
                {
                    "code": pcode,
                    "name": p["name"],
                    "name_key": fold(p["name"]),
                    "division_type": p["division_type"],
                    "valid_from": CODES_VALID_FROM,
                }
            )
        for w in p["wards"]:
            ccode = commune_code(w["code"])
            if ccode not in have_c:
                communes.append(
                    {
                        "code": ccode,
                        "province_code": pcode,
                        "name": w["name"],
                        "name_key": fold(w["name"]),
                        "division_type": w["division_type"],
                        "valid_from": CODES_VALID_FROM,
                    }
                )
    if provinces:
        session.execute(sa.insert(Province), provinces)
    if communes:
        session.execute(sa.insert(Commune), communes)
    return len(provinces) + len(communes)


def search_communes(
    session: Session, query: str, *, province: str | None = None, limit: int = 30
) -> list[Commune]:
    """Communes whose name contains every folded word of `query`."""
    stmt = select(Commune)
    if province:
        stmt = stmt.where(Commune.province_code == province)
    for word in fold(query).split():
        stmt = stmt.where(col(Commune.name_key).contains(word, autoescape=True))
    return list(session.exec(stmt.order_by(Commune.name_key, Commune.code).limit(limit)).all())


def search_provinces(session: Session, query: str) -> list[Province]:
    stmt = select(Province)
    for word in fold(query).split():
        stmt = stmt.where(col(Province.name_key).contains(word, autoescape=True))
    return list(session.exec(stmt.order_by(Province.name_key)).all())
