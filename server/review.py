"""The coordinator's review of sessions: approve, or return to the volunteer with a comment.

A review changes the session's version and sync cursor, so the volunteer's phone hears of it
at its next sync.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from .accounts import InvalidInput
from .db import utcnow
from .i18n import gettext
from .models import AssistanceSession, AuditEvent, Member, ReviewState
from .sync import next_seqs
from .text import nfc

COMMENT_MAX = 1000


def _in_commune(session: Session, session_id: uuid.UUID, reviewer: Member) -> AssistanceSession:
    row = session.get(AssistanceSession, session_id)
    if row is None or row.commune_code != reviewer.commune_code or row.deleted_at is not None:
        raise InvalidInput({"session": gettext("This session is not in your commune.")})
    return row


def _review(
    session: Session, row: AssistanceSession, reviewer: Member, state: ReviewState, comment: str
) -> AssistanceSession:
    row.review_state = state
    row.review_comment = comment
    row.reviewed_by = reviewer.id
    row.reviewed_at = utcnow()
    row.version += 1
    row.seq = next_seqs(session)
    row.updated_at = utcnow()
    session.add(row)
    session.add(
        AuditEvent(
            actor_id=reviewer.id,
            action=f"session.{state}",
            target_type="session",
            target_id=str(row.id),
            commune_code=row.commune_code,
            detail={"comment": comment} if comment else {},
        )
    )
    return row


def approve(session: Session, session_id: uuid.UUID, reviewer: Member) -> AssistanceSession:
    return _review(
        session, _in_commune(session, session_id, reviewer), reviewer, ReviewState.approved, ""
    )


def return_to_volunteer(
    session: Session, session_id: uuid.UUID, reviewer: Member, comment: str
) -> AssistanceSession:
    comment = nfc(comment or "")
    if not comment:
        raise InvalidInput({"comment": gettext("Say what the volunteer should fix.")})
    if len(comment) > COMMENT_MAX:
        raise InvalidInput({"comment": gettext("At most %(n)s characters.", n=COMMENT_MAX)})
    return _review(
        session, _in_commune(session, session_id, reviewer), reviewer, ReviewState.returned, comment
    )
