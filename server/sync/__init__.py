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

The parts, in the order a batch meets them: inputs (validation models, messages, results),
batch (claim, load, apply, then pull), rules (one op: checks, masking, merge), records (the
batch in memory), write (the statements a batch writes), store (tables, the counter, bulk
INSERT, lookups by key), shapes (the JSON a phone is sent, pull, bootstrap).
"""

from ..i18n import TZ
from .batch import apply_ops, exchange, gc_paused
from .inputs import (
    APPLIED,
    CONFLICT,
    DUPLICATE,
    MAX_BYTES,
    MAX_OPS,
    REJECTED,
    FollowUpIn,
    HouseholdIn,
    OpIn,
    Rejected,
    Result,
    ServiceLineIn,
    SessionIn,
)
from .shapes import (
    HOUSEHOLD_FIELDS,
    PAGE,
    SESSION_FIELDS,
    bootstrap,
    household_json,
    iso_utc,
    lines_of,
    pull,
    session_data,
    session_json,
    village_json,
)
from .store import T_SESSION, current_cursor, lock_counter, next_seqs

__all__ = [
    "APPLIED",
    "CONFLICT",
    "DUPLICATE",
    "HOUSEHOLD_FIELDS",
    "MAX_BYTES",
    "MAX_OPS",
    "PAGE",
    "REJECTED",
    "SESSION_FIELDS",
    "TZ",
    "T_SESSION",
    "FollowUpIn",
    "HouseholdIn",
    "OpIn",
    "Rejected",
    "Result",
    "ServiceLineIn",
    "SessionIn",
    "apply_ops",
    "bootstrap",
    "current_cursor",
    "exchange",
    "gc_paused",
    "household_json",
    "iso_utc",
    "lines_of",
    "lock_counter",
    "next_seqs",
    "pull",
    "session_data",
    "session_json",
    "village_json",
]
