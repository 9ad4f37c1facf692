"""The `langso` command: accounts made without the browser."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlmodel import select

from server.db import Database
from server.models import Commune, Member, Role


def run(
    args: list[str], database_url: str, tmp_path, stdin: str = ""
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LANGSO_VAR": str(tmp_path),
        "SECRET_KEY": "cli-test",
    }
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )


def test_create_user_reads_password_from_stdin(database_url: str, tmp_path) -> None:
    result = run(
        [
            "create-user",
            "--phone",
            "0912 345 678",
            "--name",
            "Nguyễn Văn Xã",
            "--role",
            "coordinator",
            "--commune",
            "7627",
        ],
        database_url,
        tmp_path,
        "mat khau rat dai\n",
    )
    assert result.returncode == 0, result.stderr
    db = Database(database_url)
    with db.read() as s:
        member = s.exec(select(Member).where(Member.phone == "+84912345678")).one()
        commune = s.get(Commune, "07627")
    db.dispose()
    assert (member.role, member.commune_code, member.province_code) == (
        Role.coordinator,
        "07627",
        "24",
    )
    assert commune.in_use_since is not None  # brought into use
    assert "mat khau" not in (member.password_hash or "")


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        (["--phone", "123", "--name", "A", "--role", "admin"], "mat khau rat dai\n", "phone"),
        (
            ["--phone", "0912345678", "--name", "A", "--role", "volunteer"],
            "mat khau rat dai\n",
            "--commune",
        ),
        (["--phone", "0912345678", "--name", "A", "--role", "admin"], "ngan\n", "password"),
        (
            ["--phone", "0912345678", "--name", "A", "--role", "volunteer", "--commune", "99999"],
            "mat khau rat dai\n",
            "commune",
        ),
    ],
)
def test_create_user_refuses_bad_input(database_url: str, tmp_path, args, stdin, error) -> None:
    result = run(["create-user", *args], database_url, tmp_path, stdin)
    assert result.returncode != 0
    assert error in result.stderr
    db = Database(database_url)
    with db.read() as s:
        assert s.exec(select(Member)).first() is None
    db.dispose()


def test_migrate_is_idempotent(database_url: str, tmp_path) -> None:
    assert run(["migrate"], database_url, tmp_path).returncode == 0
    assert run(["migrate"], database_url, tmp_path).returncode == 0
