"""Tables. Every entity of DESIGN.md ("Data") lives here; Alembic migrations create them.

`table=True` models do not validate: input is checked by the forms and schemas of each part.
Times are UTC (`UTCDateTime`); tables a phone writes carry a client-made UUID, an integer
`version`, timestamps, `deleted_at`, the writer, and `seq`, the server-assigned pull cursor.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from .db import UTCDateTime, utcnow

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(StrEnum):
    volunteer = "volunteer"
    coordinator = "coordinator"
    admin = "admin"


class Skill(StrEnum):
    """The five basic digital skills, plus VNeID and social insurance as their own groups."""

    public_services = "public_services"
    shopping = "shopping"
    payment = "payment"
    safety = "safety"
    local_platforms = "local_platforms"
    vneid = "vneid"
    social_insurance = "social_insurance"


class Outcome(StrEnum):
    done = "done"
    not_finished = "not_finished"
    could_not = "could_not"


class ReviewState(StrEnum):
    new = "new"
    approved = "approved"
    returned = "returned"


def _when(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- Places -------------------------------------------------------------------------------


class Province(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=2)
    name: str = Field(max_length=100)
    name_key: str = Field(max_length=100, index=True)
    division_type: str = Field(max_length=40)
    valid_from: date


class Commune(SQLModel, table=True):
    """A commune-level unit (xã, phường, đặc khu). Codes were reused in 2025: keep valid_from."""

    code: str = Field(primary_key=True, max_length=5)
    province_code: str = Field(foreign_key="province.code", index=True, max_length=2)
    name: str = Field(max_length=100)
    name_key: str = Field(max_length=100, index=True)
    division_type: str = Field(max_length=40)
    valid_from: date
    in_use_since: datetime | None = _when(default=None)


class Village(SQLModel, table=True):
    """Thôn, bản, ấp, tổ dân phố… kept by each commune. A merged village points to its successor."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    commune_code: str = Field(foreign_key="commune.code", index=True, max_length=5)
    name: str = Field(max_length=80)
    name_key: str = Field(max_length=80, index=True)
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="village.id")
    version: int = 1
    seq: int = Field(default=0, index=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class VillageChange(SQLModel, table=True):
    """History of a village: created, renamed, merged. Old logs still roll up through it."""

    id: int | None = Field(default=None, primary_key=True)
    village_id: uuid.UUID = Field(foreign_key="village.id", index=True)
    kind: str = Field(max_length=16)  # created | renamed | merged
    old_name: str | None = Field(default=None, max_length=80)
    new_name: str | None = Field(default=None, max_length=80)
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="village.id")
    member_id: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    at: datetime = _created()


# --- People and access --------------------------------------------------------------------


class Member(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=80)
    name_key: str = Field(max_length=80, index=True)
    phone: str = Field(max_length=16, unique=True)  # E.164, e.g. +84912345678
    role: str = Field(max_length=16)
    province_code: str | None = Field(default=None, foreign_key="province.code", max_length=2)
    commune_code: str | None = Field(
        default=None, foreign_key="commune.code", index=True, max_length=5
    )
    active: bool = True
    password_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    last_login_at: datetime | None = _when(default=None)


class Invitation(SQLModel, table=True):
    """A one-time link to set a password. Only the token's hash is kept."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="member.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = _created()
    expires_at: datetime = _when()
    used_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)


class AuthSession(SQLModel, table=True):
    """A signed-in device. The cookie holds a random token; the table holds its hash."""

    token_hash: str = Field(primary_key=True, max_length=64)
    member_id: uuid.UUID = Field(foreign_key="member.id", index=True)
    created_at: datetime = _created()
    expires_at: datetime = _when()
    user_agent: str = Field(default="", max_length=200)


class LoginAttempt(SQLModel, table=True):
    """Failed sign-ins, per phone and per address, shared by every server process."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, index=True)
    at: datetime = _created()


# --- Field work ---------------------------------------------------------------------------


class Service(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=40)
    skill: str = Field(max_length=24, index=True)
    name_vi: str = Field(max_length=120)
    name_en: str = Field(max_length=120)
    sort: int = 0
    active: bool = True


class Household(SQLModel, table=True):
    # What a phone pulls: its commune's households after its cursor, in seq order.
    __table_args__ = (sa.Index("ix_household_commune_seq", "commune_code", "seq"),)

    id: uuid.UUID = Field(primary_key=True)
    commune_code: str = Field(foreign_key="commune.code", max_length=5)
    village_id: uuid.UUID = Field(foreign_key="village.id", index=True)
    code: str = Field(max_length=12, unique=True)  # printed on the QR card
    head_name: str = Field(max_length=80)
    head_name_key: str = Field(max_length=80, index=True)
    phone: str | None = Field(default=None, max_length=16)
    # House number, lane or hamlet as the family says it ("Số 12, xóm Đông"): how volunteers
    # find a household (migration 0007).
    address: str = Field(default="", max_length=120)
    consent_at: datetime = _when()
    consent_by: uuid.UUID = Field(foreign_key="member.id")
    skills: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    version: int = 1
    seq: int = 0
    created_at: datetime = _created()
    updated_at: datetime = _created()
    deleted_at: datetime | None = _when(default=None)
    created_by: uuid.UUID = Field(foreign_key="member.id")
    updated_by: uuid.UUID = Field(foreign_key="member.id")


class AssistanceSession(SQLModel, table=True):
    """One lượt hỗ trợ: a volunteer helped a household (or a walk-in) with some services."""

    __tablename__ = "assistance_session"
    __table_args__ = (
        # A commune's sessions of a period, newest first; it also holds every column the
        # dashboard counts, so a province roll-up never reads the table (bench/console_dashboard).
        sa.Index(
            "ix_assistance_session_commune_period",
            "commune_code",
            "occurred_at",
            "deleted_at",
            "household_id",
            "volunteer_id",
            "people_helped",
        ),
        # What a phone pulls: its commune's sessions after its cursor, in seq order.
        sa.Index("ix_assistance_session_commune_seq", "commune_code", "seq"),
        # Follow-ups still open: few rows, found without scanning a commune's history.
        sa.Index(
            "ix_assistance_session_open_follow_up",
            "commune_code",
            "follow_up_on",
            sqlite_where=sa.text(
                "follow_up_on IS NOT NULL AND follow_up_done_at IS NULL AND deleted_at IS NULL"
            ),
            postgresql_where=sa.text(
                "follow_up_on IS NOT NULL AND follow_up_done_at IS NULL AND deleted_at IS NULL"
            ),
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    # Few indexes: each one is written for every session a phone sends (migration 0003).
    commune_code: str = Field(foreign_key="commune.code", max_length=5)
    village_id: uuid.UUID | None = Field(default=None, foreign_key="village.id")
    household_id: uuid.UUID | None = Field(default=None, foreign_key="household.id", index=True)
    volunteer_id: uuid.UUID = Field(foreign_key="member.id")
    occurred_at: datetime = _when()
    minutes: int = 0
    people_helped: int = 1
    guide_slug: str | None = Field(default=None, max_length=80)
    notes: str = Field(default="", max_length=2000)
    follow_up_on: date | None = None
    follow_up_done_at: datetime | None = _when(default=None)
    # Who closed the follow-up: the volunteer from the phone, or the coordinator (migration 0007).
    follow_up_done_by: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    review_state: str = Field(default=ReviewState.new, max_length=16)
    review_comment: str = Field(default="", max_length=1000)
    reviewed_by: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    reviewed_at: datetime | None = _when(default=None)
    conflict: bool = False
    version: int = 1
    seq: int = 0
    created_at: datetime = _created()
    updated_at: datetime = _created()
    deleted_at: datetime | None = _when(default=None)
    created_by: uuid.UUID = Field(foreign_key="member.id")
    updated_by: uuid.UUID = Field(foreign_key="member.id")


class SessionService(SQLModel, table=True):
    """One line of a session: a service, its outcome, why not, and the dossier code if filed."""

    __tablename__ = "session_service"

    session_id: uuid.UUID = Field(foreign_key="assistance_session.id", primary_key=True)
    service_code: str = Field(foreign_key="service.code", primary_key=True, max_length=40)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=24)
    dossier_code: str | None = Field(default=None, max_length=40)


class RecordHistory(SQLModel, table=True):
    """Every accepted write, so that a conflict never loses either version."""

    __tablename__ = "record_history"

    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=24)
    record_id: uuid.UUID = Field(index=True)
    version: int
    data: dict[str, Any] = Field(sa_type=sa.JSON)
    member_id: uuid.UUID = Field(foreign_key="member.id")
    op_id: uuid.UUID | None = None
    conflict: bool = False
    at: datetime = _created()


class AppliedOp(SQLModel, table=True):
    """Sync idempotency: the unique op id makes a replay a no-op, enforced by the database."""

    __tablename__ = "applied_op"

    op_id: uuid.UUID = Field(primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="member.id")
    entity: str = Field(max_length=24)
    record_id: uuid.UUID
    result: str = Field(max_length=16)
    version: int
    at: datetime = _created()


class Counter(SQLModel, table=True):
    """Monotonic counters (the sync cursor). Updating the row serialises writers on it."""

    name: str = Field(primary_key=True, max_length=24)
    value: int = 0


# --- Guides -------------------------------------------------------------------------------


class Guide(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    skill: str = Field(max_length=24, index=True)
    commune_code: str | None = Field(default=None, foreign_key="commune.code", max_length=5)
    published: bool = False
    version: int = 1
    reviewed_on: date | None = None
    source_url: str = Field(default="", max_length=500)
    helpful_yes: int = 0
    helpful_no: int = 0
    created_at: datetime = _created()
    updated_at: datetime = _created()


class GuideVersion(SQLModel, table=True):
    __tablename__ = "guide_version"
    __table_args__ = (sa.UniqueConstraint("guide_id", "version", "locale"),)

    id: int | None = Field(default=None, primary_key=True)
    guide_id: uuid.UUID = Field(foreign_key="guide.id", index=True)
    version: int
    locale: str = Field(max_length=5)
    title: str = Field(max_length=160)
    title_key: str = Field(max_length=160)
    summary: str = Field(default="", max_length=600)
    body: dict[str, Any] = Field(sa_type=sa.JSON)  # documents, steps, problems
    author_id: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = _created()


# --- Notifications and audit --------------------------------------------------------------


class PushSubscription(SQLModel, table=True):
    __tablename__ = "push_subscription"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="member.id", index=True)
    endpoint: str = Field(max_length=1000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = _created()


class Notification(SQLModel, table=True):
    """The outbox of messages to members; the worker delivers and marks them sent."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="member.id", index=True)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = _created()
    send_after: datetime = _created()
    sent_at: datetime | None = _when(default=None, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=300)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="member.id", index=True)
    action: str = Field(max_length=40)
    target_type: str = Field(max_length=24)
    target_id: str = Field(max_length=40)
    commune_code: str | None = Field(default=None, max_length=5, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


# --- Reports and the province data warehouse ------------------------------------------------


class ApiToken(SQLModel, table=True):
    """A key the province's data warehouse (LGSP) uses to read indicators. Only its hash is kept."""

    __tablename__ = "api_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    province_code: str = Field(foreign_key="province.code", index=True, max_length=2)
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="member.id")
    created_at: datetime = _created()
    last_used_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)


class DailyLineCount(SQLModel, table=True):
    """Services tried per commune and day (Vietnam time), so the province roll-up sums days
    instead of reading every line. It always equals a count over the lines of sessions that are
    not deleted. Kept by database triggers on session_service and assistance_session (migrations
    0002 and 0003), except for what a sync batch writes: the batch adds its own lines, one row
    per day, while it holds a LineCountBatch row (server/line_counts.py)."""

    __tablename__ = "daily_line_count"

    commune_code: str = Field(primary_key=True, max_length=5)
    day: date = Field(primary_key=True)
    lines: int = 0
    done: int = 0
    dossiers: int = 0
    done_vneid: int = 0
    done_public_services: int = 0
    done_social_insurance: int = 0
    done_payment: int = 0
    done_shopping: int = 0
    done_safety: int = 0
    done_local_platforms: int = 0
    not_finished_missing_papers: int = 0
    not_finished_no_smartphone: int = 0
    not_finished_no_signal: int = 0
    not_finished_system_error: int = 0
    not_finished_needs_police: int = 0
    not_finished_other: int = 0
    could_not_missing_papers: int = 0
    could_not_no_smartphone: int = 0
    could_not_no_signal: int = 0
    could_not_system_error: int = 0
    could_not_needs_police: int = 0
    could_not_other: int = 0


class LineCountBatch(SQLModel, table=True):
    """Held by a sync batch while it writes: the daily_line_count triggers skip rows then, and
    the batch counts its lines itself. Deleted before commit, so no other transaction sees it."""

    __tablename__ = "line_count_batch"

    id: uuid.UUID = Field(primary_key=True)
