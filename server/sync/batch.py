"""One batch of ops, in the caller's write transaction: validate each op, claim the op ids (the
database refuses a replay), load everything the ops refer to with a handful of queries (the
ids an op names are looked up first, and only the records that exist are read in full: most
ops create one), apply each op by the rules, write the batch; `exchange` then pulls what
changed after the cursor. `gc_paused` holds off the cyclic collector meanwhile.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import Session

from ..db import utcnow
from ..models import Member
from ..security import unreadable_message
from ..text import unreadable, without_nul
from .inputs import APPLIED, DUPLICATE, REJECTED, OpIn, Result, fields_of
from .records import Author, Batch, Record
from .rules import apply_one, to_uuid
from .shapes import household_data, lines_of, pull, session_data
from .store import (
    T_HOUSEHOLD,
    T_OP,
    T_SERVICE,
    T_SESSION,
    T_VILLAGE,
    driver_values,
    insert_new,
    lock_counter,
    lookup,
)
from .write import flush

# Read by every batch: built once.
_CATALOGUE = sa.select(T_SERVICE.c.code, T_SERVICE.c.sort, T_SERVICE.c.skill, T_SERVICE.c.active)


def exchange(session: Session, member: Member, cursor: int, ops: Sequence[Any]) -> dict[str, Any]:
    """One POST /api/v1/sync: apply `ops`, then pull the changes after `cursor`, in the
    caller's write transaction. Records this batch wrote are sent from memory."""
    with gc_paused():
        return _exchange(session, member, cursor, ops)


def _exchange(session: Session, member: Member, cursor: int, ops: Sequence[Any]) -> dict[str, Any]:
    # A function of its own, so that the batch is freed before the collector resumes: its first
    # pass then walks only the answer.
    results, batch = _apply(session, member, ops)
    fresh = [(rec.seq, rec.kind, rec.as_json()) for rec in batch.order] if batch else []
    answer = {"results": [r.as_json() for r in results]}
    answer.update(pull(session, member, cursor, fresh=fresh))
    return answer


def apply_ops(session: Session, member: Member, ops: Sequence[Any]) -> list[Result]:
    """Apply a batch for `member` inside the caller's write transaction; one result per op."""
    with gc_paused():
        return _apply(session, member, ops)[0]


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a batch is applied (and, in
    server/web/sync_api.py, from parsing its body to writing the answer). A batch keeps
    thousands of small containers alive until it is written, and each young-generation pass
    walks them again: pausing saved about a tenth of the time of a 200-op batch
    (bench/sync_ingest.py). Reference counting still frees memory; the collector resumes when
    no batch is running. Re-entrant, and shared by the threads of the process."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def _apply(
    session: Session, member: Member, ops: Sequence[Any]
) -> tuple[list[Result], Batch | None]:
    assert member.commune_code, "only members of a commune sync"
    results: list[Result | None] = [None] * len(ops)
    parsed: list[tuple[int, OpIn]] = []
    sent: list[str | None] = []  # op_id as the phone wrote it: the results echo it unchanged
    for i, raw in enumerate(ops):
        op_id = raw.get("op_id") if isinstance(raw, dict) else None
        readable = isinstance(op_id, str) and unreadable(op_id) is None
        sent.append(op_id if readable else None)
        if unreadable(raw) is not None:  # rare: one walk of the op finds nothing, as a rule
            # A lone surrogate can be neither stored nor sent back, nor a NUL in the op's own
            # ids: the op is refused before any lookup, with the field named, and the phone
            # shows it to the volunteer to fix. A NUL in the data is dropped, as in notes.
            envelope = (
                {k: v for k, v in raw.items() if k != "data"} if isinstance(raw, dict) else {}
            )
            where = unreadable(envelope) or unreadable(raw, nul=False)
            if where is not None:
                field = where.removeprefix("data.")
                results[i] = Result(
                    sent[i], REJECTED, None, "invalid", {field: unreadable_message()}
                )
                continue
            raw = without_nul(raw)
        try:
            parsed.append((i, OpIn.model_validate(raw)))
        except ValidationError as e:
            results[i] = Result(sent[i], REJECTED, None, "invalid", fields_of(e))
    if not parsed:
        return [r for r in results if r is not None], None

    top = lock_counter(session)
    now = utcnow()
    claimed = _claim(session, member, [op for _, op in parsed], now)
    first: dict[uuid.UUID, int] = {}
    todo: list[tuple[int, OpIn]] = []
    for i, op in parsed:
        if op.op_id in first or op.op_id not in claimed:
            continue
        first[op.op_id] = i
        todo.append((i, op))
    stored = _stored_results(session, [op.op_id for _, op in parsed if op.op_id not in claimed])

    batch = _load(session, member, now, [op for _, op in todo])
    for i, op in todo:
        results[i] = apply_one(batch, op, sent[i])

    for i, op in parsed:
        if results[i] is not None:
            continue
        if op.op_id in stored:
            results[i] = Result(sent[i], DUPLICATE, stored[op.op_id])
        else:  # the same op twice in one batch: the second is a replay of the first
            earlier = results[first[op.op_id]]
            assert earlier is not None
            if earlier.status == REJECTED:
                results[i] = Result(sent[i], REJECTED, None, earlier.reason, earlier.fields)
            else:
                results[i] = Result(sent[i], DUPLICATE, earlier.version)

    flush(batch, top, [(op, results[i]) for i, op in todo])
    return [r for r in results if r is not None], batch


def _claim(session: Session, member: Member, ops: list[OpIn], now: datetime) -> set[uuid.UUID]:
    """Insert an applied_op row per op; the database refuses the ones already there (its
    primary key), and the ops it took are this batch's to apply."""
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for op in ops:
        if op.op_id not in rows:
            rows[op.op_id] = {
                "op_id": op.op_id,
                "member_id": member.id,
                "entity": op.entity,
                "record_id": op.id,
                # The likely outcome, so that only the other ones need an UPDATE later.
                "result": APPLIED,
                "version": op.base_version + 1,
                "at": now,
            }
    taken = insert_new(session, T_OP, list(rows.values()), "op_id")
    ids = list(rows)  # compared as the driver returns them: no value to convert back
    as_stored = driver_values(session, T_OP, "op_id", ids)
    return {op_id for op_id, stored in zip(ids, as_stored, strict=True) if stored in taken}


def _stored_results(session: Session, op_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    return {
        op_id: version
        for op_id, (version,) in lookup(session, T_OP.c.op_id, op_ids, T_OP.c.version).items()
    }


def _load(session: Session, member: Member, now: datetime, ops: list[OpIn]) -> Batch:
    """Read everything the batch refers to with a handful of queries."""
    session_ids = {op.id for op in ops if op.entity != "household"}  # follow_up: a session id
    household_ids = {op.id for op in ops if op.entity == "household"}
    named: dict[str, set[str]] = {"village_id": set(), "household_id": set()}
    codes: set[str] = set()
    for op in ops:
        for key, values in named.items():
            value = op.data.get(key)
            if isinstance(value, str):
                values.add(value)
        if op.entity == "household" and isinstance(op.data.get("code"), str):
            codes.add(op.data["code"].strip().upper())
    village_ids, referred = _ids(named["village_id"]), _ids(named["household_id"])

    records: dict[tuple[str, uuid.UUID], Record] = {}
    if session_ids:
        for rec in _load_sessions(session, session_ids):
            records["session", rec.id] = rec
            if rec.data["village_id"]:
                village_ids.add(to_uuid(rec.data["village_id"]))
    # Most ops create records: look their ids up first, and read only the rows that exist.
    stored_households = lookup(session, T_HOUSEHOLD.c.id, household_ids)
    if stored_households:
        stmt = sa.select(T_HOUSEHOLD).where(T_HOUSEHOLD.c.id.in_(list(stored_households)))
        for row in session.execute(stmt).all():
            records["household", row.id] = Record(
                "household",
                row.id,
                household_data(row),
                row.version,
                row.commune_code,
                new=False,
                created_by=row.created_by,
                consent_by=row.consent_by,
            )
    commune = T_HOUSEHOLD.c.commune_code
    households = {k: v for k, (v,) in lookup(session, T_HOUSEHOLD.c.id, referred, commune).items()}
    found = lookup(session, T_VILLAGE.c.id, village_ids, T_VILLAGE.c.commune_code)
    villages = {k: v for k, (v,) in found.items()}
    services, skills = {}, {}
    for code, sort, skill, is_active in session.connection().execute(_CATALOGUE):
        skills[code] = skill
        if is_active:
            services[code] = sort
    taken = {
        k: v for k, (v,) in lookup(session, T_HOUSEHOLD.c.code, codes, T_HOUSEHOLD.c.id).items()
    }
    me = Author(member.id, member.commune_code or "")
    return Batch(session, me, now, records, villages, services, skills, taken, households)


def _ids(values: Iterable[str]) -> set[uuid.UUID]:
    """The ids among what the ops name, each parsed once (validation tells the phone about
    the ones that are not ids)."""
    out = set()
    for value in values:
        try:  # noqa: SIM105 (suppress() costs more than the parse, once per id of a batch)
            out.add(to_uuid(value))
        except ValueError:
            pass
    return out


def _load_sessions(session: Session, ids: Iterable[uuid.UUID]) -> list[Record]:
    """The stored sessions among `ids` (looked up first: most ops create a session)."""
    stored = list(lookup(session, T_SESSION.c.id, list(ids)))
    if not stored:
        return []
    rows = list(session.execute(sa.select(T_SESSION).where(T_SESSION.c.id.in_(stored))))
    lines = lines_of(session, T_SESSION.c.id.in_([row.id for row in rows])) if rows else {}
    out = []
    for row in rows:
        its = lines.get(row.id, [])
        rec = Record(
            "session",
            row.id,
            session_data(row, its),
            row.version,
            row.commune_code,
            new=False,
            owner=row.volunteer_id,
            review_state=row.review_state,
            review_comment=row.review_comment,
            conflict=row.conflict,
            created_by=row.created_by,
            follow_up_done=row.follow_up_done_at is not None,
        )
        if row.deleted_at is None:
            rec.counted = (row.commune_code, row.occurred_at, its)
        out.append(rec)
    return out
