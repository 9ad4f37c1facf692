"""Web push: VAPID keys, device subscriptions, and delivery of the notification outbox.

pywebpush has sharp edges (see the team's notes): it mutates the claims dict it is given, its
TTL defaults to 0 (a phone that is offline never gets the message) and it has no timeout. So
every call gets a fresh claims dict, a TTL of three days and a 10-second timeout, and a
subscription the push service calls gone (404/410) is deleted.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode
from pywebpush import WebPushException, webpush
from sqlmodel import Session, col, select

from . import i18n
from .config import Settings
from .db import Database, utcnow
from .i18n import gettext
from .models import Member, Notification, PushSubscription
from .privacy import mask_secrets

TTL_SECONDS = 3 * 86400
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 5

# The push services browsers subscribe with (Chrome and Android, Firefox, Edge, Safari). The
# worker posts only to these, so a member cannot make the server call into its own network;
# PUSH_HOSTS adds more (an operator's own relay, a test service).
PUSH_HOSTS = (
    "fcm.googleapis.com",
    "android.googleapis.com",
    "*.push.services.mozilla.com",
    "*.notify.windows.com",
    "web.push.apple.com",
    "*.push.apple.com",
)


def endpoint_problem(endpoint: str, settings: Settings, resolve: bool = True) -> str | None:
    """Why the worker must not post to `endpoint`, or None. An allow-listed https host whose
    every address is a public one; a name that does not resolve now is let through when
    `resolve` is False (subscribing on a LAN without internet) and refused when sending."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or 443
    except ValueError:
        return "not a URL"
    if host in settings.push_hosts:
        return None  # named by the operator: trusted as it is
    if parts.scheme != "https" or parts.username or parts.password:
        return "not https"
    try:
        ipaddress.ip_address(host)
        return "an IP address"
    except ValueError:
        pass
    if not any(fnmatch.fnmatchcase(host, pattern) for pattern in PUSH_HOSTS):
        return "not a push service"
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return "does not resolve" if resolve else None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return "a private address"
    return None


class _NoRedirects(requests.Session):
    """A redirect from a push service is not followed: it could point anywhere."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


def new_vapid_keys() -> tuple[str, str]:
    """(private, public) as base64url: VAPID_PRIVATE_KEY and the browser's applicationServerKey."""
    vapid = Vapid02()
    vapid.generate_keys()
    private = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64urlencode(private), b64urlencode(public)


def configured(settings: Settings) -> bool:
    return bool(settings.vapid_private_key and settings.vapid_public_key and settings.vapid_subject)


def subscribe(session: Session, member: Member, endpoint: str, p256dh: str, auth: str) -> None:
    """Remember this device for `member` (the same endpoint moves to whoever signed in last)."""
    row = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    ).first()
    if row is None:
        row = PushSubscription(member_id=member.id, endpoint=endpoint, p256dh=p256dh, auth=auth)
    row.member_id, row.p256dh, row.auth = member.id, p256dh, auth
    session.add(row)


def unsubscribe(session: Session, member: Member, endpoint: str) -> None:
    row = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    ).first()
    if row is not None and row.member_id == member.id:
        session.delete(row)


def message(note: Notification) -> dict[str, Any]:
    """The text a phone shows, in Vietnamese (volunteers read Vietnamese first)."""
    token = i18n.current_locale.set("vi")
    try:
        if note.kind == "session_returned":
            return {
                "title": gettext("A session was returned to you"),
                "body": mask_secrets(str(note.payload.get("comment", ""))),
                "url": f"/app#/log/{note.payload.get('session_id', '')}",
            }
        if note.kind == "guide_published":
            return {
                "title": gettext("New guide"),
                "body": str(note.payload.get("title", "")),
                "url": f"/vi/guides/{note.payload.get('slug', '')}",
            }
        body = mask_secrets(str(note.payload.get("text", "")))
        return {"title": "Làng Số", "body": body, "url": "/app"}
    finally:
        i18n.current_locale.reset(token)


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    gone: int = 0


CLAIM = 50  # notifications one worker takes at a time
LEASE = timedelta(minutes=30)  # a worker that dies while sending: another retries after this


@dataclass
class _Claimed:
    id: uuid.UUID
    payload: str
    attempts: int
    devices: list[tuple[uuid.UUID, str, str, str]]  # id, endpoint, p256dh, auth


def deliver(db: Database, settings: Settings, limit: int = CLAIM) -> Delivery:
    """Send due notifications to every device of their member.

    Safe with several workers and never holds the database while it waits on the network:
    a short transaction claims due notifications (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite
    writes one at a time) by moving their `send_after` a lease ahead, the sending happens
    outside any transaction, and a second short transaction records the outcome."""
    done = Delivery()
    if not configured(settings):
        return done
    now = utcnow()
    with db.write() as session:
        notes = session.exec(
            select(Notification)
            .where(
                col(Notification.sent_at).is_(None),
                Notification.send_after <= now,
                Notification.attempts < MAX_ATTEMPTS,
            )
            .order_by(col(Notification.created_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        devices: dict[uuid.UUID, list[tuple[uuid.UUID, str, str, str]]] = {}
        members = {note.member_id for note in notes}
        for d in session.exec(
            select(PushSubscription).where(col(PushSubscription.member_id).in_(members))
        ):
            devices.setdefault(d.member_id, []).append((d.id, d.endpoint, d.p256dh, d.auth))
        claimed = []
        for note in notes:
            payload = json.dumps(message(note), ensure_ascii=False)
            claimed.append(
                _Claimed(note.id, payload, note.attempts, devices.get(note.member_id, []))
            )
            note.send_after = now + LEASE
            session.add(note)
    if not claimed:
        return done
    vapid = Vapid02.from_raw(settings.vapid_private_key.encode())
    no_redirects = _NoRedirects()
    outcomes: list[tuple[_Claimed, list[str]]] = []
    gone: list[uuid.UUID] = []
    problems: dict[str, str | None] = {}  # checked again at each run, once per endpoint
    for note in claimed:
        errors = []
        for device_id, endpoint, p256dh, auth in note.devices:
            if endpoint not in problems:
                problems[endpoint] = endpoint_problem(endpoint, settings)
            if device_id in gone:
                continue  # the push service said it is gone: not again in this run
            if problem := problems[endpoint]:
                errors.append(f"refused: {problem}")
                continue
            try:
                webpush(
                    {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
                    note.payload,
                    vapid_private_key=vapid,
                    vapid_claims={"sub": settings.vapid_subject},  # fresh: webpush mutates it
                    ttl=TTL_SECONDS,
                    timeout=TIMEOUT_SECONDS,
                    headers={"Urgency": "normal"},
                    requests_session=no_redirects,
                )
            except WebPushException as e:
                status = e.response.status_code if e.response is not None else None
                if status in (404, 410):
                    gone.append(device_id)
                else:  # the status only: what the remote side says is not ours to keep
                    errors.append(f"HTTP {status}")
            except Exception as e:  # network trouble: try again later
                errors.append(type(e).__name__)
        outcomes.append((note, errors))
    finished = utcnow()
    with db.write() as session:
        for device_id in gone:
            device = session.get(PushSubscription, device_id)
            if device is not None:
                session.delete(device)
        done.gone = len(gone)
        for claim, errors in outcomes:
            row = session.get(Notification, claim.id)
            if row is None:
                continue
            if errors and len(errors) == len(claim.devices):
                row.attempts = claim.attempts + 1
                row.last_error = errors[0]
                row.send_after = finished + timedelta(minutes=5 * 2**row.attempts)
                done.failed += 1
            else:
                row.sent_at = finished
                row.send_after = finished
                row.last_error = "" if claim.devices else "no device"
                done.sent += 1
            session.add(row)
    return done


def queue(session: Session, member_id: uuid.UUID, kind: str, payload: dict[str, Any]) -> None:
    session.add(Notification(member_id=member_id, kind=kind, payload=payload))
