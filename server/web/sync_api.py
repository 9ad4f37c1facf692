"""The volunteer app's sync API: GET /api/v1/bootstrap and POST /api/v1/sync (see server/sync/).

Both answer only members of a commune. Responses are gzipped here when the phone accepts it:
a commune's households are most of the bytes on a slow line.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import uuid
import weakref
import zlib
from typing import Any

import anyio
import orjson
import sqlalchemy as sa
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .. import guides
from .. import sync as sync_core
from ..errors import AppError, BadRequest, Conflict, Forbidden, TooLarge
from ..i18n import gettext
from ..models import Member, Role
from ..security import csrf_token
from ..text import unreadable
from . import Ctx, etag_matches, view
from .auth import set_member_cookie

MEMBERS = (Role.volunteer, Role.coordinator, Role.admin)
GZIP_FROM = 1024  # smaller bodies fit in one packet anyway


def _commune_member(ctx: Ctx) -> Member:
    if not ctx.me.commune_code:
        raise Forbidden(gettext("Only members of a commune can use the field app."))
    return ctx.me


def _dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON; orjson writes a 200-op answer in a tenth of json.dumps's time."""
    return orjson.dumps(data)


def _respond(request: Request, body: bytes, headers: dict[str, str]) -> Response:
    headers = {**headers, "Vary": "Accept-Encoding"}
    if len(body) >= GZIP_FROM and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, 200, headers, media_type="application/json")


@view(*MEMBERS)
def bootstrap(ctx: Ctx) -> Response:
    """Everything the field app needs to start, in one compact answer.

    member {id, name, role, commune}; commune {code, name, province};
    villages [{id, name, merged_into_id, version}] (merged ones too, pointing to their successor);
    services [{code, skill, name_vi, name_en}]; households of the commune
    [{id, village_id, code, head_name, phone, skills, version}] (deleted ones are left out);
    guides (the published catalogue, server/guides.py index()); cursor (pull changes after it
    with /api/v1/sync); csrf_token (send it as X-CSRF-Token); session (when this device's
    sign-in began); households_total. With ?part=core the households are left out (their
    number is in households_total): the app is usable with the rest while they load.
    Cache-Control: private, no-cache, with an ETag: send If-None-Match to get a 304 when
    nothing changed. Sets the `langso_member` cookie (auth.MEMBER_COOKIE).
    ---
    parameters:
      - {name: part, in: query, required: false, schema: {type: string, enum: [core]}}
    responses:
      "200":
        description: The member, commune, villages, services and households, and the cursor.
      "304":
        description: Nothing changed since the ETag sent in If-None-Match.
      "401":
        description: Not signed in (the app keeps its data and asks to sign in again).
      "403":
        description: The member belongs to no commune.
    """
    me = _commune_member(ctx)
    core = ctx.request.query_params.get("part") == "core"
    with ctx.db.read() as session:
        data = sync_core.bootstrap(session, me, core=core)
        data["guides"] = guides.index(session, me.commune_code)
    data["csrf_token"] = csrf_token(ctx.request, masked=False)
    data["session"] = ctx.session_marker()
    raw = _dumps(data)
    etag = 'W/"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "private, no-cache", "ETag": etag}
    if etag_matches(ctx.request, etag):
        response = Response(status_code=304, headers={**headers, "Vary": "Accept-Encoding"})
    else:
        response = _respond(ctx.request, raw, headers)
    set_member_cookie(response, me, ctx.settings.https_only)
    return response


@view(*MEMBERS)
def _sync(ctx: Ctx) -> Response:
    me = _commune_member(ctx)
    raw = ctx.request.state.sync_body
    if isinstance(raw, AppError):
        raise raw
    headers = {"Cache-Control": "no-store"}
    # From the parsed body to the answer's bytes, the collector waits (see sync.gc_paused): the
    # thousands of small containers of a batch are freed by reference counting before it
    # resumes, instead of being promoted to the old generation, whose full passes over the
    # whole heap came every few batches.
    with sync_core.gc_paused():
        cursor, ops, sender = _parse(raw)
        if sender is not None and sender != str(me.id):
            # The phone's records belong to the member it last opened for; another member is
            # signed in now. Refused, so that nobody's records are written as someone else's.
            raise MemberChanged(
                gettext("Someone else is signed in on this phone now. Open the app again.")
            )
        if not ops:  # a pull only: no need for the write lock
            with ctx.db.read() as session:
                answer = {"results": [], **sync_core.pull(session, me, cursor)}
        else:
            answer = _exchange(ctx, me, cursor, ops)
        body = _dumps(answer)
        del answer, ops
    return _respond(ctx.request, body, headers)


def _exchange(ctx: Ctx, me: Member, cursor: int, ops: list[Any]) -> dict[str, Any]:
    """The batch in one write transaction, once more if the database connection died under it
    (a failover, pg_terminate_backend): the batch is idempotent by its op ids, so even a
    commit that went through before the connection died is answered right (duplicates)."""
    try:
        with ctx.db.write() as session:
            return sync_core.exchange(session, me, cursor, ops)
    except sa.exc.DBAPIError as e:
        if not e.connection_invalidated:
            raise
    with ctx.db.write() as session:
        return sync_core.exchange(session, me, cursor, ops)


async def sync(request: Request) -> Response:
    """Send changes made offline and receive what changed since the cursor.

    Body (JSON, optionally Content-Encoding: gzip; at most 200 ops and 256 KB unpacked, else
    413): {cursor, member, ops: [{op_id, entity: session|household|follow_up, id, base_version
    (0 = create), data}]}. A follow_up op names a session of the sender's and carries {"done":
    true} or {"follow_up_on": "YYYY-MM-DD"}. `member` (optional) is the id of the member the
    phone sends for: when someone else is signed in, 409 member_changed and nothing is written.
    An op_id twice in one batch is 400 and nothing is written.
    Header X-CSRF-Token is required. Per op the answer is {op_id, status:
    applied|duplicate|conflict|rejected, version, reason, message, fields}; then changes
    {households, sessions, villages} after the cursor that this member may see (500 at most;
    "more" says to ask again), and the new cursor. Reasons: invalid, no_consent, other_commune,
    not_found, not_yours, approved, deleted, code_taken, bad_version, no_follow_up,
    follow_up_closed.
    ---
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            properties:
              cursor: {type: integer, minimum: 0}
              member: {type: string, format: uuid}
              ops:
                type: array
                maxItems: 200
                items:
                  type: object
                  required: [op_id, entity, id, base_version, data]
                  properties:
                    op_id: {type: string, format: uuid}
                    entity: {type: string, enum: [session, household, follow_up]}
                    id: {type: string, format: uuid}
                    base_version: {type: integer, minimum: 0}
                    data: {type: object}
    responses:
      "200":
        description: One result per op, the changes after the cursor, the new cursor.
      "400":
        description: The body is not JSON, not gzip, or not of this shape, or it names one
          op_id twice (nothing is written).
      "401":
        description: Not signed in (the app keeps its data and asks to sign in again).
      "403":
        description: No CSRF token, or the member belongs to no commune.
      "409":
        description: The phone sends for another member than the one signed in.
      "413":
        description: More than 200 ops or more than 256 KB.
      "503":
        description: The database could not be reached for a moment; send the same batch
          again after Retry-After.
    """
    # The body is read here, with its limits and gzip, and handed to the view unparsed: the
    # view parses it once it knows the member.
    request.state.sync_body = await _read_body(request)
    scope = dict(request.scope)
    scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
    async with _senders():
        return await _sync(Request(scope, request.receive))


# Batches of one process that may be in the thread pool at once. Their writes take turns
# anyway (SQLite's one writer; the sync counter's row lock on PostgreSQL), so more would only
# hold threads and connections while they wait: with 200 phones they took all 40 threads, and
# a resident's guide page made afresh waited seconds behind them. The rest wait here, on the
# event loop, in the order they came.
SENDERS = 8
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _senders() -> anyio.Semaphore:
    """The gate of the running event loop (a test may run several loops, one after another)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = anyio.Semaphore(SENDERS)
    return gate


async def _read_body(request: Request) -> bytes | AppError:
    """The body, unpacked, within its limits, or the error to answer once the member is known."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return BadRequest(gettext("Send the changes as JSON."))
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        return BadRequest(gettext("This content encoding is not supported."))
    too_large = TooLarge(gettext("What you sent is too large. Send fewer changes at a time."))
    limit = sync_core.MAX_BYTES + (64 * 1024 if encoding == "gzip" else 0)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
    except ClientDisconnect:
        return BadRequest(gettext("The connection was lost before everything arrived."))
    raw = b"".join(chunks)
    if encoding == "gzip":
        unpack = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = unpack.decompress(raw, sync_core.MAX_BYTES + 1)
        except zlib.error:
            return BadRequest(gettext("The data sent is not valid gzip."))
        if len(raw) > sync_core.MAX_BYTES or unpack.unconsumed_tail:
            return too_large
        if not unpack.eof:
            return BadRequest(gettext("The data sent is not valid gzip."))
    if len(raw) > sync_core.MAX_BYTES:
        return too_large
    return raw


class MemberChanged(Conflict):
    code = "member_changed"


def _parse(raw: bytes) -> tuple[int, list[Any], str | None]:
    """(cursor, ops, member) from the body, or the AppError that says what is wrong with it."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(gettext("The data sent is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise BadRequest(gettext("The data sent is not valid JSON."))
    ops, cursor = data.get("ops", []), data.get("cursor", 0)
    if not isinstance(ops, list):
        raise BadRequest(fields={"ops": gettext("This must be a list of changes.")})
    if len(ops) > sync_core.MAX_OPS:
        raise TooLarge(gettext("Send at most %(n)s changes at a time.", n=sync_core.MAX_OPS))
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise BadRequest(fields={"cursor": gettext("This must be a whole number, 0 or more.")})
    member = data.get("member")
    if member is not None and (not isinstance(member, str) or unreadable(member) is not None):
        raise BadRequest(fields={"member": gettext("This is not a valid identifier.")})
    _refuse_repeats(ops)
    return cursor, ops, member


def _refuse_repeats(ops: list[Any]) -> None:
    """A batch that names one op id twice is refused whole, before anything is written: the
    phone's outbox is keyed by op id and never sends that, so the two may differ, and
    answering "duplicate" to the second would have the phone drop a change never stored."""
    seen: set[uuid.UUID] = set()
    for i, raw in enumerate(ops):
        op_id = raw.get("op_id") if isinstance(raw, dict) else None
        if not isinstance(op_id, str):
            continue
        try:
            key = uuid.UUID(op_id)
        except ValueError:
            continue  # rejected with the op, as invalid
        if key in seen:
            raise BadRequest(
                gettext("The same change is in this batch twice. Nothing was saved."),
                fields={f"ops.{i}.op_id": gettext("This change is in the batch twice.")},
            )
        seen.add(key)
