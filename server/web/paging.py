"""Console lists, 50 rows a page with the total shown: no list grows without end or stops
silently. One page object per list; the template's `pager` macro draws it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..models import Commune, Role

if TYPE_CHECKING:
    from . import Ctx

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def first(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.number * self.size, self.total)


def page_of(raw: object, total: int, size: int = PAGE_SIZE) -> Page:
    """The page asked for in `?page=`, kept within the pages there are."""
    try:
        number = int(str(raw or 1)[:6])
    except ValueError:
        number = 1
    pages = max(1, -(-total // size))
    return Page(min(max(number, 1), pages), total, size)


def context(page: Page, url: Callable[[int], str]) -> dict[str, Any]:
    """What the templates' `pager` macro and range line read."""
    return {
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "first": page.first,
        "last": page.last,
        "page_url": url,
    }


def scope_query(ctx: Ctx, commune: Commune) -> dict[str, str]:
    """The query parameter an admin's links carry to stay in the chosen commune."""
    return {"commune": commune.code} if ctx.me.role == Role.admin else {}


def with_query(path: str, params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path
