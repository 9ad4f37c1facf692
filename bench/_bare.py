"""The yardstick for guide-page throughput: bare Starlette answering the same HTML bytes (read
from BARE_HTML) with the same gzip, no database, no templates, no middleware of ours."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

BODY = Path(os.environ["BARE_HTML"]).read_bytes() if "BARE_HTML" in os.environ else b""


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(BODY)


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/page", page), Route("/healthz", healthz)],
    middleware=[Middleware(GZipMiddleware, minimum_size=500, compresslevel=6)],
)
