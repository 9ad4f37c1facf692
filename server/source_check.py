"""`langso check-sources`: does every official page a guide cites still answer?

A guide is only as good as the pages it was checked against, and those pages move: the 2025
reform merged provinces and closed the district level, and many of their sites now answer
with an error or send every address to a new home page. A reviewer runs this (on a machine
with internet) before checking the guides it names, then `reviewed_on` follows as usual.

Each address is asked once (HEAD, or GET where a server refuses HEAD), redirects followed:
- broken: no answer, a TLS error or a 4xx/5xx status: the guide cites a page that is gone;
- moved: it ends on another host, or on a home page when it was a page: most likely gone too;
- home page: the address itself is a site's home page: right for the portal where the reader
  does the step, but a fact needs the page that states it.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from .guides import GuideSource

USER_AGENT = "LangSo-source-check/1 (guide review)"
REFUSE_HEAD = {403, 405, 501}  # servers that answer GET but not HEAD


@dataclass
class Finding:
    url: str
    verdict: str  # "ok", "moved", "broken" or "home page"
    detail: str = ""
    guides: list[str] = field(default_factory=list)


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def _ask(session: requests.Session, url: str, timeout: float) -> requests.Response:
    answer = session.head(url, allow_redirects=True, timeout=timeout)
    if answer.status_code in REFUSE_HEAD:
        answer = session.get(url, allow_redirects=True, timeout=timeout, stream=True)
        answer.close()
    return answer


def check_page(url: str, timeout: float = 15.0) -> Finding:
    with requests.Session() as session:
        session.headers["User-Agent"] = USER_AGENT
        try:
            answer = _ask(session, url, timeout)
        except requests.exceptions.SSLError as e:
            return Finding(url, "broken", f"TLS error: {type(e).__name__}")
        except requests.exceptions.Timeout:
            return Finding(url, "broken", f"no answer in {timeout:g} s")
        except requests.exceptions.RequestException as e:
            return Finding(url, "broken", f"no answer: {type(e).__name__}")
    if answer.status_code >= 400:
        return Finding(url, "broken", f"HTTP {answer.status_code}")
    final = answer.url
    if urlsplit(final).hostname != urlsplit(url).hostname:
        return Finding(url, "moved", f"now ends on {final}")
    if _is_home(final) and not _is_home(url):
        return Finding(url, "moved", f"now sends to the home page {final}")
    if _is_home(url):
        return Finding(url, "home page", "the step may be done here, a fact needs its own page")
    return Finding(url, "ok", f"HTTP {answer.status_code}")


def check_pages(
    cited: dict[str, list[str]], timeout: float = 15.0, workers: int = 8
) -> list[Finding]:
    """Every address of `cited` (address -> the guides citing it), asked in parallel; the
    findings in the order of the addresses."""
    urls = list(cited)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(urls)))) as pool:
        findings = list(pool.map(lambda u: check_page(u, timeout), urls))
    for finding in findings:
        finding.guides = sorted(cited[finding.url])
    return findings


def cited_pages(guides: Iterable[GuideSource]) -> dict[str, list[str]]:
    """Each address the guides cite, with the slugs of the guides citing it."""
    cited: dict[str, list[str]] = {}
    for guide in guides:
        for source in guide.sources:
            cited.setdefault(source["url"], []).append(guide.slug)
    return cited


ORDER = {"broken": 0, "moved": 1, "home page": 2, "ok": 3}


def report(findings: list[Finding]) -> str:
    lines = []
    for f in sorted(findings, key=lambda f: (ORDER[f.verdict], f.url)):
        lines.append(f"{f.verdict:<9}  {f.url}")
        lines.append(f"           {f.detail}; cited by {', '.join(f.guides)}")
    counts = {v: sum(f.verdict == v for f in findings) for v in ORDER}
    lines.append(
        f"{len(findings)} pages: {counts['ok']} ok, {counts['broken']} broken, "
        f"{counts['moved']} moved, {counts['home page']} home pages"
    )
    return "\n".join(lines)
