"""The coordinator's and the province admin's pages: communes, members, villages."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, func, select
from starlette.responses import RedirectResponse, Response

from .. import accounts, exports, periods, places, villages
from ..accounts import InvalidInput
from ..errors import BadRequest, Forbidden, NotFound
from ..i18n import gettext
from ..models import AuditEvent, Commune, Member, Province, Role, Village
from . import Ctx, dashboard, paging, view
from .paging import scope_query, with_query

STAFF = (Role.coordinator, Role.admin)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as e:
        raise NotFound() from e


def scoped_commune(ctx: Ctx, session: Session) -> Commune:
    """The commune this page is about: a coordinator's own; for an admin, `commune` in the
    query or form, which must be in use in the admin's province."""
    me = ctx.me
    if me.role == Role.coordinator:
        commune = session.get(Commune, me.commune_code) if me.commune_code else None
        if commune is None:
            raise Forbidden()
        return commune
    code = ctx.request.query_params.get("commune") or ctx.field("commune", 10)
    commune = session.get(Commune, code) if code else None
    if commune is None or commune.in_use_since is None:
        raise NotFound(gettext("Choose a commune first."))
    if commune.province_code != me.province_code:
        raise Forbidden()
    return commune


def _audit(
    session: Session,
    ctx: Ctx,
    action: str,
    target: Member | Village,
    commune: Commune,
    **detail: str,
) -> None:
    """Record a change to members or villages in the audit log."""
    kind = "member" if isinstance(target, Member) else "village"
    session.add(
        AuditEvent(
            actor_id=ctx.me.id,
            action=action,
            target_type=kind,
            target_id=str(target.id),
            commune_code=commune.code,
            detail=detail,
        )
    )


def _back(path: str, commune: Commune, ctx: Ctx) -> str:
    return f"{path}?commune={commune.code}" if ctx.me.role == Role.admin else path


@view(*STAFF)
def home(ctx: Ctx) -> Response:
    """Show the commune's dashboard: what the team did in the period, beside the period before."""
    if ctx.me.role == Role.admin:
        return RedirectResponse("/console/province", 303)
    with ctx.db.read() as session:
        return dashboard.commune_page(ctx, session, scoped_commune(ctx, session))


# --- Province admin -------------------------------------------------------------------------


def _province_page(
    ctx: Ctx,
    session: Session,
    errors: dict[str, str],
    status: int = 200,
    invited: dict | None = None,
) -> Response:
    me = ctx.me
    q = ctx.request.query_params.get("q", "")[:100]
    if me.province_code is None:
        provinces = places.search_provinces(session, q)
        return ctx.render(
            "console/province_choose.html",
            {"provinces": provinces, "q": q, "errors": errors},
            status,
        )
    province = session.get(Province, me.province_code)
    figures = dashboard.rollup_context(ctx, session, me.province_code)
    if figures["choice"].errors and status == 200:
        status = 400
    coordinators: dict[str, list[Member]] = {}
    for m in session.exec(
        select(Member).where(
            Member.role == Role.coordinator, Member.province_code == me.province_code
        )
    ):
        coordinators.setdefault(m.commune_code or "", []).append(m)
    results = places.search_communes(session, q, province=me.province_code) if q else []
    return ctx.render(
        "console/province.html",
        {
            "province": province,
            **figures,
            "coordinators": coordinators,
            "q": q,
            "results": results,
            "errors": errors,
            "invited": invited,
        },
        status,
    )


@view(Role.admin)
def province(ctx: Ctx) -> Response:
    """Show the admin's province and its communes in use; on POST, choose the province."""
    if ctx.request.method == "POST":
        code = ctx.field("province", 4)
        with ctx.db.write() as session:
            chosen = session.get(Province, code)
            if chosen is None:
                return _province_page(
                    ctx, session, {"province": gettext("Please choose a province.")}, 400
                )
            member = session.get(Member, ctx.me.id)
            assert member is not None
            if member.province_code and member.province_code != chosen.code:
                raise BadRequest(gettext("Your province has already been chosen."))
            member.province_code = chosen.code
            session.add(member)
        return RedirectResponse("/console/province", 303)
    with ctx.db.read() as session:
        return _province_page(ctx, session, {})


@view(Role.admin)
def use_commune(ctx: Ctx) -> Response:
    """Bring a commune of the admin's province into use."""
    code = ctx.field("code", 10)
    with ctx.db.write() as session:
        commune = session.get(Commune, code)
        if commune is None:
            return _province_page(
                ctx, session, {"q": gettext("There is no commune with this code.")}, 400
            )
        if commune.province_code != ctx.me.province_code:
            raise Forbidden()
        accounts.use_commune(session, code)
    return RedirectResponse("/console/province", 303)


# --- Members --------------------------------------------------------------------------------


def _members_page(
    ctx: Ctx,
    session: Session,
    commune: Commune,
    errors: dict[str, str],
    values: dict[str, str],
    status: int = 200,
) -> Response:
    where = Member.commune_code == commune.code
    total = session.exec(select(func.count()).select_from(Member).where(where)).one()
    page = paging.page_of(ctx.request.query_params.get("page"), total)
    members = list(
        session.exec(
            select(Member)
            .where(where)
            .order_by(Member.role, Member.name_key, Member.id)
            .offset(page.offset)
            .limit(page.size)
        ).all()
    )
    return ctx.render(
        "console/members.html",
        {
            "commune": commune,
            "members": members,
            **paging.context(
                page,
                lambda n: with_query("/console/members", {**scope_query(ctx, commune), "page": n}),
            ),
            "errors": errors,
            "values": values,
            "roles": _roles_for(ctx.me),
            "activity": exports.member_activity(
                session, commune.code, periods.month_of(periods.today_in_vietnam())
            ),
        },
        status,
    )


def _roles_for(me: Member) -> list[Role]:
    return [Role.coordinator, Role.volunteer] if me.role == Role.admin else [Role.volunteer]


@view(*STAFF)
def members(ctx: Ctx) -> Response:
    """List the commune's members; on POST, add one and show their invitation."""
    values = {k: ctx.field(k, 200) for k in ("name", "phone", "role")}
    if ctx.reading:
        with ctx.db.read() as session:
            return _members_page(ctx, session, scoped_commune(ctx, session), {}, values)
    try:
        role = Role(values["role"] or Role.volunteer)
    except ValueError as e:
        raise BadRequest(gettext("This role does not exist.")) from e
    if role not in _roles_for(ctx.me):
        raise Forbidden(gettext("You cannot give this role."))
    try:
        with ctx.db.write() as session:
            commune = scoped_commune(ctx, session)
            member = accounts.create_member(
                session,
                name=values["name"],
                phone=values["phone"],
                role=role,
                commune_code=commune.code,
            )
            token = accounts.issue_invitation(session, member, ctx.me)
            _audit(session, ctx, "member.created", member, commune, role=role)
    except InvalidInput as e:
        with ctx.db.read() as session:
            return _members_page(ctx, session, scoped_commune(ctx, session), e.fields, values, 400)
    return _invited(ctx, member, token, commune)


def _invited(ctx: Ctx, member: Member, token: str, commune: Commune) -> Response:
    link = f"{ctx.settings.base_url}/invite/{token}"
    return ctx.render(
        "console/invited.html",
        {
            "invitee": member,
            "link": link,
            "commune": commune,
            "back_url": _back("/console/members", commune, ctx),
            "hours": accounts.INVITATION_HOURS,
        },
    )


def _member_in_scope(ctx: Ctx, session: Session) -> tuple[Member, Commune]:
    member = session.get(Member, _uuid(ctx.request.path_params["member_id"]))
    if member is None or member.commune_code is None:
        raise NotFound()
    commune = session.get(Commune, member.commune_code)
    assert commune is not None
    me = ctx.me
    if me.role == Role.coordinator and (
        member.commune_code != me.commune_code or member.role != Role.volunteer
    ):
        raise (NotFound() if member.commune_code != me.commune_code else Forbidden())
    if me.role == Role.admin and commune.province_code != me.province_code:
        raise NotFound()
    return member, commune


@view(*STAFF)
def member_action(ctx: Ctx) -> Response:
    """Turn a member off or on, or give them a new invitation."""
    action = ctx.request.path_params["action"]
    if action not in {"activate", "deactivate", "invite"}:
        raise NotFound()
    with ctx.db.write() as session:
        member, commune = _member_in_scope(ctx, session)
        if action == "invite":
            token = accounts.issue_invitation(session, member, ctx.me)
            _audit(session, ctx, "member.invited", member, commune)
            return _invited(ctx, member, token, commune)
        member.active = action == "activate"
        session.add(member)
        _audit(session, ctx, f"member.{action}d", member, commune)
        if not member.active:
            accounts.end_all_sessions(session, member.id)
    return RedirectResponse(_back("/console/members", commune, ctx), 303)


# --- Villages -------------------------------------------------------------------------------


def _villages_page(
    ctx: Ctx, session: Session, commune: Commune, errors: dict[str, str], status: int = 200
) -> Response:
    q = ctx.request.query_params.get("q", "")[:100]
    found = (
        villages.search_villages(session, commune.code, q)
        if q
        else villages.active_villages(session, commune.code)
    )
    merged = list(
        session.exec(
            select(Village).where(
                Village.commune_code == commune.code, col(Village.merged_into_id).is_not(None)
            )
        ).all()
    )
    page = paging.page_of(ctx.request.query_params.get("page"), len(found))
    scope = {**scope_query(ctx, commune), "q": q}
    return ctx.render(
        "console/villages.html",
        {
            "commune": commune,
            "villages": found[page.offset : page.offset + page.size],
            "q": q,
            "merged": merged,
            "errors": errors,
            **paging.context(page, lambda n: with_query("/console/villages", {**scope, "page": n})),
        },
        status,
    )


@view(*STAFF)
def village_list(ctx: Ctx) -> Response:
    """List the commune's villages; on POST, add one."""
    if ctx.reading:
        with ctx.db.read() as session:
            return _villages_page(ctx, session, scoped_commune(ctx, session), {})
    try:
        with ctx.db.write() as session:
            commune = scoped_commune(ctx, session)
            added = villages.add_village(session, commune.code, ctx.field("name", 200), ctx.me)
            _audit(session, ctx, "village.created", added, commune, new_name=added.name)
    except InvalidInput as e:
        with ctx.db.read() as session:
            return _villages_page(ctx, session, scoped_commune(ctx, session), e.fields, 400)
    return RedirectResponse(_back("/console/villages", commune, ctx), 303)


def _village_in_scope(ctx: Ctx, session: Session) -> tuple[Village, Commune]:
    village = session.get(Village, _uuid(ctx.request.path_params["village_id"]))
    if village is None:
        raise NotFound()
    commune = session.get(Commune, village.commune_code)
    assert commune is not None
    me = ctx.me
    if (me.role == Role.coordinator and village.commune_code != me.commune_code) or (
        me.role == Role.admin and commune.province_code != me.province_code
    ):
        raise NotFound()
    return village, commune


def _village_page(
    ctx: Ctx,
    session: Session,
    village: Village,
    commune: Commune,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    others = [v for v in villages.active_villages(session, commune.code) if v.id != village.id]
    into = session.get(Village, village.merged_into_id) if village.merged_into_id else None
    return ctx.render(
        "console/village.html",
        {
            "village": village,
            "commune": commune,
            "others": others,
            "into": into,
            "history": villages.history(session, village.id),
            "errors": errors,
            "back_url": _back("/console/villages", commune, ctx),
        },
        status,
    )


@view(*STAFF)
def village_detail(ctx: Ctx) -> Response:
    """Show a village with its history, and the forms to rename or merge it."""
    with ctx.db.read() as session:
        village, commune = _village_in_scope(ctx, session)
        return _village_page(ctx, session, village, commune, {})


@view(*STAFF)
def village_action(ctx: Ctx) -> Response:
    """Rename a village, or merge it into another of the same commune."""
    action = ctx.request.path_params["action"]
    if action not in {"rename", "merge"}:
        raise NotFound()
    try:
        with ctx.db.write() as session:
            village, commune = _village_in_scope(ctx, session)
            if action == "rename":
                old_name = village.name
                villages.rename_village(session, village, ctx.field("name", 200), ctx.me)
                _audit(
                    session,
                    ctx,
                    "village.renamed",
                    village,
                    commune,
                    old_name=old_name,
                    new_name=village.name,
                )
            else:
                raw = ctx.field("into", 40)
                try:
                    into = villages.village_in(session, commune.code, uuid.UUID(raw))
                except ValueError:
                    into = None
                if into is None:
                    raise InvalidInput(
                        {"into": gettext("Choose another village of the same commune.")}
                    )
                villages.merge_village(session, village, into, ctx.me)
                _audit(
                    session,
                    ctx,
                    "village.merged",
                    village,
                    commune,
                    old_name=village.name,
                    new_name=into.name,
                )
    except InvalidInput as e:
        with ctx.db.read() as session:
            village, commune = _village_in_scope(ctx, session)
            return _village_page(ctx, session, village, commune, e.fields, 400)
    return RedirectResponse(f"/console/villages/{village.id}", 303)
