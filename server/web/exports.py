"""Exports for a period: the sessions as CSV or XLSX, and the monthly summary per village and
skill as XLSX. Every export is written to the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from .. import exports, periods
from ..accounts import InvalidInput
from ..errors import NotFound
from ..labels import SKILLS, label
from ..models import Commune
from ..periods import Period
from . import Ctx, view
from .audit import record
from .console import STAFF, scoped_commune
from .sessions import scope_query

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILES = {
    "sessions.csv": ("luot-ho-tro", "csv", CSV),
    # The same with ";" between columns: Excel set to Vietnamese (or any language whose decimal
    # mark is a comma) splits a CSV at ";" when it is opened with a double click.
    "sessions-semicolon.csv": ("luot-ho-tro-excel", "csv", CSV),
    "sessions.xlsx": ("luot-ho-tro", "xlsx", XLSX),
    "summary.xlsx": ("bao-cao-tong-hop", "xlsx", XLSX),
}


def _period(ctx: Ctx) -> Period:
    params = ctx.request.query_params
    raw = {k: params.get(k, "")[:20] for k in ("period", "from", "to")}
    return periods.parse_period(raw, periods.today_in_vietnam())


def _this_month() -> Period:
    return periods.month_of(periods.today_in_vietnam())


def _page(
    ctx: Ctx, commune: Commune, period: Period, errors: dict[str, str], status: int = 200
) -> Response:
    summary = None
    if not errors:
        with ctx.db.read() as session:
            summary = exports.monthly_summary(session, commune.code, period)
    params = ctx.request.query_params
    return ctx.render(
        "console/exports.html",
        {
            "commune": commune,
            "period": period,
            "values": {
                "from": params.get("from", "")[:20] or period.start.isoformat(),
                "to": params.get("to", "")[:20] or period.last.isoformat(),
            },
            "errors": errors,
            "summary": summary,
            "skills": [(key, label(SKILLS, key)) for key in SKILLS],
            "download_query": urlencode(
                {"from": period.start, "to": period.last, **scope_query(ctx, commune)}
            ),
        },
        status,
    )


@view(*STAFF)
def export_page(ctx: Ctx) -> Response:
    """Show the period form, the downloads and the commune's totals for the period."""
    with ctx.db.read() as session:
        commune = scoped_commune(ctx, session)
    try:
        period = _period(ctx)
    except InvalidInput as e:
        return _page(ctx, commune, _this_month(), e.fields, 400)
    return _page(ctx, commune, period, {})


@view(*STAFF)
def download(ctx: Ctx) -> Response:
    """Download one export of the period; the download is audited."""
    name = ctx.request.path_params["filename"]
    if name not in FILES:
        raise NotFound()
    stem, extension, media_type = FILES[name]
    with ctx.db.read() as session:
        commune = scoped_commune(ctx, session)
    try:
        period = _period(ctx)
    except InvalidInput as e:
        return _page(ctx, commune, _this_month(), e.fields, 400)
    span = {"from": str(period.start), "to": str(period.last)}
    with ctx.db.write() as session:
        if name == "summary.xlsx":
            body = exports.summary_xlsx(exports.monthly_summary(session, commune.code, period))
            record(session, ctx.me, "export.summary", "commune", commune.code, commune.code, **span)
        else:
            rows = exports.session_rows(session, commune.code, period)
            headings = exports.session_headings()
            if extension == "csv":
                body = exports.sessions_csv(headings, rows, ";" if "semicolon" in name else ",")
            else:
                body = exports.sessions_xlsx(headings, rows)
            record(
                session,
                ctx.me,
                "export.sessions",
                "commune",
                commune.code,
                commune.code,
                format=extension,
                rows=len(rows),
                **span,
            )
    filename = f"{stem}_{commune.code}_{period.slug}.{extension}"
    return Response(
        body,
        media_type=media_type,
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )
