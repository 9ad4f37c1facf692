"""Whole pages kept in memory: for visitors who are not signed in, and for members by role. The
guide pages and the catalogue are the most read pages of the site, and they are the same for
every such visitor.

A page is kept only when it was made for nobody in particular: no session cookie, no query but
the ones the page names, no form token in it (a token is masked afresh for each response) and
no cookie set. Its plain and gzipped bytes are kept with an ETag, so a hit costs neither the
database, the template nor the compressor, and a phone that has the page gets a 304. A page
is not served again once a guide has changed in this process (guides.changes) or the glossary
it was made with has been read again (its digest), and is made again after TTL seconds anyway,
for changes by another process (`langso load-guides`) or to the glossary file.

A signed-in member's page differs only by the menu of the member's role and the sign-out form's
token: it is kept per role with the token taken out, and each response gets its own masked
token back in (and is compressed afresh, since the token differs). Which role a session cookie
stands for is kept READER_TTL seconds: a sign-out on this process forgets it at once, one on
another process (or a member made inactive) shows within that time on these public pages only;
every other page and the API look the session up on each request. So the templates of these
pages must show nothing of the member but what their role decides.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from cachetools import LRUCache, TTLCache
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .. import guides
from ..accounts import member_for_token, token_hash
from ..security import csrf_token
from . import SESSION_COOKIE, etag_matches

TTL = 30.0  # seconds
READER_TTL = 5.0  # seconds a session cookie's role is kept for the public pages
TOKEN_SLOT = b"\x00langso-form-token\x00"  # where a kept member page had its form token
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str
    content: tuple[int, str]  # content_version() when the page was made
    made_at: float

    def response(self, request: Request) -> Response:
        headers = {"ETag": self.etag}
        if etag_matches(request, self.etag):
            return Response(status_code=304, headers={**headers, "Vary": "Accept-Encoding"})
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
            return Response(self.gzipped, headers=headers, media_type=self.media_type)
        return Response(self.body, headers=headers, media_type=self.media_type)


class Readers:
    """The role each session cookie stands for on the public pages, kept READER_TTL seconds
    ("" when it signs nobody in)."""

    def __init__(self, maxsize: int = 10_000, ttl: float = READER_TTL) -> None:
        self._roles: TTLCache[str, str] = TTLCache(maxsize=maxsize, ttl=ttl)
        self._lock = threading.Lock()

    async def role(self, request: Request, token: str) -> str:
        key = token_hash(token)
        with self._lock:
            role = self._roles.get(key)
        if role is None:
            role = await run_in_threadpool(self._look_up, request, token)
            with self._lock:
                self._roles[key] = role
        return role

    @staticmethod
    def _look_up(request: Request, token: str) -> str:
        with request.app.state.db.read() as session:
            member = member_for_token(session, token)
        return str(member.role) if member is not None else ""

    def forget(self, token: str) -> None:
        """The session has ended here (sign-out): its pages go back to a visitor's at once."""
        with self._lock:
            self._roles.pop(token_hash(token), None)


class PageCache:
    def __init__(self, maxsize: int = 256, ttl: float = TTL) -> None:
        self.ttl = ttl
        self.readers = Readers()
        self._pages: LRUCache[tuple[str, ...], Page] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()  # LRUCache itself is not thread-safe

    def get(self, key: tuple[str, ...], content: tuple[int, str]) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
        if page is None:
            return None
        if page.content != content or time.monotonic() - page.made_at > self.ttl:
            return None
        return page

    def put(
        self, key: tuple[str, ...], content: tuple[int, str], response: Response, token: str = ""
    ) -> Page:
        body = bytes(response.body)
        if token:
            body = body.replace(token.encode(), TOKEN_SLOT)
        page = Page(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            etag='W/"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            media_type=response.media_type or "text/html",
            content=content,
            made_at=time.monotonic(),
        )
        with self._lock:
            self._pages[key] = page
        return page


def content_version(request: Request) -> tuple[int, str]:
    """What the kept pages are made of besides the request: the guides and the glossary."""
    return guides.changes(), request.app.state.glossary.loaded.digest


def _key(request: Request, queries: Collection[str]) -> tuple[str, str] | None:
    """The page's key, or None when this request may not get a page made for someone else."""
    if request.method not in ("GET", "HEAD"):
        return None
    query = request.url.query
    return (request.url.path, query) if query in queries else None


def cached(queries: Collection[str] = ("",)) -> Callable[[Endpoint], Endpoint]:
    """Serve the endpoint's page from the app's PageCache (app.state.pages) when it may be;
    `queries` are the query strings that make a page of their own ("" is none)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def serve(request: Request) -> Response:
            cache: PageCache = request.app.state.pages
            key = _key(request, queries)
            if key is None:
                return await endpoint(request)
            token = request.cookies.get(SESSION_COOKIE)
            if token:
                role = await cache.readers.role(request, token)
                if not role:  # a session that has ended: the page as it is made for it
                    return await endpoint(request)
                return await _member_page(request, endpoint, cache, (*key, role))
            page = cache.get(key, content_version(request))
            if page is None:
                content = content_version(request)  # before the page is made: a change wins
                response = await endpoint(request)
                if not _shareable(request, response):
                    return response
                page = cache.put(key, content, response)
            return page.response(request)

        return serve

    return decorate


async def _member_page(
    request: Request, endpoint: Endpoint, cache: PageCache, key: tuple[str, ...]
) -> Response:
    """The page for members of one role, with this response's own form token."""
    page = cache.get(key, content_version(request))
    if page is None:
        content = content_version(request)
        response = await endpoint(request)
        state = request.scope.get("state", {})
        if not _shareable(request, response, token_allowed=True):
            return response
        cache.put(key, content, response, token=state.get("csrf_masked", ""))
        return response
    body = page.body
    if TOKEN_SLOT in body:
        body = body.replace(TOKEN_SLOT, csrf_token(request).encode())
    return Response(body, media_type=page.media_type)


def _shareable(request: Request, response: Response, token_allowed: bool = False) -> bool:
    return (
        response.status_code == 200
        and (token_allowed or not request.scope.get("state", {}).get("csrf_used"))
        and "set-cookie" not in response.headers
        and "content-encoding" not in response.headers
    )
