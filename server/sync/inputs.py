"""What a phone may send, and what it is told back: the validation models of an op and of its
data, the message for each field that is not right, and the result of each op.

Models validate only; they never decide who wrote a record or where (`extra="ignore"` drops
volunteer_id, created_by… that a phone might send). The checks that need the database (the
catalogue, villages, households, times against the server's clock) are in rules.py.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

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

from ..i18n import gettext
from ..text import nfc

MAX_OPS = 200  # ops in one batch
MAX_BYTES = 256 * 1024  # of a batch's JSON, unpacked
SKILLS = ("public_services", "shopping", "payment", "safety", "local_platforms")
REASONS = ("missing_papers", "no_smartphone", "no_signal", "system_error", "needs_police", "other")

APPLIED, DUPLICATE, CONFLICT, REJECTED = "applied", "duplicate", "conflict", "rejected"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # not \t or \n; PostgreSQL refuses NUL
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")  # volunteer_id, created_by…: the server decides


def _text(value: Any) -> Any:
    """Free text in NFC, one line, without control characters."""
    return nfc(_CONTROL.sub("", value)) if isinstance(value, str) else value


def _clean_already(value: str) -> bool:
    """True when nfc() and _CONTROL would leave `value` as it is, as most notes are: printable
    (no line break, tab or control character, no space but " "), in NFC, single spaces."""
    return (
        value.isprintable()
        and "  " not in value
        and value[:1] != " "
        and value[-1:] != " "
        and unicodedata.is_normalized("NFC", value)
    )


def _iso_day(value: Any) -> Any:
    """A day as YYYY-MM-DD only (pydantic would also take a number of seconds)."""
    if value is not None and not (isinstance(value, str) and _DAY.fullmatch(value)):
        raise PydanticCustomError("date_format", "YYYY-MM-DD")
    return value


class OpIn(_In):
    op_id: uuid.UUID
    entity: Literal["session", "household", "follow_up"]
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

    @field_validator("dossier_code")
    @classmethod
    def _not_an_id_number(cls, value: str | None) -> str | None:
        # A dossier code has letters or more digits; a bare 9- or 12-digit number is an ID.
        digits = sum(ch.isdigit() for ch in value or "")
        if value and re.fullmatch(r"[0-9./-]+", value) and digits in (9, 12):
            raise PydanticCustomError("id_number", "looks like an ID number")
        return value

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
        if not isinstance(value, str) or _clean_already(value):
            return value
        # nfc() collapses every run of spaces; keep the volunteer's line breaks.
        return "\n".join(_text(line) for line in value.splitlines()).strip()

    @field_validator("follow_up_on", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return _iso_day(value)

    @model_validator(mode="after")
    def _each_service_once(self) -> SessionIn:
        codes = [line.service for line in self.services]
        if len(set(codes)) != len(codes):
            raise PydanticCustomError("duplicate_service", "each service once")
        return self


class FollowUpIn(_In):
    """A follow-up closed or moved from the phone; the op's id is the session's."""

    done: Literal[True] | None = None
    follow_up_on: date | None = None

    @field_validator("follow_up_on", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return _iso_day(value)

    @model_validator(mode="after")
    def _one_change(self) -> FollowUpIn:
        if (self.done is None) == (self.follow_up_on is None):
            raise PydanticCustomError("follow_up_change", "done or a new day")
        return self


class HouseholdIn(_In):
    village_id: uuid.UUID
    code: str = Field(min_length=1, max_length=12, pattern=r"^[A-Z0-9-]+$")
    head_name: str = Field(min_length=1, max_length=80)
    phone: str | None = Field(default=None, max_length=30)
    address: str = Field(default="", max_length=120)
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

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:
        return "" if value is None else _text(value)


# --- Messages for fields -----------------------------------------------------------------------


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
    if kind == "id_number":
        return gettext(
            "This looks like an ID number, not a dossier code. Do not write ID numbers here."
        )
    if kind == "duplicate_service":
        return gettext("Each service can be listed only once.")
    if kind == "follow_up_change":
        return gettext("Mark the follow-up done, or give it a new day.")
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


def fields_of(e: ValidationError) -> dict[str, str]:
    """One message per field ("services.0.reason": "…"), the first error of each."""
    out: dict[str, str] = {}
    for err in e.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-", "literal["))]
        if err["type"] == "reason_required":
            loc.append("reason")
        elif err["type"] == "duplicate_service":
            loc.append("services")
        out.setdefault(".".join(loc) or "data", _error_message(err))  # type: ignore[arg-type]
    return out


# --- Results -----------------------------------------------------------------------------------


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
        "no_follow_up": gettext("This visit has no follow-up to close or move."),
        "follow_up_closed": gettext("This follow-up is already closed."),
    }
    return messages.get(r.reason or "", messages["invalid"])


class Rejected(Exception):
    def __init__(self, reason: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or {}
