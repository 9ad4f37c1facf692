"""Sign in, sign out, first-run setup and invitations."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import RedirectResponse, Response

from .. import accounts
from ..accounts import InvalidInput
from ..db import utcnow
from ..errors import NotFound
from ..i18n import gettext
from ..models import Member, Role
from . import SESSION_COOKIE, Ctx, view


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


# Who is signed in on this browser, readable by the field app (not a secret: the session cookie
# is). A returning start draws the phone's own data at once only when it names the member the
# phone last opened for; otherwise the app waits for the server (someone else signed in).
MEMBER_COOKIE = "langso_member"


def set_member_cookie(response: Response, member: Member, secure: bool) -> None:
    response.set_cookie(
        MEMBER_COOKIE,
        str(member.id),
        max_age=accounts.SESSION_DAYS * 86400,
        httponly=False,
        samesite="lax",
        secure=secure,
    )


def home_for(member: Member) -> str:
    if member.role == Role.admin:
        return "/console/province"
    if member.role == Role.coordinator:
        return "/console/"
    return "/app"


def signed_in(ctx: Ctx, member: Member, target: str) -> Response:
    """Start a 30-day session on this device and go on to `target`."""
    with ctx.db.write() as session:
        token = accounts.start_session(session, member, ctx.request.headers.get("user-agent", ""))
    response = RedirectResponse(target, 303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.https_only,
    )
    set_member_cookie(response, member, ctx.settings.https_only)
    return response


@view(public=True)
def login(ctx: Ctx) -> Response:
    """Show the sign-in form; on POST, sign in by phone and password."""
    next_url = ctx.request.query_params.get("next", "")
    if ctx.reading:
        if ctx.member:
            # Signed in already: the field app learns who from the member cookie (a session
            # older than that cookie gets it here, rather than going round in circles).
            response = RedirectResponse(safe_next(next_url, home_for(ctx.member)), 303)
            set_member_cookie(response, ctx.member, ctx.settings.https_only)
            return response
        return ctx.render("auth/login.html", {"next": next_url, "errors": {}, "phone": ""})

    next_url = ctx.field("next", 500)
    raw_phone = ctx.field("phone", 40)
    password = ctx.field("password", 200)
    address = ctx.request.client.host if ctx.request.client else "unknown"

    def again(status: int, errors: dict[str, str], headers: dict[str, str] | None = None):
        response = ctx.render(
            "auth/login.html", {"next": next_url, "errors": errors, "phone": raw_phone}, status
        )
        response.headers.update(headers or {})
        return response

    try:
        phone = accounts.clean_phone(raw_phone)
    except InvalidInput as e:
        return again(400, e.fields)
    device = accounts.device_id(
        ctx.settings.secret_key, phone, ctx.request.cookies.get(accounts.DEVICE_COOKIE)
    )
    keys = accounts.throttle_keys(phone, address, device)
    with ctx.db.write() as session:
        wait = accounts.retry_after(session, keys)
        if wait:
            minutes = max(1, (wait + 59) // 60)
            message = gettext(
                "Too many wrong tries. Please wait %(minutes)s minutes and try again.",
                minutes=minutes,
            )
            return again(429, {"form": message}, {"Retry-After": str(wait)})
        member = accounts.authenticate(session, phone, password) if password else None
        if member is None:
            accounts.record_attempt(session, keys)
            problem = gettext("The phone number or the password is wrong.")
        elif not member.active:
            problem = gettext("This account has been turned off. Ask your coordinator.")
        else:
            accounts.clear_failures(session, keys)
            problem = ""
    if problem:
        return again(401 if member is None else 403, {"form": problem})
    assert member is not None
    response = signed_in(ctx, member, safe_next(next_url, home_for(member)))
    if device is None:  # from now on this browser is not held back by others' mistakes
        response.set_cookie(
            accounts.DEVICE_COOKIE,
            accounts.device_cookie(ctx.settings.secret_key, phone),
            max_age=accounts.DEVICE_DAYS * 86400,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.https_only,
        )
    return response


@view(public=True)
def logout(ctx: Ctx) -> Response:
    """End this device's session on the server and forget the cookie."""
    token = ctx.request.cookies.get(SESSION_COOKIE)
    if token:
        with ctx.db.write() as session:
            accounts.end_session(session, token)
        ctx.request.app.state.pages.readers.forget(token)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    response.delete_cookie(MEMBER_COOKIE, samesite="lax")
    return response


@view(public=True)
def setup(ctx: Ctx) -> Response:
    """Let the first person create the province admin account; gone once anyone exists."""
    with ctx.db.read() as session:
        if accounts.any_member(session):
            raise NotFound()
    values = {"name": ctx.field("name", 200), "phone": ctx.field("phone", 40)}
    if ctx.reading:
        return ctx.render("auth/setup.html", {"errors": {}, "values": values})
    password, confirm = ctx.field("password", 200), ctx.field("confirm", 200)
    try:
        with ctx.db.write() as session:
            if accounts.any_member(session):
                raise NotFound()
            accounts.check_password(password, confirm)
            member = accounts.create_member(
                session,
                name=values["name"],
                phone=values["phone"],
                role=Role.admin,
                password=password,
            )
    except InvalidInput as e:
        return ctx.render("auth/setup.html", {"errors": e.fields, "values": values}, 400)
    return signed_in(ctx, member, "/console/province")


@view(public=True)
def invitation(ctx: Ctx) -> Response:
    """Open an invitation: set a password, then be signed in."""
    token = ctx.request.path_params["token"]
    with ctx.db.read() as session:
        check = accounts.check_invitation(session, token)
    if check.problem or check.member is None or check.invitation is None:
        expired = check.invitation is not None
        return ctx.render(
            "auth/invite.html",
            {"problem": check.problem, "invitee": None, "errors": {}},
            410 if expired else 404,
        )
    context = {
        "problem": None,
        "invitee": check.member,
        "errors": {},
        "expires_at": check.invitation.expires_at,
        "now": utcnow(),
    }
    if ctx.reading:
        return ctx.render("auth/invite.html", context)
    try:
        with ctx.db.write() as session:
            member = accounts.accept_invitation(
                session, token, ctx.field("password", 200), ctx.field("confirm", 200)
            )
    except InvalidInput as e:
        return ctx.render("auth/invite.html", {**context, "errors": e.fields}, 400)
    return signed_in(ctx, member, home_for(member))
