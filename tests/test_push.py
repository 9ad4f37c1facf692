"""Web push: subscriptions from the app, delivery of the outbox to a real HTTP push endpoint,
and the worker and backup commands."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import select
from starlette.testclient import TestClient

from server import push
from server.db import Database
from server.models import Member, Notification, PushSubscription

from .conftest import World, csrf, login


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushService:
    """A push service on localhost: records what it receives, answers 201 or 410 by path, or
    the `answer` it was given (status, headers, body)."""

    def __init__(
        self, answer: tuple[int, dict[str, str], bytes] | None = None, delay: float = 0
    ) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                service.received.append((self.path, headers, body))
                time.sleep(delay)  # a push service far away: workers overlap
                if answer:
                    self.send_response(answer[0])
                    for name, value in answer[1].items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer[2])))
                    self.end_headers()
                    self.wfile.write(answer[2])
                    return
                self.send_response(410 if self.path.startswith("/gone") else 201)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def push_settings(settings):
    private, public = push.new_vapid_keys()
    return replace(
        settings,
        vapid_private_key=private,
        vapid_public_key=public,
        vapid_subject="mailto:ops@langso.example",
        push_hosts=("127.0.0.1",),  # the fake push service, named by the operator's setting
    )


def add_device(s, member_id, endpoint: str, p256dh: str, auth: bytes) -> None:  # type: ignore[no-untyped-def]
    s.add(PushSubscription(member_id=member_id, endpoint=endpoint, p256dh=p256dh, auth=b64(auth)))


def subscriber() -> tuple[ec.EllipticCurvePrivateKey, str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, b64(public), os.urandom(16)


def test_subscribe_and_unsubscribe_from_the_app(
    client: TestClient, world: World, db: Database
) -> None:
    login(client, world.phone("vol_a"))
    _, p256dh, auth = subscriber()
    endpoint = "https://fcm.googleapis.com/fcm/send/abc:APA91b"
    body = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": b64(auth)}}
    headers = {"X-CSRF-Token": csrf(client)}
    assert client.post("/api/v1/push/subscribe", json=body, headers=headers).status_code == 200
    assert client.post("/api/v1/push/subscribe", json=body, headers=headers).status_code == 200
    with db.read() as s:
        rows = s.exec(select(PushSubscription)).all()
    assert [(r.member_id, r.endpoint) for r in rows] == [(world.vol_a.id, body["endpoint"])]
    bad = client.post("/api/v1/push/subscribe", json={"endpoint": "javascript:x"}, headers=headers)
    assert bad.status_code == 400 and "endpoint" in bad.json()["error"]["fields"]
    gone = client.post(
        "/api/v1/push/unsubscribe", json={"endpoint": body["endpoint"]}, headers=headers
    )
    assert gone.status_code == 200
    with db.read() as s:
        assert s.exec(select(PushSubscription)).all() == []


def test_delivery_reaches_the_push_service_encrypted(
    db: Database, world: World, push_settings
) -> None:
    service = PushService()
    key, p256dh, auth = subscriber()
    with db.write() as s:
        add_device(s, world.vol_a.id, f"{service.url}/ok/1", p256dh, auth)
        add_device(s, world.vol_a.id, f"{service.url}/gone/2", p256dh, auth)
        push.queue(
            s,
            world.vol_a.id,
            "session_returned",
            {"session_id": "abc", "comment": "Thiếu mã hồ sơ"},
        )
    done = push.deliver(db, push_settings)
    assert (done.sent, done.gone) == (1, 1)
    _path, headers, body = next(r for r in service.received if r[0].startswith("/ok"))
    assert headers["ttl"] == str(3 * 86400) and headers["urgency"] == "normal"
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    plain = http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
    message = json.loads(plain)
    assert message == {
        "title": "Một lượt hỗ trợ bị trả lại",
        "body": "Thiếu mã hồ sơ",
        "url": "/app#/log/abc",
    }
    with db.read() as s:
        endpoints = [x.endpoint for x in s.exec(select(PushSubscription)).all()]
        note = s.exec(select(Notification)).one()
    assert endpoints == [f"{service.url}/ok/1"]  # the gone one was forgotten
    assert note.sent_at is not None
    assert push.deliver(db, push_settings).sent == 0  # delivered once


def test_claims_are_fresh_for_every_message(db: Database, world: World, push_settings) -> None:
    """pywebpush adds aud/exp to the claims dict it is given; a shared dict would carry the
    first push service's audience to the next one."""
    first, second = PushService(), PushService()
    _key, p256dh, auth = subscriber()
    with db.write() as s:
        for service in (first, second):
            add_device(s, world.vol_a.id, f"{service.url}/ok", p256dh, auth)
        push.queue(s, world.vol_a.id, "guide_published", {"slug": "x", "title": "Mới"})
    push.deliver(db, push_settings)
    audiences = []
    for service in (first, second):
        token = service.received[0][1]["authorization"].split("t=")[1].split(",")[0]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        audiences.append(claims["aud"])
    assert audiences == [first.url, second.url]


REFUSED = [
    "https://10.0.0.1/push",
    "https://127.0.0.1:8000/x",
    "https://[::1]/x",
    "https://169.254.169.254/latest/meta-data",
    "https://localhost/x",
    "https://metadata.google.internal/x",
    "https://push.example/abc",  # not a push service browsers use
    "http://fcm.googleapis.com/fcm/send/x",  # not https
    "https://user:pw@fcm.googleapis.com/fcm/send/x",
    "https://fcm.googleapis.com.evil.example/x",
    "https://[::ffff:10.0.0.1]/x",
]


def test_only_the_browsers_push_services_are_accepted(client: TestClient, world: World) -> None:
    login(client, world.phone("vol_a"))
    _, p256dh, auth = subscriber()
    headers = {"X-CSRF-Token": csrf(client)}
    keys = {"p256dh": p256dh, "auth": b64(auth)}
    for endpoint in REFUSED:
        body = {"endpoint": endpoint, "keys": keys}
        refused = client.post("/api/v1/push/subscribe", json=body, headers=headers)
        assert refused.status_code == 400, endpoint
        assert (
            refused.json()["error"]["fields"]["endpoint"]
            == "Đây không phải địa chỉ nhận thông báo."
        )
    for endpoint in (
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
    ):
        body = {"endpoint": endpoint, "keys": keys}
        assert client.post("/api/v1/push/subscribe", json=body, headers=headers).status_code == 200


def test_the_worker_checks_again_follows_no_redirect_and_keeps_no_remote_text(
    db: Database, world: World, push_settings
) -> None:
    """A subscription that got in some other way (an older version, a database edit) is
    refused at send time; a redirect is not followed; a remote error body is not kept."""
    inside = PushService()  # what an attacker wants the worker to reach
    redirecting = PushService((307, {"Location": f"{inside.url}/admin"}, b""))
    chatty = PushService((500, {}, b"nginx 1.2.3 internal-db-7 secret banner"))
    _key, p256dh, auth = subscriber()
    port = inside.server.server_port
    members = [world.vol_a.id, world.vol_b.id, world.coord_a.id]
    endpoints = [f"https://localhost:{port}/x", f"{redirecting.url}/r", f"{chatty.url}/c"]
    with db.write() as s:
        for member, endpoint in zip(members, endpoints, strict=True):
            add_device(s, member, endpoint, p256dh, auth)
            push.queue(s, member, "guide_published", {"slug": "x", "title": "Mới"})
    done = push.deliver(db, push_settings)
    assert done.failed == 3 and inside.received == []
    assert len(redirecting.received) == 1 and len(chatty.received) == 1
    with db.read() as s:
        errors = {n.member_id: n.last_error for n in s.exec(select(Notification))}
    assert errors == {
        world.vol_a.id: "refused: not a push service",
        world.vol_b.id: "HTTP 307",
        world.coord_a.id: "HTTP 500",
    }


def test_nothing_is_sent_without_keys(db: Database, world: World, settings) -> None:
    with db.write() as s:
        push.queue(s, world.vol_a.id, "guide_published", {"slug": "x", "title": "Mới"})
    assert push.deliver(db, settings).sent == 0
    with db.read() as s:
        assert s.exec(select(Notification)).one().sent_at is None  # stays queued


def test_two_workers_at_once_send_each_notification_once(
    db: Database, world: World, push_settings, tmp_path
) -> None:
    """A province runs a worker on each of two machines: neither sends what the other took,
    and neither holds the database while it waits on the push service."""
    service = PushService(delay=0.02)
    _key, p256dh, auth = subscriber()
    with db.write() as s:
        add_device(s, world.vol_a.id, f"{service.url}/ok", p256dh, auth)
        for i in range(80):
            push.queue(s, world.vol_a.id, "guide_published", {"slug": f"g{i}", "title": "Mới"})
    env = {
        **os.environ,
        "DATABASE_URL": push_settings.database_url,
        "LANGSO_VAR": str(tmp_path),
        "SECRET_KEY": "x",
        "VAPID_PRIVATE_KEY": push_settings.vapid_private_key,
        "VAPID_PUBLIC_KEY": push_settings.vapid_public_key,
        "VAPID_SUBJECT": push_settings.vapid_subject,
        "PUSH_HOSTS": "127.0.0.1",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "server", "worker", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert len(service.received) == 80  # each one once, between the two workers
    with db.read() as s:
        notes = s.exec(select(Notification)).all()
    assert all(n.sent_at is not None for n in notes) and len(notes) == 80


def _cli(args: list[str], settings, tmp_path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "LANGSO_VAR": str(tmp_path),
        "SECRET_KEY": "x",
    }
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_vapid_keys_and_worker_once(settings, world: World, tmp_path) -> None:
    keys = _cli(["vapid-keys"], settings, tmp_path)
    assert keys.returncode == 0 and "VAPID_PRIVATE_KEY=" in keys.stdout
    result = _cli(["worker", "--once"], settings, tmp_path)
    assert result.returncode == 0 and "stay queued" in result.stdout


def test_backup_is_a_consistent_copy(settings, world: World, db: Database, tmp_path) -> None:
    target = tmp_path / "copy.backup"
    assert _cli(["backup", str(target)], settings, tmp_path).returncode == 0
    with db.read() as s:
        members = len(s.exec(select(Member)).all())
    if settings.database_url.startswith("sqlite"):
        copy = sqlite3.connect(target)
        assert copy.execute("select count(*) from member").fetchone()[0] == members
        copy.close()
    else:  # pg_dump's custom format: list what it holds
        listing = subprocess.run(
            ["pg_restore", "--list", str(target)], capture_output=True, text=True, check=True
        ).stdout
        assert "TABLE DATA public member" in listing
    again = _cli(["backup", str(target)], settings, tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
