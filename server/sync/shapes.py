"""What a phone is sent: the JSON shape of each village, household and session; `pull`, the
changes after a cursor that a member may see; `bootstrap`, everything a phone needs to start.

The same shapes describe a record in `record_history` (`session_data`), so that a later edit can
be merged field by field against the version the phone saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from ..models import Commune, Member, Province, Service
from ..services import CATALOGUE
from .store import T_HOUSEHOLD, T_LINE, T_SESSION, T_VILLAGE, current_cursor

PAGE = 500

SESSION_FIELDS = (
    "household_id",
    "village_id",
    "occurred_at",
    "minutes",
    "people_helped",
    "services",
    "guide_slug",
    "notes",
    "follow_up_on",
    "deleted",
)
HOUSEHOLD_FIELDS = ("village_id", "code", "head_name", "phone", "address", "consent_at", "skills")


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _columns(table: sa.Table, names: str) -> sa.Select[Any]:
    return sa.select(*(table.c[name] for name in names.split()))


# Only what the phone is sent: fewer values to convert per row.
_VILLAGE_OUT = _columns(T_VILLAGE, "id name merged_into_id version seq")
_HOUSEHOLD_OUT = _columns(
    T_HOUSEHOLD, "id village_id code head_name phone address skills version seq deleted_at"
)
_LINE_OUT = _columns(T_LINE, "session_id service_code outcome reason dossier_code")
_SESSION_OUT = _columns(
    T_SESSION,
    "id household_id village_id occurred_at minutes people_helped guide_slug notes follow_up_on"
    " review_state review_comment version conflict seq deleted_at volunteer_id follow_up_done_at",
)
_ORDER = {code: i for i, (code, *_) in enumerate(CATALOGUE)}


def service_order(code: str) -> tuple[int, str]:
    """Lines are kept in catalogue order, so that two versions compare equal line by line."""
    return _ORDER.get(code, len(_ORDER)), code


def lines_of(session: Session, *where: Any) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The service lines of the sessions that `where` selects, in catalogue order."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    stmt = _LINE_OUT.join(T_SESSION, T_SESSION.c.id == T_LINE.c.session_id).where(*where)
    for row in session.execute(stmt):
        out.setdefault(row.session_id, []).append(
            {
                "service": row.service_code,
                "outcome": row.outcome,
                "reason": row.reason,
                "dossier_code": row.dossier_code,
            }
        )
    for lines in out.values():
        lines.sort(key=lambda line: service_order(line["service"]))
    return out


def session_data(row: Any, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored session as a phone sends it (SESSION_FIELDS), canonical: UTC times, sorted lines."""
    return {
        "household_id": str(row.household_id) if row.household_id else None,
        "village_id": str(row.village_id) if row.village_id else None,
        "occurred_at": iso_utc(row.occurred_at),
        "minutes": row.minutes,
        "people_helped": row.people_helped,
        "services": lines,
        "guide_slug": row.guide_slug,
        "notes": row.notes,
        "follow_up_on": row.follow_up_on.isoformat() if row.follow_up_on else None,
        "deleted": row.deleted_at is not None,
    }


def household_data(row: Any) -> dict[str, Any]:
    """A stored household as a phone sends it (HOUSEHOLD_FIELDS, and deleted), canonical."""
    return {
        "village_id": str(row.village_id),
        "code": row.code,
        "head_name": row.head_name,
        "phone": row.phone,
        "address": row.address,
        "consent_at": iso_utc(row.consent_at),
        "skills": sorted(row.skills or []),
        "deleted": row.deleted_at is not None,
    }


def village_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "merged_into_id": str(row.merged_into_id) if row.merged_into_id else None,
        "version": row.version,
    }


def household_json(row: Any) -> dict[str, Any]:
    """A household for the phone; a deleted one keeps no personal data."""
    if row.deleted_at is not None:
        return {"id": str(row.id), "deleted": True}
    return {
        "id": str(row.id),
        "village_id": str(row.village_id),
        "code": row.code,
        "head_name": row.head_name,
        "phone": row.phone,
        **({"address": row.address} if row.address else {}),  # most have none: a smaller bootstrap
        "skills": row.skills or [],
        "version": row.version,
    }


def session_json(
    row: Any, lines: list[dict[str, Any]], member_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """A session for the phone of `member_id`; one given to another volunteer reads as deleted."""
    if row.deleted_at is not None or (member_id is not None and row.volunteer_id != member_id):
        return {"id": str(row.id), "deleted": True, "version": row.version}
    data = session_data(row, lines)
    del data["deleted"]
    return {
        "id": str(row.id),
        **data,
        "review_state": row.review_state,
        "review_comment": row.review_comment,
        "version": row.version,
        "conflict": row.conflict,
        "follow_up_done": getattr(row, "follow_up_done_at", None) is not None,
    }


# --- Pulling changes ---------------------------------------------------------------------------

Fresh = tuple[int, str, dict[str, Any]]  # (seq, kind, JSON) of a record written just now


def _since(stmt: sa.Select[Any], table: sa.Table, window: tuple[int, int]) -> sa.Select[Any]:
    return stmt.where(table.c.seq > window[0], table.c.seq <= window[1]).order_by(table.c.seq)


def pull(
    session: Session,
    member: Member,
    cursor: int,
    limit: int = PAGE,
    fresh: Sequence[Fresh] = (),
) -> dict[str, Any]:
    """What changed after `cursor` that `member` may see: villages and households of the
    commune, the member's own sessions. At most `limit` records, oldest change first.

    `fresh` are the records the current transaction wrote (its seqs are the newest)."""
    upto = current_cursor(session)  # read first: every seq up to it is already committed
    if cursor > upto:
        cursor = 0  # a cursor from another database: start again
    low = cursor if cursor > 0 else -1  # villages made outside sync still have seq 0
    window = (low, min((seq for seq, _, _ in fresh), default=upto + 1) - 1)
    commune = member.commune_code
    # Own sessions, and those this member logged that a coordinator gave to someone else
    # (the phone is told to drop them).
    mine = (
        (T_SESSION.c.volunteer_id == member.id) | (T_SESSION.c.created_by == member.id),
        T_SESSION.c.commune_code == commune,
    )
    villages: Sequence[Any] = ()
    households: Sequence[Any] = ()
    sessions: Sequence[Any] = ()
    # A phone that was up to date before its batch has nothing to read: most syncs.
    if window[0] < window[1]:
        villages = session.execute(
            _since(_VILLAGE_OUT, T_VILLAGE, window).where(T_VILLAGE.c.commune_code == commune)
        ).all()
        households = session.execute(
            _since(_HOUSEHOLD_OUT, T_HOUSEHOLD, window)
            .where(T_HOUSEHOLD.c.commune_code == commune)
            .limit(limit + 1)
        ).all()
        sessions = session.execute(
            _since(_SESSION_OUT, T_SESSION, window).where(*mine).limit(limit + 1)
        ).all()
    items: list[tuple[int, str, Any]] = sorted(
        [(row.seq, "villages", row) for row in villages]
        + [(row.seq, "households", row) for row in households]
        + [(row.seq, "sessions", row) for row in sessions]
        + list(fresh),
        key=lambda item: item[0],
    )
    first = [item for item in items if item[0] <= 0]
    rest = [item for item in items if item[0] > 0]
    take = max(limit - len(first), 1)
    page, more = first + rest[:take], len(rest) > take
    stored = [row.seq for _, kind, row in page if kind == "sessions" and not isinstance(row, dict)]
    lines = {}
    if stored:  # the lines of the sessions on this page, by the same seq window
        lines = lines_of(session, *mine, T_SESSION.c.seq > low, T_SESSION.c.seq <= max(stored))
    changes: dict[str, list[dict[str, Any]]] = {"households": [], "sessions": [], "villages": []}
    for _, kind, row in page:
        if isinstance(row, dict):
            changes[kind].append(row)
        elif kind == "villages":
            changes[kind].append(village_json(row))
        elif kind == "households":
            changes[kind].append(household_json(row))
        else:
            changes[kind].append(session_json(row, lines.get(row.id, []), member.id))
    return {
        "changes": changes,
        "cursor": page[-1][0] if more else max(cursor, upto),
        "more": more,
    }


def bootstrap(session: Session, member: Member, core: bool = False) -> dict[str, Any]:
    """Everything a phone needs to start: its member, commune, villages, the service
    catalogue and the commune's households, with the cursor to pull from afterwards. `core`
    leaves the households out (their number only): a first start is usable with the rest."""
    cursor = current_cursor(session)  # first, as in pull()
    commune = session.get(Commune, member.commune_code)
    assert commune is not None
    province = session.get(Province, commune.province_code)
    villages = session.execute(
        _VILLAGE_OUT.where(T_VILLAGE.c.commune_code == commune.code).order_by(T_VILLAGE.c.name_key)
    ).all()
    services = session.execute(
        sa.select(Service.code, Service.skill, Service.name_vi, Service.name_en)  # type: ignore[call-overload]
        .where(Service.active == sa.true())
        .order_by(Service.sort)
    ).all()
    kept = (T_HOUSEHOLD.c.commune_code == commune.code, T_HOUSEHOLD.c.deleted_at.is_(None))
    households: list[Any] = []
    if core:
        total = session.execute(sa.select(sa.func.count()).where(*kept)).scalar_one()
    else:
        households = list(
            session.execute(_HOUSEHOLD_OUT.where(*kept).order_by(T_HOUSEHOLD.c.seq)).all()
        )
        total = len(households)
    out = {
        "member": {
            "id": str(member.id),
            "name": member.name,
            "role": member.role,
            "commune": member.commune_code,
        },
        "commune": {
            "code": commune.code,
            "name": commune.name,
            "province": province.name if province else "",
        },
        "villages": [village_json(row) for row in villages],
        "services": [
            {"code": s.code, "skill": s.skill, "name_vi": s.name_vi, "name_en": s.name_en}
            for s in services
        ],
        "households_total": total,
        "cursor": cursor,
    }
    if not core:
        out["households"] = [household_json(row) for row in households]
    return out
