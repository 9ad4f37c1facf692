"""The console's guide editor: the list of guides, writing one with a server-rendered preview,
step images, the version history and "restore this version".

Every save is a new GuideVersion (version + 1, author, time). A coordinator writes their
commune's own guides; the admin writes the shared catalogue. Publishing, or saving a published
guide, queues a "guide_published" notification for each volunteer who will use it.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from .. import guides, media
from ..db import utcnow
from ..errors import BadRequest, Forbidden, NotFound
from ..guide_drafts import (
    MAX_ALT,
    MAX_ENTRY,
    MAX_INTRO,
    MAX_ITEMS,
    MAX_STEPS,
    Draft,
    Step,
    apply_op,
    check,
    draft_of,
    markdown_of,
    to_source,
)
from ..guides import CONTENT_DIR, MAX_SUMMARY, MAX_TITLE, MAX_URL, SKILLS, GuideSource
from ..i18n import TZ, gettext
from ..models import AuditEvent, Commune, Guide, GuideVersion, Member, Notification, Role
from ..text import fold, nfc
from . import Ctx, view

STAFF = (Role.coordinator, Role.admin)
NEW_STEPS = 3
NOTIFY_KIND = "guide_published"
_STEP_KEY = re.compile(r"^step-(\d{1,3})$")


# --- Reading the form ---------------------------------------------------------------------


def _text(ctx: Ctx, name: str, limit: int) -> str:
    # Longer than allowed is kept one character over, so that check() can say so.
    return ctx.field(name, limit + 1).replace("\r\n", "\n").strip()


def read_form(ctx: Ctx) -> Draft:
    """The draft in the posted form; step images already stored are checked to exist."""
    draft = Draft(
        title=nfc(ctx.field("title", MAX_TITLE + 1)),
        title_en=nfc(ctx.field("title_en", MAX_TITLE + 1)),
        summary=nfc(ctx.field("summary", MAX_SUMMARY + 1)),
        summary_en=nfc(ctx.field("summary_en", MAX_SUMMARY + 1)),
        skill=ctx.field("skill", 40),
        intro=_text(ctx, "intro", MAX_INTRO),
        documents=_text(ctx, "documents", MAX_ITEMS * (MAX_ENTRY + 1)),
        problems=_text(ctx, "problems", MAX_ITEMS * (MAX_ENTRY + 1)),
        source_url=ctx.field("source_url", MAX_URL + 1).strip(),
        source_name=nfc(ctx.field("source_name", 161)),
        reviewed_on=ctx.field("reviewed_on", 20),
        published=ctx.field("status", 12) == "published",
    )
    keys = [] if ctx.form is None else list(ctx.form.keys())
    numbers = sorted({int(m.group(1)) for k in keys if (m := _STEP_KEY.match(k))})
    for n in numbers[: MAX_STEPS + 1]:
        step = Step(markdown=_text(ctx, f"step-{n}", MAX_ENTRY), number=n)
        name = ctx.field(f"image-{n}", 40)
        if name and ctx.field(f"drop-{n}", 3) != "yes":
            size = media.dimensions(ctx.settings.var_dir, name)
            if size is not None:
                alt = nfc(ctx.field(f"alt-{n}", MAX_ALT + 1))
                step.image = {"name": name, "width": size[0], "height": size[1], "alt": alt}
        draft.steps.append(step)
    return draft


def take_uploads(ctx: Ctx, draft: Draft) -> dict[str, str]:
    """Check every chosen picture, then store them all, or none when one is refused."""
    prepared: list[tuple[Step, media.Prepared, str]] = []
    errors: dict[str, str] = {}
    for i, step in enumerate(draft.steps, 1):
        upload = ctx.form.get(f"file-{step.number}") if ctx.form is not None else None
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        raw = upload.file.read(media.MAX_BYTES + 1)
        if not raw:
            continue
        try:
            alt = nfc(ctx.field(f"alt-{step.number}", MAX_ALT))
            prepared.append((step, media.prepare(raw), alt))
        except media.ImageError as e:
            errors[f"file-{i}"] = str(e)
    if errors:
        return errors
    for step, picture, alt in prepared:
        name = media.store(ctx.settings.var_dir, picture)
        step.image = {"name": name, "width": picture.width, "height": picture.height, "alt": alt}
    return errors


# --- Saving, restoring, notifying -----------------------------------------------------------


class Stale(Exception):
    """Someone saved the guide since this form was opened."""


def new_slug(session: Session, title: str) -> str:
    """A readable, unused address from the title; never the name of a catalogue file."""
    words = re.findall(r"[a-z0-9]+", fold(title))
    base = ""
    for word in words:
        if len(base) + len(word) + 1 > 60:
            break
        base = f"{base}-{word}" if base else word
    base = base or "huong-dan"
    taken = set(session.exec(select(Guide.slug).where(col(Guide.slug).startswith(base))).all())
    taken |= {p.stem for p in CONTENT_DIR.glob(f"{base}*.md")}
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _rows(session: Session, guide: Guide, version: int) -> dict[str, GuideVersion]:
    rows = session.exec(
        select(GuideVersion).where(
            GuideVersion.guide_id == guide.id, GuideVersion.version == version
        )
    ).all()
    return {row.locale: row for row in rows}


def save_guide(
    session: Session,
    guide: Guide | None,
    draft: Draft,
    author: Member,
    commune_code: str | None,
    base_version: int | None,
) -> Guide:
    """Write the draft as a new version of `guide` (or a new guide) and queue notifications."""
    previous: dict[str, GuideVersion] = {}
    if guide is None:
        guide = Guide(slug=new_slug(session, draft.title), skill=draft.skill, version=1)
        guide.commune_code = commune_code
    else:
        if base_version != guide.version:
            raise Stale()
        previous = _rows(session, guide, guide.version)
        guide.version += 1
    old = previous.get(guides.CONTENT_LOCALE)
    # Keep the catalogue file's hash: `load-guides` then leaves this edit alone until the file
    # itself changes.
    source = to_source(
        draft,
        guide.slug,
        hash_=old.body.get("hash", "") if old else "",
        template=bool(old.body.get("template")) if old else False,
    )
    guide.skill = source.skill
    guide.published = draft.published
    guide.reviewed_on = source.reviewed_on
    guide.source_url = source.source_url
    guide.updated_at = utcnow()
    session.add(guide)
    session.flush()
    locales = [guides.CONTENT_LOCALE] + (["en"] if draft.title_en else [])
    for locale in locales:
        row = guides.version_for(guide, source, locale)
        row.author_id = author.id
        row.body = {
            **row.body,
            "markdown": markdown_of(draft),
            "guide": {
                "skill": guide.skill,
                "source_url": guide.source_url,
                "reviewed_on": source.reviewed_on.isoformat(),
            },
        }
        session.add(row)
    _audit(session, author, "guide.saved", guide)
    if guide.published:
        notify_volunteers(session, guide, draft.title)
    session.flush()
    return guide


def restore_version(session: Session, guide: Guide, number: int, author: Member) -> int:
    """Make a new version equal to version `number`; return the new version's number."""
    if number == guide.version:
        raise BadRequest(gettext("This is already the current version."))
    rows = _rows(session, guide, number)
    if guides.CONTENT_LOCALE not in rows:
        raise NotFound(gettext("This guide has no such version."))
    guide.version += 1
    for row in rows.values():
        session.add(
            GuideVersion(
                guide_id=guide.id,
                version=guide.version,
                locale=row.locale,
                title=row.title,
                title_key=row.title_key,
                summary=row.summary,
                body=copy.deepcopy(row.body),
                author_id=author.id,
            )
        )
    snapshot = rows[guides.CONTENT_LOCALE].body.get("guide") or {}
    if snapshot.get("skill") in SKILLS:
        guide.skill = snapshot["skill"]
    if snapshot.get("source_url"):
        guide.source_url = snapshot["source_url"]
    if snapshot.get("reviewed_on"):
        guide.reviewed_on = date.fromisoformat(snapshot["reviewed_on"])
    guide.updated_at = utcnow()
    session.add(guide)
    _audit(session, author, "guide.restored", guide, restored=number)
    if guide.published:
        notify_volunteers(session, guide, rows[guides.CONTENT_LOCALE].title)
    session.flush()
    return guide.version


def notify_volunteers(session: Session, guide: Guide, title: str) -> int:
    """Queue one notification per active volunteer of the guide's commune, or of every commune
    in use for a shared guide. Delivery is the worker's job."""
    query = select(Member.id).where(Member.role == Role.volunteer, Member.active == sa.true())
    if guide.commune_code:
        query = query.where(Member.commune_code == guide.commune_code)
    else:
        in_use = select(Commune.code).where(col(Commune.in_use_since).is_not(None))
        query = query.where(col(Member.commune_code).in_(in_use))
    payload = {"slug": guide.slug, "title": title, "version": guide.version}
    ids = session.exec(query).all()
    for member_id in ids:
        session.add(Notification(member_id=member_id, kind=NOTIFY_KIND, payload=dict(payload)))
    return len(ids)


def _audit(session: Session, actor: Member, action: str, guide: Guide, **detail: Any) -> None:
    session.add(
        AuditEvent(
            actor_id=actor.id,
            action=action,
            target_type="guide",
            target_id=guide.slug,
            commune_code=guide.commune_code,
            detail={"version": guide.version, **detail},
        )
    )


# --- Who may edit what --------------------------------------------------------------------


def _admin_communes(session: Session, me: Member) -> set[str]:
    if not me.province_code:
        return set()
    return set(session.exec(select(Commune.code).where(Commune.province_code == me.province_code)))


def editable_guide(ctx: Ctx, session: Session, lock: bool = False) -> Guide:
    """The guide of the URL, if this member may edit it: a coordinator their commune's own
    guides, the admin the shared ones and those of the communes of their province."""
    slug = ctx.request.path_params["slug"]
    if not guides.SLUG.match(slug):
        raise NotFound()
    query = select(Guide).where(Guide.slug == slug)
    guide = session.exec(query.with_for_update() if lock else query).first()
    if guide is None:
        raise NotFound()
    me = ctx.me
    if me.role == Role.coordinator:
        if guide.commune_code is None:
            raise Forbidden(gettext("Shared guides are written by the province admin."))
        if guide.commune_code != me.commune_code:
            raise NotFound()
    elif guide.commune_code is not None and guide.commune_code not in _admin_communes(session, me):
        raise NotFound()
    return guide


# --- Pages --------------------------------------------------------------------------------


def _form_page(
    ctx: Ctx,
    draft: Draft,
    guide: Guide | None,
    errors: dict[str, str],
    *,
    status: int = 200,
    preview: GuideSource | None = None,
    base_version: int | None = None,
) -> Response:
    if errors and "form" not in errors:
        errors["form"] = gettext("Please correct the marked fields.")
    return ctx.render(
        "console/guide_edit.html",
        {
            "draft": draft,
            "guide": guide,
            "errors": errors,
            "preview": preview,
            "skills": [(key, gettext(label)) for key, label in SKILLS.items()],
            "action": f"/console/guides/{guide.slug}/edit" if guide else "/console/guides/new",
            "base_version": base_version,
            "own": guide.commune_code is not None if guide else ctx.me.role == Role.coordinator,
            "saved": ctx.request.query_params.get("saved", "")[:6],
        },
        status,
    )


def _handle_post(ctx: Ctx, guide: Guide | None) -> Response:
    """Every button of the form: save, preview, or change the list of steps."""
    draft = read_form(ctx)
    op = ctx.field("op", 12) or "save"
    base = ctx.field("base_version", 10)
    base_version = int(base) if base.isdigit() else None
    errors = take_uploads(ctx, draft)
    if errors:
        return _form_page(ctx, draft, guide, errors, status=400, base_version=base_version)
    if op not in ("save", "preview"):
        apply_op(draft, op)
        return _form_page(ctx, draft, guide, {}, base_version=base_version)
    errors = check(draft)
    if op == "preview":
        preview = to_source(draft, guide.slug if guide else "")
        return _form_page(ctx, draft, guide, errors, preview=preview, base_version=base_version)
    if errors:
        return _form_page(ctx, draft, guide, errors, status=400, base_version=base_version)
    try:
        with ctx.db.write() as session:
            current = None
            if guide is not None:
                current = editable_guide(ctx, session, lock=True)
            me = session.get(Member, ctx.me.id)
            assert me is not None
            commune = me.commune_code if me.role == Role.coordinator else None
            saved = save_guide(session, current, draft, me, commune, base_version)
    except (Stale, sa.exc.IntegrityError):
        message = gettext(
            "Someone else saved this guide while you were writing. Open it again to see "
            "their version; copy your changes before you leave this page."
        )
        return _form_page(
            ctx, draft, guide, {"form": message}, status=409, base_version=base_version
        )
    return RedirectResponse(f"/console/guides/{saved.slug}/edit?saved={saved.version}", 303)


@view(*STAFF)
def guide_list(ctx: Ctx) -> Response:
    """Show the guides this member may read or write: their commune's own and the shared ones."""
    me = ctx.me
    with ctx.db.read() as session:
        query = (
            select(Guide, GuideVersion, Commune)
            .join(GuideVersion, GuideVersion.guide_id == Guide.id)
            .join(Commune, col(Guide.commune_code) == Commune.code, isouter=True)
            .where(
                GuideVersion.version == Guide.version,
                GuideVersion.locale == guides.CONTENT_LOCALE,
            )
        )
        if me.role == Role.coordinator:
            query = query.where(
                sa.or_(
                    Guide.commune_code == me.commune_code,
                    sa.and_(col(Guide.commune_code).is_(None), Guide.published == sa.true()),
                )
            )
        else:
            communes = _admin_communes(session, me)
            query = query.where(
                sa.or_(col(Guide.commune_code).is_(None), col(Guide.commune_code).in_(communes))
            )
        rows = session.exec(query).all()
    items = sorted(
        (
            {
                "guide": g,
                "title": v.title,
                "commune": c,
                "editable": me.role == Role.admin or g.commune_code is not None,
            }
            for g, v, c in rows
        ),
        key=lambda item: fold(item["title"]),
    )
    own = [i for i in items if i["guide"].commune_code is not None]
    shared = [i for i in items if i["guide"].commune_code is None]
    # What this member can fix, oldest check first: a guide out of date misleads a resident.
    due = guides.review_due_before(datetime.now(TZ).date())
    stale = sorted(
        (i for i in items if i["editable"] and (i["guide"].reviewed_on or date.min) < due),
        key=lambda i: i["guide"].reviewed_on or date.min,
    )
    return ctx.render(
        "console/guides.html",
        {
            "own": own,
            "shared": shared,
            "stale": stale,
            "review_months": guides.REVIEW_MONTHS,
            "skills": {k: gettext(v) for k, v in SKILLS.items()},
        },
    )


@view(*STAFF)
def guide_new(ctx: Ctx) -> Response:
    """Show an empty guide form; on POST, preview it, change its steps, or save version 1."""
    if ctx.me.role == Role.coordinator and not ctx.me.commune_code:
        raise Forbidden()
    if ctx.reading:
        today = datetime.now(TZ).date().isoformat()
        draft = Draft(steps=[Step() for _ in range(NEW_STEPS)], reviewed_on=today)
        return _form_page(ctx, draft, None, {})
    return _handle_post(ctx, None)


@view(*STAFF)
def guide_edit(ctx: Ctx) -> Response:
    """Show the guide's current version in the form; on POST, preview, or save a new version."""
    with ctx.db.read() as session:
        guide = editable_guide(ctx, session)
        rows = _rows(session, guide, guide.version)
    if ctx.request.method == "POST":
        return _handle_post(ctx, guide)
    if guides.CONTENT_LOCALE not in rows:
        raise NotFound()
    draft = draft_of(guide, rows)
    return _form_page(ctx, draft, guide, {}, base_version=guide.version)


@view(*STAFF)
def guide_history(ctx: Ctx) -> Response:
    """Show every version of the guide, newest first, with who saved it and when."""
    with ctx.db.read() as session:
        guide = editable_guide(ctx, session)
        rows = session.exec(
            select(GuideVersion, Member)
            .join(Member, col(GuideVersion.author_id) == Member.id, isouter=True)
            .where(
                GuideVersion.guide_id == guide.id,
                GuideVersion.locale == guides.CONTENT_LOCALE,
            )
            .order_by(col(GuideVersion.version).desc())
        ).all()
    restored = ctx.request.query_params.get("restored", "")[:6]
    return ctx.render(
        "console/guide_history.html",
        {"guide": guide, "versions": rows, "restored": restored},
    )


@view(*STAFF)
def guide_restore(ctx: Ctx) -> Response:
    """Make a new version equal to the chosen old one, then go back to the history."""
    number = ctx.field("version", 10)
    if not number.isdigit():
        with ctx.db.read() as session:
            editable_guide(ctx, session)  # who may not edit it gets 403/404, not 400
        raise BadRequest(gettext("Choose the version to restore."))
    with ctx.db.write() as session:
        guide = editable_guide(ctx, session, lock=True)
        me = session.get(Member, ctx.me.id)
        assert me is not None
        new = restore_version(session, guide, int(number), me)
    return RedirectResponse(f"/console/guides/{guide.slug}/history?restored={new}", 303)


async def media_file(request: Request) -> Response:
    """Serve one step image. Only names made by server.media; they never change."""
    settings = request.app.state.settings
    path = media.served_path(settings.var_dir, request.path_params["name"])
    if path is None:
        raise NotFound()
    return FileResponse(
        path,
        media_type="image/webp",
        headers={"Cache-Control": f"public, max-age={media.CACHE_MAX_AGE}, immutable"},
    )
