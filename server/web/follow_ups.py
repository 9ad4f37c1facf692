"""The coordinator's follow-ups: open ones due within a week and overdue ones, by village or by
volunteer; give one to another volunteer, or mark it done."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, func, select
from starlette.responses import RedirectResponse, Response

from .. import review
from ..accounts import InvalidInput
from ..errors import NotFound
from ..i18n import gettext
from ..models import AssistanceSession, Commune, Role
from ..periods import today_in_vietnam
from . import Ctx, view
from .console import STAFF, scoped_commune
from .sessions import DONE, choices, list_rows, scope_query, session_in_scope, with_query

DUE_DAYS = 7


def _follow_ups_page(
    ctx: Ctx,
    session: Session,
    commune: Commune,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    by = ctx.request.query_params.get("by") or ctx.field("by", 10)
    by = by if by in ("village", "volunteer") else "village"
    day = today_in_vietnam()
    s = AssistanceSession
    rows = list(
        session.exec(
            select(s)
            .where(
                s.commune_code == commune.code,
                col(s.deleted_at).is_(None),
                col(s.follow_up_on).is_not(None),
                col(s.follow_up_done_at).is_(None),
                col(s.follow_up_on) <= day + timedelta(days=DUE_DAYS),
            )
            .order_by(col(s.follow_up_on), col(s.occurred_at))
        ).all()
    )
    later = session.exec(
        select(func.count())
        .select_from(s)
        .where(
            s.commune_code == commune.code,
            col(s.deleted_at).is_(None),
            col(s.follow_up_done_at).is_(None),
            col(s.follow_up_on) > day + timedelta(days=DUE_DAYS),
        )
    ).one()
    ch = choices(session, commune)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in list_rows(session, rows, ch):
        item["overdue"] = item["row"].follow_up_on < day
        key = item["village"] if by == "village" else item["volunteer"]
        groups[key or gettext("No village")].append(item)
    active = [m for m in ch.members if m.active and m.role in (Role.volunteer, Role.coordinator)]
    done = ctx.request.query_params.get("done", "")
    return ctx.render(
        "console/follow_ups.html",
        {
            "commune": commune,
            "groups": sorted(groups.items()),
            "by": by,
            "later": later,
            "overdue": sum(1 for items in groups.values() for i in items if i["overdue"]),
            "count": len(rows),
            "volunteers": active,
            "errors": errors or {},
            "notice": gettext(DONE[done]) if done in DONE else "",
            "scope": scope_query(ctx, commune),
            "url": lambda **kw: with_query(
                "/console/follow-ups", {**scope_query(ctx, commune), **kw}
            ),
        },
        status,
    )


@view(*STAFF)
def follow_ups(ctx: Ctx) -> Response:
    """Show open follow-ups due within a week and overdue, by village or by volunteer."""
    with ctx.db.read() as session:
        return _follow_ups_page(ctx, session, scoped_commune(ctx, session))


@view(*STAFF)
def follow_up_action(ctx: Ctx) -> Response:
    """Give a follow-up to another volunteer, or mark it done."""
    action = ctx.request.path_params["action"]
    if action not in {"reassign", "done"}:
        raise NotFound()
    try:
        with ctx.db.write() as session:
            row, commune = session_in_scope(ctx, session)
            if action == "reassign":
                raw = ctx.field("volunteer", 40)
                try:
                    volunteer = uuid.UUID(raw)
                except ValueError:
                    raise InvalidInput(
                        {"volunteer": gettext("Choose an active volunteer of the commune.")}
                    ) from None
                review.reassign_follow_up(session, row.id, ctx.me, volunteer, commune.code)
                done = "reassigned"
            else:
                review.follow_up_done(session, row.id, ctx.me, commune.code)
                done = "closed"
    except InvalidInput as e:
        message = next(iter(e.fields.values()))
        with ctx.db.read() as session:
            row, commune = session_in_scope(ctx, session)
            return _follow_ups_page(ctx, session, commune, {str(row.id): message}, 400)
    by = ctx.field("by", 10)
    target = {**scope_query(ctx, commune), "by": by if by == "volunteer" else "", "done": done}
    return RedirectResponse(with_query("/console/follow-ups", target), 303)
