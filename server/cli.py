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
        # X-Forwarded-For only from the proxies named in FORWARDED_ALLOW_IPS (README).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
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
    from . import glossary
    from .guides import CONTENT_DIR, GuideError, load_guides

    db = Database(settings.database_url)
    try:
        words = glossary.parse()  # checked first: a running server reads the file itself
        with db.write() as session:
            summary = load_guides(session, args.directory or CONTENT_DIR)
    except GuideError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(summary)
    print(f"glossary: {len(words.terms)} words")
    return 0


def _check_sources(args: argparse.Namespace, _settings: Settings) -> int:
    from .guides import CONTENT_DIR, GuideError, parse_directory
    from .source_check import check_pages, cited_pages, report

    try:
        guides = parse_directory(args.directory or CONTENT_DIR)
    except GuideError as e:
        print(e, file=sys.stderr)
        return 1
    findings = check_pages(cited_pages(guides), timeout=args.timeout)
    print(report(findings))
    return 1 if any(f.verdict in ("broken", "moved") for f in findings) else 0


def _vapid_keys(_args: argparse.Namespace, _settings: Settings) -> int:
    from .push import new_vapid_keys

    private, public = new_vapid_keys()
    print(f"VAPID_PRIVATE_KEY={private}")
    print(f"VAPID_PUBLIC_KEY={public}")
    print("VAPID_SUBJECT=mailto:you@your-province.gov.vn")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver queued notifications and tidy up, every `--every` seconds (once with --once)."""
    import time

    from .accounts import tidy
    from .guides import media_in_use
    from .media import remove_unsaved
    from .push import CLAIM, configured, deliver

    if not configured(settings):
        print("push is not set up (VAPID_* are empty): notifications stay queued")
    db = Database(settings.database_url)
    try:
        while True:
            # Several workers may run (a province's machines): each claims its own notifications.
            while True:
                done = deliver(db, settings)
                if done.sent or done.failed or done.gone:
                    print(f"sent {done.sent}, failed {done.failed}, gone {done.gone}", flush=True)
                if done.sent + done.failed < CLAIM:
                    break
            with db.write() as session:
                tidy(session)
                used = media_in_use(session)
            remove_unsaved(settings.var_dir, used)  # pictures of previews never saved
            if args.once:
                return 0
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0
    finally:
        db.dispose()


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from .backup import backup

    try:
        path = backup(settings.database_url, args.path)
    except (OSError, ValueError) as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"backup written to {path}")
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    """Put a backup back (the app stopped), then migrate and say what the database holds."""
    import subprocess

    import sqlalchemy as sa

    from .backup import restore
    from .migrate import migrate

    try:
        restore(settings.database_url, args.path, replace=args.replace)
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        print(str(e), file=sys.stderr)
        return 1
    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.read() as s:
            counts = {
                table: s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                for table in ("member", "household", "assistance_session")
            }
    finally:
        db.dispose()
    print(
        f"restored {args.path}: {counts['member']} members, {counts['household']} households, "
        f"{counts['assistance_session']} sessions"
    )
    return 0


def _seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the demo commune (clearly marked, refused if it is there already)."""
    from .demo import DemoError, seed_demo
    from .migrate import migrate

    migrate(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.write() as session:
            demo = seed_demo(session, commune_code(args.commune))
    except DemoError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(
        f"demo loaded into {demo.commune.name} ({demo.commune.code}): {demo.villages} villages, "
        f"{demo.volunteers} volunteers, 1 coordinator, {demo.households} households, "
        f"{demo.sessions} sessions"
    )
    phones = ", ".join(accounts.display_phone(p) for p in demo.volunteer_phones)
    print(
        f"sign in as the demo coordinator: phone {accounts.display_phone(demo.phone)}, "
        f"password {demo.password}"
    )
    print(f"the demo volunteers ({phones}) use the same password")
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
    cs = sub.add_parser(
        "check-sources", help="ask every official page the guides cite whether it still answers"
    )
    cs.add_argument("--directory", type=Path, help="guide files to check instead of the shipped")
    cs.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for each page")
    cs.set_defaults(func=_check_sources)
    sub.add_parser("vapid-keys", help="print a new key pair for web push").set_defaults(
        func=_vapid_keys
    )
    wk = sub.add_parser("worker", help="deliver notifications and tidy up, in a loop")
    wk.add_argument("--once", action="store_true", help="one round, then exit")
    wk.add_argument("--every", type=float, default=30.0, help="seconds between rounds")
    wk.set_defaults(func=_worker)
    bk = sub.add_parser("backup", help="write a consistent copy of the database to PATH")
    bk.add_argument("path")
    bk.set_defaults(func=_backup)
    rs = sub.add_parser("restore", help="put a backup made by `backup` into the database")
    rs.add_argument("path")
    rs.add_argument(
        "--replace", action="store_true", help="replace a database that holds data already"
    )
    rs.set_defaults(func=_restore)
    sd = sub.add_parser("seed-demo", help="load a clearly marked demo commune (never by default)")
    sd.add_argument("--commune", default="07627", help="an unused commune, default 07627")
    sd.set_defaults(func=_seed_demo)
    args = parser.parse_args(argv)
    return int(args.func(args, Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())
