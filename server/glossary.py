"""The words of the guides a villager may not know (server/content/glossary.yaml): the glossary
page, and a short explanation under the first use of each word in a guide.

The file is read when the app starts, checked by `langso load-guides`, and read again when it
changes on disk (looked at only when a page is made, so a running server shows a change within
the page cache's 30 seconds). Matching never touches a guide's HTML: the explanations are
rendered by the template beside the sentence that first uses the word.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .guides import SLUG, GuideError, Problem
from .text import fold

GLOSSARY_FILE = Path(__file__).parent / "content" / "glossary.yaml"
FIELDS = {"id": 40, "term": 60, "term_en": 60, "vi": 300, "en": 300}  # the longest text allowed
OPTIONAL = {"aliases"}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Term:
    """One word: its anchor on the glossary page, its name and explanation in each language,
    and the ways guides write it."""

    id: str
    name: dict[str, str]
    explanation: dict[str, str]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Glossary:
    terms: tuple[Term, ...]
    digest: str  # a hash of the file: part of the key of every page it changes
    _pattern: re.Pattern[str] | None = None
    _by_alias: dict[str, Term] | None = None

    @classmethod
    def of(cls, terms: list[Term], digest: str) -> Glossary:
        by_alias = {_fold(a): t for t in terms for a in (t.name["vi"], *t.aliases)}
        # Longest first, so "VNeID mức 2" wins over "VNeID"; a word never matches inside another.
        words = sorted(by_alias, key=len, reverse=True)
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)")
        return cls(tuple(terms), digest, pattern if words else None, by_alias)

    def sorted(self, locale: str) -> list[Term]:
        return sorted(self.terms, key=lambda t: fold(t.name[locale]).lstrip("."))

    def first_uses(self, blocks: list[str]) -> list[list[Term]]:
        """For each block of a page (HTML or text, in reading order), the terms it is the first
        to use; each term is explained once per page."""
        seen: set[str] = set()
        out: list[list[Term]] = []
        for block in blocks:
            found: list[Term] = []
            if self._pattern is not None and self._by_alias is not None:
                text = _fold(html.unescape(_TAG.sub(" ", block)))
                for match in self._pattern.finditer(text):
                    term = self._by_alias[match.group(0)]
                    if term.id not in seen:
                        seen.add(term.id)
                        found.append(term)
            out.append(found)
        return out

    def in_guide(self, body: dict[str, Any]) -> dict[str, Any]:
        """The terms first used in each part of a guide's body, shaped like the body: intro (one
        list), documents, steps and problems (one list per item)."""
        documents, problems = body.get("documents", []), body.get("problems", [])
        steps = [step["html"] for step in body.get("steps", [])]
        uses = self.first_uses([body.get("intro", ""), *documents, *steps, *problems])
        ends = (1, 1 + len(documents), 1 + len(documents) + len(steps))
        return {
            "intro": uses[0],
            "documents": uses[ends[0] : ends[1]],
            "steps": uses[ends[1] : ends[2]],
            "problems": uses[ends[2] :],
        }


def _fold(text: str) -> str:
    """Case and the two ways of placing a tone mark ("khóa", "khoá") do not matter."""
    text = unicodedata.normalize("NFC", text).casefold()
    for old, new in (("oá", "óa"), ("oà", "òa"), ("oả", "ỏa"), ("oã", "õa"), ("oạ", "ọa")):
        text = text.replace(old, new)
    for old, new in (("uý", "úy"), ("uỳ", "ùy"), ("uỷ", "ủy"), ("uỹ", "ũy"), ("uỵ", "ụy")):
        text = text.replace(old, new)
    return " ".join(text.split())


def parse(path: Path = GLOSSARY_FILE) -> Glossary:
    """Read and check the glossary file; raise GuideError naming the line of each problem."""
    raw = path.read_bytes()
    problems: list[Problem] = []
    try:
        text = unicodedata.normalize("NFC", raw.decode("utf-8"))
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise GuideError([Problem(path, 1, "the file is not UTF-8 text")]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise GuideError([Problem(path, line, f"not valid YAML: {e.problem or e}")]) from e
    if not isinstance(node, yaml.SequenceNode) or not isinstance(data, list):
        raise GuideError([Problem(path, 1, "the file must be a list of terms ('- id: …')")])
    terms: list[Term] = []
    ids: set[str] = set()
    aliases: dict[str, str] = {}
    for item, entry in zip(node.value, data, strict=True):
        line = item.start_mark.line + 1
        term = _term(entry, line, path, problems)
        if term is None:
            continue
        if term.id in ids:
            problems.append(Problem(path, line, f"'{term.id}' is given twice"))
        ids.add(term.id)
        for alias in (term.name["vi"], *term.aliases):
            other = aliases.setdefault(_fold(alias), term.id)
            if other != term.id:
                problems.append(Problem(path, line, f"'{alias}' is already a word of '{other}'"))
        terms.append(term)
    if problems:
        raise GuideError(problems)
    return Glossary.of(terms, hashlib.sha256(raw).hexdigest()[:16])


def _term(entry: Any, line: int, path: Path, problems: list[Problem]) -> Term | None:
    if not isinstance(entry, dict):
        problems.append(Problem(path, line, "a term is 'key: value' lines"))
        return None
    values: dict[str, str] = {}
    for name in entry:
        if name not in FIELDS and name not in OPTIONAL:
            known = ", ".join((*FIELDS, *sorted(OPTIONAL)))
            problems.append(Problem(path, line, f"unknown field '{name}' (known: {known})"))
    for name, limit in FIELDS.items():
        value = entry.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(path, line, f"'{name}' must be a non-empty text"))
            return None
        value = " ".join(value.split())
        if len(value) > limit:
            problems.append(Problem(path, line, f"'{name}' is longer than {limit} characters"))
        values[name] = value
    if not SLUG.match(values["id"]):
        problems.append(Problem(path, line, "'id' may hold only a-z, 0-9 and single hyphens"))
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and a.strip() and len(a) <= 60 for a in aliases
    ):
        problems.append(Problem(path, line, "'aliases' must be a list of short texts"))
        return None
    return Term(
        id=values["id"],
        name={"vi": values["term"], "en": values["term_en"]},
        explanation={"vi": values["vi"], "en": values["en"]},
        aliases=tuple(" ".join(a.split()) for a in aliases),
    )


class GlossaryFile:
    """The glossary as last read from its file; read again when the file changes on disk. A
    file made wrong while the server runs leaves the last good glossary in place."""

    def __init__(self, path: Path = GLOSSARY_FILE) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._glossary = parse(path)  # wrong at start: fail fast

    def _stat(self) -> tuple[int, int]:
        st = self.path.stat()
        return (st.st_mtime_ns, st.st_size)

    @property
    def loaded(self) -> Glossary:
        """The glossary in memory, without looking at the file (for the page cache's checks)."""
        return self._glossary

    def current(self) -> Glossary:
        """The glossary, read again first if the file changed."""
        try:
            stamp = self._stat()
        except OSError:
            return self._glossary
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._stamp = stamp
                    # A wrong file keeps the last good one; `langso load-guides` names the problem.
                    with contextlib.suppress(GuideError, OSError):
                        self._glossary = parse(self.path)
        return self._glossary
