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
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer

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
    """A push service on localhost: records what it receives, answers 201 or 410 by path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                service.received.append((self.path, headers, body))
                self.send_response(410 if self.path.startswith("/gone") else 201)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
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
    )


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
    body = {"endpoint": "https://push.example/abc", "keys": {"p256dh": p256dh, "auth": b64(auth)}}
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
        s.add(
            PushSubscription(
                member_id=world.vol_a.id,
                endpoint=f"{service.url}/ok/1",
                p256dh=p256dh,
                auth=b64(auth),
            )
        )
        s.add(
            PushSubscription(
                member_id=world.vol_a.id,
                endpoint=f"{service.url}/gone/2",
                p256dh=p256dh,
                auth=b64(auth),
            )
        )
        push.queue(
            s,
            world.vol_a.id,
            "session_returned",
            {"session_id": "abc", "comment": "Thiếu mã hồ sơ"},
        )
    with db.write() as s:
        done = push.deliver(s, push_settings)
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
    with db.write() as s:
        assert push.deliver(s, push_settings).sent == 0  # delivered once


def test_claims_are_fresh_for_every_message(db: Database, world: World, push_settings) -> None:
    """pywebpush adds aud/exp to the claims dict it is given; a shared dict would carry the
    first push service's audience to the next one."""
    first, second = PushService(), PushService()
    _key, p256dh, auth = subscriber()
    with db.write() as s:
        for service in (first, second):
            s.add(
                PushSubscription(
                    member_id=world.vol_a.id,
                    endpoint=f"{service.url}/ok",
                    p256dh=p256dh,
                    auth=b64(auth),
                )
            )
        push.queue(s, world.vol_a.id, "guide_published", {"slug": "x", "title": "Mới"})
    with db.write() as s:
        push.deliver(s, push_settings)
    audiences = []
    for service in (first, second):
        token = service.received[0][1]["authorization"].split("t=")[1].split(",")[0]
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        audiences.append(claims["aud"])
    assert audiences == [first.url, second.url]


def test_nothing_is_sent_without_keys(db: Database, world: World, settings) -> None:
    with db.write() as s:
        push.queue(s, world.vol_a.id, "guide_published", {"slug": "x", "title": "Mới"})
    with db.write() as s:
        assert push.deliver(s, settings).sent == 0
        assert s.exec(select(Notification)).one().sent_at is None  # stays queued


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
