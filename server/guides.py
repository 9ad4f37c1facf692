"""The guide catalogue: Markdown files with YAML front matter become Guide and GuideVersion rows,
and a search that ignores marks and case ranks title over summary over steps.

A guide file (server/content/guides/<slug>.md) has front matter, an optional introduction, then
three sections: "## Cần chuẩn bị" (a list), "## Các bước" (a numbered list, one action per item)
and "## Khi gặp vướng mắc" (a list). Markdown is rendered without raw HTML and then sanitised,
so nothing in a file can run script in a reader's browser.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nh3
import sqlalchemy as sa
import yaml
from cachetools import LRUCache
from markdown_it import MarkdownIt
from markdown_it.token import Token
from sqlmodel import Session, select

from .db import utcnow
from .i18n import LOCALES, gettext, lazy
from .models import Guide, GuideVersion, Skill
from .text import fold, nfc

CONTENT_DIR = Path(__file__).parent / "content" / "guides"
CONTENT_LOCALE = "vi"  # the steps are written in Vietnamese; titles and summaries in both
FORMAT = 2  # part of each version's hash: bump it when the stored body changes shape

# The order of the catalogue's groups, and their headings.
SKILLS: dict[str, str] = {
    Skill.vneid: lazy("VNeID: your electronic identity"),
    Skill.public_services: lazy("Online public services"),
    Skill.social_insurance: lazy("Social and health insurance"),
    Skill.payment: lazy("Paying online"),
    Skill.shopping: lazy("Shopping and selling online"),
    Skill.safety: lazy("Staying safe online"),
    Skill.local_platforms: lazy("Your commune's digital platforms"),
}

REVIEW_MONTHS = 6  # a guide not checked for this long is listed in the console to check again


def review_due_before(today: date) -> date:
    """Guides last checked before this day are due for a review (six months before today)."""
    index = today.year * 12 + today.month - 1 - REVIEW_MONTHS
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


REQUIRED = (
    "slug",
    "skill",
    "title",
    "title_en",
    "summary",
    "summary_en",
    "sources",
    "reviewed_on",
)
OPTIONAL = ("applies_from", "template", "draft", "keywords")
SECTIONS = {"can chuan bi": "documents", "cac buoc": "steps", "khi gap vuong mac": "problems"}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_TITLE, MAX_SUMMARY, MAX_URL = 160, 300, 500

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_TAGS = {"p", "br", "strong", "em", "code", "a", "ul", "ol", "li", "img", "blockquote"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
_SCHEMES = {"https", "http", "mailto", "tel"}


def sanitise(html: str) -> str:
    """Keep only harmless tags and attributes: no script, no event handlers, no javascript:."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


# --- Errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class GuideError(Exception):
    """One or more guide files are wrong; each problem names the file and the line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# --- Parsing ------------------------------------------------------------------------------

Fail = Callable[[int, str], GuideError]  # makes the error for a line of the file being read


@dataclass
class GuideSource:
    """One guide file, checked and rendered."""

    slug: str
    skill: str
    title: dict[str, str]
    summary: dict[str, str]
    source_url: str  # the first of `sources`: the page the steps come from
    source_name: str
    reviewed_on: date
    template: bool
    published: bool
    intro: str
    documents: list[str]
    steps: list[dict[str, str]]
    problems: list[str]
    hash: str = ""
    keywords: list[str] = field(default_factory=list)  # other names people type: cccd, bằng lái
    links: list[tuple[str, int]] = field(default_factory=list)  # (slug, line): other guides
    sources: list[dict[str, str]] = field(default_factory=list)  # every official page: name, url
    applies_from: date | None = None  # the day the rules the guide describes came into force

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "hash": self.hash,
            "content_locale": CONTENT_LOCALE,
            "source_name": self.source_name,
            "template": self.template,
            "intro": self.intro,
            "documents": self.documents,
            "steps": self.steps,
            "problems": self.problems,
            "keywords": self.keywords,
            "sources": self.sources or [{"name": self.source_name, "url": self.source_url}],
            "applies_from": self.applies_from.isoformat() if self.applies_from else None,
        }

    def fingerprint(self) -> str:
        data = {
            "format": FORMAT,
            "skill": self.skill,
            "title": self.title,
            "summary": self.summary,
            "source_url": self.source_url,
            "reviewed_on": self.reviewed_on.isoformat(),
            "published": self.published,
            **self.body(),
            "hash": "",
        }
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()


def parse_guide(path: Path) -> GuideSource:
    """Read one guide file; raise GuideError naming the file and line of the first problem."""

    def fail(line: int, message: str) -> GuideError:
        return GuideError([Problem(path, line, message)])

    try:
        text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise fail(1, "the file is not UTF-8 text") from e
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise fail(1, "the file must start with front matter between two '---' lines")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise fail(1, "the front matter has no closing '---' line") from None
    front = "\n".join(lines[1:end])
    meta, key_lines = _front_matter(front, fail)
    source = _check_meta(path, meta, key_lines, fail)
    _parse_body("\n".join(lines[end + 1 :]), end + 2, source, fail)
    source.hash = source.fingerprint()
    return source


def _front_matter(front: str, fail: Fail) -> tuple[dict[str, Any], dict[str, int]]:
    """The YAML mapping and the file line of each key (front matter starts on line 2)."""
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(front)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 2 if mark else 1
        raise fail(line, f"front matter is not valid YAML: {e.problem or e}") from e
    if not isinstance(node, yaml.MappingNode) or not isinstance(meta, dict):
        raise fail(2, "front matter must be 'key: value' lines")
    key_lines: dict[str, int] = {}
    for key, _value in node.value:
        name = str(key.value)
        if name in key_lines:
            raise fail(key.start_mark.line + 2, f"'{name}' is given twice")
        key_lines[name] = key.start_mark.line + 2
    return meta, key_lines


def _check_meta(
    path: Path, meta: dict[str, Any], key_lines: dict[str, int], fail: Fail
) -> GuideSource:
    for name in meta:
        if name not in REQUIRED and name not in OPTIONAL:
            known = ", ".join((*REQUIRED, *OPTIONAL))
            raise fail(key_lines[str(name)], f"unknown field '{name}' (known: {known})")
    for name in REQUIRED:
        if name not in meta:
            raise fail(1, f"front matter has no '{name}'")

    def text(name: str, limit: int) -> str:
        value = meta[name]
        if not isinstance(value, str) or not nfc(value):
            raise fail(key_lines[name], f"'{name}' must be a non-empty text")
        value = nfc(value)
        if len(value) > limit:
            raise fail(key_lines[name], f"'{name}' is longer than {limit} characters")
        return value

    def flag(name: str) -> bool:
        value = meta.get(name, False)
        if not isinstance(value, bool):
            raise fail(key_lines[name], f"'{name}' must be true or false")
        return value

    slug = text("slug", 80)
    if not SLUG.match(slug):
        raise fail(key_lines["slug"], "'slug' may hold only a-z, 0-9 and single hyphens")
    if slug != path.stem:
        raise fail(key_lines["slug"], f"'slug' must equal the file name ({path.stem})")
    skill = text("skill", 24)
    if skill not in SKILLS:
        raise fail(key_lines["skill"], f"'skill' must be one of: {', '.join(SKILLS)}")
    sources = _sources(meta["sources"], key_lines["sources"], fail)
    reviewed = _date(meta, "reviewed_on", key_lines, fail)
    applies_from = _date(meta, "applies_from", key_lines, fail) if "applies_from" in meta else None
    if applies_from and applies_from > reviewed:
        raise fail(key_lines["applies_from"], "'applies_from' is after 'reviewed_on'")
    keywords = meta.get("keywords", [])
    if not isinstance(keywords, list) or not all(
        isinstance(k, str) and nfc(k) and len(k) <= 60 for k in keywords
    ):
        raise fail(key_lines["keywords"], "'keywords' must be a list of short texts")
    return GuideSource(
        slug=slug,
        skill=skill,
        title={"vi": text("title", MAX_TITLE), "en": text("title_en", MAX_TITLE)},
        summary={"vi": text("summary", MAX_SUMMARY), "en": text("summary_en", MAX_SUMMARY)},
        source_url=sources[0]["url"],
        source_name=sources[0]["name"],
        reviewed_on=reviewed,
        sources=sources,
        applies_from=applies_from,
        template=flag("template"),
        published=not flag("draft"),
        intro="",
        documents=[],
        steps=[],
        problems=[],
        keywords=[nfc(k) for k in keywords],
    )


def _date(meta: dict[str, Any], name: str, key_lines: dict[str, int], fail: Fail) -> date:
    value = meta[name]
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, date):
        raise fail(key_lines[name], f"'{name}' must be a date like 2026-03-01")
    return value


def _sources(value: Any, line: int, fail: Fail) -> list[dict[str, str]]:
    """`sources`: the official pages the guide was checked against, the main one first; each
    an https:// address, or `{name: …, url: …}` to name it (its host name otherwise)."""
    if not isinstance(value, list) or not value:
        raise fail(line, "'sources' must be a list of official pages (https:// addresses)")
    found = []
    for i, item in enumerate(value):
        entry = {"url": item} if isinstance(item, str) else item
        url = entry.get("url") if isinstance(entry, dict) else None
        name = entry.get("name", "") if isinstance(entry, dict) else ""
        parts = urlsplit(url if isinstance(url, str) else "")
        if (
            not isinstance(url, str)
            or len(url) > MAX_URL
            or parts.scheme != "https"
            or not parts.netloc
            or any(ch.isspace() for ch in url)
        ):
            raise fail(line, f"source {i + 1} of 'sources' must be an https:// address")
        if not isinstance(name, str) or len(name) > 160 or set(entry) - {"url", "name"}:
            raise fail(line, f"source {i + 1}: a 'url' and, if you like, a short 'name'")
        found.append({"name": nfc(name) or (parts.hostname or ""), "url": url})
    return found


def _parse_body(body: str, first_line: int, source: GuideSource, fail: Fail) -> None:
    """Split the Markdown body into its sections; every list item becomes one entry."""
    tokens = _md.parse(body)
    env: dict[str, Any] = {}
    intro: list[Token] = []
    section: str | None = None
    seen: set[str] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        line = first_line + (token.map[0] if token.map else 0)
        if token.type == "heading_open":
            heading = tokens[i + 1].content
            if token.tag != "h2":
                raise fail(line, f"use '## ' for section headings ('{heading}')")
            section = SECTIONS.get(fold(heading))
            if section is None:
                names = "Cần chuẩn bị, Các bước, Khi gặp vướng mắc"
                raise fail(line, f"unknown section '{heading}' (sections: {names})")
            if section in seen:
                raise fail(line, f"section '{heading}' is given twice")
            seen.add(section)
            i += 3
            continue
        end = _block_end(tokens, i)
        source.links.extend((href, first_line + at) for href, at in _guide_links(tokens[i:end]))
        if section is None:
            intro.extend(tokens[i:end])
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            if section == "steps" and token.type != "ordered_list_open":
                raise fail(line, "steps must be a numbered list (1. 2. 3.)")
            entries = getattr(source, section)
            if entries:
                raise fail(line, "a section holds one list")
            for item in _items(tokens[i + 1 : end - 1]):
                html = sanitise(_md.renderer.render(item, _md.options, env)).strip()
                if section == "steps":
                    entries.append({"html": html, "text": _plain(item)})
                else:
                    entries.append(html)
        else:
            raise fail(line, "a section holds one list and nothing else")
        i = end
    if intro:
        source.intro = sanitise(_md.renderer.render(intro, _md.options, env)).strip()
    if not source.steps:
        raise fail(first_line, "the guide has no '## Các bước' section with a numbered list")


def _block_end(tokens: list[Token], start: int) -> int:
    """Index just past the top-level block that starts at `start`."""
    depth = 0
    for j in range(start, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j + 1
    return len(tokens)


def _items(tokens: list[Token]) -> list[list[Token]]:
    """The inner tokens of each list item (the list's own open and close are left out)."""
    items, start, depth = [], 0, 0
    for j, token in enumerate(tokens):
        if token.type == "list_item_open" and depth == 0:
            start = j + 1
        depth += token.nesting
        if token.type == "list_item_close" and depth == 0:
            items.append(tokens[start:j])
    return items


def _guide_links(tokens: list[Token]) -> list[tuple[str, int]]:
    """Links written as a bare slug, e.g. [Đăng nhập](dang-nhap-dich-vu-cong-bang-vneid)."""
    found = []
    for token in tokens:
        for child in token.children or []:
            href = str(child.attrs.get("href", "")) if child.type == "link_open" else ""
            if href and ":" not in href and not href.startswith(("/", "#", ".")):
                found.append((href.split("#")[0], token.map[0] if token.map else 0))
    return found


def _plain(tokens: list[Token]) -> str:
    """The words of some rendered tokens, for search keys and reading aloud."""
    words: list[str] = []
    for token in tokens:
        if token.type != "inline":
            continue
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
            elif child.type == "image":
                words.append(child.content)
        words.append(" ")
    return nfc("".join(words))


# The last parse of each directory, by the names and bytes of its files: `load-guides` run
# again on unchanged files (each test's catalogue, a restart) does not parse them again.
_PARSED: dict[Path, tuple[str, list[GuideSource]]] = {}
_PARSED_LOCK = threading.Lock()


def parse_directory(directory: Path) -> list[GuideSource]:
    """Every guide file of a directory; all problems are reported together. The sources are
    shared with the next call while no file changes: read them, do not change them."""
    if not directory.is_dir():
        raise RuntimeError(f"Directory '{directory}' does not exist")
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.md")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    stats = digest.hexdigest()
    with _PARSED_LOCK:
        kept = _PARSED.get(directory.resolve())
    if kept and kept[0] == stats:
        return kept[1]
    sources = _parse_directory(directory)
    with _PARSED_LOCK:
        _PARSED[directory.resolve()] = (stats, sources)
    return sources


def _parse_directory(directory: Path) -> list[GuideSource]:
    sources, problems = [], []
    for path in sorted(directory.glob("*.md")):
        if path.name == "README.md":  # the notes on writing guides, not a guide
            continue
        try:
            sources.append(parse_guide(path))
        except GuideError as e:
            problems.extend(e.problems)
    slugs = {s.slug for s in sources}
    for source in sources:
        for href, line in source.links:
            if href not in slugs:
                path = directory / f"{source.slug}.md"
                problems.append(Problem(path, line, f"link to an unknown guide '{href}'"))
    if problems:
        raise GuideError(problems)
    return sources


# --- Loading ------------------------------------------------------------------------------


@dataclass
class LoadSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.added)} guides added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )


def load_guides(session: Session, directory: Path = CONTENT_DIR) -> LoadSummary:
    """Bring the stored catalogue in line with the files. An unchanged file changes nothing; a
    changed one adds version+1 in every locale. Nothing is written if any file is wrong."""
    sources = parse_directory(directory)
    guides = {g.slug: g for g in session.exec(select(Guide)).all()}
    hashes = {
        guide_id: version.body.get("hash")
        for guide_id, version in session.exec(
            select(Guide.id, GuideVersion)
            .join(GuideVersion, GuideVersion.guide_id == Guide.id)
            .where(GuideVersion.version == Guide.version, GuideVersion.locale == CONTENT_LOCALE)
        ).all()
    }
    summary = LoadSummary()
    for source in sources:
        guide = guides.get(source.slug)
        if guide is not None and hashes.get(guide.id) == source.hash:
            summary.unchanged.append(source.slug)
            continue
        if guide is None:
            guide = Guide(slug=source.slug, skill=source.skill, version=1)
            summary.added.append(source.slug)
        else:
            guide.version += 1
            guide.updated_at = utcnow()
            summary.updated.append(source.slug)
        guide.skill = source.skill
        guide.published = source.published
        guide.reviewed_on = source.reviewed_on
        guide.source_url = source.source_url
        session.add(guide)
        session.flush()
        for locale in LOCALES:
            session.add(_version(guide, source, locale))
    session.flush()
    reindex(session)  # also indexes guides stored before the index existed
    return summary


def _version(guide: Guide, source: GuideSource, locale: str) -> GuideVersion:
    title, summary = source.title[locale], source.summary[locale]
    text = " ".join(
        [*(s["text"] for s in source.steps), *(_strip(h) for h in source.documents)]
        + [_strip(h) for h in source.problems]
        + [_strip(source.intro)]
    )
    if locale != CONTENT_LOCALE:  # Vietnamese words still find the guide in other languages
        text = f"{source.title[CONTENT_LOCALE]} {source.summary[CONTENT_LOCALE]} {text}"
    body = source.body()
    body["search"] = {"summary": fold(summary), "text": fold(text)}
    return GuideVersion(
        guide_id=guide.id,
        version=guide.version,
        locale=locale,
        title=title,
        title_key=fold(title),
        summary=summary,
        body=body,
    )


_TAG = re.compile(r"<[^>]+>")


def _strip(html: str) -> str:
    return _TAG.sub(" ", html)


# --- Written in the console (server/web/guide_editor.py) --------------------------------------


def render_entry(markdown: str, block: bool = False) -> tuple[str, str]:
    """Markdown typed in the editor → (sanitised HTML, plain words), by the same parser and
    sanitiser as the files. One paragraph renders bare, like an item of a file's tight list,
    unless `block` (the introduction)."""
    tokens = _md.parse(unicodedata.normalize("NFC", markdown).strip())
    if not block and [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]:
        tokens[0].hidden = tokens[2].hidden = True
    html = sanitise(_md.renderer.render(tokens, _md.options, {})).strip()
    return html, _plain(tokens)


def version_for(guide: Guide, source: GuideSource, locale: str) -> GuideVersion:
    """The row of one locale of a guide written in the console: same body and search keys as
    a guide loaded from a file."""
    return _version(guide, source, locale)


# --- Reading ------------------------------------------------------------------------------


@dataclass
class GuideView:
    """What a page needs of one guide in one language."""

    slug: str
    skill: str
    version: int
    locale: str
    title: str
    title_key: str
    summary: str
    body: dict[str, Any]
    reviewed_on: date | None
    source_url: str
    commune_code: str | None
    helpful_yes: int
    helpful_no: int
    guide_id: uuid.UUID | None = None

    @property
    def template(self) -> bool:
        return bool(self.body.get("template"))

    @property
    def content_locale(self) -> str:
        return str(self.body.get("content_locale", CONTENT_LOCALE))


# --- Changes -------------------------------------------------------------------------------

# Whole guide pages are cached (server/web/page_cache.py); a page made before the last change
# of any guide in this process is not served again. Every write of a guide's text or columns
# goes through the ORM (load_guides, the editor); only the feedback counts, which no cached
# page shows, are written by an UPDATE statement.
_changes = 0
_changes_lock = threading.Lock()


def changes() -> int:
    """How many commits in this process have changed a guide."""
    return _changes


@sa.event.listens_for(Session, "after_flush")
def _note_guide_writes(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, (Guide, GuideVersion)) for obj in touched):
        session.info["guides_changed"] = True


@sa.event.listens_for(Session, "after_commit")
def _count_guide_writes(session: Session) -> None:
    global _changes
    if session.info.pop("guides_changed", False):
        with _changes_lock:
            _changes += 1


@sa.event.listens_for(Session, "after_rollback")
def _forget_guide_writes(session: Session) -> None:
    session.info.pop("guides_changed", None)


# Versions never change once written, and pages read them far more often than guides change:
# keep their text and body in memory, keyed by (guide id, version, locale), so that a page asks
# the database only which versions are current (and for the guide's own small columns).
_VERSIONS: LRUCache[tuple[Any, int, str], tuple[Any, ...]] = LRUCache(maxsize=2000)
_VERSIONS_LOCK = threading.Lock()  # LRUCache itself is not thread-safe
_G = Guide.__table__.c  # type: ignore[attr-defined]
_V = GuideVersion.__table__.c  # type: ignore[attr-defined]


def _version_texts(
    session: Session, wanted: dict[tuple[Any, int, str], int]
) -> dict[tuple[Any, int, str], tuple[Any, ...]]:
    """(title, title_key, summary, body) of each wanted version (key → guide_version.id)."""
    with _VERSIONS_LOCK:
        found = {key: _VERSIONS[key] for key in wanted if key in _VERSIONS}
    missing = {row_id: key for key, row_id in wanted.items() if key not in found}
    if missing:
        stmt = sa.select(_V.id, _V.title, _V.title_key, _V.summary, _V.body).where(
            _V.id.in_(list(missing))
        )
        rows = session.execute(stmt).all()
        with _VERSIONS_LOCK:
            for row_id, *text in rows:
                found[missing[row_id]] = _VERSIONS[missing[row_id]] = tuple(text)
    return found


# Built once: a page would otherwise spend longer building the statement than running it.
_CURRENT = (
    sa.select(
        _G.id,
        _G.slug,
        _G.skill,
        _G.version,
        _G.reviewed_on,
        _G.source_url,
        _G.commune_code,
        _G.helpful_yes,
        _G.helpful_no,
        _V.id.label("version_row"),
        _V.locale,
    )
    .join(GuideVersion, _V.guide_id == _G.id)
    .where(
        _G.published == sa.true(),
        _V.version == _G.version,
        _V.locale.in_(sa.bindparam("locales", expanding=True)),
    )
)
_CURRENT_ONE = _CURRENT.where(_G.slug == sa.bindparam("slug"))
_CURRENT_SOME = _CURRENT.where(_G.slug.in_(sa.bindparam("slugs", expanding=True)))


def _views(
    session: Session, locale: str, slug: str | None = None, slugs: list[str] | None = None
) -> list[GuideView]:
    """Published guides in `locale`, falling back to the content's own language."""
    locales = sorted({locale, CONTENT_LOCALE})
    if slugs is not None:
        rows = session.execute(_CURRENT_SOME, {"locales": locales, "slugs": slugs}).all()
    elif slug is None:
        rows = session.execute(_CURRENT, {"locales": locales}).all()
    else:
        rows = session.execute(_CURRENT_ONE, {"locales": locales, "slug": slug}).all()
    chosen: dict[str, Any] = {}
    for row in rows:
        if row.slug not in chosen or row.locale == locale:
            chosen[row.slug] = row
    texts = _version_texts(
        session, {(r.id, r.version, r.locale): r.version_row for r in chosen.values()}
    )
    views = []
    for r in chosen.values():
        title, title_key, summary, body = texts[(r.id, r.version, r.locale)]
        views.append(
            GuideView(
                slug=r.slug,
                skill=r.skill,
                version=r.version,
                locale=r.locale,
                title=title,
                title_key=title_key,
                summary=summary,
                body=body,
                reviewed_on=r.reviewed_on,
                source_url=r.source_url,
                commune_code=r.commune_code,
                helpful_yes=r.helpful_yes,
                helpful_no=r.helpful_no,
                guide_id=r.id,
            )
        )
    return views


def get_guide(session: Session, slug: str, locale: str) -> GuideView | None:
    views = _views(session, locale, slug)
    return views[0] if views else None


def catalogue(session: Session, locale: str) -> list[tuple[str, str, list[GuideView]]]:
    """(skill, heading, guides) in the catalogue's order; empty groups are left out."""
    groups: dict[str, list[GuideView]] = {skill: [] for skill in SKILLS}
    for view in _views(session, locale):
        groups.setdefault(view.skill, []).append(view)
    return [
        (skill, gettext(SKILLS.get(skill, skill)), sorted(items, key=lambda v: v.title_key))
        for skill, items in groups.items()
        if items
    ]


def index(session: Session, commune_code: str | None = None) -> list[dict[str, Any]]:
    """The published guides in both languages, for the field app to list and search offline.
    A commune's own guides are included only for that commune."""
    english = {v.slug: v for v in _views(session, "en")}
    items = []
    for v in _views(session, CONTENT_LOCALE):
        if v.commune_code and v.commune_code != commune_code:
            continue
        en = english.get(v.slug, v)
        items.append(
            {
                "slug": v.slug,
                "skill": v.skill,
                "version": v.version,
                "title": v.title,
                "summary": v.summary,
                "title_en": en.title,
                "summary_en": en.summary,
            }
        )
    return sorted(items, key=lambda item: fold(item["title"]))


def record_feedback(session: Session, slug: str, helpful: bool) -> bool:
    """Count one answer to "did this guide help you?"; False when there is no such guide."""
    column = Guide.helpful_yes if helpful else Guide.helpful_no
    result = session.execute(
        sa.update(Guide)
        .where(Guide.slug == slug, Guide.published == sa.true())
        .values({column.key: column + 1})
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- Search -------------------------------------------------------------------------------
#
# The table guide_search (migration 0006) holds the folded words of each current version:
# title, keywords, summary and the rest. SQLite ranks it with FTS5's bm25 and column weights,
# PostgreSQL with ts_rank over setweight A/B/C/D. Every query word is optional (OR); guides
# holding more of them come first, then the rank. The last word may be a word's start (it may
# still be being typed), and a word of 5 letters or more that no guide holds is replaced by the
# indexed words one letter away (guide_term), so one typo still finds the guide.

# Both spellings are in use ("đăng ký" / "đăng kí", "lý lịch" / "lí lịch"): compare one form.
_VARIANTS = {"ky": "ki", "ly": "li", "my": "mi", "ty": "ti", "sy": "si", "hy": "hi"}
_WORD = re.compile(r"[a-z]+|[0-9]+")  # "muc2" is "muc 2"
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
WEIGHTS = {"title": 10.0, "keywords": 8.0, "summary": 4.0, "body": 1.0}  # SQLite bm25
TYPO_MIN = 5  # a word this long may have one wrong, missing, extra or swapped letter
MAX_RESULTS = 50
INDEX_TABLES = ("guide_search", "guide_term")  # made by migration 0006, written here in SQL


def _terms(key: str) -> list[str]:
    return [_VARIANTS.get(w, w) for w in _WORD.findall(key)]


def _key(text: str) -> str:
    """The indexed form of some text: folded words, one spelling of each."""
    return " ".join(_terms(fold(text)))


def _edits(word: str) -> set[str]:
    """The words one edit away from `word`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out


def _index_rows(session: Session, slugs: list[str]) -> list[dict[str, str]]:
    rows = session.execute(
        sa.select(_G.slug, _V.locale, _V.title_key, _V.summary, _V.body)
        .join(GuideVersion, _V.guide_id == _G.id)
        .where(_G.slug.in_(slugs), _G.published == sa.true(), _V.version == _G.version)
    ).all()
    out = []
    for slug, locale, title_key, summary, body in rows:
        search = body.get("search", {})
        out.append(
            {
                "slug": slug,
                "locale": locale,
                "title": " ".join(_terms(title_key)),
                "keywords": _key(" ".join(body.get("keywords", []))),
                "summary": _key(search.get("summary", summary)),
                "body": _key(search.get("text", "")),
            }
        )
    return out


def reindex(session: Session, slugs: list[str] | None = None) -> None:
    """Bring guide_search in line with the current versions of `slugs` (all guides if None)."""
    if slugs is None:
        slugs = list(session.execute(sa.select(_G.slug)).scalars())
    if not slugs:
        return
    conn = session.connection()
    table = sa.table("guide_search", sa.column("slug"))
    conn.execute(sa.delete(table).where(table.c.slug.in_(slugs)))
    rows = _index_rows(session, slugs)
    if rows:
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "INSERT INTO guide_search (slug, locale, title, keywords, summary, body, "
                    "document) VALUES (:slug, :locale, :title, :keywords, :summary, :body, "
                    "setweight(to_tsvector('simple', :title), 'A') || "
                    "setweight(to_tsvector('simple', :keywords), 'B') || "
                    "setweight(to_tsvector('simple', :summary), 'C') || "
                    "setweight(to_tsvector('simple', :body), 'D'))"
                ),
                rows,
            )
        else:
            conn.execute(
                sa.text(
                    "INSERT INTO guide_search (slug, locale, title, keywords, summary, body) "
                    "VALUES (:slug, :locale, :title, :keywords, :summary, :body)"
                ),
                rows,
            )
    terms = sorted({w for r in rows for f in WEIGHTS for w in r[f].split() if len(w) <= 80})
    if terms:
        term = sa.table("guide_term", sa.column("term"))
        known = set(conn.execute(sa.select(term.c.term).where(term.c.term.in_(terms))).scalars())
        new = [{"term": t} for t in terms if t not in known]
        if new:
            conn.execute(sa.insert(term), new)


@sa.event.listens_for(Session, "after_flush")
def _note_indexed_guides(session: Session, _context: Any) -> None:
    touched = session.info.setdefault("guides_touched", set())
    ids = {obj.id for obj in (*session.new, *session.dirty) if isinstance(obj, Guide)}
    ids |= {obj.guide_id for obj in session.new if isinstance(obj, GuideVersion)}
    slugs = {obj.slug for obj in (*session.new, *session.dirty) if isinstance(obj, Guide)}
    session.info["guide_ids_touched"] = session.info.get("guide_ids_touched", set()) | ids
    touched |= slugs


@sa.event.listens_for(Session, "before_commit")
def _reindex_touched(session: Session) -> None:
    """Every path that changes a guide (load-guides, the console editor, publishing) commits
    through a Session: the index follows in the same transaction."""
    session.flush()
    ids = session.info.pop("guide_ids_touched", set())
    slugs = session.info.pop("guides_touched", set())
    if ids:
        slugs |= set(session.execute(sa.select(_G.slug).where(_G.id.in_(list(ids)))).scalars())
    if slugs:
        reindex(session, sorted(slugs))


@sa.event.listens_for(Session, "after_rollback")
def _forget_touched(session: Session) -> None:
    session.info.pop("guide_ids_touched", None)
    session.info.pop("guides_touched", None)


def _query_words(session: Session, words: list[str]) -> list[tuple[str, list[str]]]:
    """Each query word with what may stand for it in the index: itself, or its typo fixes."""
    term = sa.table("guide_term", sa.column("term"))
    long = [w for w in words if len(w) >= TYPO_MIN]
    known = set()
    if long:
        known = set(session.execute(sa.select(term.c.term).where(term.c.term.in_(long))).scalars())
    out = []
    for word in words:
        options = [word]
        if len(word) >= TYPO_MIN and word not in known:
            fixes = sorted(
                session.execute(
                    sa.select(term.c.term).where(term.c.term.in_(sorted(_edits(word))))
                ).scalars()
            )
            options += fixes
        out.append((word, options))
    return out


def _matches(
    session: Session, alternatives: list[tuple[str, list[str]]], locales: list[str]
) -> list[Any]:
    last = len(alternatives) - 1
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        parts = []
        for i, (_word, options) in enumerate(alternatives):
            ors = [
                o + (":*" if i == last and j == 0 and len(o) > 1 else "")
                for j, o in enumerate(options)
            ]
            parts.append("(" + " | ".join(ors) + ")")
        stmt = sa.text(
            "SELECT slug, locale, title, keywords, summary, body, "
            "ts_rank(document, to_tsquery('simple', :q)) AS rank FROM guide_search "
            "WHERE document @@ to_tsquery('simple', :q) AND locale = ANY(:locales) "
            "ORDER BY rank DESC LIMIT :limit"
        )
        return list(conn.execute(stmt, {"q": " | ".join(parts), "locales": locales, "limit": 200}))
    parts = []
    for i, (_word, options) in enumerate(alternatives):
        parts += [
            f'"{o}"' + ("*" if i == last and j == 0 and len(o) > 1 else "")
            for j, o in enumerate(options)
        ]
    weights = ", ".join(str(w) for w in WEIGHTS.values())
    stmt = sa.text(
        "SELECT slug, locale, title, keywords, summary, body, "
        f"-bm25(guide_search, 0, 0, {weights}) AS rank FROM guide_search "
        "WHERE guide_search MATCH :q AND locale IN (SELECT value FROM json_each(:locales)) "
        "ORDER BY rank DESC LIMIT :limit"
    )
    return list(
        conn.execute(stmt, {"q": " OR ".join(parts), "locales": json.dumps(locales), "limit": 200})
    )


def search_guides(session: Session, query: str, locale: str) -> list[GuideView]:
    """Published guides matching `query`, best first. Marks and case are ignored.

    Every word is optional: guides holding more of the words come first, each word counted by
    the weightiest field holding it (title, then keywords, summary, steps), then the index's
    rank.
    """
    words = _terms(fold(query))[:12]
    if not words:
        return []
    alternatives = _query_words(session, words)
    locales = sorted({locale, CONTENT_LOCALE})
    last = len(words) - 1
    best: dict[str, tuple[tuple[float, ...], str]] = {}
    for row in _matches(session, alternatives, locales):
        fields = {name: set(getattr(row, name).split()) for name in WEIGHTS}
        title = row.title.split()
        found = 0.0  # each query word counts by the weightiest field that holds it
        for i, (_word, options) in enumerate(alternatives):
            prefix = options[0] if i == last and len(options[0]) > 1 else None
            found += max(
                (
                    weight
                    for name, weight in WEIGHTS.items()
                    if any(o in fields[name] for o in options)
                    or (prefix and any(t.startswith(prefix) for t in fields[name]))
                ),
                default=0.0,
            )
        phrase = f" {' '.join(words)} "
        named = phrase in f" {row.title} " or phrase in f" {row.keywords} "
        wanted = {o for _w, options in alternatives for o in options}
        covered = sum(1 for t in title if t in wanted) / len(title) if title else 0.0
        # "Cài VNeID…" is about VNeID more than "Xin phiếu … trên VNeID"
        first = next((-i for i, t in enumerate(title) if t in wanted), -1000)
        key = (found, title == words, named, first, covered, float(row.rank), row.locale == locale)
        if row.slug not in best or key > best[row.slug][0]:
            best[row.slug] = (key, row.locale)
    ranked = sorted(best.items(), key=lambda item: (tuple(-k for k in item[1][0]), item[0]))
    ranked = ranked[:MAX_RESULTS]
    views = {v.slug: v for v in _views(session, locale, slugs=[slug for slug, _ in ranked])}
    return [views[slug] for slug, _ in ranked if slug in views]


_MEDIA_NAME = re.compile(r"\b[0-9a-f]{32}\b")


def media_in_use(session: Session) -> set[str]:
    """The picture names any version of any guide uses (old versions too: they can be restored)."""
    used: set[str] = set()
    for (body,) in session.execute(sa.select(GuideVersion.body)):
        used.update(_MEDIA_NAME.findall(json.dumps(body)))
    return used


def exists(session: Session, slug: str) -> bool:
    """Whether a published guide has this address."""
    found = session.execute(
        sa.select(Guide.id).where(Guide.slug == slug, Guide.published == sa.true())
    ).first()
    return found is not None
