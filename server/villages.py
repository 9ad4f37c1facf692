"""Villages (thôn, tổ dân phố…) of a commune: add, rename, merge, with their history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from .accounts import InvalidInput
from .db import utcnow
from .i18n import gettext
from .models import Member, Village, VillageChange
from .sync import next_seqs
from .text import fold, nfc

NAME_MAX = 80


def _clean(name: str) -> str:
    name = nfc(name or "")
    if not name:
        raise InvalidInput({"name": gettext("Please enter the village name.")})
    if len(name) > NAME_MAX:
        raise InvalidInput({"name": gettext("At most %(n)s characters.", n=NAME_MAX)})
    return name


def active_villages(session: Session, commune_code: str) -> list[Village]:
    stmt = select(Village).where(
        Village.commune_code == commune_code, col(Village.merged_into_id).is_(None)
    )
    return list(session.exec(stmt.order_by(Village.name_key)).all())


def _same_name(session: Session, commune_code: str, name: str, skip: uuid.UUID | None) -> bool:
    """Names are compared by their fold key: "Thôn Hoà" and "thon hoa" are the same village."""
    for v in active_villages(session, commune_code):
        if v.name_key == fold(name) and v.id != skip:
            return True
    return False


def add_village(session: Session, commune_code: str, name: str, actor: Member) -> Village:
    name = _clean(name)
    if _same_name(session, commune_code, name, None):
        raise InvalidInput({"name": gettext("This commune already has a village with this name.")})
    # A seq makes the change reach the phones at their next sync.
    village = Village(
        commune_code=commune_code, name=name, name_key=fold(name), seq=next_seqs(session)
    )
    session.add(village)
    session.flush()
    session.add(
        VillageChange(village_id=village.id, kind="created", new_name=name, member_id=actor.id)
    )
    return village


def village_in(session: Session, commune_code: str, village_id: uuid.UUID) -> Village | None:
    village = session.get(Village, village_id)
    return village if village and village.commune_code == commune_code else None


def rename_village(session: Session, village: Village, name: str, actor: Member) -> Village:
    name = _clean(name)
    if _same_name(session, village.commune_code, name, village.id):
        raise InvalidInput({"name": gettext("This commune already has a village with this name.")})
    session.add(
        VillageChange(
            village_id=village.id,
            kind="renamed",
            old_name=village.name,
            new_name=name,
            member_id=actor.id,
        )
    )
    village.name, village.name_key = name, fold(name)
    village.version += 1
    village.seq = next_seqs(session)
    village.updated_at = utcnow()
    session.add(village)
    return village


def merge_village(session: Session, village: Village, into: Village, actor: Member) -> Village:
    """Merge `village` into `into`; sessions logged in the old village count for the new one."""
    if into.id == village.id or into.commune_code != village.commune_code:
        raise InvalidInput({"into": gettext("Choose another village of the same commune.")})
    if village.merged_into_id or into.merged_into_id:
        raise InvalidInput({"into": gettext("This village has already been merged.")})
    now = utcnow()
    # Villages merged earlier into this one now point to the new one too: one hop to the root.
    for earlier in session.exec(select(Village).where(Village.merged_into_id == village.id)):
        earlier.merged_into_id = into.id
        earlier.version += 1
        earlier.seq = next_seqs(session)
        session.add(earlier)
    village.merged_into_id = into.id
    village.version += 1
    village.seq = next_seqs(session)
    village.updated_at = now
    session.add(village)
    session.add(
        VillageChange(
            village_id=village.id,
            kind="merged",
            old_name=village.name,
            new_name=into.name,
            merged_into_id=into.id,
            member_id=actor.id,
        )
    )
    return into


@dataclass(frozen=True)
class Merges:
    """The commune's villages and, for each, the village it counts as now (merges followed to
    the end), so that sessions logged in a merged village roll up into the one that remains."""

    villages: dict[uuid.UUID, Village]
    roots: dict[uuid.UUID, uuid.UUID]

    @property
    def remaining(self) -> dict[uuid.UUID, Village]:
        return {vid: self.villages[vid] for vid in set(self.roots.values())}


def merges(session: Session, commune_code: str) -> Merges:
    villages = {
        v.id: v for v in session.exec(select(Village).where(Village.commune_code == commune_code))
    }
    roots: dict[uuid.UUID, uuid.UUID] = {}
    for vid in villages:
        seen, current = {vid}, vid
        while (nxt := villages[current].merged_into_id) is not None and nxt in villages:
            if nxt in seen:  # a loop should not exist; stop rather than spin
                break
            seen.add(nxt)
            current = nxt
        roots[vid] = current
    return Merges(villages, roots)


def history(session: Session, village_id: uuid.UUID) -> list[VillageChange]:
    stmt = select(VillageChange).where(
        (VillageChange.village_id == village_id) | (VillageChange.merged_into_id == village_id)
    )
    return list(session.exec(stmt.order_by(col(VillageChange.at), col(VillageChange.id))).all())


def search_villages(session: Session, commune_code: str, query: str) -> list[Village]:
    words = fold(query).split()
    return [
        v for v in active_villages(session, commune_code) if all(w in v.name_key for w in words)
    ]
