"""Fixtures: a real database per test (a SQLite file, or PostgreSQL when TEST_DATABASE_URL is
set), the app, a client, and `world`, two communes with a member of every role."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bench._fleet import Server, add_volunteer
from server import accounts, villages
from server.app import create_app
from server.config import Settings
from server.db import Database
from server.guides import INDEX_TABLES
from server.migrate import migrate
from server.models import Commune, Member, Role

PASSWORD = "mật khẩu 2026"
COMMUNE_A = "07627"  # Xã Đại Sơn, Bắc Ninh
COMMUNE_B = "00004"  # Phường Ba Đình, Hà Nội
KEEP = {"province", "commune", "service", "alembic_version"}
PHONES = 6  # volunteers of commune A in `team`


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database made once per run: a SQLite file to copy, or a PostgreSQL database."""
    pg_url = os.environ.get("TEST_DATABASE_URL")
    if not pg_url:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        migrate(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"langso_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    """Empty every table a test can write, keeping the reference data."""
    engine = sa.create_engine(url)
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name not in KEEP]
    tables += INDEX_TABLES  # the search index: made by migration 0006, not by the models
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        conn.execute(sa.text("UPDATE commune SET in_use_since = NULL"))
    engine.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if database_template.startswith("postgresql"):
        _reset_postgres(database_template)
        return database_template
    path = tmp_path / "langso.sqlite3"
    shutil.copy(database_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        database_url=database_url,
        secret_key="test-secret",
        var_dir=tmp_path,
        base_url="http://testserver",
    )


@pytest.fixture
def app(settings: Settings) -> Starlette:
    return create_app(settings)


@pytest.fixture
def db(app: Starlette) -> Database:
    return app.state.db


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


def csrf(client: TestClient) -> str:
    """The CSRF token this browser holds (fetched from a page if it has none yet)."""
    token = client.cookies.get("langso_csrf")
    if not token:
        client.get("/login")
        token = client.cookies.get("langso_csrf")
    assert token
    return token


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def post(client: TestClient, url: str, data: dict[str, str] | None = None, **kw):
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def login(client: TestClient, phone: str, password: str = PASSWORD):
    response = post(client, "/login", {"phone": phone, "password": password})
    assert response.status_code == 303, response.text
    return response


@dataclass
class World:
    admin: Member
    coord_a: Member
    coord_b: Member
    vol_a: Member
    vol_b: Member
    village_a: uuid.UUID
    village_a2: uuid.UUID
    village_b: uuid.UUID

    def phone(self, who: str) -> str:
        return getattr(self, who).phone


@pytest.fixture(scope="session")
def password_hash() -> str:
    """Hashed once: argon2id is slow on purpose, and every test signs people in."""
    return accounts.hash_password(PASSWORD)


@pytest.fixture
def world(db: Database, password_hash: str) -> World:
    with db.write() as s:
        admin = accounts.create_member(
            s,
            name="Lê Quản Trị",
            phone="0900000001",
            role=Role.admin,
            province_code="24",
            password=None,
        )
        # Commune B is in another province (Hà Nội); the admin's province is Bắc Ninh.
        coord_a = accounts.create_member(
            s,
            name="Phạm Điều Phối",
            phone="0900000002",
            role=Role.coordinator,
            commune_code=COMMUNE_A,
            password=None,
        )
        coord_b = accounts.create_member(
            s,
            name="Đỗ Thị Bé",
            phone="0900000003",
            role=Role.coordinator,
            commune_code=COMMUNE_B,
            password=None,
        )
        vol_a = accounts.create_member(
            s,
            name="Nguyễn Văn Tình",
            phone="0900000004",
            role=Role.volunteer,
            commune_code=COMMUNE_A,
            password=None,
        )
        vol_b = accounts.create_member(
            s,
            name="Hoàng Thị Nguyện",
            phone="0900000005",
            role=Role.volunteer,
            commune_code=COMMUNE_B,
            password=None,
        )
        for m in (admin, coord_a, coord_b, vol_a, vol_b):
            m.password_hash = password_hash
            s.add(m)
        va = villages.add_village(s, COMMUNE_A, "Thôn Đông Hòa", coord_a)
        va2 = villages.add_village(s, COMMUNE_A, "Thôn Tây", coord_a)
        vb = villages.add_village(s, COMMUNE_B, "Tổ dân phố 1", coord_b)
        assert s.get(Commune, COMMUNE_A).in_use_since is not None
    return World(admin, coord_a, coord_b, vol_a, vol_b, va.id, va2.id, vb.id)


@pytest.fixture
def team(db: Database, world: World, password_hash: str) -> list[str]:
    """The phone numbers of PHONES more volunteers of commune A."""
    phones = [f"09100000{n:02d}" for n in range(PHONES)]
    with db.write() as s:
        for n, phone in enumerate(phones):
            add_volunteer(s, phone, f"Tình nguyện viên {n}", COMMUNE_A, password_hash)
    return phones


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[list[Server]]:
    """Two uvicorn processes of the app on the test's database, not started yet."""
    made = [Server(server_env(settings), tmp_path / f"server-{n}.log") for n in range(2)]
    yield made
    for server in made:
        server.stop()


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `langso` or uvicorn process on the test's database."""
    return {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "LANGSO_VAR": str(settings.var_dir),
        **extra,
    }


def langso_cli(args: list[str], settings: Settings, **extra: str) -> subprocess.CompletedProcess:
    """`langso ARGS` in a process of its own, on the test's database."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **server_env(settings, **extra)},
        timeout=120,
    )
