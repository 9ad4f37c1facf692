"""The audit log: who viewed or exported personal data, who approved or returned what, who changed
members and villages. `record` is the one way the console's pages write an event."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session, col, func, select
from starlette.responses import Response

from ..accounts import InvalidInput
from ..i18n import gettext, lazy
from ..models import AuditEvent, Member, Role
from ..periods import Days, parse_days
from . import Ctx, paging, view
from .console import STAFF, scoped_commune

# Every action the console writes, with the words the log shows for it.
ACTIONS: dict[str, str] = {
    "session.approved": lazy("Session approved"),
    "session.returned": lazy("Session returned to the volunteer"),
    "session.conflict_resolved": lazy("Conflict settled"),
    "follow_up.reassigned": lazy("Follow-up given to another volunteer"),
    "follow_up.done": lazy("Follow-up marked done"),
    "household.viewed": lazy("Household viewed"),
    "household.exported": lazy("Household data exported"),
    "household.erased": lazy("Household erased"),
    "export.sessions": lazy("Sessions exported"),
    "export.summary": lazy("Monthly summary exported"),
    "member.created": lazy("Member invited"),
    "member.invited": lazy("New invitation sent"),
    "member.activated": lazy("Member turned on"),
    "member.deactivated": lazy("Member turned off"),
    "village.created": lazy("Village added"),
    "village.renamed": lazy("Village renamed"),
    "village.merged": lazy("Village merged"),
    "import.unsent": lazy("Unsent records imported"),
}


def record(
    session: Session,
    actor: Member,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str,
    commune_code: str | None,
    **detail: Any,
) -> None:
    """Add an audit event to the caller's transaction. Never put a resident's name in `detail`."""
    session.add(
        AuditEvent(
            actor_id=actor.id,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            commune_code=commune_code,
            detail=detail,
        )
    )


@view(*STAFF)
def audit_log(ctx: Ctx) -> Response:
    """Show the commune's audit events, newest first, filtered by action and period."""
    params = ctx.request.query_params
    values = {k: params.get(k, "")[:40] for k in ("action", "from", "to", "page")}
    errors: dict[str, str] = {}
    try:
        period = parse_days(values["from"], values["to"])
    except InvalidInput as e:
        errors.update(e.fields)
        period = Days()
    action = values["action"] if values["action"] in ACTIONS else ""
    with ctx.db.read() as session:
        commune = scoped_commune(ctx, session)
        where = [AuditEvent.commune_code == commune.code, *period.where(col(AuditEvent.at))]
        if action:
            where.append(AuditEvent.action == action)
        total = (
            0
            if errors
            else session.exec(select(func.count()).select_from(AuditEvent).where(*where)).one()
        )
        page = paging.page_of(values["page"], total)
        events = (
            []
            if errors
            else session.exec(
                select(AuditEvent, Member.name)
                .outerjoin(Member, col(Member.id) == AuditEvent.actor_id)
                .where(*where)
                .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
                .offset(page.offset)
                .limit(page.size)
            ).all()
        )
    base = {k: v for k, v in values.items() if k != "page" and v}
    if ctx.me.role == Role.admin:
        base["commune"] = commune.code
    return ctx.render(
        "console/audit.html",
        {
            "commune": commune,
            "events": events,
            "actions": {k: gettext(v) for k, v in ACTIONS.items()},
            "values": values,
            "errors": errors,
            **paging.context(page, lambda n: "/console/audit?" + urlencode({**base, "page": n})),
        },
        400 if errors else 200,
    )
