"""Offline sync: apply a batch of ops sent by a phone, then hand back what changed since its cursor.

Plain functions over a Session; server/web/sync_api.py turns HTTP into these calls and documents
the wire format. The rules (DESIGN.md, "Offline sync"):

- Idempotent by the database: each op first claims its `op_id` in `applied_op` with
  INSERT … ON CONFLICT DO NOTHING; an op whose claim is refused is a replay ("duplicate").
- The server decides who wrote a record and in which commune; village and household must be in
  the member's commune; a member edits only own sessions, and not once they are approved.
- A stale edit (base_version behind) keeps both sides: the client's changes are applied to the
  fields nobody else changed since base_version, the record is flagged, every accepted write goes
  into `record_history`. Phone clocks never decide anything.
- Every changed record gets the next value of the "sync" counter as `seq`, the pull cursor. The
  counter row is locked first, so seqs become visible in order and a cursor never skips a record.

Reasons a result can carry: invalid, no_consent, other_commune, not_found, not_yours, approved,
deleted, code_taken, bad_version.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from .accounts import InvalidInput, clean_phone
from .db import utcnow
from .i18n import TZ, gettext
from .models import (
    AppliedOp,
    AssistanceSession,
    Commune,
    Counter,
    Household,
    Member,
    Province,
    RecordHistory,
    ReviewState,
    Service,
    SessionService,
    Village,
)
from .privacy import mask_secrets
from .services import CATALOGUE
from .text import fold, nfc

MAX_OPS = 200
MAX_BYTES = 256 * 1024
PAGE = 500
COUNTER = "sync"
FUTURE_SLACK = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)
SKILLS = ("public_services", "shopping", "payment", "safety", "local_platforms")
REASONS = ("missing_papers", "no_smartphone", "no_signal", "system_error", "needs_police", "other")

APPLIED, DUPLICATE, CONFLICT, REJECTED = "applied", "duplicate", "conflict", "rejected"

# Bulk statements go through the tables (SQLAlchemy Core): no ORM object per row.
T_SESSION: sa.Table = AssistanceSession.__table__  # type: ignore[attr-defined]
T_LINE: sa.Table = SessionService.__table__  # type: ignore[attr-defined]
T_HOUSEHOLD: sa.Table = Household.__table__  # type: ignore[attr-defined]
T_VILLAGE: sa.Table = Village.__table__  # type: ignore[attr-defined]
T_HISTORY: sa.Table = RecordHistory.__table__  # type: ignore[attr-defined]
T_OP: sa.Table = AppliedOp.__table__  # type: ignore[attr-defined]
T_COUNTER: sa.Table = Counter.__table__  # type: ignore[attr-defined]


# --- Input ------------------------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # not \t or \n; PostgreSQL refuses NUL


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")  # volunteer_id, created_by…: the server decides


def _text(value: Any) -> Any:
    """Free text in NFC, one line, without control characters."""
    return nfc(_CONTROL.sub("", value)) if isinstance(value, str) else value


class OpIn(_In):
    op_id: uuid.UUID
    entity: Literal["session", "household"]
    id: uuid.UUID
    base_version: StrictInt = Field(ge=0, le=2**31 - 2)
    data: dict[str, Any]


class ServiceLineIn(_In):
    service: str = Field(min_length=1, max_length=40)
    outcome: Literal["done", "not_finished", "could_not"]
    reason: Literal[REASONS] | None = None  # type: ignore[valid-type]
    dossier_code: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9./-]*$")

    @field_validator("dossier_code", mode="before")
    @classmethod
    def _strip_code(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _reason_when_not_done(self) -> ServiceLineIn:
        if self.outcome != "done" and self.reason is None:
            raise PydanticCustomError("reason_required", "reason required")
        return self


class SessionIn(_In):
    household_id: uuid.UUID | None = None
    village_id: uuid.UUID
    occurred_at: AwareDatetime
    minutes: StrictInt = Field(ge=0, le=600)
    people_helped: StrictInt = Field(ge=1, le=50)
    services: list[ServiceLineIn] = Field(min_length=1, max_length=20)
    guide_slug: str | None = Field(default=None, max_length=80)
    notes: str = Field(default="", max_length=2000)
    follow_up_on: date | None = None
    deleted: StrictBool = False

    @field_validator("guide_slug", mode="before")
    @classmethod
    def _slug(cls, value: Any) -> Any:
        return (_text(value) or None) if isinstance(value, str) else value

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value: Any) -> Any:
        if value is None:
            return ""
        if not isinstance(value, str):
            return value
        # nfc() collapses every run of spaces; keep the volunteer's line breaks.
        return "\n".join(_text(line) for line in value.splitlines()).strip()

    @field_validator("follow_up_on", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        if value is not None and not (isinstance(value, str) and _DAY.fullmatch(value)):
            raise PydanticCustomError("date_format", "YYYY-MM-DD")
        return value

    @model_validator(mode="after")
    def _each_service_once(self) -> SessionIn:
        codes = [line.service for line in self.services]
        if len(set(codes)) != len(codes):
            raise PydanticCustomError("duplicate_service", "each service once")
        return self


class HouseholdIn(_In):
    village_id: uuid.UUID
    code: str = Field(min_length=1, max_length=12, pattern=r"^[A-Z0-9-]+$")
    head_name: str = Field(min_length=1, max_length=80)
    phone: str | None = Field(default=None, max_length=30)
    consent: StrictBool
    consent_at: AwareDatetime | None = None
    skills: list[Literal[SKILLS]] = Field(default_factory=list, max_length=5)  # type: ignore[valid-type]

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("head_name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return _text(value)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _error_message(err: dict[str, Any]) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    loc = err["loc"]
    name = str(loc[-1]) if loc else ""
    if kind == "missing":
        return gettext("This is required.")
    if kind == "string_too_short" or (kind == "too_short" and name != "services"):
        return gettext("Please fill this in.")
    if kind == "string_too_long":
        return gettext("At most %(n)s characters.", n=ctx.get("max_length"))
    if kind == "too_short":
        return gettext("Choose at least one service.")
    if kind == "too_long":
        return gettext("At most %(n)s items.", n=ctx.get("max_length"))
    if kind in ("greater_than_equal", "less_than_equal"):
        limits = {"minutes": (0, 600), "people_helped": (1, 50)}
        low, high = limits.get(name, (ctx.get("ge"), ctx.get("le")))
        if high is None:
            return gettext("Must be at least %(n)s.", n=low)
        if low is None:
            return gettext("Must be at most %(n)s.", n=high)
        return gettext("Must be between %(low)s and %(high)s.", low=low, high=high)
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return gettext("Please enter a whole number.")
    if kind == "reason_required":
        return gettext("Please say why it could not be done.")
    if kind == "duplicate_service":
        return gettext("Each service can be listed only once.")
    if kind == "date_format":
        return gettext("This is not a valid date (YYYY-MM-DD).")
    if kind.startswith("datetime") or kind == "timezone_aware":
        return gettext("This is not a valid date and time with its time zone.")
    if kind.startswith("uuid"):
        return gettext("This is not a valid identifier.")
    if kind == "string_pattern_mismatch":
        if name == "code":
            return gettext("Only capital letters, digits and dashes.")
        return gettext("Only letters, digits, dots, dashes and slashes.")
    if kind in ("literal_error", "enum", "bool_type", "bool_parsing"):
        return gettext("This value is not allowed.")
    return gettext("This value is not valid.")


def _fields(e: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in e.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "literal["))]
        if err["type"] == "reason_required":
            loc.append("reason")
        elif err["type"] == "duplicate_service":
            loc.append("services")
        out.setdefault(".".join(loc) or "data", _error_message(err))  # type: ignore[arg-type]
    return out


# --- Results ----------------------------------------------------------------------------------


@dataclass
class Result:
    op_id: str | None
    status: str
    version: int | None = None
    reason: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "status": self.status,
            "version": self.version,
            "reason": self.reason,
            "message": _result_message(self),
            "fields": self.fields,
        }


def _result_message(r: Result) -> str | None:
    if r.status == CONFLICT:
        return gettext(
            "Someone else changed this record at the same time. Your changes were kept where "
            "they did not clash, and the coordinator will check it."
        )
    if r.status != REJECTED:
        return None
    messages = {
        "invalid": gettext("Some of the data is not right. Please check the marked fields."),
        "no_consent": gettext("A household can only be recorded with the family's consent."),
        "other_commune": gettext("This village or household belongs to another commune."),
        "not_found": gettext("This record is not known to the server."),
        "not_yours": gettext("You can only change your own records."),
        "approved": gettext(
            "This record was approved by the coordinator and can no longer change."
        ),
        "deleted": gettext("This record has been deleted."),
        "code_taken": gettext("Another household already has this code."),
        "bad_version": gettext("This record's version is not right. Please sync again."),
    }
    return messages.get(r.reason or "", messages["invalid"])


class Rejected(Exception):
    def __init__(self, reason: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or {}


# --- The counter -----------------------------------------------------------------------------


def _insert(session: Session, table: sa.Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def lock_counter(session: Session) -> int:
    """The current value of the sync counter, locked until the transaction ends."""
    stmt = sa.select(T_COUNTER.c.value).where(T_COUNTER.c.name == COUNTER).with_for_update()
    value = session.execute(stmt).scalar()
    if value is None:
        session.execute(
            _insert(session, T_COUNTER).values(name=COUNTER, value=0).on_conflict_do_nothing()
        )
        value = session.execute(stmt).scalar_one()
    return int(value)


def current_cursor(session: Session) -> int:
    value = session.execute(
        sa.select(T_COUNTER.c.value).where(T_COUNTER.c.name == COUNTER)
    ).scalar()
    return int(value or 0)


def next_seqs(session: Session, n: int = 1) -> int:
    """Take `n` seqs for records changed outside a sync batch; returns the first one."""
    top = lock_counter(session) + n
    session.execute(sa.update(T_COUNTER).where(T_COUNTER.c.name == COUNTER).values(value=top))
    return top - n + 1


# --- Applying ops -----------------------------------------------------------------------------

SESSION_FIELDS = (
    "household_id",
    "village_id",
    "occurred_at",
    "minutes",
    "people_helped",
    "services",
    "guide_slug",
    "notes",
    "follow_up_on",
    "deleted",
)
HOUSEHOLD_FIELDS = ("village_id", "code", "head_name", "phone", "consent_at", "skills")


# Village and household ids repeat across a batch: parse each once.
_uuid = lru_cache(maxsize=16384)(uuid.UUID)


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Record:
    """A session or household as it stands during the batch (canonical, JSON-ready data)."""

    entity: str
    id: uuid.UUID
    data: dict[str, Any]
    version: int
    commune_code: str
    new: bool
    owner: uuid.UUID | None = None  # the volunteer of a session
    review_state: str = ReviewState.new
    review_comment: str = ""
    conflict: bool = False
    created_by: uuid.UUID | None = None
    consent_by: uuid.UUID | None = None
    changed: bool = False
    lines_changed: bool = False
    seq: int = 0
    follow_up_done: bool = False  # closed by the coordinator; phones never change it


@dataclass
class _Batch:
    session: Session
    member: Member
    now: datetime
    records: dict[tuple[str, uuid.UUID], _Record]
    villages: dict[uuid.UUID, str]  # id → commune
    services: dict[str, int]  # code → sort
    codes: dict[str, uuid.UUID]  # household code → id
    households: dict[uuid.UUID, str]  # id → commune, for the households sessions refer to
    history: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[tuple[str, uuid.UUID, int], dict[str, Any]] = field(default_factory=dict)
    order: list[_Record] = field(default_factory=list)

    def touch(self, rec: _Record) -> None:
        if not rec.changed:
            rec.changed = True
            self.order.append(rec)


def exchange(session: Session, member: Member, cursor: int, ops: Sequence[Any]) -> dict[str, Any]:
    """One POST /api/v1/sync: apply `ops`, then pull the changes after `cursor`, in the
    caller's write transaction. Records this batch wrote are sent from memory."""
    with _gc_paused():
        results, batch = _apply(session, member, ops)
        fresh = [(rec.seq, _kind(rec), _record_json(rec)) for rec in batch.order] if batch else []
        answer = {"results": [r.as_json() for r in results]}
        answer.update(pull(session, member, cursor, fresh=fresh))
    return answer


def apply_ops(session: Session, member: Member, ops: Sequence[Any]) -> list[Result]:
    """Apply a batch for `member` inside the caller's write transaction; one result per op."""
    with _gc_paused():
        return _apply(session, member, ops)[0]


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a batch is applied. A batch keeps thousands
    of small containers alive until it is written, and each young-generation pass walks them
    again: pausing saved about a tenth of the time of a 200-op batch (bench/sync_ingest.py).
    Reference counting still frees memory; the collector resumes when no batch is running."""
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
) -> tuple[list[Result], _Batch | None]:
    assert member.commune_code, "only members of a commune sync"
    results: list[Result | None] = [None] * len(ops)
    parsed: list[tuple[int, OpIn]] = []
    sent: list[str | None] = []  # op_id as the phone wrote it: the results echo it unchanged
    for i, raw in enumerate(ops):
        op_id = raw.get("op_id") if isinstance(raw, dict) else None
        sent.append(op_id if isinstance(op_id, str) else None)
        try:
            parsed.append((i, OpIn.model_validate(raw)))
        except ValidationError as e:
            results[i] = Result(sent[i], REJECTED, None, "invalid", _fields(e))
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
        results[i] = _apply_one(batch, op, sent[i])

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

    _flush(batch, top, [(op, results[i]) for i, op in todo])
    return [r for r in results if r is not None], batch


def _claim(session: Session, member: Member, ops: list[OpIn], now: datetime) -> set[uuid.UUID]:
    """Insert an applied_op row per op; the database refuses the ones already there."""
    rows, seen = [], set()
    for op in ops:
        if op.op_id not in seen:
            seen.add(op.op_id)
            rows.append(
                {
                    "op_id": op.op_id,
                    "member_id": member.id,
                    "entity": op.entity,
                    "record_id": op.id,
                    # The likely outcome, so that only the other ones need an UPDATE later.
                    "result": APPLIED,
                    "version": op.base_version + 1,
                    "at": now,
                }
            )
    # One cached statement, sent as multi-row VALUES by SQLAlchemy's "insertmanyvalues".
    stmt = _insert(session, T_OP).on_conflict_do_nothing(index_elements=["op_id"])
    return set(session.execute(stmt.returning(T_OP.c.op_id), rows).scalars())


def _stored_results(session: Session, op_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not op_ids:
        return {}
    stmt = sa.select(T_OP.c.op_id, T_OP.c.version).where(T_OP.c.op_id.in_(op_ids))
    return {row.op_id: row.version for row in session.execute(stmt)}


def _load(session: Session, member: Member, now: datetime, ops: list[OpIn]) -> _Batch:
    """Read everything the batch refers to with a handful of queries."""
    session_ids = {op.id for op in ops if op.entity == "session"}
    household_ids = {op.id for op in ops if op.entity == "household"}
    village_ids: set[uuid.UUID] = set()
    referred: set[uuid.UUID] = set()
    codes: set[str] = set()
    for op in ops:
        for key, target in (("village_id", village_ids), ("household_id", referred)):
            value = op.data.get(key)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    target.add(_uuid(value))
        if op.entity == "household" and isinstance(op.data.get("code"), str):
            codes.add(op.data["code"].strip().upper())

    records: dict[tuple[str, uuid.UUID], _Record] = {}
    if session_ids:
        for rec in _load_sessions(session, session_ids):
            records["session", rec.id] = rec
            if rec.data["village_id"]:
                village_ids.add(_uuid(rec.data["village_id"]))
    if household_ids:
        stmt = sa.select(T_HOUSEHOLD).where(T_HOUSEHOLD.c.id.in_(household_ids))
        for row in session.execute(stmt).all():
            records["household", row.id] = _Record(
                "household",
                row.id,
                _household_data(row),
                row.version,
                row.commune_code,
                new=False,
                created_by=row.created_by,
                consent_by=row.consent_by,
            )
    households = {}
    if referred:
        stmt = sa.select(T_HOUSEHOLD.c.id, T_HOUSEHOLD.c.commune_code)
        households = dict(session.execute(stmt.where(T_HOUSEHOLD.c.id.in_(referred))).all())
    villages = {}
    if village_ids:
        stmt = sa.select(T_VILLAGE.c.id, T_VILLAGE.c.commune_code)
        villages = dict(session.execute(stmt.where(T_VILLAGE.c.id.in_(village_ids))).all())
    active = sa.select(Service.code, Service.sort).where(Service.active == sa.true())  # type: ignore[call-overload]
    services = dict(session.execute(active).all())
    taken = {}
    if codes:
        stmt = sa.select(T_HOUSEHOLD.c.code, T_HOUSEHOLD.c.id).where(T_HOUSEHOLD.c.code.in_(codes))
        taken = dict(session.execute(stmt).all())
    return _Batch(session, member, now, records, villages, services, taken, households)


def _load_sessions(session: Session, ids: Iterable[uuid.UUID]) -> list[_Record]:
    rows = list(session.execute(sa.select(T_SESSION).where(T_SESSION.c.id.in_(list(ids)))))
    lines = _lines(session, T_SESSION.c.id.in_([row.id for row in rows])) if rows else {}
    return [
        _Record(
            "session",
            row.id,
            _session_data(row, lines.get(row.id, [])),
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
        for row in rows
    ]


def _lines(session: Session, *where: Any) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The service lines of the sessions that `where` selects, in catalogue order."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    stmt = _LINE_OUT.join(T_SESSION, T_SESSION.c.id == T_LINE.c.session_id).where(*where)
    for row in session.execute(stmt):
        out.setdefault(row.session_id, []).append(
            {
                "service": row.service_code,
                "outcome": row.outcome,
                "reason": row.reason,
                "dossier_code": row.dossier_code,
            }
        )
    for lines in out.values():
        lines.sort(key=lambda line: _service_order(line["service"]))
    return out


def _service_order(code: str) -> tuple[int, str]:
    return _ORDER.get(code, len(_ORDER)), code


_ORDER = {code: i for i, (code, *_) in enumerate(CATALOGUE)}


def _session_data(row: Any, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "household_id": str(row.household_id) if row.household_id else None,
        "village_id": str(row.village_id) if row.village_id else None,
        "occurred_at": iso_utc(row.occurred_at),
        "minutes": row.minutes,
        "people_helped": row.people_helped,
        "services": lines,
        "guide_slug": row.guide_slug,
        "notes": row.notes,
        "follow_up_on": row.follow_up_on.isoformat() if row.follow_up_on else None,
        "deleted": row.deleted_at is not None,
    }


def _household_data(row: Any) -> dict[str, Any]:
    return {
        "village_id": str(row.village_id),
        "code": row.code,
        "head_name": row.head_name,
        "phone": row.phone,
        "consent_at": iso_utc(row.consent_at),
        "skills": sorted(row.skills or []),
        "deleted": row.deleted_at is not None,
    }


def _apply_one(batch: _Batch, op: OpIn, op_id: str | None) -> Result:
    try:
        if op.entity == "session":
            rec, status = _apply_session(batch, op)
        else:
            rec, status = _apply_household(batch, op)
    except Rejected as e:
        return Result(op_id, REJECTED, None, e.reason, e.fields)
    return Result(op_id, status, rec.version if rec else 0)


def _check_village(batch: _Batch, value: str | None, name: str = "village_id") -> None:
    if value is None:
        return
    commune = batch.villages.get(_uuid(value))
    if commune is None:
        raise Rejected("not_found", {name: gettext("This village is not known.")})
    if commune != batch.member.commune_code:
        raise Rejected("other_commune", {name: gettext("This village is in another commune.")})


def _when_problem(batch: _Batch, when: datetime) -> str | None:
    """Why a time from the phone cannot be right (compared before any conversion can overflow)."""
    if when > batch.now + FUTURE_SLACK:
        return gettext("This time is in the future.")
    if when < batch.now - MAX_AGE:
        return gettext("This is more than a year ago.")
    return None


def _apply_session(batch: _Batch, op: OpIn) -> tuple[_Record | None, str]:
    me = batch.member
    rec = batch.records.get(("session", op.id))
    if rec is not None:
        if rec.commune_code != me.commune_code:
            raise Rejected("other_commune")
        if rec.owner != me.id:
            raise Rejected("not_yours")
        if rec.review_state == ReviewState.approved:
            raise Rejected("approved")
        if op.base_version > rec.version:
            raise Rejected("bad_version")
    if op.data.get("deleted") is True:
        if rec is None:
            return None, APPLIED  # created and deleted on the phone: nothing to keep
        if rec.data["deleted"]:
            return rec, APPLIED
        client = {**rec.data, "deleted": True}
    else:
        if rec is not None and rec.data["deleted"]:
            raise Rejected("deleted")
        client = _session_in(batch, op)
    if rec is None:
        if op.base_version != 0:
            raise Rejected("not_found")
        rec = _Record(
            "session",
            op.id,
            client,
            0,
            me.commune_code or "",
            new=True,
            owner=me.id,
            created_by=me.id,
        )
        batch.records["session", op.id] = rec
        return rec, _write(batch, rec, op, client, {})
    return rec, _edit(batch, rec, op, client, SESSION_FIELDS)


def _session_in(batch: _Batch, op: OpIn) -> dict[str, Any]:
    try:
        data = SessionIn.model_validate(op.data)
    except ValidationError as e:
        raise Rejected("invalid", _fields(e)) from e
    fields: dict[str, str] = {}
    for i, line in enumerate(data.services):
        if line.service not in batch.services:
            fields[f"services.{i}.service"] = gettext("This service is not in the catalogue.")
    if problem := _when_problem(batch, data.occurred_at):
        fields["occurred_at"] = problem
    elif data.follow_up_on and data.follow_up_on < data.occurred_at.astimezone(TZ).date():
        fields["follow_up_on"] = gettext("The follow-up date is before the visit.")
    if fields:
        raise Rejected("invalid", fields)
    village_id = str(data.village_id)
    _check_village(batch, village_id)
    household_id = str(data.household_id) if data.household_id else None
    if data.household_id:
        commune = batch.households.get(data.household_id)
        if commune is None:
            raise Rejected("not_found", {"household_id": gettext("This household is not known.")})
        if commune != batch.member.commune_code:
            raise Rejected(
                "other_commune", {"household_id": gettext("This household is in another commune.")}
            )
    lines = sorted(data.services, key=lambda line: _service_order(line.service))
    return {
        "household_id": household_id,
        "village_id": village_id,
        "occurred_at": iso_utc(data.occurred_at),
        "minutes": data.minutes,
        "people_helped": data.people_helped,
        "services": [
            {
                "service": line.service,
                "outcome": line.outcome,
                "reason": None if line.outcome == "done" else line.reason,
                "dossier_code": line.dossier_code,
            }
            for line in lines
        ],
        "guide_slug": data.guide_slug,
        "notes": mask_secrets(data.notes),
        "follow_up_on": data.follow_up_on.isoformat() if data.follow_up_on else None,
        "deleted": False,
    }


def _apply_household(batch: _Batch, op: OpIn) -> tuple[_Record, str]:
    me = batch.member
    rec = batch.records.get(("household", op.id))
    if rec is not None:
        if rec.commune_code != me.commune_code:
            raise Rejected("other_commune")
        if rec.data["deleted"]:
            raise Rejected("deleted")
        if op.base_version > rec.version:
            raise Rejected("bad_version")
    client = _household_in(batch, op)
    if rec is None:
        if op.base_version != 0:
            raise Rejected("not_found")
        _check_code(batch, client["code"], op.id)
        rec = _Record(
            "household",
            op.id,
            client,
            0,
            me.commune_code or "",
            new=True,
            created_by=me.id,
            consent_by=me.id,
        )
        batch.records["household", op.id] = rec
        status = _write(batch, rec, op, client, {})
    else:
        status = _edit(batch, rec, op, client, HOUSEHOLD_FIELDS)
    batch.codes[rec.data["code"]] = rec.id
    batch.households[rec.id] = rec.commune_code
    return rec, status


def _household_in(batch: _Batch, op: OpIn) -> dict[str, Any]:
    if op.data.get("consent") is not True:
        raise Rejected(
            "no_consent",
            {"consent": gettext("Ask the family first: a household needs their consent.")},
        )
    try:
        data = HouseholdIn.model_validate(op.data)
    except ValidationError as e:
        raise Rejected("invalid", _fields(e)) from e
    phone = None
    if data.phone and data.phone.strip():
        try:
            phone = clean_phone(data.phone)
        except InvalidInput as e:
            raise Rejected("invalid", e.fields) from e
    consent_at = data.consent_at or batch.now
    if problem := _when_problem(batch, consent_at):
        raise Rejected("invalid", {"consent_at": problem})
    village_id = str(data.village_id)
    _check_village(batch, village_id)
    return {
        "village_id": village_id,
        "code": data.code,
        "head_name": data.head_name,
        "phone": phone,
        "consent_at": iso_utc(consent_at),
        "skills": sorted(set(data.skills)),
        "deleted": False,
    }


def _check_code(batch: _Batch, code: str, record_id: uuid.UUID) -> None:
    owner = batch.codes.get(code)
    if owner is not None and owner != record_id:
        raise Rejected("code_taken", {"code": gettext("Another household already has this code.")})


def _base(batch: _Batch, rec: _Record, version: int) -> dict[str, Any] | None:
    """The record as the client last saw it, from history (None when it was never recorded)."""
    key = (rec.entity, rec.id, version)
    if key in batch.versions:
        return batch.versions[key]
    if version == 0:
        return None
    stmt = sa.select(T_HISTORY.c.data).where(
        T_HISTORY.c.entity == rec.entity,
        T_HISTORY.c.record_id == rec.id,
        T_HISTORY.c.version == version,
    )
    return batch.session.execute(stmt.order_by(T_HISTORY.c.id.desc()).limit(1)).scalar()


def _edit(
    batch: _Batch, rec: _Record, op: OpIn, client: dict[str, Any], names: tuple[str, ...]
) -> str:
    if op.base_version == rec.version:
        merged, kept = client, []
    else:
        base = _base(batch, rec, op.base_version) or {}
        merged, kept = dict(rec.data), []
        for name in names:
            mine = client.get(name)
            if name in base and mine == base[name]:
                continue  # the client did not change it
            theirs = rec.data.get(name)
            if (name in base and theirs == base[name]) or theirs == mine:
                merged[name] = mine
            else:
                kept.append(name)
    if rec.entity == "household":
        _check_code(batch, merged["code"], rec.id)
    stale = op.base_version != rec.version
    extra = {"_client": client, "_kept": kept} if stale else {}
    return _write(batch, rec, op, merged, extra, conflict=stale)


def _write(
    batch: _Batch,
    rec: _Record,
    op: OpIn,
    data: dict[str, Any],
    extra: dict[str, Any],
    conflict: bool = False,
) -> str:
    if rec.entity == "session" and (rec.new or data["services"] != rec.data["services"]):
        rec.lines_changed = True
    rec.data = data
    rec.version += 1
    if conflict:
        rec.conflict = rec.conflict or rec.entity == "session"
    if rec.entity == "session" and rec.review_state == ReviewState.returned:
        rec.review_state = ReviewState.new  # the volunteer fixed it: back to the coordinator
    batch.touch(rec)
    full = {**data}
    if rec.entity == "session":
        full.update(
            volunteer_id=str(rec.owner), review_state=rec.review_state, conflict=rec.conflict
        )
    batch.versions[rec.entity, rec.id, rec.version] = full
    batch.history.append(
        {
            "entity": rec.entity,
            "record_id": rec.id,
            "version": rec.version,
            "data": {**full, **extra},
            "member_id": batch.member.id,
            "op_id": op.op_id,
            "conflict": conflict,
            "at": batch.now,
        }
    )
    return CONFLICT if conflict else APPLIED


def _flush(batch: _Batch, top: int, done: list[tuple[OpIn, Result | None]]) -> None:
    """Write the batch with one statement per table and kind."""
    s, now, me = batch.session, batch.now, batch.member
    for seq, rec in enumerate(batch.order, start=top + 1):
        rec.seq = seq
    if batch.order:
        s.execute(
            sa.update(T_COUNTER)
            .where(T_COUNTER.c.name == COUNTER)
            .values(value=top + len(batch.order))
        )
    households = [r for r in batch.order if r.entity == "household"]
    sessions = [r for r in batch.order if r.entity == "session"]
    _save(s, T_HOUSEHOLD, [_household_row(r, me, now) for r in households], households)
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
        _bulk_insert(s, T_LINE, lines)
    if batch.history:
        _bulk_insert(s, T_HISTORY, batch.history)
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


def _save(s: Session, table: sa.Table, rows: list[dict[str, Any]], recs: list[_Record]) -> None:
    new = [row for row, rec in zip(rows, recs, strict=True) if rec.new]
    old = [row for row, rec in zip(rows, recs, strict=True) if not rec.new]
    if new:
        _bulk_insert(s, table, new)
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


_BULK: dict[tuple[str, str, tuple[str, ...]], Any] = {}
_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _default(column: sa.Column[Any]) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_scalar:
        value = default.arg  # type: ignore[attr-defined]
        return lambda: value
    if default.is_callable:
        make = default.arg  # type: ignore[attr-defined]
        return lambda: make(None)
    raise RuntimeError(f"{column} has a default that a bulk insert cannot compute")


def _bulk_insert(s: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` with one DBAPI executemany. SQLAlchemy still writes the SQL and each value
    goes through its column type's bind processor; only SQLAlchemy's per-row bookkeeping is
    skipped, which was the largest part of a 200-op batch (see bench/sync_ingest.py)."""
    conn = s.connection()
    dialect = conn.dialect
    names = tuple(rows[0])
    key = (dialect.name, table.name, names)
    if key not in _BULK:
        compiled = sa.insert(table).compile(
            dialect=dialect, column_keys=list(names), for_executemany=True
        )
        order = list(compiled.positiontup or compiled.bind_names.values())
        types = [table.c[name].type.dialect_impl(dialect) for name in order]
        # JSON is written compact and unescaped; other values by their type's own processor.
        procs = [_dumps if isinstance(t, sa.JSON) else t.bind_processor(dialect) for t in types]
        # Columns left out of the rows get their Python-side default, as SQLAlchemy would.
        defaults = {n: _default(table.c[n]) for n in order if n not in names}
        _BULK[key] = (compiled.string, order, procs, compiled.positional, defaults)
    sql, order, procs, positional, defaults = _BULK[key]
    if defaults:
        rows = [{**{n: make() for n, make in defaults.items()}, **row} for row in rows]
    columns = []
    for name, process in zip(order, procs, strict=True):
        column = [row[name] for row in rows]
        if process is _dumps:
            column = [_dumps(v) for v in column]
        elif process is not None:  # ids, the member, the time repeat: convert each once
            seen: dict[Any, Any] = {}
            column = [seen[v] if v in seen else seen.setdefault(v, process(v)) for v in column]
        columns.append(column)
    values = list(zip(*columns, strict=True))
    if positional:
        conn.exec_driver_sql(sql, values)  # type: ignore[arg-type]
    else:
        conn.exec_driver_sql(sql, [dict(zip(order, v, strict=True)) for v in values])


def _session_row(rec: _Record, me: Member, now: datetime) -> dict[str, Any]:
    d = rec.data
    return {
        "id": rec.id,
        "commune_code": rec.commune_code,
        "village_id": _uuid(d["village_id"]) if d["village_id"] else None,
        "household_id": _uuid(d["household_id"]) if d["household_id"] else None,
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


def _household_row(rec: _Record, me: Member, now: datetime) -> dict[str, Any]:
    d = rec.data
    return {
        "id": rec.id,
        "commune_code": rec.commune_code,
        "village_id": _uuid(d["village_id"]),
        "code": d["code"],
        "head_name": d["head_name"],
        "head_name_key": fold(d["head_name"]),
        "phone": d["phone"],
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


# --- Pulling changes --------------------------------------------------------------------------


Fresh = tuple[int, str, dict[str, Any]]  # (seq, kind, JSON) of a record written just now


def pull(
    session: Session,
    member: Member,
    cursor: int,
    limit: int = PAGE,
    fresh: Sequence[Fresh] = (),
) -> dict[str, Any]:
    """What changed after `cursor` that `member` may see: villages and households of the
    commune, the member's own sessions. At most `limit` records, oldest change first.

    `fresh` are the records the current transaction wrote (its seqs are the newest)."""
    upto = current_cursor(session)  # read first: every seq up to it is already committed
    if cursor > upto:
        cursor = 0  # a cursor from another database: start again
    low = cursor if cursor > 0 else -1  # villages made outside sync still have seq 0
    window = (low, min((seq for seq, _, _ in fresh), default=upto + 1) - 1)
    commune = member.commune_code
    # Own sessions, and those this member logged that a coordinator gave to someone else
    # (the phone is told to drop them).
    mine = (
        (T_SESSION.c.volunteer_id == member.id) | (T_SESSION.c.created_by == member.id),
        T_SESSION.c.commune_code == commune,
    )
    villages = session.execute(
        _since(_VILLAGE_OUT, T_VILLAGE, window).where(T_VILLAGE.c.commune_code == commune)
    ).all()
    households = session.execute(
        _since(_HOUSEHOLD_OUT, T_HOUSEHOLD, window)
        .where(T_HOUSEHOLD.c.commune_code == commune)
        .limit(limit + 1)
    ).all()
    sessions = session.execute(
        _since(_SESSION_OUT, T_SESSION, window).where(*mine).limit(limit + 1)
    ).all()
    items: list[tuple[int, str, Any]] = sorted(
        [(row.seq, "villages", row) for row in villages]
        + [(row.seq, "households", row) for row in households]
        + [(row.seq, "sessions", row) for row in sessions]
        + list(fresh),
        key=lambda item: item[0],
    )
    first = [item for item in items if item[0] <= 0]
    rest = [item for item in items if item[0] > 0]
    take = max(limit - len(first), 1)
    page, more = first + rest[:take], len(rest) > take
    stored = [row.seq for _, kind, row in page if kind == "sessions" and not isinstance(row, dict)]
    lines = {}
    if stored:  # the lines of the sessions on this page, by the same seq window
        lines = _lines(session, *mine, T_SESSION.c.seq > low, T_SESSION.c.seq <= max(stored))
    changes: dict[str, list[dict[str, Any]]] = {"households": [], "sessions": [], "villages": []}
    for _, kind, row in page:
        if isinstance(row, dict):
            changes[kind].append(row)
        elif kind == "villages":
            changes[kind].append(village_json(row))
        elif kind == "households":
            changes[kind].append(household_json(row))
        else:
            changes[kind].append(session_json(row, lines.get(row.id, []), member.id))
    return {
        "changes": changes,
        "cursor": page[-1][0] if more else max(cursor, upto),
        "more": more,
    }


def _columns(table: sa.Table, names: str) -> sa.Select[Any]:
    return sa.select(*(table.c[name] for name in names.split()))


# Only what the phone is sent: fewer values to convert per row.
_VILLAGE_OUT = _columns(T_VILLAGE, "id name merged_into_id version seq")
_HOUSEHOLD_OUT = _columns(
    T_HOUSEHOLD, "id village_id code head_name phone skills version seq deleted_at"
)
_LINE_OUT = _columns(T_LINE, "session_id service_code outcome reason dossier_code")
_SESSION_OUT = _columns(
    T_SESSION,
    "id household_id village_id occurred_at minutes people_helped guide_slug notes follow_up_on"
    " review_state review_comment version conflict seq deleted_at volunteer_id follow_up_done_at",
)


def _since(stmt: sa.Select[Any], table: sa.Table, window: tuple[int, int]) -> sa.Select[Any]:
    return stmt.where(table.c.seq > window[0], table.c.seq <= window[1]).order_by(table.c.seq)


def village_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "merged_into_id": str(row.merged_into_id) if row.merged_into_id else None,
        "version": row.version,
    }


def household_json(row: Any) -> dict[str, Any]:
    """A household for the phone; a deleted one keeps no personal data."""
    if row.deleted_at is not None:
        return {"id": str(row.id), "deleted": True}
    return {
        "id": str(row.id),
        "village_id": str(row.village_id),
        "code": row.code,
        "head_name": row.head_name,
        "phone": row.phone,
        "skills": row.skills or [],
        "version": row.version,
    }


def session_json(
    row: Any, lines: list[dict[str, Any]], member_id: uuid.UUID | None = None
) -> dict[str, Any]:
    if row.deleted_at is not None or (member_id is not None and row.volunteer_id != member_id):
        return {"id": str(row.id), "deleted": True, "version": row.version}
    data = _session_data(row, lines)
    del data["deleted"]
    return {
        "id": str(row.id),
        **data,
        "review_state": row.review_state,
        "review_comment": row.review_comment,
        "version": row.version,
        "conflict": row.conflict,
        "follow_up_done": getattr(row, "follow_up_done_at", None) is not None,
    }


def _kind(rec: _Record) -> str:
    return "sessions" if rec.entity == "session" else "households"


def _record_json(rec: _Record) -> dict[str, Any]:
    """The same shapes as household_json() and session_json(), from a record in memory."""
    d = rec.data
    if d["deleted"]:
        out: dict[str, Any] = {"id": str(rec.id), "deleted": True}
        if rec.entity == "session":
            out["version"] = rec.version
        return out
    if rec.entity == "household":
        return {
            "id": str(rec.id),
            "village_id": d["village_id"],
            "code": d["code"],
            "head_name": d["head_name"],
            "phone": d["phone"],
            "skills": d["skills"],
            "version": rec.version,
        }
    return {
        "id": str(rec.id),
        **{name: d[name] for name in SESSION_FIELDS if name != "deleted"},
        "review_state": rec.review_state,
        "review_comment": rec.review_comment,
        "version": rec.version,
        "conflict": rec.conflict,
        "follow_up_done": rec.follow_up_done,
    }


def bootstrap(session: Session, member: Member) -> dict[str, Any]:
    """Everything a phone needs to start: its member, commune, villages, the service
    catalogue and the commune's households, with the cursor to pull from afterwards."""
    cursor = current_cursor(session)  # first, as in pull()
    commune = session.get(Commune, member.commune_code)
    assert commune is not None
    province = session.get(Province, commune.province_code)
    villages = session.execute(
        _VILLAGE_OUT.where(T_VILLAGE.c.commune_code == commune.code).order_by(T_VILLAGE.c.name_key)
    ).all()
    services = session.execute(
        sa.select(Service.code, Service.skill, Service.name_vi, Service.name_en)  # type: ignore[call-overload]
        .where(Service.active == sa.true())
        .order_by(Service.sort)
    ).all()
    households = session.execute(
        _HOUSEHOLD_OUT.where(
            T_HOUSEHOLD.c.commune_code == commune.code, T_HOUSEHOLD.c.deleted_at.is_(None)
        ).order_by(T_HOUSEHOLD.c.seq)
    ).all()
    return {
        "member": {
            "id": str(member.id),
            "name": member.name,
            "role": member.role,
            "commune": member.commune_code,
        },
        "commune": {
            "code": commune.code,
            "name": commune.name,
            "province": province.name if province else "",
        },
        "villages": [village_json(row) for row in villages],
        "services": [
            {"code": s.code, "skill": s.skill, "name_vi": s.name_vi, "name_en": s.name_en}
            for s in services
        ],
        "households": [household_json(row) for row in households],
        "cursor": cursor,
    }
