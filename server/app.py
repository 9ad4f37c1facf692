"""The application: settings, database, route table, middleware, error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors
from .config import ROOT, Settings
from .db import Database
from .glossary import GlossaryFile
from .i18n import LocaleMiddleware
from .security import CSRFMiddleware, SecurityHeadersMiddleware, TextMiddleware
from .templating import make_templates
from .web import (
    api,
    audit,
    auth,
    console,
    dashboard,
    exports,
    field,
    follow_ups,
    guide_editor,
    guides,
    households,
    imports,
    public,
    push_api,
    sessions,
    sync_api,
)
from .web.page_cache import PageCache

GET, POST = ["GET"], ["POST"]
BOTH = ["GET", "POST"]

routes = [
    Route("/", public.root, methods=GET),
    Route("/healthz", public.healthz, methods=GET),
    Route("/favicon.ico", public.favicon, methods=GET),
    Route("/language/{code}", public.language, methods=GET),
    Route("/login", auth.login, methods=BOTH),
    Route("/logout", auth.logout, methods=POST),
    Route("/setup", auth.setup, methods=BOTH),
    Route("/invite/{token}", auth.invitation, methods=BOTH),
    Route("/app", field.app_shell, methods=GET),
    Route("/offline", field.offline, methods=GET),
    Route("/sw.js", field.service_worker, methods=GET),
    Route("/manifest.webmanifest", field.manifest, methods=GET),
    Route("/console/", console.home, methods=GET),
    Route("/console/province", console.province, methods=BOTH),
    Route("/console/province/communes", console.use_commune, methods=POST),
    Route("/console/members", console.members, methods=BOTH),
    Route("/console/members/{member_id}/{action}", console.member_action, methods=POST),
    Route("/console/villages", console.village_list, methods=BOTH),
    Route("/console/villages/{village_id}", console.village_detail, methods=GET),
    Route("/console/villages/{village_id}/{action}", console.village_action, methods=POST),
    Route("/console/import", imports.import_unsent, methods=BOTH),
    Route("/api/v1/me", api.me, methods=GET),
    Route("/api/v1/bootstrap", sync_api.bootstrap, methods=GET),
    Route("/api/v1/sync", sync_api.sync, methods=POST),
    Route("/api/v1/push/key", push_api.key, methods=GET),
    Route("/api/v1/push/subscribe", push_api.subscribe, methods=POST),
    Route("/api/v1/push/unsubscribe", push_api.unsubscribe, methods=POST),
    Route("/api/v1/openapi.json", api.openapi, methods=GET),
    # sessions, households, follow-ups, exports, audit
    Route("/console/sessions", sessions.session_list, methods=GET),
    Route("/console/sessions/approve", sessions.approve_many, methods=POST),
    Route("/console/sessions/{session_id}", sessions.session_detail, methods=GET),
    Route("/console/sessions/{session_id}/{action}", sessions.session_action, methods=POST),
    Route("/console/follow-ups", follow_ups.follow_ups, methods=GET),
    Route("/console/follow-ups/{session_id}/{action}", follow_ups.follow_up_action, methods=POST),
    Route("/console/households", households.household_list, methods=GET),
    Route("/console/households/{household_id}", households.household_detail, methods=GET),
    Route("/console/households/{household_id}/card", households.household_card, methods=GET),
    Route("/console/households/{household_id}/export", households.export_page, methods=GET),
    Route("/console/households/{household_id}/export.json", households.export_json, methods=GET),
    Route("/console/households/{household_id}/erase", households.erase, methods=POST),
    Route("/console/exports", exports.export_page, methods=GET),
    Route("/console/exports/{filename}", exports.download, methods=GET),
    Route("/console/audit", audit.audit_log, methods=GET),
    # guide editor
    Route("/console/guides", guide_editor.guide_list, methods=GET),
    Route("/console/guides/new", guide_editor.guide_new, methods=BOTH),
    Route("/console/guides/{slug}/edit", guide_editor.guide_edit, methods=BOTH),
    Route("/console/guides/{slug}/history", guide_editor.guide_history, methods=GET),
    Route("/console/guides/{slug}/restore", guide_editor.guide_restore, methods=POST),
    Route("/media/{name}", guide_editor.media_file, methods=GET),
    # dashboard, province roll-up, indicators API
    Route("/console/province/communes/{code}", dashboard.commune_for_admin, methods=GET),
    Route("/console/province/tokens", dashboard.tokens, methods=BOTH),
    Route("/console/province/tokens/{token_id}/revoke", dashboard.revoke_token, methods=POST),
    Route("/api/v1/indicators", dashboard.indicators_api, methods=GET),
    Mount("/static", StaticFiles(directory=ROOT / "pwa"), name="static"),
    Route("/guides/{slug}/qr.svg", guides.qr, methods=GET),
    Route("/guides/{slug}/feedback", guides.feedback, methods=POST),
    Route("/{lang}/guides/{slug}", guides.guide, methods=GET),
    Route("/{lang}/guides/{slug}/poster", guides.poster, methods=GET),
    Route("/{lang}/glossary", guides.glossary, methods=GET),
    Route("/{lang}/offline", field.offline, methods=GET),
    Route("/{lang}/", public.catalogue, methods=GET),
]


class CompressionMiddleware:
    """gzip for pages, scripts and styles (a phone on a weak line gets a third of the bytes).
    The API compresses its own large answers, so it is left alone here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=500, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/api/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        app.state.db.dispose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(CompressionMiddleware),
            Middleware(SecurityHeadersMiddleware, https_only=settings.https_only),
            Middleware(LocaleMiddleware),
            Middleware(TextMiddleware),
            Middleware(CSRFMiddleware, https_only=settings.https_only, base_url=settings.base_url),
        ],
        exception_handlers={
            HTTPException: errors.http_exception,
            Exception: errors.server_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = Database(settings.database_url, pool_max=settings.db_pool_max)
    app.state.templates = make_templates()
    app.state.pages = PageCache()
    app.state.glossary = GlossaryFile()
    return app
