"""The `langso` command (also `python -m server`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import accounts
from .config import Settings
from .db import Database
from .models import Role
from .places import commune_code


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "server.asgi:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        proxy_headers=True,
        workers=1,
    )
    return 0


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from .migrate import migrate

    migrate(settings.database_url)
    print("database is up to date")
    return 0


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    password = sys.stdin.readline().rstrip("\r\n")
    role = Role(args.role)
    code = commune_code(args.commune) if args.commune else None
    if role != Role.admin and not code:
        print("--commune is required for a volunteer or a coordinator", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    try:
        with db.write() as session:
            member = accounts.create_member(
                session,
                name=args.name,
                phone=args.phone,
                role=role,
                commune_code=code,
                password=password,
            )
    except accounts.InvalidInput as e:
        for name, message in e.fields.items():
            print(f"{name}: {message}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"created {member.role} {member.phone} ({member.id})")
    return 0


def _load_guides(args: argparse.Namespace, settings: Settings) -> int:
    from .guides import CONTENT_DIR, GuideError, load_guides

    db = Database(settings.database_url)
    try:
        with db.write() as session:
            summary = load_guides(session, args.directory or CONTENT_DIR)
    except GuideError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(summary)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="langso", description="Làng Số server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the web application")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)
    sub.add_parser("migrate", help="create or update the database").set_defaults(func=_migrate)
    cu = sub.add_parser("create-user", help="create an account; the password is read from stdin")
    cu.add_argument("--phone", required=True)
    cu.add_argument("--name", required=True)
    cu.add_argument("--role", required=True, choices=[r.value for r in Role])
    cu.add_argument("--commune", help="official commune code, e.g. 7627")
    cu.set_defaults(func=_create_user)
    lg = sub.add_parser("load-guides", help="load the guide catalogue")
    lg.add_argument(
        "--directory", type=Path, help="guide files to load instead of the shipped ones"
    )
    lg.set_defaults(func=_load_guides)
    args = parser.parse_args(argv)
    return int(args.func(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
