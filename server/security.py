"""Security headers on every response and CSRF protection on every state-changing request.

CSRF uses a per-browser random token in an HttpOnly cookie. Pages put it in each form
(`csrf_token`); the app gets it from the API and sends it as `X-CSRF-Token`. The middleware
reads the form body itself and then hands the same bytes to the handler. Pages are sent
gzipped, so the token in a page is masked afresh for every response: compression cannot
reveal it (BREACH). The cookie is set only by a response that hands the token out, so a
resident who only reads guides gets no cookie at all.

The guide's "did this help?" form carries no token: it counts an anonymous yes or no, so a
token would stop nothing that a stranger cannot do by posting directly, and a page without one
can be cached whole (server/web/page_cache.py). A request that another site makes the browser
send is still refused there, by the Sec-Fetch-Site or Origin header that browsers add.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import render_error
from .i18n import gettext
from .text import decodes

CSRF_COOKIE = "langso_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_FORM_BYTES = 10 * 1024 * 1024  # guide images are at most 8 MB
# Anonymous forms that change nobody's data: checked by origin instead of by token.
ORIGIN_CHECKED = re.compile(r"/guides/[^/]+/feedback")

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https_only: bool = False) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
            (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
        ]
        if https_only:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(headers: Headers, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _cross_site(headers: Headers, home: str) -> bool:
    """Whether the browser says another site made this request (Fetch Metadata, else Origin).
    A request with neither header comes from no browser, and so from no other site's page.
    `home` is the host of the app's own address (BASE_URL): behind a proxy that does not pass
    the Host header on, the Origin of our own pages names it instead."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc not in (headers.get("host", ""), home)


TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)


def mask_token(token: str) -> str:
    """The token XOR a random mask, with the mask in front: a different text every time."""
    raw = token.encode()
    mask = secrets.token_bytes(len(raw))
    masked = bytes(a ^ b for a, b in zip(mask, raw, strict=True))
    return base64.urlsafe_b64encode(mask + masked).decode().rstrip("=")


def token_matches(sent: str, token: str) -> bool:
    """Whether `sent` is the token, masked (from a page) or as it is (a client that holds it)."""
    if len(sent) == TOKEN_LENGTH:
        return hmac.compare_digest(sent.encode(), token.encode())
    try:
        data = base64.urlsafe_b64decode(sent + "=" * (-len(sent) % 4))
    except (binascii.Error, ValueError):
        return False
    if len(data) != 2 * TOKEN_LENGTH:
        return False
    mask, masked = data[:TOKEN_LENGTH], data[TOKEN_LENGTH:]
    unmasked = bytes(a ^ b for a, b in zip(mask, masked, strict=True))
    return hmac.compare_digest(unmasked, token.encode())


def csrf_token(request: Request, *, masked: bool = True) -> str:
    """The token to put in this response's forms, masked once per response. The API gives it
    unmasked: the bootstrap's ETag must not change with every answer, and API answers carry no
    text that a stranger can put in them."""
    state = request.scope.setdefault("state", {})
    state["csrf_used"] = True  # the middleware sets the cookie that goes with it
    if not masked:
        return state.get("csrf_token", "")
    if "csrf_masked" not in state:
        token = state.get("csrf_token", "")
        state["csrf_masked"] = mask_token(token) if token else ""
    return state["csrf_masked"]


class CSRFMiddleware:
    def __init__(self, app: ASGIApp, *, https_only: bool = False, base_url: str = "") -> None:
        self.app = app
        self.https_only = https_only
        self.home = urlsplit(base_url).netloc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookie_token = _cookie(headers, CSRF_COOKIE)
        token = cookie_token if cookie_token and len(cookie_token) == TOKEN_LENGTH else None
        new_token = token is None
        if new_token:
            token = secrets.token_urlsafe(32)

        state = scope.setdefault("state", {})
        state["csrf_token"] = token

        if scope["method"] not in SAFE_METHODS:
            if ORIGIN_CHECKED.fullmatch(scope["path"]):
                refused = 403 if _cross_site(headers, self.home) else None
            else:
                sent, receive = await self._sent_token(scope, receive, headers)
                if sent is None and receive is None:
                    refused = 413
                elif new_token or not sent or not token_matches(sent, token):
                    refused = 403
                else:
                    refused = None
            if refused is not None:
                await self._refuse(scope, send, refused)
                return

        async def send_with_cookie(message: Message) -> None:
            if new_token and state.get("csrf_used") and message["type"] == "http.response.start":
                value = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000"
                if self.https_only:
                    value += "; Secure"
                message["headers"] = [
                    *list(message.get("headers", [])),
                    (b"set-cookie", value.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _sent_token(
        self, scope: Scope, receive: Receive, headers: Headers
    ) -> tuple[str | None, Receive | None]:
        """The token from the header, or from the form body (which is then replayed)."""
        if value := headers.get(CSRF_HEADER):
            return value, receive
        content_type = headers.get("content-type", "")
        if not content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            return "", receive
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                return None, None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        parse_done = False

        async def parse_receive() -> Message:
            nonlocal parse_done
            if not parse_done:
                parse_done = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        try:
            async with Request(scope, parse_receive).form(max_part_size=MAX_FORM_BYTES) as form:
                value = form.get(CSRF_FIELD)
        except Exception:
            value = None
        return (value if isinstance(value, str) else ""), replay

    async def _refuse(self, scope: Scope, send: Send, status: int) -> None:
        request = Request(scope)
        if status == 413:
            message = gettext("What you sent is too large.")
        else:
            message = gettext(
                "This form has expired. Please go back, reload the page and try again."
            )
        response = render_error(request, status, message, code="csrf" if status == 403 else None)

        async def noop_receive() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, noop_receive, send)


class TextMiddleware:
    """Refuse, before any view runs, a path or query string that is not UTF-8 or holds a NUL
    (percent-encoded): 400 with the usual page or JSON error, never a 500 further in. Bodies are
    checked where they are parsed (`web.view`, the sync API)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            decodes(scope.get("raw_path") or scope["path"].encode("utf-8", "replace"))
            and decodes(scope.get("query_string", b""), form=True)
        ):
            await self.app(scope, receive, send)
            return
        response = render_error(Request(scope), 400, unreadable_message())
        await response(scope, receive, send)


def unreadable_message() -> str:
    return gettext("Some of the text sent has characters that cannot be read. Type it again.")
