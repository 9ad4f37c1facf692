"""The guide editor in Chromium on a 360 px phone: list, form, preview, errors, history and the
published page with its step picture all pass axe-core, and Enter in a one-line field previews
instead of pressing a step's button."""

from __future__ import annotations

import io

from PIL import Image
from playwright.sync_api import Page, expect

from server.db import Database
from server.guides import load_guides

from ..conftest import World
from .conftest import assert_accessible
from .test_pages import no_sideways_scroll, sign_in


def png() -> bytes:
    image = Image.new("RGB", (1200, 800), (11, 92, 173))
    image.paste((242, 169, 0), (300, 200, 900, 600))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def fill_guide_with_picture(page: Page) -> None:
    """Fill the new-guide form: two steps, a picture on the first, to be published."""
    page.locator("#f-title").fill("Đặt lịch tiếp công dân")
    page.locator("#f-summary").fill("Đặt lịch gặp cán bộ xã qua Zalo của Ủy ban.")
    page.locator("#f-skill").select_option("local_platforms")
    page.locator("#f-step-1").fill("Mở **Zalo**, tìm tài khoản của xã.")
    page.locator("#f-step-2").fill("Bấm **Đặt lịch**, chọn ngày và giờ.")
    page.locator("#f-file-1").set_input_files(
        files=[{"name": "zalo.png", "mimeType": "image/png", "buffer": png()}]
    )
    page.locator("#f-alt-1").fill("Trang Zalo của Ủy ban xã")
    page.locator("#f-source_url").fill("https://daison.bacninh.gov.vn")
    page.locator("input[name=status][value=published]").check()


def small_targets(page: Page) -> list[str]:
    """Buttons, links and fields under 44 px high. Left out: the off-screen default button, and
    links inside the previewed guide's sentences (inline links are exempt, as on the guide page)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main a, main button, main input, main select')]
            .filter(e => e.offsetParent !== null && e.type !== 'hidden' && e.tabIndex !== -1)
            .filter(e => !e.closest('.guide-preview article'))
            .filter(e => e.type !== 'radio' && e.type !== 'checkbox')
            .filter(e => e.getBoundingClientRect().height < 44)
            .map(e => e.outerHTML.slice(0, 80))"""
    )


def check(page: Page) -> None:
    no_sideways_scroll(page)
    assert small_targets(page) == [], page.url
    assert_accessible(page)


def test_editor_and_history_are_accessible(page: Page, world: World, db: Database) -> None:
    with db.write() as s:
        load_guides(s)
    sign_in(page, "0900000002")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto("/console/guides")
    expect(page.locator('a[href="/console/guides/new"]')).to_be_visible()
    check(page)

    page.goto("/console/guides/new")
    check(page)
    fill_guide_with_picture(page)
    page.locator("#f-title").press("Enter")  # implicit submission: the preview, nothing else
    expect(page.locator("#h-preview")).to_be_visible()
    expect(page.locator(".edit-step")).to_have_count(3)
    preview_image = page.locator(".guide-preview img.step-image")
    expect(preview_image).to_have_attribute("alt", "Trang Zalo của Ủy ban xã")
    check(page)

    page.locator("button[name=op][value=save]").click()
    page.wait_for_url("**/console/guides/dat-lich-tiep-cong-dan/edit?saved=1")
    expect(page.get_by_role("status")).to_be_visible()
    check(page)

    page.locator("#f-title").fill("Đặt lịch gặp cán bộ xã")
    page.locator("button[name=op][value=save]").click()
    page.wait_for_url("**/edit?saved=2")

    page.goto("/console/guides/dat-lich-tiep-cong-dan/history")
    expect(page.locator(".version-list > li")).to_have_count(2)
    check(page)
    page.locator("form[action$='/restore'] button").click()
    page.wait_for_url("**/history?restored=3")
    expect(page.locator(".version-list > li")).to_have_count(3)
    check(page)

    page.goto("/console/guides/new")
    page.locator("#f-reviewed_on").fill("")
    page.locator("button[name=op][value=save]").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page)

    page.goto("/vi/guides/dat-lich-tiep-cong-dan")
    image = page.locator("img.step-image")
    image.scroll_into_view_if_needed()
    expect(image).to_have_attribute("loading", "lazy")
    page.wait_for_function("() => document.querySelector('img.step-image').complete")
    loaded = image.evaluate("img => [img.naturalWidth, img.currentSrc]")
    # Loaded (naturalWidth is scaled to the `sizes` slot), and the 720 w file for a 2× screen.
    assert loaded[0] > 0 and loaded[1].endswith("-720.webp"), loaded
    assert_accessible(page)
