"""A household's rights under the 2026 personal-data law: a copy of everything kept about it,
and erasure. Plain functions over a Session; the console's pages call them and audit each use.

Erasure removes the personal data (head's name, phone, address, card code, free-text notes) from
every table, including the history of past versions, and keeps the anonymous facts: which
village, which services, what outcome. Sessions stay linked to the (now anonymous) household,
so counts per village and skill do not change.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from . import review
from .accounts import InvalidInput, display_phone
from .db import utcnow
from .i18n import current_locale, gettext
from .models import (
    AssistanceSession,
    AuditEvent,
    Commune,
    Household,
    Member,
    Notification,
    RecordHistory,
    Service,
    SessionService,
    Village,
)
from .sync import iso_utc, next_seqs
from .text import fold

FORMAT = "langso-household-export"
ERASED_NAME = "Hộ đã xóa"  # what stays in the name column; pages show their own words
SCRUBBED = "•••"
MIN_NEEDLE = 4  # shorter strings would scrub ordinary words


def is_erased(household: Household) -> bool:
    return household.deleted_at is not None and household.head_name == ERASED_NAME


# --- Export -----------------------------------------------------------------------------------


def export_household(session: Session, household: Household) -> dict[str, Any]:
    """Everything kept about a household: its record, its sessions and its past versions."""
    commune = session.get(Commune, household.commune_code)
    names = _names(session)
    villages = _villages(session, household.commune_code)
    english = current_locale.get() == "en"
    services = {
        s.code: s.name_en if english else s.name_vi for s in session.exec(select(Service)).all()
    }
    rows = list(
        session.exec(
            select(AssistanceSession)
            .where(AssistanceSession.household_id == household.id)
            .order_by(col(AssistanceSession.occurred_at))
        ).all()
    )
    lines: dict[uuid.UUID, list[SessionService]] = {}
    if rows:
        for line in session.exec(
            select(SessionService).where(col(SessionService.session_id).in_([r.id for r in rows]))
        ):
            lines.setdefault(line.session_id, []).append(line)
    history = session.exec(
        select(RecordHistory)
        .where(RecordHistory.entity == "household", RecordHistory.record_id == household.id)
        .order_by(col(RecordHistory.id))
    ).all()
    return {
        "format": FORMAT,
        "version": 1,
        "exported_at": iso_utc(utcnow()),
        "commune": {"code": household.commune_code, "name": commune.name if commune else ""},
        "household": {
            "id": str(household.id),
            "code": household.code,
            "village": villages.get(household.village_id, ""),
            "head_name": household.head_name,
            "phone": household.phone,
            "address": household.address,
            "skills": sorted(household.skills or []),
            "consent_at": iso_utc(household.consent_at),
            "consent_by": names.get(household.consent_by, ""),
            "created_at": iso_utc(household.created_at),
            "created_by": names.get(household.created_by, ""),
            "updated_at": iso_utc(household.updated_at),
            "deleted_at": iso_utc(household.deleted_at) if household.deleted_at else None,
        },
        "sessions": [
            {
                "id": str(r.id),
                "occurred_at": iso_utc(r.occurred_at),
                "village": villages.get(r.village_id, "") if r.village_id else "",
                "volunteer": names.get(r.volunteer_id, ""),
                "minutes": r.minutes,
                "people_helped": r.people_helped,
                "services": [
                    {
                        "service": line.service_code,
                        "name": services.get(line.service_code, line.service_code),
                        "outcome": line.outcome,
                        "reason": line.reason,
                        "dossier_code": line.dossier_code,
                    }
                    for line in sorted(lines.get(r.id, []), key=lambda x: x.service_code)
                ],
                "guide_slug": r.guide_slug,
                "notes": r.notes,
                "follow_up_on": r.follow_up_on.isoformat() if r.follow_up_on else None,
                "follow_up_done_at": iso_utc(r.follow_up_done_at) if r.follow_up_done_at else None,
                "review_state": r.review_state,
                "review_comment": r.review_comment,
                "deleted": r.deleted_at is not None,
            }
            for r in rows
        ],
        "history": [
            {
                "version": h.version,
                "at": iso_utc(h.at),
                "by": names.get(h.member_id, ""),
                "data": {k: v for k, v in h.data.items() if not k.startswith("_")},
            }
            for h in history
        ],
    }


def _names(session: Session) -> dict[uuid.UUID, str]:
    return dict(session.exec(select(Member.id, Member.name)).all())  # type: ignore[arg-type]


def _villages(session: Session, commune_code: str) -> dict[uuid.UUID, str]:
    stmt = select(Village.id, Village.name).where(Village.commune_code == commune_code)
    return dict(session.exec(stmt).all())  # type: ignore[arg-type]


# --- Erasure ----------------------------------------------------------------------------------


def erase_household(session: Session, household: Household, actor: Member) -> dict[str, int]:
    """Remove the household's personal data everywhere; returns what was touched."""
    if is_erased(household):
        raise InvalidInput({"confirm": gettext("This household has already been erased.")})
    scrub = _scrubber(_needles(household))
    commune = household.commune_code

    own = list(
        session.exec(
            select(AssistanceSession).where(AssistanceSession.household_id == household.id)
        ).all()
    )
    own_ids = {r.id for r in own}
    for row in own:
        row.notes = ""  # free text about this family: none of it is kept
        row.review_comment = scrub(row.review_comment)
        review.new_version(session, row, actor, "household.erased")

    # Other sessions of the commune may name the family in their notes or comments.
    others = 0
    for row in session.exec(
        select(AssistanceSession).where(
            AssistanceSession.commune_code == commune,
            col(AssistanceSession.id).not_in(own_ids) if own_ids else sa.true(),
        )
    ).all():
        notes, comment = scrub(row.notes), scrub(row.review_comment)
        if (notes, comment) != (row.notes, row.review_comment):
            row.notes, row.review_comment = notes, comment
            review.new_version(session, row, actor, "household.erased")
            others += 1
    session.flush()

    # Past versions: the household's own are reduced to a marker; sessions lose their notes.
    for h in session.exec(
        select(RecordHistory).where(
            RecordHistory.entity == "household", RecordHistory.record_id == household.id
        )
    ).all():
        h.data = {"erased": True}
        session.add(h)
    commune_sessions = select(AssistanceSession.id).where(AssistanceSession.commune_code == commune)
    for h in session.exec(
        select(RecordHistory).where(
            RecordHistory.entity == "session", col(RecordHistory.record_id).in_(commune_sessions)
        )
    ).all():
        data = scrub(_without_notes(h.data) if h.record_id in own_ids else h.data)
        if data != h.data:
            h.data = data
            session.add(h)

    for event in session.exec(select(AuditEvent).where(AuditEvent.commune_code == commune)):
        detail = scrub(event.detail)
        if detail != event.detail:
            event.detail = detail
            session.add(event)
    members = select(Member.id).where(Member.commune_code == commune)
    for note in session.exec(
        select(Notification).where(col(Notification.member_id).in_(members))
    ).all():
        payload = scrub(note.payload)
        if payload != note.payload:
            note.payload = payload
            session.add(note)

    now = utcnow()
    household.head_name = ERASED_NAME
    household.head_name_key = fold(ERASED_NAME)
    household.phone = None
    household.address = ""
    household.code = f"DEL-{secrets.token_hex(4).upper()}"  # the card's code is a pseudonym too
    household.deleted_at = now
    household.updated_at = now
    household.updated_by = actor.id
    household.version += 1
    household.seq = next_seqs(session)  # phones pull the deletion and drop their copy
    session.add(household)
    session.add(
        AuditEvent(
            actor_id=actor.id,
            action="household.erased",
            target_type="household",
            target_id=str(household.id),
            commune_code=commune,
            detail={"sessions": len(own), "other_sessions": others},
        )
    )
    return {"sessions": len(own), "other_sessions": others}


def _needles(household: Household) -> list[str]:
    found = [household.head_name, household.head_name_key, household.address]
    if household.phone:
        national = display_phone(household.phone)
        found += [household.phone, national, re.sub(r"\D", "", national)]
    return sorted({n for n in found if n and len(n) >= MIN_NEEDLE}, key=len, reverse=True)


def _scrubber(needles: Iterable[str]) -> Any:
    pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(SCRUBBED, value)
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub


def _without_notes(data: dict[str, Any]) -> dict[str, Any]:
    out = {**data}
    if "notes" in out:
        out["notes"] = ""
    if isinstance(out.get("_client"), dict):
        out["_client"] = {**out["_client"], "notes": ""}
    return out
