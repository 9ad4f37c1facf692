"""Whole pages kept in memory for visitors who are not signed in. The guide pages and the
catalogue are the most read pages of the site, and they are the same for every such visitor.

A page is kept only when it was made for nobody in particular: no session cookie, no query but
the ones the page names, no form token in it (a token is masked afresh for each response) and
no cookie set. Its plain and gzipped bytes are kept with an ETag, so a hit costs neither the
database, the template nor the compressor, and a phone that has the page gets a 304. A page
is not served again once a guide has changed in this process (guides.changes) or the glossary
it was made with has been read again (its digest), and is made again after TTL seconds anyway,
for changes by another process (`langso load-guides`) or to the glossary file.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response

from .. import guides
from . import SESSION_COOKIE, etag_matches

TTL = 30.0  # seconds
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


class PageCache:
    def __init__(self, maxsize: int = 256, ttl: float = TTL) -> None:
        self.ttl = ttl
        self._pages: LRUCache[tuple[str, str], Page] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()  # LRUCache itself is not thread-safe

    def get(self, key: tuple[str, str], content: tuple[int, str]) -> Page | None:
        with self._lock:
            page = self._pages.get(key)
        if page is None:
            return None
        if page.content != content or time.monotonic() - page.made_at > self.ttl:
            return None
        return page

    def put(self, key: tuple[str, str], content: tuple[int, str], response: Response) -> Page:
        body = bytes(response.body)
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
    """The page's key, or None when this request may get a page made for someone else's."""
    if request.method not in ("GET", "HEAD") or SESSION_COOKIE in request.cookies:
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


def _shareable(request: Request, response: Response) -> bool:
    return (
        response.status_code == 200
        and not request.scope.get("state", {}).get("csrf_used")
        and "set-cookie" not in response.headers
        and "content-encoding" not in response.headers
    )
