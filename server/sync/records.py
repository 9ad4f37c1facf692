"""A batch in memory: the records its ops touch, as they stand while it is applied, and what it
will write. Data is canonical and JSON-ready (SESSION_FIELDS / HOUSEHOLD_FIELDS of shapes.py),
so that merging compares plain values and history stores them as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlmodel import Session

from ..models import ReviewState
from .shapes import SESSION_FIELDS

FUTURE_SLACK = timedelta(minutes=5)
MAX_AGE = timedelta(days=365)


@dataclass(slots=True)
class Record:
    """A session or household during the batch."""

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
    follow_up_done: bool = False
    closes_follow_up: bool = False  # a "follow_up" op of this batch closed it: write who and when
    # What daily_line_count holds for a stored session: (commune, occurred_at, lines), or None.
    counted: tuple[str, datetime, list[dict[str, Any]]] | None = None

    @property
    def kind(self) -> str:
        return "sessions" if self.entity == "session" else "households"

    def as_json(self) -> dict[str, Any]:
        """The shape of household_json() and session_json() of shapes.py, from memory."""
        d = self.data
        if d["deleted"]:
            out: dict[str, Any] = {"id": str(self.id), "deleted": True}
            if self.entity == "session":
                out["version"] = self.version
            return out
        if self.entity == "household":
            return {
                "id": str(self.id),
                "village_id": d["village_id"],
                "code": d["code"],
                "head_name": d["head_name"],
                "phone": d["phone"],
                **({"address": d["address"]} if d["address"] else {}),
                "skills": d["skills"],
                "version": self.version,
            }
        return {
            "id": str(self.id),
            **{name: d[name] for name in SESSION_FIELDS if name != "deleted"},
            "review_state": self.review_state,
            "review_comment": self.review_comment,
            "version": self.version,
            "conflict": self.conflict,
            "follow_up_done": self.follow_up_done,
        }


class Author(NamedTuple):
    """The member who sent the batch, read once: a table model's attributes are slow to read
    for every op."""

    id: uuid.UUID
    commune: str


@dataclass(slots=True)
class Batch:
    session: Session
    me: Author
    now: datetime
    records: dict[tuple[str, uuid.UUID], Record]
    villages: dict[uuid.UUID, str]  # id → commune
    services: dict[str, int]  # code → sort, of the active services
    skills: dict[str, str]  # code → skill, of every service
    codes: dict[str, uuid.UUID]  # household code → id
    households: dict[uuid.UUID, str]  # id → commune, for the households sessions refer to
    history: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[tuple[str, uuid.UUID, int], dict[str, Any]] = field(default_factory=dict)
    order: list[Record] = field(default_factory=list)  # records to write, in seq order
    # What the server's clock allows of a time sent by a phone.
    latest: datetime = field(init=False)
    earliest: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.latest, self.earliest = self.now + FUTURE_SLACK, self.now - MAX_AGE

    def touch(self, rec: Record) -> None:
        if not rec.changed:
            rec.changed = True
            self.order.append(rec)
