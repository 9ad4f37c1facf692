"""The coordinator's work on sessions: approve, return to the volunteer with a comment, resolve
a conflict flagged by sync, reassign or close a follow-up.

Every change bumps the session's version and sync cursor and goes into `record_history`, so the
volunteer's phone hears of it at its next sync and a later edit from the phone merges against the
version it really saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from .accounts import InvalidInput
from .db import utcnow
from .i18n import gettext
from .models import (
    AssistanceSession,
    AuditEvent,
    Household,
    Member,
    Notification,
    RecordHistory,
    ReviewState,
    Role,
    Service,
    SessionService,
    Village,
)
from .privacy import mask_secrets
from .sync import SESSION_FIELDS, T_SESSION, lines_of, next_seqs, shapes
from .text import nfc

COMMENT_MAX = 1000
BULK_MAX = 200
KEEP_SERVER, KEEP_CLIENT = "server", "client"


def _in_commune(
    session: Session, session_id: uuid.UUID, reviewer: Member, commune_code: str | None = None
) -> AssistanceSession:
    """The session, when it is in `commune_code` (the reviewer's own commune by default)."""
    code = commune_code or reviewer.commune_code
    row = session.get(AssistanceSession, session_id)
    if row is None or code is None or row.commune_code != code or row.deleted_at is not None:
        raise InvalidInput({"session": gettext("This session is not in your commune.")})
    return row


def session_data(session: Session, row: AssistanceSession) -> dict[str, Any]:
    """The session as sync stores it in history (the fields a phone sends, plus who and state)."""
    session.flush()
    lines = lines_of(session, T_SESSION.c.id == row.id).get(row.id, [])
    return {
        **shapes.session_data(row, lines),
        "volunteer_id": str(row.volunteer_id),
        "review_state": str(row.review_state),
        "conflict": row.conflict,
    }


def new_version(
    session: Session,
    row: AssistanceSession,
    actor: Member,
    action: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """A new version with a new seq, written to history like every accepted write."""
    row.version += 1
    row.seq = next_seqs(session)
    row.updated_at = utcnow()
    row.updated_by = actor.id
    session.add(row)
    data = session_data(session, row)
    data.update(review_comment=row.review_comment, _action=action, **(extra or {}))
    session.add(
        RecordHistory(
            entity="session",
            record_id=row.id,
            version=row.version,
            data=data,
            member_id=actor.id,
            conflict=False,
        )
    )


def _audit(
    session: Session, actor: Member, action: str, row: AssistanceSession, **detail: Any
) -> None:
    session.add(
        AuditEvent(
            actor_id=actor.id,
            action=action,
            target_type="session",
            target_id=str(row.id),
            commune_code=row.commune_code,
            detail=detail,
        )
    )


# --- Review -----------------------------------------------------------------------------------


def _review(
    session: Session, row: AssistanceSession, reviewer: Member, state: ReviewState, comment: str
) -> AssistanceSession:
    row.review_state = state
    row.review_comment = comment
    row.reviewed_by = reviewer.id
    row.reviewed_at = utcnow()
    new_version(session, row, reviewer, f"session.{state}")
    _audit(session, reviewer, f"session.{state}", row, **({"comment": comment} if comment else {}))
    return row


def approve(
    session: Session, session_id: uuid.UUID, reviewer: Member, commune_code: str | None = None
) -> AssistanceSession:
    row = _in_commune(session, session_id, reviewer, commune_code)
    if row.conflict:
        raise InvalidInput(
            {"session": gettext("Settle the two versions of this session before approving it.")}
        )
    return _review(session, row, reviewer, ReviewState.approved, "")


def approve_many(
    session: Session,
    session_ids: Iterable[uuid.UUID],
    reviewer: Member,
    commune_code: str | None = None,
) -> tuple[int, int]:
    """Approve each session that can be: (approved, skipped). Conflicts and sessions already
    approved are skipped; a session outside the commune refuses the whole batch."""
    ids = list(dict.fromkeys(session_ids))
    if not ids:
        raise InvalidInput({"ids": gettext("Choose at least one session.")})
    if len(ids) > BULK_MAX:
        raise InvalidInput({"ids": gettext("At most %(n)s items.", n=BULK_MAX)})
    rows = [_in_commune(session, sid, reviewer, commune_code) for sid in ids]
    done = 0
    for row in rows:
        if row.conflict or row.review_state == ReviewState.approved:
            continue
        _review(session, row, reviewer, ReviewState.approved, "")
        done += 1
    return done, len(rows) - done


def return_to_volunteer(
    session: Session,
    session_id: uuid.UUID,
    reviewer: Member,
    comment: str,
    commune_code: str | None = None,
) -> AssistanceSession:
    comment = mask_secrets(nfc(comment or ""))  # it is stored, audited and pushed
    if not comment:
        raise InvalidInput({"comment": gettext("Say what the volunteer should fix.")})
    if len(comment) > COMMENT_MAX:
        raise InvalidInput({"comment": gettext("At most %(n)s characters.", n=COMMENT_MAX)})
    row = _in_commune(session, session_id, reviewer, commune_code)
    _review(session, row, reviewer, ReviewState.returned, comment)
    session.add(
        Notification(
            member_id=row.volunteer_id,
            kind="session_returned",
            payload={"session_id": str(row.id), "comment": comment},
        )
    )
    return row


# --- Conflicts --------------------------------------------------------------------------------


def conflict_versions(
    session: Session, row: AssistanceSession
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what stands on the server now, what the phone sent) for a session flagged by sync.
    The phone's version is the `_client` data of the latest conflicting write in history."""
    stmt = (
        select(RecordHistory)
        .where(
            RecordHistory.entity == "session",
            RecordHistory.record_id == row.id,
            RecordHistory.conflict == sa.true(),
        )
        .order_by(col(RecordHistory.id).desc())
        .limit(1)
    )
    found = session.exec(stmt).first()
    client = found.data.get("_client") if found is not None else None
    return session_data(session, row), client if isinstance(client, dict) else None


def differing_fields(kept: dict[str, Any], client: dict[str, Any] | None) -> list[str]:
    if client is None:
        return []
    return [name for name in SESSION_FIELDS if kept.get(name) != client.get(name)]


def resolve_conflict(
    session: Session,
    session_id: uuid.UUID,
    reviewer: Member,
    keep: str,
    commune_code: str | None = None,
) -> AssistanceSession:
    """Clear the conflict flag. Keeping the phone's version writes it as a new version."""
    row = _in_commune(session, session_id, reviewer, commune_code)
    if not row.conflict:
        raise InvalidInput({"keep": gettext("This session has no conflict to settle.")})
    if keep not in (KEEP_SERVER, KEEP_CLIENT):
        raise InvalidInput({"keep": gettext("Choose which version stands.")})
    if keep == KEEP_CLIENT:
        _, client = conflict_versions(session, row)
        if client is None:
            raise InvalidInput({"keep": gettext("The phone's version is not in the history.")})
        _apply_client(session, row, client)
    row.conflict = False
    new_version(session, row, reviewer, "session.conflict_resolved")
    _audit(session, reviewer, "session.conflict_resolved", row, kept=keep)
    return row


def _apply_client(session: Session, row: AssistanceSession, data: dict[str, Any]) -> None:
    """Write the phone's version (already checked by sync when it arrived; places are checked
    again, as a village may have been merged or a household erased since)."""
    try:
        village_id = uuid.UUID(data["village_id"]) if data.get("village_id") else None
        household_id = uuid.UUID(data["household_id"]) if data.get("household_id") else None
        occurred_at = datetime.fromisoformat(data["occurred_at"])
        follow_up = data.get("follow_up_on")
        follow_up_on = date.fromisoformat(follow_up) if follow_up else None
        services = [dict(line) for line in data["services"]]
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidInput({"keep": gettext("The phone's version is not in the history.")}) from e
    if village_id is not None:
        village = session.get(Village, village_id)
        if village is None or village.commune_code != row.commune_code:
            raise InvalidInput({"keep": gettext("This village is in another commune.")})
    if household_id is not None:
        household = session.get(Household, household_id)
        if household is None or household.deleted_at is not None:
            raise InvalidInput({"keep": gettext("This household is not known.")})
    known = set(session.exec(select(Service.code)).all())
    if not services or any(line.get("service") not in known for line in services):
        raise InvalidInput({"keep": gettext("This service is not in the catalogue.")})
    row.village_id, row.household_id = village_id, household_id
    row.occurred_at, row.follow_up_on = occurred_at, follow_up_on
    row.minutes, row.people_helped = int(data["minutes"]), int(data["people_helped"])
    row.guide_slug, row.notes = data.get("guide_slug"), data.get("notes") or ""
    row.deleted_at = utcnow() if data.get("deleted") else None
    session.exec(delete(SessionService).where(col(SessionService.session_id) == row.id))
    for line in services:
        session.add(
            SessionService(
                session_id=row.id,
                service_code=line["service"],
                outcome=line["outcome"],
                reason=line.get("reason"),
                dossier_code=line.get("dossier_code"),
            )
        )


# --- Follow-ups -------------------------------------------------------------------------------


def _open_follow_up(
    session: Session, session_id: uuid.UUID, actor: Member, commune_code: str | None
) -> AssistanceSession:
    row = _in_commune(session, session_id, actor, commune_code)
    if row.follow_up_on is None or row.follow_up_done_at is not None:
        raise InvalidInput({"session": gettext("This follow-up is already closed.")})
    return row


def reassign_follow_up(
    session: Session,
    session_id: uuid.UUID,
    actor: Member,
    volunteer_id: uuid.UUID,
    commune_code: str | None = None,
) -> AssistanceSession:
    """Give the follow-up (the whole session) to another active member of the commune. The new
    seq brings it to the new volunteer's phone; both volunteers get a notification."""
    row = _open_follow_up(session, session_id, actor, commune_code)
    new = session.get(Member, volunteer_id)
    if (
        new is None
        or not new.active
        or new.commune_code != row.commune_code
        or new.role not in (Role.volunteer, Role.coordinator)
    ):
        raise InvalidInput({"volunteer": gettext("Choose an active volunteer of the commune.")})
    old = row.volunteer_id
    if new.id == old:
        raise InvalidInput({"volunteer": gettext("This volunteer already has this follow-up.")})
    row.volunteer_id = new.id
    # `_from` lets sync tell the previous volunteer's phone that the session moved away.
    new_version(session, row, actor, "follow_up.reassigned", {"_from": str(old)})
    _audit(session, actor, "follow_up.reassigned", row, **{"from": str(old), "to": str(new.id)})
    payload = {"session_id": str(row.id), "follow_up_on": row.follow_up_on.isoformat()}
    session.add(Notification(member_id=new.id, kind="follow_up_assigned", payload=payload))
    session.add(Notification(member_id=old, kind="follow_up_reassigned", payload=payload))
    return row


def follow_up_done(
    session: Session, session_id: uuid.UUID, actor: Member, commune_code: str | None = None
) -> AssistanceSession:
    row = _open_follow_up(session, session_id, actor, commune_code)
    row.follow_up_done_at = utcnow()
    row.follow_up_done_by = actor.id
    new_version(session, row, actor, "follow_up.done")
    _audit(session, actor, "follow_up.done", row)
    return row
