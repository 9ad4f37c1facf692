"""The dashboard of a commune, the province roll-up, the admin's API keys, and the read-only
indicators API for the province's data warehouse (LGSP). The counting is in server/reports.py."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_percent
from sqlmodel import Session, col, func, select
from starlette.responses import JSONResponse, RedirectResponse, Response

from .. import labels, periods, reports, villages
from ..accounts import InvalidInput, clean_name, token_hash
from ..db import utcnow
from ..errors import BadRequest, NotFound, Unauthorized
from ..i18n import current_locale, fmt_date, fmt_number, gettext
from ..models import ApiToken, AuditEvent, Commune, Member, Province, Role
from ..periods import Period, PeriodError
from ..reports import Figures
from . import Ctx, view

TOKEN_PREFIX = "lsk_"
LAST_USED_EVERY = timedelta(minutes=1)  # how often a key's last use is written down


# --- Periods from a GET form --------------------------------------------------------------------


@dataclass
class PeriodChoice:
    """The period a page shows, and what its form should show (with errors, if any)."""

    period: Period
    kind: str
    start: str
    end: str
    errors: dict[str, str]


def choose_period(ctx: Ctx, today: date) -> PeriodChoice:
    """The period in the query; a period that cannot be read leaves this month and its errors."""
    params = ctx.request.query_params
    raw = {k: params.get(k, "")[:20] for k in ("period", "from", "to")}
    try:
        period = periods.parse_period(raw, today)
    except PeriodError as e:
        period = periods.month_of(today)
        return PeriodChoice(period, raw["period"] or "custom", raw["from"], raw["to"], e.fields)
    kind = period.kind
    if period.key and period != periods.parse_period({"period": kind}, today):
        kind = "custom"  # a past month, quarter or week: show its dates
    return PeriodChoice(period, kind, period.start.isoformat(), period.last.isoformat(), {})


def period_text(period: Period) -> str:
    return f"{fmt_date(period.start)} – {fmt_date(period.last)}"


def _link(path: str, **params: str) -> str:
    query = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(query)}" if query else path


def _period_links(path: str, choice: PeriodChoice, today: date, **extra: str) -> dict[str, Any]:
    period = choice.period
    after = Period(period.kind, period.end, period.end + (period.end - period.start))
    if period.kind == "month":
        after = periods.month_of(period.end)
    elif period.kind == "quarter":
        after = periods.quarter_of(period.end)
    return {
        "earlier_url": _link(path, **extra, **period.previous().query()),
        "later_url": _link(path, **extra, **after.query()) if after.start <= today else None,
    }


# --- Charts (SVG drawn here, no script, no inline style) ----------------------------------------


@dataclass
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    tick: str = ""  # the label under a column, or "" when there is no room for it


@dataclass
class Chart:
    id: str
    title: str
    width: int
    height: int
    bars: list[Bar]
    top: int  # the largest value, written on the axis of a column chart
    headings: list[str]  # of the table under the chart: what each row is, then its numbers
    rows: list[tuple[str, list[str]]]


CHART_WIDTH = 360  # the drawing is as wide as a phone; CSS scales it
ROW = 48  # a bar and its label, in a bar chart


def bar_chart(
    id: str,
    title: str,
    items: list[tuple[str, int]],
    headings: list[str],
    rows: list[tuple[str, list[str]]] | None = None,
) -> Chart:
    """Horizontal bars: the label above each bar, the value at its end."""
    top = max((v for _, v in items), default=0) or 1
    room = CHART_WIDTH - 60
    bars = []
    for i, (label, value) in enumerate(items):
        width = round(room * value / top, 1)
        bars.append(Bar(_short(label), value, 0, i * ROW + 24, max(width, 1 if value else 0), 16))
    if rows is None:
        rows = [(label, [fmt_number(value)]) for label, value in items]
    return Chart(id, title, CHART_WIDTH, max(len(items), 1) * ROW, bars, top, headings, rows)


def column_chart(
    id: str, title: str, items: list[tuple[str, str, int]], headings: list[str]
) -> Chart:
    """Columns over time; `items` are (label for the table, tick under the column, value)."""
    top = max((v for _, _, v in items), default=0) or 1
    left, right, plot_top, plot_bottom = 36, CHART_WIDTH - 4, 12, 150
    slot = (right - left) / max(len(items), 1)
    every = 1 if len(items) <= 6 else 2 if len(items) <= 12 else 4 if len(items) <= 24 else 8
    bars = []
    for i, (label, tick, value) in enumerate(items):
        height = round((plot_bottom - plot_top) * value / top, 1)
        bars.append(
            Bar(
                label,
                value,
                round(left + i * slot + slot * 0.15, 1),
                round(plot_bottom - height, 1),
                round(slot * 0.7, 1),
                height,
                tick if i % every == 0 else "",
            )
        )
    rows = [(label, [fmt_number(value)]) for label, _, value in items]
    return Chart(id, title, CHART_WIDTH, 178, bars, top, headings, rows)


def _short(text: str, size: int = 36) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


# --- The dashboard of one commune ---------------------------------------------------------------


def skill_label(skill: str) -> str:
    return labels.label(labels.SKILLS, skill)


def reason_label(reason: str | None) -> str:
    return gettext(labels.REASONS.get(reason or "other", labels.REASONS["other"]))


def change(now: int, before: int) -> str:
    """+12, −3 or ±0, with a real minus sign."""
    diff = now - before
    sign = "+" if diff > 0 else "−" if diff < 0 else "±"
    return f"{sign}{fmt_number(abs(diff))}"


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value, locale=current_locale.get())


def _headline(board: reports.Dashboard) -> list[dict[str, Any]]:
    now, before = board.now, board.before
    rows = [
        (gettext("Sessions"), now.sessions, before.sessions),
        (gettext("Households helped"), now.households, before.households),
        (gettext("People helped"), now.people, before.people),
        (gettext("Services done"), now.done, before.done),
        (gettext("Dossiers filed"), now.dossiers, before.dossiers),
        (gettext("Active volunteers"), now.volunteers, before.volunteers),
    ]
    cards = [
        {"label": label, "value": fmt_number(a), "before": fmt_number(b), "change": change(a, b)}
        for label, a, b in rows
    ]
    cards.append(
        {
            "label": gettext("Share of services finished"),
            "value": percent(now.completion),
            "before": percent(before.completion),
            "change": "",
        }
    )
    return cards


def commune_page(ctx: Ctx, session: Session, commune: Commune) -> Response:
    """The dashboard of a commune (a coordinator's own, or one an admin opened)."""
    today = periods.today_in_vietnam()
    choice = choose_period(ctx, today)
    board = reports.dashboard(session, commune, choice.period, today)
    province = session.get(Province, commune.province_code)
    admin = ctx.me.role == Role.admin
    path = f"/console/province/communes/{commune.code}" if admin else "/console/"
    locale = current_locale.get()

    def service_name(code: str) -> str:
        s = board.services.get(code)
        return (s.name_vi if locale == "vi" else s.name_en) if s else code

    now = board.now
    weeks = column_chart(
        "weeks",
        gettext("Sessions per week"),
        [
            (
                gettext("Week of %(day)s", day=fmt_date(monday)),
                f"{monday.day}/{monday.month}",
                n,
            )
            for monday, n in board.weeks
        ],
        [gettext("Week"), gettext("Sessions")],
    )
    skills = bar_chart(
        "skills",
        gettext("Services done, by skill"),
        [(skill_label(s), now.done_by_skill.get(s, 0)) for s in labels.SKILLS],
        [gettext("Skill"), gettext("Services done")],
    )
    split: dict[str, dict[str, int]] = {}
    for outcome, reason, n in now.top_reasons():
        split.setdefault(reason or "other", {})[outcome] = n
    order = sorted(split, key=lambda r: (-sum(split[r].values()), r))
    reasons = bar_chart(
        "reasons",
        gettext("Why a service was not done"),
        [(reason_label(r), sum(split[r].values())) for r in order],
        [gettext("Reason"), gettext("Could not"), gettext("Not finished"), gettext("Total")],
        [
            (
                reason_label(r),
                [
                    fmt_number(split[r].get(reports.Outcome.could_not, 0)),
                    fmt_number(split[r].get(reports.Outcome.not_finished, 0)),
                    fmt_number(sum(split[r].values())),
                ],
            )
            for r in order
        ],
    )
    village_rows = board.villages
    by_village = bar_chart(
        "villages",
        gettext("Sessions by village"),
        [(v.name or gettext("No village"), v.sessions) for v in village_rows],
        [gettext("Village"), gettext("Sessions")],
    )
    households = board.households
    coverage = bar_chart(
        "coverage",
        gettext("Households where someone can now do it, whole commune"),
        [(skill_label(s), board.coverage[s]) for s in labels.FIVE_SKILLS],
        [gettext("Skill"), gettext("Households"), gettext("Share")],
        [
            (
                skill_label(s),
                [
                    fmt_number(board.coverage[s]),
                    percent(board.coverage[s] / households if households else None),
                ],
            )
            for s in labels.FIVE_SKILLS
        ],
    )
    services = sorted(now.services.values(), key=lambda t: (-t.total, service_name(t.code)))
    context = {
        "commune": commune,
        "province": province,
        "board": board,
        "choice": choice,
        "period_text": period_text(choice.period),
        "previous_text": period_text(board.previous),
        "form_action": path,
        **_period_links(path, choice, today),
        "cards": _headline(board),
        "charts": {
            "weeks": weeks,
            "skills": skills,
            "reasons": reasons,
            "villages": by_village,
            "coverage": coverage,
        },
        "services": [
            {"name": service_name(t.code), "done": t.done, "total": t.total, "rate": t.rate}
            for t in services
        ],
        "villages": village_rows,
        "five_skills": [(s, skill_label(s)) for s in labels.FIVE_SKILLS],
        "coverage": board.coverage,
        "households": households,
        "percent": percent,
        "admin": admin,
        "member_count": session.exec(
            select(func.count()).select_from(Member).where(Member.commune_code == commune.code)
        ).one(),
        "village_count": len(villages.active_villages(session, commune.code)),
    }
    return ctx.render("console/home.html", context, 400 if choice.errors else 200)


@view(Role.admin)
def commune_for_admin(ctx: Ctx) -> Response:
    """Show a commune's dashboard to the admin of its province."""
    code = ctx.request.path_params["code"][:10]
    with ctx.db.read() as session:
        commune = session.get(Commune, code)
        if (
            commune is None
            or commune.in_use_since is None
            or commune.province_code != ctx.me.province_code
        ):
            raise NotFound()
        return commune_page(ctx, session, commune)


# --- The province roll-up -----------------------------------------------------------------------

SORTS = {
    "name": lambda r: (r.commune.name_key, r.commune.code),
    "sessions": lambda r: r.now.sessions,
    "households": lambda r: r.now.households,
    "people": lambda r: r.now.people,
    "done": lambda r: r.now.done,
    "dossiers": lambda r: r.now.dossiers,
    "completion": lambda r: -1 if r.now.completion is None else r.now.completion,
    "volunteers": lambda r: r.now.volunteers,
    "overdue": lambda r: r.follow_ups.overdue,
}


def _totals(rows: list[reports.CommuneRow]) -> Figures:
    total = Figures()
    for r in rows:
        for name in ("sessions", "households", "people", "volunteers", "lines", "done", "dossiers"):
            setattr(total, name, getattr(total, name) + getattr(r.now, name))
    return total


def rollup_context(ctx: Ctx, session: Session, province: str) -> dict[str, Any]:
    """What the province page adds: the period form and the figures of each commune in use."""
    today = periods.today_in_vietnam()
    choice = choose_period(ctx, today)
    rows = reports.rollup(session, province, choice.period, today)
    params = ctx.request.query_params
    sort = params.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    order = params.get("order", "")
    if order not in ("asc", "desc"):
        order = "asc" if sort == "name" else "desc"
    rows.sort(key=SORTS["name"])
    if sort != "name":  # a stable sort: ties stay in name order, either way
        rows.sort(key=SORTS[sort], reverse=order == "desc")
    elif order == "desc":
        rows.reverse()
    keep = choice.period.query() if not choice.errors else {}
    # The demo commune's made-up figures stay out of the province's totals unless asked for.
    with_demo = params.get("demo") == "1"
    if with_demo:
        keep["demo"] = "1"

    def sort_url(key: str) -> str:
        if key == sort:
            flip = "desc" if order == "asc" else "asc"
        else:
            flip = "asc" if key == "name" else "desc"
        return _link("/console/province", **keep, sort=key, order=flip) + "#communes"

    headings = [
        ("name", gettext("Commune")),
        ("sessions", gettext("Sessions")),
        ("households", gettext("Households helped")),
        ("people", gettext("People helped")),
        ("done", gettext("Services done")),
        ("dossiers", gettext("Dossiers filed")),
        ("completion", gettext("Completed")),
        ("volunteers", gettext("Active volunteers")),
        ("overdue", gettext("Overdue follow-ups")),
    ]
    counted = [r for r in rows if with_demo or not r.demo]
    total = _totals(counted)
    return {
        "choice": choice,
        "period_text": period_text(choice.period),
        "previous_text": period_text(choice.period.compared(today)),
        "form_action": "/console/province",
        "form_anchor": "#communes",
        **_period_links("/console/province", choice, today, sort=sort, order=order),
        "rollup": rows,
        "headings": [
            (key, label, sort_url(key), (order + "ending") if key == sort else None)
            for key, label in headings
        ],
        "sort": sort,
        "order": order,
        "total": total,
        "total_overdue": sum(r.follow_ups.overdue for r in counted),
        "demo_rows": sum(1 for r in rows if r.demo),
        "with_demo": with_demo,
        "demo_url": _link(
            "/console/province",
            **{**keep, "demo": "" if with_demo else "1"},
            sort=sort,
            order=order,
        )
        + "#communes",
        "inactive": sum(1 for r in rows if not r.now.active),
        "change": change,
        "percent": percent,
    }


# --- API keys for the data warehouse ------------------------------------------------------------


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _tokens_page(
    ctx: Ctx,
    session: Session,
    errors: dict[str, str],
    status: int = 200,
    token: str | None = None,
    created: ApiToken | None = None,
    name: str = "",
) -> Response:
    province = session.get(Province, ctx.me.province_code)
    tokens = list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.province_code == ctx.me.province_code)
            .order_by(col(ApiToken.revoked_at).is_not(None), col(ApiToken.created_at).desc())
        ).all()
    )
    example_period = periods.month_of(periods.today_in_vietnam()).previous().key
    return ctx.render(
        "console/tokens.html",
        {
            "province": province,
            "tokens": tokens,
            "errors": errors,
            "token": token,
            "created": created,
            "name": name,
            "api_url": f"{ctx.settings.base_url}/api/v1/indicators?period={example_period}",
        },
        status,
    )


def _audit(session: Session, ctx: Ctx, action: str, token: ApiToken) -> None:
    session.add(
        AuditEvent(
            actor_id=ctx.me.id,
            action=action,
            target_type="api_token",
            target_id=str(token.id),
            detail={"name": token.name, "province": token.province_code},
        )
    )


@view(Role.admin)
def tokens(ctx: Ctx) -> Response:
    """List the province's API keys; on POST, make one and show it once."""
    if ctx.me.province_code is None:
        return RedirectResponse("/console/province", 303)
    if ctx.reading:
        with ctx.db.read() as session:
            return _tokens_page(ctx, session, {})
    raw_name = ctx.field("name", 200)
    try:
        name = clean_name(raw_name)
    except InvalidInput:
        with ctx.db.read() as session:
            message = gettext("Give the key a name, for example who will use it.")
            return _tokens_page(ctx, session, {"name": message}, 400, name=raw_name)
    token = new_token()
    with ctx.db.write() as session:
        row = ApiToken(
            province_code=ctx.me.province_code,
            name=name,
            token_hash=token_hash(token),
            created_by=ctx.me.id,
        )
        session.add(row)
        session.flush()
        _audit(session, ctx, "api_token.created", row)
    with ctx.db.read() as session:
        response = _tokens_page(ctx, session, {}, token=token, created=row)
    response.headers["Cache-Control"] = "no-store"  # the key is shown once: keep no copy
    return response


@view(Role.admin)
def revoke_token(ctx: Ctx) -> Response:
    """Revoke an API key of the admin's province: it stops working at once."""
    try:
        token_id = uuid.UUID(ctx.request.path_params["token_id"])
    except ValueError as e:
        raise NotFound() from e
    with ctx.db.write() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.province_code != ctx.me.province_code:
            raise NotFound()
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
            _audit(session, ctx, "api_token.revoked", row)
    return RedirectResponse("/console/province/tokens", 303)


# --- The indicators API -------------------------------------------------------------------------


def _bearer(ctx: Ctx) -> ApiToken:
    """The API key in `Authorization: Bearer …`; cookies are not looked at."""
    challenge = {"WWW-Authenticate": 'Bearer realm="langso"'}
    scheme, _, value = ctx.request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > 200:
        raise Unauthorized(
            gettext("Send an API key in the Authorization header: Bearer <key>."),
            headers=challenge,
        )
    with ctx.db.read() as session:
        token = session.exec(
            select(ApiToken).where(ApiToken.token_hash == token_hash(value))
        ).first()
    if token is None or token.revoked_at is not None:
        raise Unauthorized(gettext("This API key is not valid or was revoked."), headers=challenge)
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        with ctx.db.write() as session:
            row = session.get(ApiToken, token.id)
            if row is not None:
                row.last_used_at = now
                session.add(row)
    return token


def figures_json(f: Figures) -> dict[str, Any]:
    reasons: dict[str, dict[str, int]] = {o: {} for o in reports.NOT_DONE}
    for (outcome, reason), n in sorted(f.reasons.items()):
        reasons.setdefault(outcome, {})[reason or "other"] = n
    return {
        "sessions": f.sessions,
        "households_helped": f.households,
        "people_helped": f.people,
        "active_volunteers": f.volunteers,
        "services_tried": f.lines,
        "services_done": f.done,
        "completion_rate": None if f.completion is None else round(f.completion, 4),
        "dossiers_filed": f.dossiers,
        "services_done_by_skill": {s: f.done_by_skill.get(s, 0) for s in labels.SKILLS},
        "not_done_reasons": reasons,
    }


def _period_json(period: Period) -> dict[str, Any]:
    return {
        "kind": period.kind,
        "key": period.key,
        "from": period.start.isoformat(),
        "to": period.last.isoformat(),
    }


@view(public=True)
def indicators_api(ctx: Ctx) -> Response:
    """Indicators of every commune in use in the API key's province, for the data warehouse.
    ---
    summary: Indicators per commune for a period
    description: >
      Read-only, for the province's data warehouse (LGSP). Send the key made on
      /console/province/tokens as `Authorization: Bearer <key>`; cookies are ignored. Dates are
      days in Vietnam's time (Asia/Ho_Chi_Minh); a period is `period` (2026-10 for a month,
      2026-Q4, 2026-W40, or week, month, quarter for the current one) or `from` and `to` (both
      days included, at most two years). Without either: the current month. Deleted sessions
      never count. Follow-ups are as of today, whatever the period.
    parameters:
      - {name: period, in: query, required: false, schema: {type: string, example: "2026-10"}}
      - {name: from, in: query, required: false, schema: {type: string, format: date}}
      - {name: to, in: query, required: false, schema: {type: string, format: date}}
    responses:
      "200":
        description: >
          {province: {code, name}, period: {kind, key, from, to}, previous_period, generated_at,
          communes: [{code, name, in_use_since, active, sessions, households_helped,
          people_helped, active_volunteers, services_tried, services_done, completion_rate,
          dossiers_filed, services_done_by_skill: {skill: n}, not_done_reasons:
          {not_finished: {reason: n}, could_not: {reason: n}}, follow_ups_open,
          follow_ups_overdue, previous: {the same figures for the period before}}]}
      "400":
        description: The period cannot be read; `fields` names the parameter.
      "401":
        description: No API key, or a key that is not valid or was revoked.
    """
    token = _bearer(ctx)
    params = ctx.request.query_params
    raw = {k: params.get(k, "")[:40] for k in ("period", "from", "to")}
    today = periods.today_in_vietnam()
    try:
        period = periods.parse_period(raw, today)
    except PeriodError as e:
        raise BadRequest(next(iter(e.fields.values())), fields=e.fields) from e
    with ctx.db.read() as session:
        province = session.get(Province, token.province_code)
        rows = reports.rollup(session, token.province_code, period, today)
    assert province is not None
    communes = []
    for r in rows:
        assert r.commune.province_code == token.province_code
        communes.append(
            {
                "code": r.commune.code,
                "name": r.commune.name,
                "in_use_since": _iso(r.commune.in_use_since),
                "active": r.now.active,
                **figures_json(r.now),
                "follow_ups_open": r.follow_ups.open,
                "follow_ups_overdue": r.follow_ups.overdue,
                "previous": figures_json(r.before),
                "demo": r.demo,
            }
        )
    return JSONResponse(
        {
            "province": {"code": province.code, "name": province.name},
            "period": _period_json(period),
            "previous_period": _period_json(period.compared(today)),
            "generated_at": _iso(utcnow()),
            "communes": communes,
        },
        headers={"Cache-Control": "no-store"},
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
