"""What the commune sends upward: the sessions of a period (CSV for any spreadsheet, XLSX) and the
monthly summary per village and skill (XLSX), with Vietnamese headings. Plain functions that read
the database and return rows or bytes; server/web/exports.py turns them into downloads.

Periods are days in Vietnam's time. Sessions logged in a village that was later merged count for
the village that remains.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, func, select

from .db import utcnow
from .i18n import TZ, current_locale, fmt_date, fmt_datetime, gettext
from .labels import OUTCOMES, REASONS, REVIEW_STATES, SKILLS, label
from .models import (
    AssistanceSession,
    Commune,
    Household,
    Member,
    Province,
    ReviewState,
    Service,
    SessionService,
)
from .periods import Period
from .villages import merges


def service_names(session: Session) -> dict[str, tuple[str, str]]:
    """code → (skill, name in the current language)."""
    english = current_locale.get() == "en"
    return {
        s.code: (s.skill, s.name_en if english else s.name_vi)
        for s in session.exec(select(Service).order_by(col(Service.sort))).all()
    }


# --- Sessions, one row per service line ----------------------------------------------------


def session_headings() -> list[str]:
    return [
        gettext("Session ID"),
        gettext("Date"),
        gettext("Time"),
        gettext("Village"),
        gettext("Volunteer"),
        gettext("Household code"),
        gettext("Skill"),
        gettext("Service"),
        gettext("Outcome"),
        gettext("Reason"),
        gettext("Dossier code"),
        gettext("Minutes"),
        gettext("People helped"),
        gettext("Follow-up"),
        gettext("Review"),
        gettext("Notes"),
    ]


def session_rows(session: Session, commune_code: str, period: Period) -> list[list[Any]]:
    """One row per service line of the commune's sessions in `period`, oldest first."""
    tree = merges(session, commune_code)
    roots, root_villages = tree.roots, tree.remaining
    services = service_names(session)
    order = {code: i for i, code in enumerate(SKILLS)}
    stmt = (
        select(AssistanceSession, SessionService, Member.name, Household.code)
        .join(SessionService, col(SessionService.session_id) == AssistanceSession.id)
        .join(Member, col(Member.id) == AssistanceSession.volunteer_id)
        .outerjoin(Household, col(Household.id) == AssistanceSession.household_id)
        .where(
            AssistanceSession.commune_code == commune_code,
            col(AssistanceSession.deleted_at).is_(None),
            *period.where(col(AssistanceSession.occurred_at)),
        )
        .order_by(col(AssistanceSession.occurred_at), col(AssistanceSession.id))
    )
    rows: list[list[Any]] = []
    found = session.exec(stmt).all()  # type: ignore[call-overload]
    found = sorted(
        found,
        key=lambda r: (
            r[0].occurred_at,
            str(r[0].id),
            order.get(services.get(r[1].service_code, ("", ""))[0], 99),
            r[1].service_code,
        ),
    )
    for row, line, volunteer, household_code in found:
        local = row.occurred_at.astimezone(TZ)
        village = root_villages[roots[row.village_id]].name if row.village_id in roots else ""
        skill, service = services.get(line.service_code, ("", line.service_code))
        rows.append(
            [
                str(row.id),
                local.date(),
                local.time().replace(second=0, microsecond=0, tzinfo=None),
                village,
                volunteer,
                household_code or gettext("Walk-in"),
                label(SKILLS, skill),
                service,
                label(OUTCOMES, line.outcome),
                label(REASONS, line.reason),
                line.dossier_code or "",
                row.minutes,
                row.people_helped,
                row.follow_up_on,
                label(REVIEW_STATES, row.review_state),
                row.notes,
            ]
        )
    return rows


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is kept as text."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    if isinstance(value, date):  # also datetime: ISO dates are read right by every spreadsheet
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if value is None:
        return ""
    return _safe(value)


def sessions_csv(headings: list[str], rows: list[list[Any]], delimiter: str = ",") -> bytes:
    """UTF-8 with a BOM, so that Excel shows the Vietnamese letters; `delimiter` "," or ";"."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headings)
    writer.writerows([_csv_value(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def _sheet(wb: Workbook, title: str) -> Any:
    ws = wb.active
    ws.title = title[:31]
    return ws


def _table(ws: Any, first_row: int, headings: list[str], rows: list[list[Any]]) -> None:
    bold = Font(bold=True)
    widths = [len(h) for h in headings]
    for c, text in enumerate(headings, start=1):
        cell = ws.cell(row=first_row, column=c, value=text)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows, start=first_row + 1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=_safe(value))
            if isinstance(value, date):
                cell.number_format = "dd/mm/yyyy"
            elif isinstance(value, time):
                cell.number_format = "hh:mm"
            widths[c - 1] = max(widths[c - 1], min(len(str(value or "")), 50))
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = max(8, width + 2)
    ws.freeze_panes = ws.cell(row=first_row + 1, column=1)


def _bytes(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sessions_xlsx(headings: list[str], rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = _sheet(wb, gettext("Sessions"))
    _table(ws, 1, headings, rows)
    return _bytes(wb)


# --- The monthly summary ----------------------------------------------------------------------


@dataclass
class Tally:
    sessions: int = 0
    people: int = 0
    approved: int = 0
    done: int = 0
    dossiers: int = 0
    follow_ups: int = 0

    def values(self) -> list[int]:
        return [
            self.sessions,
            self.people,
            self.approved,
            self.done,
            self.dossiers,
            self.follow_ups,
        ]


ALL = "all"


@dataclass
class Summary:
    commune: Commune
    province: Province | None
    period: Period
    villages: list[tuple[str, str]]  # (key, name) in display order; "" is "no village"
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)  # (village, skill)

    def tally(self, village: str, skill: str) -> Tally:
        return self.tallies.get((village, skill), Tally())


def monthly_summary(session: Session, commune_code: str, period: Period) -> Summary:
    """Per village that remains and per skill: sessions that used the skill, people they helped,
    how many were approved, lines done, dossiers filed, sessions with a follow-up. The "all"
    skill counts each session once; the commune's totals are under the village "*"."""
    commune = session.get(Commune, commune_code)
    assert commune is not None
    tree = merges(session, commune_code)
    roots, root_villages = tree.roots, tree.remaining
    skills = {code: skill for code, (skill, _) in service_names(session).items()}
    rows = session.exec(
        select(AssistanceSession).where(
            AssistanceSession.commune_code == commune_code,
            col(AssistanceSession.deleted_at).is_(None),
            *period.where(col(AssistanceSession.occurred_at)),
        )
    ).all()
    lines: dict[uuid.UUID, list[SessionService]] = defaultdict(list)
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        for line in session.exec(
            select(SessionService).where(
                col(SessionService.session_id).in_(ids[start : start + 500])
            )
        ):
            lines[line.session_id].append(line)
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for row in rows:
        village = str(roots[row.village_id]) if row.village_id in roots else ""
        by_skill: dict[str, list[SessionService]] = defaultdict(list)
        for line in lines[row.id]:
            by_skill[skills.get(line.service_code, "")].append(line)
        by_skill[ALL] = lines[row.id]
        for skill, skill_lines in by_skill.items():
            for key in ((village, skill), ("*", skill)):
                t = tallies[key]
                t.sessions += 1
                t.people += row.people_helped
                t.approved += row.review_state == ReviewState.approved
                t.follow_ups += row.follow_up_on is not None
                t.done += sum(line.outcome == "done" for line in skill_lines)
                t.dossiers += sum(bool(line.dossier_code) for line in skill_lines)
    ordered = sorted(root_villages.values(), key=lambda v: v.name_key)
    villages = [(str(v.id), v.name) for v in ordered if v.merged_into_id is None]
    if any(key[0] == "" for key in tallies):
        villages.append(("", gettext("No village")))
    return Summary(
        commune=commune,
        province=session.get(Province, commune.province_code),
        period=period,
        villages=villages,
        tallies=dict(tallies),
    )


def summary_headings() -> list[str]:
    return [
        gettext("Village"),
        gettext("Skill"),
        gettext("Sessions"),
        gettext("People helped"),
        gettext("Approved"),
        gettext("Services done"),
        gettext("Dossiers filed"),
        gettext("Follow-ups"),
    ]


def summary_rows(summary: Summary) -> list[list[Any]]:
    """Every village × every skill (zeros included: a report says so), then the commune."""
    rows = []
    skills = [*SKILLS, ALL]
    for key, name in [*summary.villages, ("*", gettext("Whole commune"))]:
        for skill in skills:
            skill_name = gettext("All skills") if skill == ALL else label(SKILLS, skill)
            rows.append([name, skill_name, *summary.tally(key, skill).values()])
    return rows


SUMMARY_FIRST_ROW = 6


def summary_xlsx(summary: Summary) -> bytes:
    wb = Workbook()
    ws = _sheet(wb, gettext("Summary"))
    place = summary.commune.name + (f", {summary.province.name}" if summary.province else "")
    period = summary.period
    ws.cell(row=1, column=1, value=gettext("Digital skills support: summary")).font = Font(
        bold=True, size=14
    )
    ws.cell(row=2, column=1, value=f"{place} ({summary.commune.code})")
    ws.cell(
        row=3,
        column=1,
        value=gettext(
            "From %(start)s to %(end)s", start=fmt_date(period.start), end=fmt_date(period.last)
        ),
    )
    ws.cell(row=4, column=1, value=gettext("Made on %(when)s", when=fmt_datetime(utcnow())))
    _table(ws, SUMMARY_FIRST_ROW, summary_headings(), summary_rows(summary))
    return _bytes(wb)


# --- Member activity --------------------------------------------------------------------------


def member_activity(
    session: Session, commune_code: str, period: Period
) -> dict[uuid.UUID, tuple[int, int]]:
    """member → (sessions logged, distinct households helped) in `period`."""
    stmt = (
        select(
            AssistanceSession.volunteer_id,
            func.count(),
            func.count(sa.distinct(AssistanceSession.household_id)),
        )
        .where(
            AssistanceSession.commune_code == commune_code,
            col(AssistanceSession.deleted_at).is_(None),
            *period.where(col(AssistanceSession.occurred_at)),
        )
        .group_by(AssistanceSession.volunteer_id)
    )
    return {vid: (n, h) for vid, n, h in session.exec(stmt).all()}  # type: ignore[call-overload]
