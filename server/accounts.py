"""Members, passwords, invitations, signed-in devices and sign-in throttling.

Plain functions over a session: the web handlers and the CLI both call them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, select

from .db import utcnow
from .i18n import gettext
from .models import AuthSession, Commune, Invitation, LoginAttempt, Member, Role
from .text import fold, nfc

SESSION_DAYS = 30
INVITATION_HOURS = 72
THROTTLE_WINDOW = timedelta(minutes=15)
# Wrong passwords allowed per window, by what they are counted against. The volunteers of a
# commune often share one carrier NAT address, so one person's mistakes count against their
# phone number at that address; the address alone has a far higher ceiling (a script trying
# many numbers), and a browser that signed in before is counted on its own (a device cookie).
THROTTLE_LIMITS = {"pair": 5, "phone": 20, "addr": 100, "device": 5, "vote": 30}
THROTTLE_LIMIT = THROTTLE_LIMITS["pair"]
DEVICE_DAYS = 365
DEVICE_COOKIE = "langso_device"
NAME_MAX = 80
PASSWORD_MIN, PASSWORD_MAX = 8, 128

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this keeps the time of "no such phone" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("not a real password")


class InvalidInput(ValueError):
    """Input that a person must fix; `fields` maps a field name to a translated message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields)
        self.fields = fields


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Input ----------------------------------------------------------------------------------


def clean_phone(raw: str) -> str:
    """A Vietnamese phone number in E.164 (+84…), or InvalidInput."""
    raw = (raw or "").strip()
    if not raw:
        raise InvalidInput({"phone": gettext("Please enter a phone number.")})
    try:
        number = phonenumbers.parse(raw[:30], "VN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            {"phone": gettext("This phone number is not valid. Example: 0912 345 678.")}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str:
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, "VN")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def clean_name(raw: str, field: str = "name", max_length: int = NAME_MAX) -> str:
    name = nfc(raw or "")
    if not name:
        raise InvalidInput({field: gettext("Please enter a name.")})
    if len(name) > max_length:
        raise InvalidInput({field: gettext("At most %(n)s characters.", n=max_length)})
    return name


def check_password(password: str, confirm: str | None = None) -> str:
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(
            {"password": gettext("The password needs at least %(n)s characters.", n=PASSWORD_MIN)}
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidInput({"password": gettext("At most %(n)s characters.", n=PASSWORD_MAX)})
    if confirm is not None and confirm != password:
        raise InvalidInput({"confirm": gettext("The two passwords are not the same.")})
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# --- Members --------------------------------------------------------------------------------


def use_commune(session: Session, code: str) -> Commune:
    """Bring a commune into use (idempotent)."""
    commune = session.get(Commune, code)
    if commune is None:
        raise InvalidInput({"commune": gettext("There is no commune with this code.")})
    if commune.in_use_since is None:
        commune.in_use_since = utcnow()
        session.add(commune)
    return commune


def create_member(
    session: Session,
    *,
    name: str,
    phone: str,
    role: Role,
    commune_code: str | None = None,
    province_code: str | None = None,
    password: str | None = None,
) -> Member:
    fields: dict[str, str] = {}
    try:
        name = clean_name(name)
    except InvalidInput as e:
        fields.update(e.fields)
    try:
        phone = clean_phone(phone)
    except InvalidInput as e:
        fields.update(e.fields)
    if role != Role.admin and not commune_code:
        fields["commune"] = gettext("Please choose a commune.")
    if not fields and session.exec(select(Member.id).where(Member.phone == phone)).first():
        fields["phone"] = gettext("Someone already uses this phone number.")
    if password is not None:
        try:
            check_password(password)
        except InvalidInput as e:
            fields.update(e.fields)
    if fields:
        raise InvalidInput(fields)
    if commune_code:
        commune = use_commune(session, commune_code)
        province_code = commune.province_code
    member = Member(
        name=name,
        name_key=fold(name),
        phone=phone,
        role=role,
        commune_code=commune_code if role != Role.admin else None,
        province_code=province_code,
        password_hash=hash_password(password) if password else None,
    )
    session.add(member)
    session.flush()
    return member


def any_member(session: Session) -> bool:
    return session.exec(select(Member.id).limit(1)).first() is not None


# --- Invitations ----------------------------------------------------------------------------


def issue_invitation(session: Session, member: Member, actor: Member | None) -> str:
    """A new one-time token for `member`; earlier unused invitations stop working."""
    now = utcnow()
    session.execute(
        sa.update(Invitation)
        .where(
            col(Invitation.member_id) == member.id,
            col(Invitation.used_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(24)
    session.add(
        Invitation(
            member_id=member.id,
            token_hash=token_hash(token),
            created_by=actor.id if actor else None,
            created_at=now,
            expires_at=now + timedelta(hours=INVITATION_HOURS),
        )
    )
    return token


@dataclass
class InvitationCheck:
    invitation: Invitation | None
    member: Member | None
    problem: str | None  # a translated reason the link cannot be used


def check_invitation(session: Session, token: str) -> InvitationCheck:
    invitation = None
    if 10 <= len(token) <= 64:
        invitation = session.exec(
            select(Invitation).where(Invitation.token_hash == token_hash(token))
        ).first()
    if invitation is None:
        return InvitationCheck(None, None, gettext("This invitation link is not valid."))
    member = session.get(Member, invitation.member_id)
    if invitation.used_at is not None:
        problem = gettext("This invitation link has already been used. Please sign in.")
    elif invitation.revoked_at is not None:
        problem = gettext("A newer invitation replaced this link. Ask your coordinator for it.")
    elif invitation.expires_at < utcnow():
        problem = gettext("This invitation link has expired. Ask your coordinator for a new one.")
    elif member is None or not member.active:
        problem = gettext("This account has been turned off. Ask your coordinator.")
    else:
        problem = None
    return InvitationCheck(invitation, member, problem)


def accept_invitation(session: Session, token: str, password: str, confirm: str) -> Member:
    check = check_invitation(session, token)
    if check.problem or check.member is None or check.invitation is None:
        raise InvalidInput({"token": check.problem or ""})
    check_password(password, confirm)
    # A new password ends every session the old one opened (a lost phone, a shared one).
    end_all_sessions(session, check.member.id)
    check.member.password_hash = hash_password(password)
    check.member.updated_at = utcnow()
    check.invitation.used_at = utcnow()
    session.add(check.member)
    session.add(check.invitation)
    return check.member


# --- Signing in -----------------------------------------------------------------------------


def authenticate(session: Session, phone: str, password: str) -> Member | None:
    """The active member with this phone and password, or None. Takes the same time either way."""
    member = session.exec(select(Member).where(Member.phone == phone)).first()
    stored = member.password_hash if member and member.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or member is None or not member.password_hash:
        return None
    if _hasher.check_needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
        session.add(member)
    return member


def throttle_keys(phone: str, address: str, device: str | None = None) -> list[str]:
    """What a failed sign-in counts against. `device`: the id of a device cookie that this
    phone number signed in with before (`device_id`), whose failures are counted on their own
    so that nobody else's can lock that browser out."""
    if device:
        return [f"device:{device}"[:80]]
    return [f"pair:{phone}|{address}"[:80], f"phone:{phone}"[:80], f"addr:{address}"[:80]]


def device_cookie(secret_key: str, phone: str) -> str:
    """A cookie value that says "this browser signed in as `phone`": a random id and its MAC."""
    device = secrets.token_urlsafe(12)
    return f"{device}.{_device_mac(secret_key, device, phone)}"


def device_id(secret_key: str, phone: str, cookie: str | None) -> str | None:
    """The device id in `cookie` when it was given to this phone number, else None."""
    device, _, mac = (cookie or "").partition(".")
    if not device or len(cookie or "") > 100:
        return None
    return device if hmac.compare_digest(mac, _device_mac(secret_key, device, phone)) else None


def _device_mac(secret_key: str, device: str, phone: str) -> str:
    digest = hmac.new(secret_key.encode(), f"device|{device}|{phone}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def retry_after(session: Session, keys: list[str], now: datetime | None = None) -> int:
    """Seconds to wait if any key had its limit of failures in the window, else 0."""
    now = now or utcnow()
    since = now - THROTTLE_WINDOW
    wait = 0
    for key in keys:
        limit = THROTTLE_LIMITS[key.partition(":")[0]]
        times = session.exec(
            select(LoginAttempt.at)
            .where(LoginAttempt.key == key, col(LoginAttempt.at) > since)
            .order_by(col(LoginAttempt.at).desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            oldest = min(times)
            wait = max(wait, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)
    return wait


def record_attempt(session: Session, keys: list[str]) -> None:
    """Count one attempt against each key (a wrong password; an anonymous vote, `vote:`)."""
    now = utcnow()
    for key in keys:
        session.add(LoginAttempt(key=key, at=now))
    # Old attempts are no longer counted: keep the table small.
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < now - THROTTLE_WINDOW * 4))


def clear_failures(session: Session, keys: list[str]) -> None:
    """A correct password forgives that number's (and that device's) mistakes, not the address's."""
    kept = [k for k in keys if not k.startswith("addr:")]
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.key).in_(kept)))


def start_session(session: Session, member: Member, user_agent: str = "") -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AuthSession(
            token_hash=token_hash(token),
            member_id=member.id,
            created_at=now,
            expires_at=now + timedelta(days=SESSION_DAYS),
            user_agent=user_agent[:200],
        )
    )
    member.last_login_at = now
    session.add(member)
    return token


def end_session(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(col(AuthSession.token_hash) == token_hash(token)))


def end_all_sessions(session: Session, member_id: uuid.UUID) -> None:
    session.execute(delete(AuthSession).where(col(AuthSession.member_id) == member_id))


# Every request of a signed-in member runs it: built once, one query.
_BY_TOKEN = (
    select(Member)
    .join(AuthSession, col(AuthSession.member_id) == col(Member.id))
    .where(
        col(AuthSession.token_hash) == sa.bindparam("token_hash"),
        col(AuthSession.expires_at) >= sa.bindparam("now"),
        col(Member.active) == sa.true(),
    )
)


def member_for_token(session: Session, token: str | None) -> Member | None:
    """The active member whose device session `token` is, while the session lasts."""
    if not token or len(token) > 100:
        return None
    found = session.execute(_BY_TOKEN, {"token_hash": token_hash(token), "now": utcnow()})
    return found.scalar_one_or_none()


def tidy(session: Session) -> None:
    """Remove ended device sessions and old sign-in failures (the worker runs this)."""
    now = utcnow()
    session.execute(delete(AuthSession).where(col(AuthSession.expires_at) < now))
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < now - THROTTLE_WINDOW * 4))
