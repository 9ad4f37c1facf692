"""The commune's households: search without accents, one household with its sessions and skills,
its printable QR card, and the privacy actions of the 2026 law (export, erase). Every view of a
household's personal data is written to the audit log."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, and_, col, func, or_, select
from starlette.responses import RedirectResponse, Response

from .. import privacy_actions
from ..accounts import InvalidInput
from ..errors import NotFound
from ..exports import service_names
from ..i18n import fmt_date, fmt_datetime, gettext
from ..labels import FIVE_SKILLS, OUTCOMES, SKILLS, label
from ..models import AssistanceSession, Commune, Household, Member, SessionService
from ..periods import today_in_vietnam
from ..text import fold
from ..villages import merges
from . import Ctx, paging, view
from .audit import record
from .console import STAFF, scoped_commune
from .sessions import (
    choices,
    commune_in_scope,
    list_rows,
    scope_query,
    uuid_or_404,
    with_query,
)


def _household_in_scope(ctx: Ctx, session: Session) -> tuple[Household, Commune]:
    household = session.get(Household, uuid_or_404(ctx.request.path_params["household_id"]))
    if household is None:
        raise NotFound()
    return household, commune_in_scope(ctx, session, household.commune_code)


@view(*STAFF)
def household_list(ctx: Ctx) -> Response:
    """Find households by the head's name (with or without accents) or by card code."""
    params = ctx.request.query_params
    q = params.get("q", "")[:100]
    raw_village = params.get("village", "")[:40]
    with ctx.db.read() as session:
        commune = scoped_commune(ctx, session)
        tree = merges(session, commune.code)
        roots, root_villages = tree.roots, tree.remaining
        villages = sorted(root_villages.values(), key=lambda v: v.name_key)
        where: list[Any] = [
            Household.commune_code == commune.code,
            col(Household.deleted_at).is_(None),
        ]
        errors: dict[str, str] = {}
        if raw_village:
            try:
                village = uuid.UUID(raw_village)
            except ValueError:
                village = None
            if village not in root_villages:
                errors["village"] = gettext("Choose a village of the commune.")
            else:
                ids = [vid for vid, root in roots.items() if root == village]
                where.append(col(Household.village_id).in_(ids))
        words = fold(q).split()
        if words:
            by_name = and_(
                *[col(Household.head_name_key).contains(w, autoescape=True) for w in words]
            )
            by_code = col(Household.code).contains(q.strip().upper(), autoescape=True)
            where.append(or_(by_name, by_code))
        total = 0
        if not errors:
            total = session.exec(select(func.count()).select_from(Household).where(*where)).one()
        page = paging.page_of(params.get("page"), total)
        found: list[Household] = []
        if not errors:
            found = list(
                session.exec(
                    select(Household)
                    .where(*where)
                    .order_by(col(Household.head_name_key), col(Household.code))
                    .offset(page.offset)
                    .limit(page.size)
                ).all()
            )
        names = {v.id: v.name for v in villages}
        scope = scope_query(ctx, commune)
        kept = {"q": q, "village": raw_village}
        return ctx.render(
            "console/households.html",
            {
                "commune": commune,
                "households": [(h, names.get(roots.get(h.village_id), "")) for h in found],
                "villages": villages,
                "q": q,
                "village": raw_village,
                "errors": errors,
                **paging.context(
                    page,
                    lambda n: with_query("/console/households", {**scope, **kept, "page": n}),
                ),
                "erased": params.get("erased") == "1",
            },
            400 if errors else 200,
        )


def _detail_context(
    ctx: Ctx, session: Session, household: Household, commune: Commune
) -> dict[str, Any]:
    tree = merges(session, commune.code)
    roots, root_villages = tree.roots, tree.remaining
    village = root_villages.get(roots.get(household.village_id))  # type: ignore[arg-type]
    rows = list(
        session.exec(
            select(AssistanceSession)
            .where(
                AssistanceSession.household_id == household.id,
                col(AssistanceSession.deleted_at).is_(None),
            )
            .order_by(col(AssistanceSession.occurred_at).desc())
        ).all()
    )
    ch = choices(session, commune)
    helped: Counter[str] = Counter()
    if rows:
        services = service_names(session)
        for line in session.exec(
            select(SessionService).where(
                col(SessionService.session_id).in_([r.id for r in rows]),
                SessionService.outcome == "done",
            )
        ):
            helped[services.get(line.service_code, ("", ""))[0]] += 1
    people = {m.id: m.name for m in ch.members}
    return {
        "commune": commune,
        "household": household,
        "erased": privacy_actions.is_erased(household),
        "village": village.name if village else "",
        "consent_by": people.get(household.consent_by) or _name(session, household.consent_by),
        "skills": [
            (label(SKILLS, s), s in (household.skills or []), helped.get(s, 0)) for s in FIVE_SKILLS
        ],
        "other_help": [
            (label(SKILLS, s), helped[s]) for s in SKILLS if s not in FIVE_SKILLS and helped[s]
        ],
        "sessions": list_rows(session, rows, ch),
        "list_url": with_query("/console/households", scope_query(ctx, commune)),
    }


def _name(session: Session, member_id: uuid.UUID) -> str:
    member = session.get(Member, member_id)
    return member.name if member else ""


@view(*STAFF)
def household_detail(ctx: Ctx) -> Response:
    """Show a household: its details, five-skill coverage and sessions (the view is audited)."""
    with ctx.db.write() as session:
        household, commune = _household_in_scope(ctx, session)
        record(session, ctx.me, "household.viewed", "household", household.id, commune.code)
        context = _detail_context(ctx, session, household, commune)
    return ctx.render("console/household.html", {**context, "errors": {}})


@view(*STAFF)
def household_card(ctx: Ctx) -> Response:
    """Show the household's QR card, ready to print."""
    with ctx.db.write() as session:
        household, commune = _household_in_scope(ctx, session)
        if privacy_actions.is_erased(household):
            raise NotFound(gettext("This household has been erased."))
        record(
            session,
            ctx.me,
            "household.viewed",
            "household",
            household.id,
            commune.code,
            page="card",
        )
        tree = merges(session, commune.code)
        roots, root_villages = tree.roots, tree.remaining
        village = root_villages.get(roots.get(household.village_id))  # type: ignore[arg-type]
    return ctx.render(
        "console/household_card.html",
        {
            "household": household,
            "commune": commune,
            "village": village.name if village else "",
        },
    )


def _export(ctx: Ctx, kind: str) -> tuple[dict[str, Any], Household, Commune]:
    with ctx.db.write() as session:
        household, commune = _household_in_scope(ctx, session)
        data = privacy_actions.export_household(session, household)
        record(
            session,
            ctx.me,
            "household.exported",
            "household",
            household.id,
            commune.code,
            format=kind,
        )
    return data, household, commune


@view(*STAFF)
def export_page(ctx: Ctx) -> Response:
    """Show everything kept about a household, as a page to print or save."""
    data, household, commune = _export(ctx, "page")
    return ctx.render(
        "console/household_export.html",
        {
            "data": data,
            "household": household,
            "commune": commune,
            "skill_names": [label(SKILLS, s) for s in data["household"]["skills"]],
            "outcome_labels": {k: gettext(v) for k, v in OUTCOMES.items()},
            "when": lambda iso: fmt_datetime(datetime.fromisoformat(iso)) if iso else "",
            "day": lambda iso: fmt_date(date.fromisoformat(iso)) if iso else "",
            "back_url": f"/console/households/{household.id}",
        },
    )


@view(*STAFF)
def export_json(ctx: Ctx) -> Response:
    """Download everything kept about a household as JSON."""
    data, household, _ = _export(ctx, "json")
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    filename = f"ho-{household.code}-{today_in_vietnam().isoformat()}.json"  # the day in Vietnam
    return Response(
        body,
        media_type="application/json; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )


@view(*STAFF)
def erase(ctx: Ctx) -> Response:
    """Erase a household's personal data, once the card code is typed to confirm."""
    confirm = ctx.field("confirm", 40).strip().upper()
    try:
        with ctx.db.write() as session:
            household, commune = _household_in_scope(ctx, session)
            if privacy_actions.is_erased(household):
                raise InvalidInput({"confirm": gettext("This household has already been erased.")})
            if confirm != household.code:
                raise InvalidInput(
                    {"confirm": gettext("Type the card code exactly as shown to confirm.")}
                )
            privacy_actions.erase_household(session, household, ctx.me)
    except InvalidInput as e:
        with ctx.db.read() as session:
            household, commune = _household_in_scope(ctx, session)
            context = _detail_context(ctx, session, household, commune)
        return ctx.render("console/household.html", {**context, "errors": e.fields}, 400)
    target = {**scope_query(ctx, commune), "erased": "1"}
    return RedirectResponse(with_query("/console/households", target), 303)
