"""A guide as its editor holds it: the draft typed in the form, its checks, its rendering by
the catalogue's own Markdown parser, the step buttons, and a stored version turned back into a
draft (guides from files carry only HTML, turned back into Markdown). server/web/guide_editor.py
reads the form into a Draft and saves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from . import guides
from .guides import MAX_SUMMARY, MAX_TITLE, MAX_URL, SKILLS, GuideSource
from .i18n import TZ, gettext
from .models import Guide, GuideVersion
from .text import nfc

MAX_STEPS = 40
MAX_ITEMS = 30  # documents, problems
MAX_ENTRY = 2000  # one step, document or problem, in Markdown
MAX_INTRO = 4000
MAX_ALT = 200
_BULLET = re.compile(r"^\s*(?:[-*+•]\s+)")


@dataclass
class Step:
    markdown: str = ""
    image: dict[str, Any] | None = None  # {"name", "width", "height", "alt"}
    number: int = 0  # its fields' number in the posted form (file-3, alt-3…)


@dataclass
class Draft:
    """A guide as typed in the form, before it becomes a version."""

    title: str = ""
    title_en: str = ""
    summary: str = ""
    summary_en: str = ""
    skill: str = ""
    intro: str = ""
    documents: str = ""  # one per line
    steps: list[Step] = field(default_factory=list)
    problems: str = ""  # one per line
    source_url: str = ""
    source_name: str = ""
    reviewed_on: str = ""
    published: bool = False


def _lines(text: str) -> list[str]:
    return [_BULLET.sub("", nfc(line)) for line in text.splitlines() if nfc(line)]


def _parse_date(value: str) -> date | None:
    value = value.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:  # typed by hand where the browser has no date picker: 9/3/2026
        return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None


def check(draft: Draft) -> dict[str, str]:
    """The problems of a draft, by form field; empty when it can be saved."""
    errors: dict[str, str] = {}
    if not draft.title:
        errors["title"] = gettext("Give the guide a title.")
    elif len(draft.title) > MAX_TITLE:
        errors["title"] = gettext("At most %(n)s characters.", n=MAX_TITLE)
    if not draft.summary:
        errors["summary"] = gettext("Say in a sentence or two what the guide helps to do.")
    elif len(draft.summary) > MAX_SUMMARY:
        errors["summary"] = gettext("At most %(n)s characters.", n=MAX_SUMMARY)
    if bool(draft.title_en) != bool(draft.summary_en):
        key = "title_en" if not draft.title_en else "summary_en"
        errors[key] = gettext("Give both the English title and summary, or neither.")
    if len(draft.title_en) > MAX_TITLE:
        errors["title_en"] = gettext("At most %(n)s characters.", n=MAX_TITLE)
    if len(draft.summary_en) > MAX_SUMMARY:
        errors["summary_en"] = gettext("At most %(n)s characters.", n=MAX_SUMMARY)
    if draft.skill not in SKILLS:
        errors["skill"] = gettext("Choose the skill this guide teaches.")
    if len(draft.intro) > MAX_INTRO:
        errors["intro"] = gettext("At most %(n)s characters.", n=MAX_INTRO)
    for name in ("documents", "problems"):
        items = _lines(getattr(draft, name))
        if len(items) > MAX_ITEMS:
            errors[name] = gettext("At most %(n)s lines.", n=MAX_ITEMS)
        elif any(len(item) > MAX_ENTRY for item in items):
            errors[name] = gettext("Each line may hold at most %(n)s characters.", n=MAX_ENTRY)
    written = 0
    for i, step in enumerate(draft.steps, 1):
        if len(step.markdown) > MAX_ENTRY:
            errors[f"step-{i}"] = gettext("At most %(n)s characters.", n=MAX_ENTRY)
        elif step.image and not step.markdown.strip():
            errors[f"step-{i}"] = gettext("Say what to do in this step, not only a picture.")
        if step.image and len(step.image.get("alt", "")) > MAX_ALT:
            errors[f"alt-{i}"] = gettext("At most %(n)s characters.", n=MAX_ALT)
        written += bool(step.markdown.strip())
    if not written:
        errors["steps"] = gettext("Write at least one step.")
    if len(draft.steps) > MAX_STEPS:
        errors["steps"] = gettext("A guide has at most %(n)s steps.", n=MAX_STEPS)
    parts = urlsplit(draft.source_url)
    if (
        not draft.source_url
        or len(draft.source_url) > MAX_URL
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 for ch in draft.source_url)
    ):
        errors["source_url"] = gettext(
            "Give the official web address, starting with https:// or http://."
        )
    if len(draft.source_name) > 160:
        errors["source_name"] = gettext("At most %(n)s characters.", n=160)
    reviewed = _parse_date(draft.reviewed_on)
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    if reviewed is None or reviewed.year < 2000 or reviewed > tomorrow:
        errors["reviewed_on"] = gettext("Give the date you checked the guide, not in the future.")
    return errors


def to_source(draft: Draft, slug: str, hash_: str = "", template: bool = False) -> GuideSource:
    """The draft rendered by the catalogue's own Markdown parser and sanitiser."""
    steps = []
    for step in draft.steps:
        if not step.markdown.strip():
            continue
        html, text = guides.render_entry(step.markdown)
        entry: dict[str, Any] = {"html": html, "text": text}
        if step.image:
            entry["image"] = dict(step.image)
        steps.append(entry)
    host = urlsplit(draft.source_url).hostname or ""
    source = GuideSource(
        slug=slug,
        skill=draft.skill,
        title={"vi": draft.title, "en": draft.title_en or draft.title},
        summary={"vi": draft.summary, "en": draft.summary_en or draft.summary},
        source_url=draft.source_url,
        source_name=draft.source_name or host,
        reviewed_on=_parse_date(draft.reviewed_on) or datetime.now(TZ).date(),
        template=template,
        published=draft.published,
        intro=guides.render_entry(draft.intro, block=True)[0] if draft.intro.strip() else "",
        documents=[guides.render_entry(item)[0] for item in _lines(draft.documents)],
        steps=steps,
        problems=[guides.render_entry(item)[0] for item in _lines(draft.problems)],
    )
    source.hash = hash_
    return source


def markdown_of(draft: Draft) -> dict[str, Any]:
    """What the writer typed, kept in the version so that the next edit starts from it."""
    return {
        "intro": draft.intro,
        "documents": _lines(draft.documents),
        "steps": [s.markdown for s in draft.steps if s.markdown.strip()],
        "problems": _lines(draft.problems),
        "source_name": draft.source_name,
    }


def draft_of(guide: Guide, rows: dict[str, GuideVersion]) -> Draft:
    """The form's content for a stored version (guides from files carry no Markdown: their
    HTML is turned back into it)."""
    vi = rows[guides.CONTENT_LOCALE]
    en = rows.get("en")
    body = vi.body
    md = body.get("markdown") or {}
    steps_md = md.get("steps") or [markdown_from_html(s["html"]) for s in body["steps"]]
    steps = [
        Step(markdown=text, image=step.get("image"))
        for text, step in zip(steps_md, body["steps"], strict=False)
    ]
    source_name = md.get("source_name")
    if source_name is None:
        host = urlsplit(guide.source_url).hostname or ""
        source_name = "" if body.get("source_name") == host else body.get("source_name", "")
    return Draft(
        title=vi.title,
        title_en=en.title if en else "",
        summary=vi.summary,
        summary_en=en.summary if en else "",
        skill=guide.skill,
        intro=md.get("intro") if "intro" in md else markdown_from_html(body.get("intro", "")),
        documents="\n".join(
            md.get("documents") or [markdown_from_html(h) for h in body.get("documents", [])]
        ),
        steps=steps,
        problems="\n".join(
            md.get("problems") or [markdown_from_html(h) for h in body.get("problems", [])]
        ),
        source_url=guide.source_url,
        source_name=source_name,
        reviewed_on=guide.reviewed_on.isoformat() if guide.reviewed_on else "",
        published=guide.published,
    )


class _ToMarkdown(HTMLParser):
    """Sanitised guide HTML (the few tags `guides.sanitise` keeps) back to Markdown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[list[Any]] = []
        self.links: list[str] = []
        self.code = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("strong", "b"):
            self.out.append("**")
        elif tag in ("em", "i"):
            self.out.append("*")
        elif tag == "code":
            self.out.append("`")
            self.code = True
        elif tag == "a":
            self.out.append("[")
            self.links.append(a.get("href", ""))
        elif tag == "br":
            self.out.append("\\\n")
        elif tag in ("p", "blockquote") and self.out:
            self.out.append("\n\n")
        elif tag in ("ul", "ol"):
            start = a.get("start", "1")
            self.lists.append([tag, int(start) if start.isdigit() else 1])
        elif tag == "li" and self.lists:
            kind, n = self.lists[-1]
            indent = "   " * (len(self.lists) - 1)
            self.out.append(f"\n{indent}{n}. " if kind == "ol" else f"\n{indent}- ")
            self.lists[-1][1] += 1
        elif tag == "img":
            self.out.append(f"![{a.get('alt', '')}]({a.get('src', '')})")
        if tag == "blockquote":
            self.out.append("> ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("strong", "b"):
            self.out.append("**")
        elif tag in ("em", "i"):
            self.out.append("*")
        elif tag == "code":
            self.out.append("`")
            self.code = False
        elif tag == "a":
            self.out.append(f"]({self.links.pop() if self.links else ''})")
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.code:
            data = re.sub(r"([\\`*_\[\]])", r"\\\1", data)
        self.out.append(data)


def markdown_from_html(html: str) -> str:
    parser = _ToMarkdown()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.out)).strip()


def apply_op(draft: Draft, op: str) -> None:
    """The buttons that change the list of steps without saving: add, remove, move."""
    if op == "add" and len(draft.steps) < MAX_STEPS:
        draft.steps.append(Step())
        return
    action, _, number = op.partition("-")
    if not number.isdigit() or not 1 <= int(number) <= len(draft.steps):
        return
    i = int(number) - 1
    if action == "remove":
        del draft.steps[i]
    elif action == "up" and i > 0:
        draft.steps[i - 1], draft.steps[i] = draft.steps[i], draft.steps[i - 1]
    elif action == "down" and i < len(draft.steps) - 1:
        draft.steps[i + 1], draft.steps[i] = draft.steps[i], draft.steps[i + 1]
    if not draft.steps:
        draft.steps.append(Step())
