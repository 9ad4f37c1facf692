"""Import a volunteer's file of unsent records (exported from the app when the phone could not
reach the server). Idempotent: the op ids in the file make a second import store nothing."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from starlette.datastructures import UploadFile
from starlette.responses import Response

from .. import sync
from ..errors import BadRequest
from ..i18n import gettext
from ..models import AuditEvent, Member, Role
from . import Ctx, view

MAX_FILE = 5 * 1024 * 1024
CHUNK = 200


def _read(ctx: Ctx) -> dict:
    upload = ctx.form.get("file") if ctx.form is not None else None
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise BadRequest(gettext("Choose the file the volunteer sent you."), fields={"file": ""})
    raw = upload.file.read(MAX_FILE + 1)
    if len(raw) > MAX_FILE:
        raise BadRequest(gettext("This file is too large."))
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(gettext("This is not a file exported from Làng Số.")) from e
    if not (
        isinstance(data, dict)
        and data.get("format") == "langso-unsent"
        and isinstance(data.get("ops"), list)
        and isinstance(data.get("member"), dict)
    ):
        raise BadRequest(gettext("This is not a file exported from Làng Số."))
    return data


@view(Role.coordinator)
def import_unsent(ctx: Ctx) -> Response:
    """Show the import form; on POST, apply the file's records as the volunteer who made them."""
    if ctx.reading:
        return ctx.render("console/import.html", {"summary": None, "errors": {}})
    try:
        data = _read(ctx)
        try:
            author_id = uuid.UUID(str(data["member"].get("id")))
        except ValueError as e:
            raise BadRequest(gettext("This is not a file exported from Làng Số.")) from e
        with ctx.db.write() as session:
            author = session.get(Member, author_id)
            if author is None or author.commune_code != ctx.me.commune_code:
                raise BadRequest(gettext("This file belongs to someone outside your commune."))
            results = []
            ops = data["ops"]
            for start in range(0, len(ops), CHUNK):
                results += sync.apply_ops(session, author, ops[start : start + CHUNK])
            counts = Counter(r.status for r in results)
            # Who imported, for whom, and which records: the records keep the volunteer as
            # their author (a member of this commune, checked above), the audit log the rest.
            written = [
                str(op.get("id"))
                for op, r in zip(ops, results, strict=True)
                if r.status in (sync.APPLIED, sync.CONFLICT) and isinstance(op, dict)
            ]
            session.add(
                AuditEvent(
                    actor_id=ctx.me.id,
                    action="import.unsent",
                    target_type="member",
                    target_id=str(author.id),
                    commune_code=author.commune_code,
                    detail={
                        **dict(counts),
                        "volunteer": author.name,
                        "records": written[:500],
                    },
                )
            )
    except BadRequest as e:
        return ctx.render(
            "console/import.html", {"summary": None, "errors": {"file": e.detail}}, 400
        )
    rejected = [r.as_json() for r in results if r.status == sync.REJECTED]
    return ctx.render(
        "console/import.html",
        {
            "summary": {
                "author": author,
                "applied": counts.get(sync.APPLIED, 0),
                "duplicate": counts.get(sync.DUPLICATE, 0),
                "conflict": counts.get(sync.CONFLICT, 0),
                "rejected": rejected,
            },
            "errors": {},
        },
    )
