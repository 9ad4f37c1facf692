"""The coordinator's follow-ups: open ones due within a week and overdue ones, by village or by
volunteer; give one to another volunteer, or mark it done. A second tab lists the ones closed in
the last 30 days, from the console or from a volunteer's phone, with who closed each and when."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, func, select
from starlette.responses import RedirectResponse, Response

from .. import review
from ..accounts import InvalidInput
from ..db import utcnow
from ..errors import NotFound
from ..i18n import gettext
from ..models import AssistanceSession, Commune, Member, Role, Village
from ..periods import today_in_vietnam
from . import Ctx, paging, view
from .console import STAFF, scoped_commune
from .sessions import DONE, choices, list_rows, scope_query, session_in_scope, with_query

DUE_DAYS = 7
CLOSED_DAYS = 30


def _follow_ups_page(
    ctx: Ctx,
    session: Session,
    commune: Commune,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    by = ctx.request.query_params.get("by") or ctx.field("by", 10)
    by = by if by in ("village", "volunteer") else "village"
    if ctx.request.query_params.get("show") == "closed":
        return _closed_page(ctx, session, commune, by)
    day = today_in_vietnam()
    s = AssistanceSession
    due = [
        s.commune_code == commune.code,
        col(s.deleted_at).is_(None),
        col(s.follow_up_on).is_not(None),
        col(s.follow_up_done_at).is_(None),
        col(s.follow_up_on) <= day + timedelta(days=DUE_DAYS),
    ]
    count, overdue = session.exec(
        select(func.count(), func.count().filter(col(s.follow_up_on) < day))
        .select_from(s)
        .where(*due)
    ).one()
    page = paging.page_of(ctx.request.query_params.get("page"), count)
    # Sorted by group first, so that a group is one run of rows and pages cut it at most once.
    query = select(s).where(*due)
    if by == "village":
        query = query.outerjoin(Village, col(Village.id) == s.village_id).order_by(
            col(Village.name_key)
        )
    else:
        query = query.outerjoin(Member, col(Member.id) == s.volunteer_id).order_by(
            col(Member.name_key)
        )
    rows = list(
        session.exec(
            query.order_by(col(s.follow_up_on), col(s.occurred_at), col(s.id))
            .offset(page.offset)
            .limit(page.size)
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
            "groups": list(groups.items()),
            "by": by,
            "later": later,
            "overdue": overdue,
            "count": count,
            **paging.context(
                page,
                lambda n: with_query(
                    "/console/follow-ups", {**scope_query(ctx, commune), "by": by, "page": n}
                ),
            ),
            "volunteers": active,
            "show": "open",
            "errors": errors or {},
            "notice": gettext(DONE[done]) if done in DONE else "",
            "scope": scope_query(ctx, commune),
            "url": lambda **kw: with_query(
                "/console/follow-ups", {**scope_query(ctx, commune), **kw}
            ),
        },
        status,
    )


def _closed_page(ctx: Ctx, session: Session, commune: Commune, by: str) -> Response:
    """Follow-ups closed in the last CLOSED_DAYS days, the newest first, with who closed them."""
    s = AssistanceSession
    since = utcnow() - timedelta(days=CLOSED_DAYS)
    where = [s.commune_code == commune.code, col(s.follow_up_done_at) >= since]
    count = session.exec(select(func.count()).select_from(s).where(*where)).one()
    page = paging.page_of(ctx.request.query_params.get("page"), count)
    rows = list(
        session.exec(
            select(s)
            .where(*where)
            .order_by(col(s.follow_up_done_at).desc(), col(s.id))
            .offset(page.offset)
            .limit(page.size)
        ).all()
    )
    ch = choices(session, commune)
    names = {m.id: m.name for m in ch.members}
    items = list_rows(session, rows, ch)
    for item in items:
        item["closed_by"] = names.get(item["row"].follow_up_done_by, "")
    return ctx.render(
        "console/follow_ups.html",
        {
            "commune": commune,
            "show": "closed",
            "groups": [(gettext("Closed in the last %(n)s days", n=CLOSED_DAYS), items)]
            if items
            else [],
            "by": by,
            "count": count,
            "closed_days": CLOSED_DAYS,
            **paging.context(
                page,
                lambda n: with_query(
                    "/console/follow-ups",
                    {**scope_query(ctx, commune), "show": "closed", "page": n},
                ),
            ),
            "errors": {},
            "notice": "",
            "url": lambda **kw: with_query(
                "/console/follow-ups", {**scope_query(ctx, commune), **kw}
            ),
        },
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
    page = ctx.field("page", 6)
    target = {
        **scope_query(ctx, commune),
        "by": by if by == "volunteer" else "",
        "page": page if page.isdigit() and page != "1" else "",
        "done": done,
    }
    return RedirectResponse(with_query("/console/follow-ups", target), 303)
