"""The rules of one op, against the batch in memory: who may write what, the checks that need
the server (catalogue, villages, households, its clock), masking, and the field-by-field merge
of a stale edit. Each accepted write bumps the version and adds a `record_history` row.

Reasons a result can carry: invalid, no_consent, other_commune, not_found, not_yours, approved,
deleted, code_taken, bad_version, no_follow_up, follow_up_closed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from ..accounts import InvalidInput, clean_phone
from ..i18n import TZ, gettext
from ..models import ReviewState
from ..privacy import mask_secrets
from .inputs import (
    APPLIED,
    CONFLICT,
    REJECTED,
    FollowUpIn,
    HouseholdIn,
    OpIn,
    Rejected,
    Result,
    SessionIn,
    fields_of,
)
from .records import Batch, Record
from .shapes import HOUSEHOLD_FIELDS, SESSION_FIELDS, iso_utc, service_order
from .store import T_HISTORY

# Village and household ids repeat across a batch: parse each once.
to_uuid = lru_cache(maxsize=16384)(uuid.UUID)


def apply_one(batch: Batch, op: OpIn, op_id: str | None) -> Result:
    try:
        if op.entity == "session":
            rec, status = _apply_session(batch, op)
        elif op.entity == "follow_up":
            rec, status = _apply_follow_up(batch, op)
        else:
            rec, status = _apply_household(batch, op)
    except Rejected as e:
        return Result(op_id, REJECTED, None, e.reason, e.fields)
    return Result(op_id, status, rec.version if rec else 0)


def _check_village(batch: Batch, value: str | None, name: str = "village_id") -> None:
    if value is None:
        return
    commune = batch.villages.get(to_uuid(value))
    if commune is None:
        raise Rejected("not_found", {name: gettext("This village is not known.")})
    if commune != batch.me.commune:
        raise Rejected("other_commune", {name: gettext("This village is in another commune.")})


def _new(batch: Batch, op: OpIn, client: dict[str, Any], **who: Any) -> Record:
    """A record the op creates, written by the batch's member in the member's commune."""
    rec = Record(
        op.entity, op.id, client, 0, batch.me.commune, new=True, created_by=batch.me.id, **who
    )
    batch.records[op.entity, op.id] = rec
    return rec


def _in_utc(batch: Batch, when: datetime) -> tuple[datetime, str | None]:
    """A time from the phone in UTC, and why it cannot be right (None when it can). Converted
    first, so that the comparisons need no offset; a time that cannot convert (near year 1 or
    9999) is out of range either way."""
    try:
        utc = when.astimezone(UTC)
    except OverflowError:
        if when.year > 5000:
            return when, gettext("This time is in the future.")
        return when, gettext("This is more than a year ago.")
    if utc > batch.latest:
        return utc, gettext("This time is in the future.")
    if utc < batch.earliest:
        return utc, gettext("This is more than a year ago.")
    return utc, None


# --- Sessions ----------------------------------------------------------------------------------


def _apply_session(batch: Batch, op: OpIn) -> tuple[Record | None, str]:
    me = batch.me
    rec = batch.records.get(("session", op.id))
    if rec is not None:
        if rec.commune_code != me.commune:
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
        rec = _new(batch, op, client, owner=me.id)
        return rec, _write(batch, rec, op, client, {})
    return rec, _edit(batch, rec, op, client, SESSION_FIELDS)


def _session_in(batch: Batch, op: OpIn) -> dict[str, Any]:
    try:
        data = SessionIn.model_validate(op.data)
    except ValidationError as e:
        raise Rejected("invalid", fields_of(e)) from e
    fields: dict[str, str] = {}
    for i, line in enumerate(data.services):
        if line.service not in batch.services:
            fields[f"services.{i}.service"] = gettext("This service is not in the catalogue.")
    occurred_at, problem = _in_utc(batch, data.occurred_at)
    if problem:
        fields["occurred_at"] = problem
    elif data.follow_up_on and data.follow_up_on < occurred_at.astimezone(TZ).date():
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
        if commune != batch.me.commune:
            raise Rejected(
                "other_commune", {"household_id": gettext("This household is in another commune.")}
            )
    lines = data.services
    if len(lines) > 1:
        lines = sorted(lines, key=lambda line: service_order(line.service))
    return {
        "household_id": household_id,
        "village_id": village_id,
        "occurred_at": iso_utc(occurred_at),
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


# --- Follow-ups --------------------------------------------------------------------------------


def _apply_follow_up(batch: Batch, op: OpIn) -> tuple[Record, str]:
    """The volunteer closes a follow-up of their own, or moves its day. The visit itself is not
    edited: the op applies whatever version the session is at (an approved one too), leaves its
    review alone, and is a new version with history like every write."""
    try:
        change = FollowUpIn.model_validate(op.data)
    except ValidationError as e:
        raise Rejected("invalid", fields_of(e)) from e
    rec = batch.records.get(("session", op.id))
    if rec is None:
        raise Rejected("not_found")
    if rec.commune_code != batch.me.commune:
        raise Rejected("other_commune")
    if rec.owner != batch.me.id:
        raise Rejected("not_yours")
    if rec.data["deleted"]:
        raise Rejected("deleted")
    if op.base_version > rec.version:
        raise Rejected("bad_version")
    if rec.data["follow_up_on"] is None:
        raise Rejected("no_follow_up")
    data = dict(rec.data)
    if change.done:
        if not rec.follow_up_done:
            rec.follow_up_done = rec.closes_follow_up = True
    else:
        if rec.follow_up_done:
            raise Rejected("follow_up_closed")
        day = change.follow_up_on
        assert day is not None
        visit = datetime.fromisoformat(data["occurred_at"]).astimezone(TZ).date()
        if day < visit:
            raise Rejected(
                "invalid", {"follow_up_on": gettext("The follow-up date is before the visit.")}
            )
        if day > batch.now.astimezone(TZ).date() + timedelta(days=366):
            raise Rejected("invalid", {"follow_up_on": gettext("At most a year from today.")})
        data["follow_up_on"] = day.isoformat()
    action = "follow_up.done" if change.done else "follow_up.moved"
    _record(batch, rec, op, data, {"follow_up_done": rec.follow_up_done, "_action": action})
    return rec, APPLIED


# --- Households --------------------------------------------------------------------------------


def _apply_household(batch: Batch, op: OpIn) -> tuple[Record, str]:
    me = batch.me
    rec = batch.records.get(("household", op.id))
    if rec is not None:
        if rec.commune_code != me.commune:
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
        rec = _new(batch, op, client, consent_by=me.id)
        status = _write(batch, rec, op, client, {})
    else:
        status = _edit(batch, rec, op, client, HOUSEHOLD_FIELDS)
    batch.codes[rec.data["code"]] = rec.id
    batch.households[rec.id] = rec.commune_code
    return rec, status


def _household_in(batch: Batch, op: OpIn) -> dict[str, Any]:
    if op.data.get("consent") is not True:
        raise Rejected(
            "no_consent",
            {"consent": gettext("Ask the family first: a household needs their consent.")},
        )
    try:
        data = HouseholdIn.model_validate(op.data)
    except ValidationError as e:
        raise Rejected("invalid", fields_of(e)) from e
    phone = None
    if data.phone and data.phone.strip():
        try:
            phone = clean_phone(data.phone)
        except InvalidInput as e:
            raise Rejected("invalid", e.fields) from e
    consent_at, problem = _in_utc(batch, data.consent_at or batch.now)
    if problem:
        raise Rejected("invalid", {"consent_at": problem})
    village_id = str(data.village_id)
    _check_village(batch, village_id)
    return {
        "village_id": village_id,
        "code": data.code,
        "head_name": mask_secrets(data.head_name),
        "phone": phone,
        "address": mask_secrets(data.address),
        "consent_at": iso_utc(consent_at),
        "skills": sorted(set(data.skills)),
        "deleted": False,
    }


def _check_code(batch: Batch, code: str, record_id: uuid.UUID) -> None:
    owner = batch.codes.get(code)
    if owner is not None and owner != record_id:
        raise Rejected("code_taken", {"code": gettext("Another household already has this code.")})


# --- Merging and writing -----------------------------------------------------------------------


def _base(batch: Batch, rec: Record, version: int) -> dict[str, Any] | None:
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
    batch: Batch, rec: Record, op: OpIn, client: dict[str, Any], names: tuple[str, ...]
) -> str:
    """Apply an edit: as sent when based on the current version; else only the fields nobody
    else changed since its base version, the others kept as they stand (a conflict)."""
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
    batch: Batch,
    rec: Record,
    op: OpIn,
    data: dict[str, Any],
    extra: dict[str, Any],
    conflict: bool = False,
) -> str:
    if rec.entity == "session" and (rec.new or data["services"] != rec.data["services"]):
        rec.lines_changed = True
    if conflict:
        rec.conflict = rec.conflict or rec.entity == "session"
    if rec.entity == "session" and rec.review_state == ReviewState.returned:
        rec.review_state = ReviewState.new  # the volunteer fixed it: back to the coordinator
    _record(batch, rec, op, data, extra, conflict)
    return CONFLICT if conflict else APPLIED


def _record(
    batch: Batch,
    rec: Record,
    op: OpIn,
    data: dict[str, Any],
    extra: dict[str, Any],
    conflict: bool = False,
) -> None:
    """A new version of `rec` holding `data`: written with the batch, kept for merging later
    ops of the batch, and one `record_history` row (with `extra`)."""
    rec.data = data
    rec.version += 1
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
            "member_id": batch.me.id,
            "op_id": op.op_id,
            "conflict": conflict,
            "at": batch.now,
        }
    )
