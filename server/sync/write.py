"""Writing an applied batch: one statement per table and kind (new rows, changed rows, lines,
history, the op results that were not the likely one), and what the sessions change in
daily_line_count, counted here instead of by a trigger per row (server/line_counts.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from .. import line_counts
from ..text import fold
from .inputs import APPLIED, CONFLICT, REJECTED, OpIn, Result
from .records import Author, Batch, Record
from .rules import to_uuid
from .store import (
    T_HISTORY,
    T_HOUSEHOLD,
    T_LINE,
    T_OP,
    T_SESSION,
    bulk_insert,
    set_counter,
)


def flush(batch: Batch, top: int, done: list[tuple[OpIn, Result | None]]) -> None:
    """Write the batch; `top` is the sync counter it locked, `done` the ops it applied."""
    s, now, me = batch.session, batch.now, batch.me
    for seq, rec in enumerate(batch.order, start=top + 1):
        rec.seq = seq
    if batch.order:
        set_counter(s, top + len(batch.order))
    households = [r for r in batch.order if r.entity == "household"]
    sessions = [r for r in batch.order if r.entity == "session"]
    _save(s, T_HOUSEHOLD, [_household_row(r, me, now) for r in households], households)
    if sessions:
        with line_counts.counted_by_batch(s, batch.skills) as tally:
            _save_sessions(s, sessions, me, now, tally)
        closed = [{"b_id": r.id, "at": now, "by": me.id} for r in sessions if r.closes_follow_up]
        if closed:
            s.execute(
                sa.update(T_SESSION)
                .where(T_SESSION.c.id == sa.bindparam("b_id"))
                .values(follow_up_done_at=sa.bindparam("at"), follow_up_done_by=sa.bindparam("by")),
                closed,
            )
    if batch.history:
        bulk_insert(s, T_HISTORY, batch.history)
    accepted = [
        {"b_op_id": op.op_id, "result": r.status, "version": r.version or 0}
        for op, r in done
        if r is not None
        and r.status in (APPLIED, CONFLICT)
        and (r.status, r.version) != (APPLIED, op.base_version + 1)
    ]
    if accepted:
        s.execute(
            sa.update(T_OP).where(T_OP.c.op_id == sa.bindparam("b_op_id")),
            accepted,
        )
    rejected = [op.op_id for op, r in done if r is None or r.status == REJECTED]
    if rejected:  # a rejected op may come back fixed: free its op_id
        s.execute(sa.delete(T_OP).where(T_OP.c.op_id.in_(rejected)))


def _save_sessions(
    s: Session, sessions: list[Record], me: Author, now: datetime, tally: line_counts.Tally
) -> None:
    """Sessions and their lines, and what they change in daily_line_count."""
    _save(s, T_SESSION, [_session_row(r, me, now) for r in sessions], sessions)
    relined = [r for r in sessions if r.lines_changed]
    old = [r.id for r in relined if not r.new]
    if old:
        s.execute(sa.delete(T_LINE).where(T_LINE.c.session_id.in_(old)))
    lines = [
        {
            "session_id": r.id,
            "service_code": line["service"],
            "outcome": line["outcome"],
            "reason": line["reason"],
            "dossier_code": line["dossier_code"],
        }
        for r in relined
        for line in r.data["services"]
    ]
    if lines:
        bulk_insert(s, T_LINE, lines)
    for rec in sessions:
        if rec.counted is not None:
            tally.add(*rec.counted, sign=-1)
        d = rec.data
        if not d["deleted"]:
            tally.add(rec.commune_code, datetime.fromisoformat(d["occurred_at"]), d["services"])


def _save(s: Session, table: sa.Table, rows: list[dict[str, Any]], recs: list[Record]) -> None:
    new = [row for row, rec in zip(rows, recs, strict=True) if rec.new]
    old = [row for row, rec in zip(rows, recs, strict=True) if not rec.new]
    if new:
        bulk_insert(s, table, new)
    if old:
        for row in old:
            row["b_id"] = row.pop("id")
            for name in ("created_at", "created_by", "commune_code"):
                row.pop(name, None)
            if table is T_SESSION:
                row.pop("volunteer_id", None)
            else:
                row.pop("consent_by", None)
        s.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id")), old)


def _session_row(rec: Record, me: Author, now: datetime) -> dict[str, Any]:
    d = rec.data
    return {
        "id": rec.id,
        "commune_code": rec.commune_code,
        "village_id": to_uuid(d["village_id"]) if d["village_id"] else None,
        "household_id": to_uuid(d["household_id"]) if d["household_id"] else None,
        "volunteer_id": rec.owner,
        "occurred_at": datetime.fromisoformat(d["occurred_at"]),
        "minutes": d["minutes"],
        "people_helped": d["people_helped"],
        "guide_slug": d["guide_slug"],
        "notes": d["notes"],
        "follow_up_on": date.fromisoformat(d["follow_up_on"]) if d["follow_up_on"] else None,
        "review_state": rec.review_state,
        "conflict": rec.conflict,
        "version": rec.version,
        "seq": rec.seq,
        "created_at": now,
        "updated_at": now,
        "deleted_at": now if d["deleted"] else None,
        "created_by": rec.created_by or me.id,
        "updated_by": me.id,
    }


def _household_row(rec: Record, me: Author, now: datetime) -> dict[str, Any]:
    d = rec.data
    return {
        "id": rec.id,
        "commune_code": rec.commune_code,
        "village_id": to_uuid(d["village_id"]),
        "code": d["code"],
        "head_name": d["head_name"],
        "head_name_key": fold(d["head_name"]),
        "phone": d["phone"],
        "address": d["address"],
        "consent_at": datetime.fromisoformat(d["consent_at"]),
        "consent_by": rec.consent_by or me.id,
        "skills": d["skills"],
        "version": rec.version,
        "seq": rec.seq,
        "created_at": now,
        "updated_at": now,
        "created_by": rec.created_by or me.id,
        "updated_by": me.id,
    }
