"""The phone masks secrets exactly as the server does, before a record is queued."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Request, expect

from server.db import Database
from server.privacy import mask_secrets

from ..conftest import World
from ..test_privacy import CASES, secret_note
from .test_field_app import count_sessions, eventually, sign_in, wait_ready


def test_the_phone_masks_every_case_as_the_server_does(page: Page) -> None:
    notes = [note for note, _ in CASES["masked"]] + CASES["unchanged"]
    notes += [secret_note(seed)[0] for seed in range(300)]
    page.goto("/login")
    on_phone = page.evaluate(
        """async (notes) => {
            const { maskSecrets } = await import('/static/js/text.js');
            return notes.map((n) => maskSecrets(n));
        }""",
        notes,
    )
    differ = [
        (n, p, mask_secrets(n))
        for n, p in zip(notes, on_phone, strict=True)
        if p != mask_secrets(n)
    ]
    assert differ == []


def test_a_record_the_server_cannot_read_is_shown_to_fix_and_not_sent_again(
    page: Page, world: World, db: Database
) -> None:
    sign_in(page)
    sent: list[int] = []  # ops in each sync request

    def count_ops(request: Request) -> None:
        if request.url.endswith("/api/v1/sync"):
            sent.append(len(json.loads(request.post_data or "{}").get("ops", [])))

    page.on("request", count_ops)
    page.evaluate(
        """async (village) => {
            const { saveRecord } = await import('/static/js/outbox.js');
            const member = window.langso.store.member.id;
            for (const notes of ['Bà Lan cần học chuyển khoản', 'Bà Lan \\ud800 hỏi']) {
                await saveRecord('session', {id: crypto.randomUUID(), version: 0, data: {
                    household_id: null, village_id: village, occurred_at: new Date().toISOString(),
                    minutes: 10, people_helped: 1, services: [{service: 'dvc_login',
                    outcome: 'done', reason: null, dossier_code: null}], guide_slug: null,
                    notes, follow_up_on: null}}, member);
            }
        }""",
        str(world.village_a),
    )
    page.evaluate("window.langso.sync({force: true})")
    eventually(lambda: count_sessions(db) == 1)
    page.goto("/app#/")
    wait_ready(page)
    fix = page.locator("#to-fix")
    expect(fix).to_contain_text("Có chữ không đọc được trong nội dung gửi lên. Hãy gõ lại.")
    expect(page.locator("#sync-badge")).to_contain_text("cần sửa")
    before = len(sent)
    page.evaluate("window.langso.sync({force: true})")
    page.evaluate("window.langso.sync({force: true})")
    assert count_sessions(db) == 1
    assert page.evaluate(
        """async () => (await (await import('/static/js/db.js')).all('outbox'))
            .map((e) => e.state)"""
    ) == ["rejected"]
    assert sum(sent[:before]) == 2  # each sent once (the app may also pull on its own)
    assert sum(sent[before:]) == 0  # the rejected op is not sent again
