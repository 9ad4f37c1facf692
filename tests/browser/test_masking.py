"""The phone masks secrets exactly as the server does, before a record is queued."""

from __future__ import annotations

from playwright.sync_api import Page

from server.privacy import mask_secrets

from ..test_privacy import CASES, secret_note


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
