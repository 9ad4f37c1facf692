"""The volunteer app: its shell at /app, the service worker, the manifest, the offline page.

The shell holds no personal data, so it is served to anyone and cached by the service worker;
the data comes from the API, which checks who is signed in.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from starlette.responses import RedirectResponse, Response

from .. import i18n
from ..config import ROOT
from ..errors import NotFound
from ..i18n import gettext
from . import Ctx, view

PWA = ROOT / "pwa"
# What the app needs to open with no network (the icons of its buttons included). App icons
# beyond the first are fetched on demand.
SHELL_GLOBS = [
    "styles.css",
    "card-print.css",
    "js/*.js",
    "js/screens/*.js",
    "vendor/idb/idb.js",
    "vendor/qrcode-generator/qrcode.mjs",
    "vendor/lucide/icons.svg",
    "i18n/*.json",
    "icons/icon-192.png",
    "icons/icon.svg",
]
SHELL_PAGES = ["/app", "/offline", "/vi/offline", "/en/offline", "/manifest.webmanifest"]
# What a resident's phone keeps, who reads guides without the app: the public pages' style,
# scripts and icons (the page just read has them already) and the offline page in each
# language. The pages themselves go into the guides cache as they are read.
READER = [
    "/vi/offline",
    "/en/offline",
    "/static/styles.css",
    "/static/js/reader.js",
    "/static/js/guide.js",
    "/static/js/offline.js",
    "/static/vendor/lucide/icons.svg",
    "/static/icons/icon.svg",
]


@cache
def shell_files() -> tuple[list[str], str]:
    """The URLs to precache and a version: a hash of their bytes and the worker's template."""
    digest = hashlib.sha256()
    urls = []
    for pattern in SHELL_GLOBS:
        for path in sorted(PWA.glob(pattern)):
            digest.update(path.relative_to(PWA).as_posix().encode())
            digest.update(path.read_bytes())
            urls.append("/static/" + path.relative_to(PWA).as_posix())
    for template in ("app/shell.html", "app/offline.html", "sw.js", "base.html"):
        digest.update((ROOT / "server" / "templates" / template).read_bytes())
    return SHELL_PAGES + urls, digest.hexdigest()[:12]


@view(public=True)
def app_shell(ctx: Ctx) -> Response:
    """Serve the app's shell; the screens are drawn by pwa/js/app.js. A person who opens it
    with nobody signed in goes straight to the sign-in page (not the service worker fetching
    the shell to keep: that is no navigation)."""
    navigating = ctx.request.headers.get("sec-fetch-mode") == "navigate"
    if navigating and ctx.member is None:
        return RedirectResponse("/login?next=/app", 303)
    return ctx.render("app/shell.html", {"version": shell_files()[1]})


@view(public=True)
def offline(ctx: Ctx) -> Response:
    """Say that this page is not saved on the phone, and list what is (at /{lang}/offline, for a
    resident: the guides saved in that language and the catalogue)."""
    lang = ctx.request.path_params.get("lang")
    if lang is not None and lang not in i18n.LOCALES:
        raise NotFound()
    return ctx.render("app/offline.html", {"lang": lang})


@view(public=True)
def service_worker(ctx: Ctx) -> Response:
    """Serve the service worker at the root so that its scope is the whole site."""
    urls, version = shell_files()
    body = ctx.request.app.state.templates.get_template("sw.js").render(
        version=version, shell=json.dumps(urls), reader=json.dumps(READER)
    )
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@view(public=True)
def manifest(ctx: Ctx) -> Response:
    """Describe the app for installing it on the home screen."""
    icons = [
        {
            "src": f"/static/icons/icon-{size}.png",
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": purpose,
        }
        for size in (192, 512)
        for purpose in ("any",)
    ] + [
        {
            "src": f"/static/icons/maskable-{size}.png",
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "maskable",
        }
        for size in (192, 512)
    ]
    data = {
        "name": "Làng Số",
        "short_name": "Làng Số",
        "description": gettext("Log the help you give households, even with no signal."),
        "lang": "vi",
        "start_url": "/app",
        "scope": "/",
        "display": "standalone",
        "background_color": "#fbfaf7",
        "theme_color": "#0b5cad",
        "icons": icons,
    }
    return Response(
        json.dumps(data, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )
