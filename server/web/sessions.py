"""The coordinator's sessions: the list with filters, one session with its history, review
(approve, return with a comment, approve many), conflicts. The follow-ups page, which lists
sessions the same way, is in follow_ups.py."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from sqlmodel import Session, col, func, select
from starlette.datastructures import QueryParams
from starlette.responses import RedirectResponse, Response

from .. import review
from ..accounts import InvalidInput
from ..errors import NotFound
from ..exports import service_names
from ..i18n import fmt_date, fmt_datetime, gettext, lazy, ngettext
from ..labels import OUTCOMES, REASONS, REVIEW_STATES, label
from ..models import (
    AssistanceSession,
    Commune,
    Household,
    Member,
    RecordHistory,
    Role,
    SessionService,
    Village,
)
from ..periods import Days, parse_days
from ..sync import SESSION_FIELDS
from ..villages import merges
from . import Ctx, paging, view
from .console import STAFF, scoped_commune
from .paging import scope_query, with_query

FILTERS = ("from", "to", "village", "volunteer", "service", "outcome", "state", "dossier")
STATES = {**REVIEW_STATES, "conflict": lazy("Two versions to settle")}
FIELD_NAMES = {
    "household_id": lazy("Household"),
    "village_id": lazy("Village"),
    "occurred_at": lazy("When"),
    "minutes": lazy("Time spent"),
    "people_helped": lazy("People helped"),
    "services": lazy("Services"),
    "guide_slug": lazy("Guide"),
    "notes": lazy("Notes"),
    "follow_up_on": lazy("Follow-up"),
    "deleted": lazy("Deleted"),
}
DONE = {
    "approved": lazy("The session was approved."),
    "returned": lazy("The session was returned to the volunteer."),
    "resolved": lazy("The conflict was settled."),
    "reassigned": lazy("The follow-up was given to another volunteer."),
    "closed": lazy("The follow-up was marked done."),
}


# --- Scope ------------------------------------------------------------------------------------


def uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as e:
        raise NotFound() from e


def commune_in_scope(ctx: Ctx, session: Session, code: str) -> Commune:
    """The commune of a record, when this member may see it: a coordinator's own, or one of
    the admin's province. Anything else is "not found", so ids of other communes leak nothing."""
    commune = session.get(Commune, code)
    me = ctx.me
    if commune is None:
        raise NotFound()
    if me.role == Role.coordinator and commune.code != me.commune_code:
        raise NotFound()
    if me.role == Role.admin and commune.province_code != me.province_code:
        raise NotFound()
    return commune


def session_in_scope(ctx: Ctx, session: Session) -> tuple[AssistanceSession, Commune]:
    row = session.get(AssistanceSession, uuid_or_404(ctx.request.path_params["session_id"]))
    if row is None:
        raise NotFound()
    return row, commune_in_scope(ctx, session, row.commune_code)


# --- Filters ----------------------------------------------------------------------------------


@dataclass
class Filters:
    period: Days
    village: uuid.UUID | None = None
    volunteer: uuid.UUID | None = None
    service: str | None = None
    outcome: str | None = None
    state: str | None = None
    dossier: str | None = None


@dataclass
class Choices:
    """What the filter form offers: the commune's villages, members and the catalogue."""

    villages: list[Village]
    members: list[Member]
    services: dict[str, tuple[str, str]]
    roots: dict[uuid.UUID, uuid.UUID]


def choices(session: Session, commune: Commune) -> Choices:
    tree = merges(session, commune.code)
    roots, root_villages = tree.roots, tree.remaining
    members = session.exec(
        select(Member).where(Member.commune_code == commune.code).order_by(Member.name_key)
    ).all()
    return Choices(
        villages=sorted(root_villages.values(), key=lambda v: v.name_key),
        members=list(members),
        services=service_names(session),
        roots=roots,
    )


def _parse_uuid(raw: str, known: set[uuid.UUID], name: str, message: str) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        value = uuid.UUID(raw)
    except ValueError:
        value = None
    if value not in known:
        raise InvalidInput({name: message})
    return value


def parse_filters(values: dict[str, str], ch: Choices) -> tuple[Filters, dict[str, str]]:
    """Filters from the query; a wrong value gets a message instead of being ignored silently."""
    errors: dict[str, str] = {}
    f = Filters(Days())

    def attempt(parse: Any) -> None:
        try:
            parse()
        except InvalidInput as e:
            errors.update(e.fields)

    def period() -> None:
        f.period = parse_days(values["from"], values["to"])

    def village() -> None:
        known = {v.id for v in ch.villages}
        msg = gettext("Choose a village of the commune.")
        f.village = _parse_uuid(values["village"], known, "village", msg)

    def volunteer() -> None:
        known = {m.id for m in ch.members}
        msg = gettext("Choose a member of the commune.")
        f.volunteer = _parse_uuid(values["volunteer"], known, "volunteer", msg)

    def pick(name: str, allowed: Any) -> Any:
        def parse() -> None:
            raw = values[name]
            if raw and raw not in allowed:
                raise InvalidInput({name: gettext("This value is not allowed.")})
            setattr(f, name, raw or None)

        return parse

    attempt(period)
    attempt(village)
    attempt(volunteer)
    attempt(pick("service", ch.services))
    attempt(pick("outcome", OUTCOMES))
    attempt(pick("state", STATES))
    attempt(pick("dossier", ("yes", "no")))
    return f, errors


def _where(f: Filters, commune: Commune, ch: Choices) -> list[Any]:
    s = AssistanceSession
    where: list[Any] = [
        s.commune_code == commune.code,
        col(s.deleted_at).is_(None),
        *f.period.where(col(s.occurred_at)),
    ]
    if f.village:
        ids = [vid for vid, root in ch.roots.items() if root == f.village]
        where.append(col(s.village_id).in_(ids))
    if f.volunteer:
        where.append(s.volunteer_id == f.volunteer)
    if f.state == "conflict":
        where.append(s.conflict == sa.true())
    elif f.state:
        where.append(s.review_state == f.state)
    line = [col(SessionService.session_id) == s.id]
    if f.service:
        line.append(SessionService.service_code == f.service)
    if f.outcome:
        line.append(SessionService.outcome == f.outcome)
    if len(line) > 1:
        where.append(sa.exists().where(*line))
    filed = sa.exists().where(
        col(SessionService.session_id) == s.id,
        col(SessionService.dossier_code).is_not(None),
        SessionService.dossier_code != "",
    )
    if f.dossier == "yes":
        where.append(filed)
    elif f.dossier == "no":
        where.append(~filed)
    return where


# --- Rows for the pages -----------------------------------------------------------------------


def list_rows(session: Session, rows: list[AssistanceSession], ch: Choices) -> list[dict[str, Any]]:
    """What a list shows of each session, with names looked up in a handful of queries."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    lines: dict[uuid.UUID, list[SessionService]] = defaultdict(list)
    for line in session.exec(select(SessionService).where(col(SessionService.session_id).in_(ids))):
        lines[line.session_id].append(line)
    household_ids = {r.household_id for r in rows if r.household_id}
    households = {
        h.id: h for h in session.exec(select(Household).where(col(Household.id).in_(household_ids)))
    }
    names = {m.id: m.name for m in ch.members}
    villages = {v.id: v.name for v in ch.villages}
    order = {code: i for i, code in enumerate(ch.services)}
    out = []
    for r in rows:
        hh = households.get(r.household_id) if r.household_id else None
        out.append(
            {
                "row": r,
                "village": villages.get(ch.roots.get(r.village_id), "") if r.village_id else "",
                "household": hh,
                "volunteer": names.get(r.volunteer_id, ""),
                "services": [
                    {
                        "name": ch.services.get(line.service_code, ("", line.service_code))[1],
                        "outcome": label(OUTCOMES, line.outcome),
                        "done": line.outcome == "done",
                        "reason": label(REASONS, line.reason) if line.reason else "",
                        "dossier": line.dossier_code or "",
                    }
                    for line in sorted(lines[r.id], key=lambda x: order.get(x.service_code, 99))
                ],
            }
        )
    return out


def _list_page(
    ctx: Ctx,
    session: Session,
    commune: Commune,
    params: QueryParams | dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = {k: str(params.get(k, ""))[:60] for k in (*FILTERS, "page")}
    ch = choices(session, commune)
    f, filter_errors = parse_filters(values, ch)
    errors = {**filter_errors, **(errors or {})}
    if filter_errors:
        status = 400
    counts: dict[str, int] = {}
    rows: list[AssistanceSession] = []
    page = paging.page_of(1, 0)
    if not filter_errors:
        where = _where(f, commune, ch)
        s = AssistanceSession
        for state, n in session.exec(
            select(s.review_state, func.count()).where(*where).group_by(s.review_state)
        ).all():
            counts[state] = n
        counts["conflict"] = session.exec(
            select(func.count()).select_from(s).where(*where, s.conflict == sa.true())
        ).one()
        total = sum(n for k, n in counts.items() if k != "conflict")
        page = paging.page_of(values["page"], total)
        rows = list(
            session.exec(
                select(s)
                .where(*where)
                .order_by(col(s.occurred_at).desc(), col(s.id))
                .offset(page.offset)
                .limit(page.size)
            ).all()
        )
    scope = scope_query(ctx, commune)
    kept = {k: values[k] for k in FILTERS if values[k]}
    notice = ""
    approved = str(params.get("approved", ""))
    if approved.isdigit():
        notice = ngettext("%(num)s session approved.", "%(num)s sessions approved.", int(approved))
        skipped = str(params.get("skipped", ""))
        if skipped.isdigit() and int(skipped):
            notice += " " + gettext(
                "%(n)s were left as they are: already approved, or with two versions to settle.",
                n=skipped,
            )
    return ctx.render(
        "console/sessions.html",
        {
            "commune": commune,
            "choices": ch,
            "values": values,
            "errors": errors,
            "sessions": list_rows(session, rows, ch),
            "counts": counts,
            **paging.context(
                page, lambda n: with_query("/console/sessions", {**scope, **kept, "page": n})
            ),
            "clear_url": with_query("/console/sessions", scope),
            "count_links": [
                (
                    with_query("/console/sessions", {**scope, **kept, "state": key}),
                    gettext(text),
                    counts[key],
                )
                for key, text in STATES.items()
                if counts.get(key)
            ],
            "village_options": [(v.id, v.name) for v in ch.villages],
            "member_options": [(m.id, m.name) for m in ch.members],
            "service_options": [(code, name) for code, (_, name) in ch.services.items()],
            "outcome_options": [(k, gettext(v)) for k, v in OUTCOMES.items()],
            "state_options": [(k, gettext(v)) for k, v in STATES.items()],
            "state_labels": {k: gettext(v) for k, v in STATES.items()},
            "back_query": urlencode({**kept, "page": page.number}),
            "notice": notice,
        },
        status,
    )


@view(*STAFF)
def session_list(ctx: Ctx) -> Response:
    """Show the commune's sessions, newest first, 50 a page, with filters and counts."""
    with ctx.db.read() as session:
        commune = scoped_commune(ctx, session)
        return _list_page(ctx, session, commune, ctx.request.query_params)


def _back_params(raw: str) -> dict[str, str]:
    """The list's filters, carried through the bulk form; only known names are kept."""
    return {k: v[:60] for k, v in parse_qsl(raw[:1000]) if k in (*FILTERS, "page")}


@view(*STAFF)
def approve_many(ctx: Ctx) -> Response:
    """Approve the sessions ticked on the list."""
    assert ctx.form is not None
    back = _back_params(ctx.field("back", 1000))
    try:
        ids = [uuid.UUID(str(v)) for v in ctx.form.getlist("ids")]
    except ValueError as e:
        raise NotFound() from e
    try:
        with ctx.db.write() as session:
            commune = scoped_commune(ctx, session)
            done, skipped = review.approve_many(session, ids, ctx.me, commune.code)
    except InvalidInput as e:
        if "session" in e.fields:
            raise NotFound(e.fields["session"]) from e
        with ctx.db.read() as session:
            commune = scoped_commune(ctx, session)
            return _list_page(ctx, session, commune, back, e.fields, 400)
    target = {**scope_query(ctx, commune), **back, "approved": done, "skipped": skipped}
    return RedirectResponse(with_query("/console/sessions", target), 303)


# --- One session ------------------------------------------------------------------------------


def _value(name: str, data: dict[str, Any], ctx_names: dict[str, Any]) -> str:
    """A field of a session version as a person reads it."""
    value = data.get(name)
    if value in (None, "", []):
        return "—"
    if name == "household_id":
        hh = ctx_names["households"].get(value)
        return hh or gettext("Household")
    if name == "village_id":
        return ctx_names["villages"].get(value, "—")
    if name == "occurred_at":
        try:
            return fmt_datetime(datetime.fromisoformat(value))
        except (TypeError, ValueError):
            return str(value)
    if name == "follow_up_on":
        try:
            return fmt_date(date.fromisoformat(value))
        except (TypeError, ValueError):
            return str(value)
    if name == "services":
        parts = []
        for line in value:
            text = ctx_names["services"].get(line.get("service"), ("", line.get("service")))[1]
            text += ": " + label(OUTCOMES, line.get("outcome"))
            if line.get("reason"):
                text += f" ({label(REASONS, line['reason'])})"
            if line.get("dossier_code"):
                text += f" · {line['dossier_code']}"
            parts.append(text)
        return "; ".join(parts)
    if name == "deleted":
        return gettext("Yes") if value else gettext("No")
    return str(value)


def _history(session: Session, row: AssistanceSession) -> list[dict[str, Any]]:
    """The session's versions, oldest first, each with what changed from the one before."""
    entries = session.exec(
        select(RecordHistory, Member.name)
        .outerjoin(Member, col(Member.id) == RecordHistory.member_id)
        .where(RecordHistory.entity == "session", RecordHistory.record_id == row.id)
        .order_by(col(RecordHistory.id))
    ).all()
    out, before = [], {}
    for h, who in entries:
        data = h.data or {}
        action = data.get("_action")
        if action in HISTORY_ACTIONS:
            what = gettext(HISTORY_ACTIONS[action])
        elif h.conflict:
            what = gettext("Changed on the phone while someone else changed it too")
        elif h.version == 1:
            what = gettext("Logged on the phone")
        else:
            what = gettext("Changed on the phone")
        changed = [
            gettext(FIELD_NAMES[n])
            for n in SESSION_FIELDS
            if before and n in data and data.get(n) != before.get(n)
        ]
        out.append(
            {
                "version": h.version,
                "at": h.at,
                "who": who or "",
                "what": what,
                "changed": changed,
                "comment": data.get("review_comment") if action == "session.returned" else "",
            }
        )
        before = data
    return out


HISTORY_ACTIONS = {
    "session.approved": lazy("Approved"),
    "session.returned": lazy("Returned to the volunteer"),
    "session.conflict_resolved": lazy("Conflict settled"),
    "follow_up.reassigned": lazy("Follow-up given to another volunteer"),
    "follow_up.done": lazy("Follow-up marked done"),
    "household.erased": lazy("Personal data removed"),
}


def _detail_page(
    ctx: Ctx,
    session: Session,
    row: AssistanceSession,
    commune: Commune,
    errors: dict[str, str] | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    ch = choices(session, commune)
    [shown] = list_rows(session, [row], ch)
    conflict = None
    if row.conflict:
        kept, client = review.conflict_versions(session, row)
        names = {
            "households": _household_labels(session, [kept, client or {}]),
            "villages": {str(k): v.name for k, v in _all_villages(session, commune).items()},
            "services": ch.services,
        }
        conflict = {
            "has_client": client is not None,
            "fields": [
                (
                    gettext(FIELD_NAMES[n]),
                    _value(n, kept, names),
                    _value(n, client or {}, names),
                )
                for n in review.differing_fields(kept, client)
            ],
        }
    reviewer = session.get(Member, row.reviewed_by) if row.reviewed_by else None
    done = ctx.request.query_params.get("done", "")
    return ctx.render(
        "console/session.html",
        {
            "commune": commune,
            "s": shown,
            "row": row,
            "state_label": label(STATES, row.review_state),
            "reviewer": reviewer,
            "history": _history(session, row),
            "conflict": conflict,
            "errors": errors or {},
            "values": values or {},
            "notice": gettext(DONE[done]) if done in DONE else "",
            "list_url": with_query("/console/sessions", scope_query(ctx, commune)),
        },
        status,
    )


def _household_labels(session: Session, versions: list[dict[str, Any]]) -> dict[str, str]:
    ids = set()
    for data in versions:
        try:
            ids.add(uuid.UUID(str(data.get("household_id"))))
        except ValueError:
            continue
    found = session.exec(select(Household).where(col(Household.id).in_(ids))).all()
    return {str(h.id): f"{h.code} · {h.head_name}" for h in found}


def _all_villages(session: Session, commune: Commune) -> dict[uuid.UUID, Village]:
    return {
        v.id: v for v in session.exec(select(Village).where(Village.commune_code == commune.code))
    }


@view(*STAFF)
def session_detail(ctx: Ctx) -> Response:
    """Show one session: its lines, its review, its history and, if flagged, both versions."""
    with ctx.db.read() as session:
        row, commune = session_in_scope(ctx, session)
        return _detail_page(ctx, session, row, commune)


@view(*STAFF)
def session_action(ctx: Ctx) -> Response:
    """Approve, return with a comment, or settle a conflict."""
    action = ctx.request.path_params["action"]
    if action not in {"approve", "return", "resolve"}:
        raise NotFound()
    comment = ctx.field("comment", 2000)
    try:
        with ctx.db.write() as session:
            row, commune = session_in_scope(ctx, session)
            if action == "approve":
                review.approve(session, row.id, ctx.me, commune.code)
                done = "approved"
            elif action == "return":
                review.return_to_volunteer(session, row.id, ctx.me, comment, commune.code)
                done = "returned"
            else:
                review.resolve_conflict(
                    session, row.id, ctx.me, ctx.field("keep", 10), commune.code
                )
                done = "resolved"
    except InvalidInput as e:
        with ctx.db.read() as session:
            row, commune = session_in_scope(ctx, session)
            return _detail_page(ctx, session, row, commune, e.fields, 400, {"comment": comment})
    return RedirectResponse(f"/console/sessions/{row.id}?done={done}", 303)
