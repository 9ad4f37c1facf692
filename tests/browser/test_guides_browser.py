"""Guides in Chromium on a 360 px phone: accessible, ticks remembered, read aloud only with a
Vietnamese voice, share, feedback, print CSS, and a poster that prints on one A4 page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pypdf import PdfReader
from sqlmodel import select

from server.db import Database
from server.guides import load_guides
from server.models import Guide

from ..test_guides import guide_text, write
from .conftest import assert_accessible

SLUG = "lien-thong-khai-sinh-thuong-tru-bhyt"
GUIDE = f"/vi/guides/{SLUG}"
URL = f"http://testserver{GUIDE}"  # the app's BASE_URL in tests

# Headless Chromium has no voices at all; this gives it one Vietnamese voice and records speech.
FAKE_VOICE = """
(() => {
  const voice = {name: "Giọng thử", lang: "vi-VN", voiceURI: "thu", localService: true,
                 default: false};
  speechSynthesis.getVoices = () => [voice];
  window.spoken = [];
  speechSynthesis.speak = (u) => window.spoken.push({text: u.text, lang: u.lang});
})();
"""


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width}px wide"


@pytest.mark.parametrize(
    "path",
    [
        "/vi/",
        "/en/",
        "/vi/?q=dang+ky",
        "/vi/?q=khong+co+gi+ca",
        GUIDE,
        f"/en/guides/{SLUG}",
        "/vi/guides/nen-tang-so-cua-xa",
        f"{GUIDE}/poster",
        "/vi/guides/khong-co",
    ],
)
def test_guide_pages_are_accessible_on_a_phone(page: Page, catalogue: Database, path: str) -> None:
    page.goto(path)
    no_sideways_scroll(page)
    assert_accessible(page)


def test_accessible_with_ticked_steps_and_buttons_shown(page: Page, catalogue: Database) -> None:
    page.add_init_script(FAKE_VOICE)
    page.goto(GUIDE)
    page.locator("#step-1 input").check()
    page.locator("[data-action=read]").click()
    expect(page.locator("#step-2")).to_have_class("current")
    assert_accessible(page)


def test_ticked_step_survives_a_reload(page: Page, catalogue: Database) -> None:
    page.goto(GUIDE)
    page.locator("#step-2 input").check()
    page.reload()
    expect(page.locator("#step-2 input")).to_be_checked()
    expect(page.locator("#step-1 input")).not_to_be_checked()
    expect(page.locator("#step-2")).to_have_class("done")
    page.locator("#step-2 input").uncheck()
    page.reload()
    expect(page.locator("#step-2 input")).not_to_be_checked()
    page.goto("/vi/guides/dung-zalo-an-toan")  # ticks belong to one guide
    page.locator("#step-3 input").check()
    page.goto(GUIDE)
    expect(page.locator("#step-3 input")).not_to_be_checked()


def test_ticks_start_again_when_the_guide_changes(page: Page, db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, guide_text())
    with db.write() as s:
        load_guides(s, tmp_path)
    page.goto("/vi/guides/thu-nghiem")
    page.locator("#step-1 input").check()
    page.reload()
    expect(page.locator("#step-1 input")).to_be_checked()
    path.write_text(guide_text().replace("Mở ứng dụng.", "Mở ứng dụng VNeID."), "utf-8")
    with db.write() as s:
        assert load_guides(s, tmp_path).updated == ["thu-nghiem"]
    page.reload()  # step 1 may now mean something else: do not claim it is done
    expect(page.locator("#step-1 .step-text")).to_have_text("Mở ứng dụng VNeID.")
    expect(page.locator("#step-1 input")).not_to_be_checked()


def test_read_aloud_stays_hidden_without_a_vietnamese_voice(
    page: Page, catalogue: Database
) -> None:
    page.goto(GUIDE)
    has_vi = "() => speechSynthesis.getVoices().some(v => v.lang.toLowerCase().startsWith('vi'))"
    assert page.evaluate(has_vi) is False
    expect(page.locator("[data-action=share]")).to_be_visible()  # the module did run
    expect(page.locator("[data-action=read]")).to_be_hidden()
    # It says why, and how to add a voice.
    expect(page.locator(".no-voice")).to_be_visible()
    expect(page.locator(".no-voice")).to_contain_text("chưa có giọng đọc tiếng Việt")


def test_read_aloud_reads_the_first_unticked_step(page: Page, catalogue: Database) -> None:
    page.add_init_script(FAKE_VOICE)
    page.goto(GUIDE)
    read = page.locator("[data-action=read]")
    expect(read).to_be_visible()
    page.wait_for_timeout(1600)
    expect(page.locator(".no-voice")).to_be_hidden()  # a voice: no hint
    page.locator("#step-1 input").check()
    page.locator("#step-2 input").check()
    read.click()
    step = page.locator("#step-3 .step-text").inner_text().strip()
    assert page.evaluate("() => window.spoken") == [{"text": step, "lang": "vi-VN"}]
    expect(read).to_have_text(page.locator("article.guide").get_attribute("data-stop"))
    read.click()  # stop
    expect(read).to_have_text(page.locator("article.guide").get_attribute("data-read"))


def test_share_copies_the_link_where_there_is_no_share_sheet(
    context: BrowserContext, page: Page, catalogue: Database
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.add_init_script("delete Navigator.prototype.share")
    page.goto(GUIDE)
    page.locator("[data-action=share]").click()
    copied = page.locator("article.guide").get_attribute("data-copied")
    expect(page.locator(".guide-status")).to_have_text(copied)
    assert page.evaluate("() => navigator.clipboard.readText()") == URL


def test_share_uses_the_share_sheet_where_there_is_one(page: Page, catalogue: Database) -> None:
    page.add_init_script("navigator.share = async (data) => { window.shared = data; };")
    page.goto(GUIDE)
    page.locator("[data-action=share]").click()
    page.wait_for_function("() => window.shared !== undefined")
    shared = page.evaluate("() => window.shared")
    assert shared["url"] == URL
    assert shared["title"].startswith("Đăng ký khai sinh")


def test_feedback_is_given_once(page: Page, catalogue: Database) -> None:
    page.goto(GUIDE)
    page.locator("button[name=helpful][value=yes]").click()
    page.wait_for_url(f"**{GUIDE}?feedback=thanks#feedback")
    expect(page.locator(".feedback .thanks")).to_be_visible()
    expect(page.locator(".feedback .answers")).to_be_hidden()
    page.goto(GUIDE)  # a plain visit later: the browser remembers the answer
    expect(page.locator(".feedback .answers")).to_be_hidden()
    with catalogue.read() as s:
        guide = s.exec(select(Guide).where(Guide.slug == SLUG)).one()
    assert (guide.helpful_yes, guide.helpful_no) == (1, 0)


def test_printed_guide_keeps_steps_and_drops_controls(page: Page, catalogue: Database) -> None:
    page.goto(GUIDE)
    page.emulate_media(media="print")
    expect(page.locator(".steps")).to_be_visible()
    expect(page.locator("#step-1 input")).to_be_visible()  # boxes to tick on paper
    for hidden in (".top", ".guide-tools", ".feedback", ".guide-share", ".foot"):
        expect(page.locator(hidden)).to_be_hidden()


@pytest.mark.parametrize(
    "path",
    [
        f"{GUIDE}/poster",
        "/en/guides/nhan-biet-cuoc-goi-lua-dao/poster",  # the longest summary
        "/en/guides/lien-thong-khai-sinh-thuong-tru-bhyt/poster",  # the longest title
    ],
)
def test_poster_prints_on_exactly_one_a4_page(page: Page, catalogue: Database, path: str) -> None:
    page.goto(path)
    expect(page.locator(".poster-qr svg")).to_be_visible()
    pdf = PdfReader(io.BytesIO(page.pdf(format="A4", print_background=True)))
    assert len(pdf.pages) == 1
    box = pdf.pages[0].mediabox
    assert abs(float(box.width) - 595.3) < 2 and abs(float(box.height) - 841.9) < 2  # A4, pt
    text = pdf.pages[0].extract_text()
    assert "testserver" in text and "/guides/" in text
