"""Masking of ID numbers and one-time codes in free text, on notes volunteers really write, on
numbers written every way people write them, and on every path a text takes to be kept or sent."""

from __future__ import annotations

import json
import random
import re
import unicodedata
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from starlette.testclient import TestClient

from server import push as push_module
from server import sync
from server.db import Database
from server.models import AssistanceSession, AuditEvent, Household, Notification
from server.privacy import MASK, mask_secrets

from .conftest import World, login, post
from .test_console_sessions import add_household, line, log_sessions, op, session_data
from .test_exports import period_query

M = MASK
CASES = json.loads((Path(__file__).parent / "mask_cases.json").read_text(encoding="utf-8"))
MASKED = [tuple(pair) for pair in CASES["masked"]]
UNCHANGED = CASES["unchanged"]


@pytest.mark.parametrize(("note", "masked"), MASKED)
def test_secrets_are_masked(note: str, masked: str) -> None:
    assert mask_secrets(note) == masked


@pytest.mark.parametrize("note", UNCHANGED)
def test_phones_dossier_codes_and_amounts_stay(note: str) -> None:
    assert mask_secrets(note) == note


def test_masking_twice_changes_nothing_more() -> None:
    for note, masked in MASKED:
        assert mask_secrets(mask_secrets(note)) == masked


def test_decomposed_marks_are_matched_and_returned_composed() -> None:
    note = unicodedata.normalize("NFD", "Mã xác thực 5678 của bà Ánh")
    assert mask_secrets(note) == f"Mã xác thực {M} của bà Ánh"


def test_no_digit_of_a_masked_id_is_left() -> None:
    masked = mask_secrets("Hộ ông Tư: CCCD 0011.2233.4455 và CCCD vợ 001 122 334 466")
    assert not any(ch.isdigit() for ch in masked), masked


# --- Secrets written every way people write them ----------------------------------------------

# Digits of other scripts a phone keyboard or a copy-paste can give: full-width, Arabic-Indic,
# Devanagari, mathematical bold.
DIGIT_SETS = (0x30, 0xFF10, 0x0660, 0x0966, 0x1D7CE)
INVISIBLE = ("", "", "", "", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
SEPARATORS = (" ", ".", "-", " - ", "  ", "–", "\u00a0", " . ")
ID_WORDS = ("", "CCCD ", "cccd", "CMND:", "Số định danh ", "căn cước ", "CCCD số ", "cmnd ")
CODE_WORDS = ("OTP ", "mã OTP là ", "Mã xác thực: ", "mã ", "mật khẩu ", "PIN ", "OTP:")
BEFORE = ("", "Bà Lan đọc ", "Ông Tư: ", "Hộ bà Ánh, ", "Em ghi lại ")
AFTER = ("", " cho em", ", đã nhắc không đưa cho ai", ".", " rồi", " nhé!")


def _written(rnd: random.Random, digits: str, groups: bool) -> str:
    """`digits` as a person might type them: grouped, in any digit set, with invisible marks."""
    out = []
    for i, d in enumerate(digits):
        if i and (groups and rnd.random() < 0.35):
            out.append(rnd.choice(SEPARATORS))
        out.append(chr(rnd.choice(DIGIT_SETS) + int(d)))
        out.append(rnd.choice(INVISIBLE))
    return "".join(out).rstrip("\u200b\u200c\u200d\u2060\ufeff\u00ad")


def secret_note(seed: int) -> tuple[str, str]:
    """(a note with one secret in it and no other digit, the secret's ASCII digits)."""
    rnd = random.Random(seed)
    kind = rnd.choice(("id", "code", "read_out"))
    if kind == "id":
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.choice((9, 12))))
        number = rnd.choice(ID_WORDS) + _written(rnd, digits, groups=True)
    elif kind == "code":
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(4, 8)))
        number = rnd.choice(CODE_WORDS) + _written(rnd, digits, groups=True)
    else:  # an OTP read out in pairs or one by one, with no word before it
        digits = "".join(rnd.choice("0123456789") for _ in range(6))
        size = rnd.choice((1, 2))
        number = " ".join(digits[i : i + size] for i in range(0, 6, size))
    return rnd.choice(BEFORE) + number + rnd.choice(AFTER), digits


def _no_digit(text: str) -> bool:
    return not any(ch.isdigit() or unicodedata.normalize("NFKC", ch).isdigit() for ch in text)


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_no_secret_survives_however_it_is_written(seed: int) -> None:
    note, _ = secret_note(seed)
    masked = mask_secrets(note)
    assert M in masked and _no_digit(masked), (note, masked)
    assert mask_secrets(masked) == masked


def test_a_dossier_code_that_is_an_id_number_is_refused(db: Database, world: World) -> None:
    sid = uuid.uuid4()
    bad = session_data(world.village_a, services=[line("dvc_birth", dossier="001203004567")])
    with db.write() as s:
        [result] = sync.apply_ops(s, world.vol_a, [op("session", sid, bad)])
    assert result.status == "rejected"
    assert "số căn cước" in json.dumps(result.fields, ensure_ascii=False).lower()
    good = session_data(world.village_a, services=[line("dvc_birth", dossier="H40.99-240315-0001")])
    with db.write() as s:
        [result] = sync.apply_ops(s, world.vol_a, [op("session", sid, good)])
    assert result.status == "applied"


def test_secrets_never_reach_the_database_an_export_the_audit_log_or_a_push(
    client: TestClient, db: Database, world: World
) -> None:
    notes = [secret_note(seed)[0] for seed in range(12)]
    ids = [log_sessions(db, world.vol_a, world.village_a, notes=note)[0] for note in notes]
    hid = add_household(
        db, world.vol_a, world.village_a, "TH-1", head_name="Bà Lan CCCD 001203004567"
    )
    login(client, world.phone("coord_a"))
    comment = "Xóa số CCCD ０１２３４５６７８９０１ khỏi ghi chú, OTP 4 8 3 9 2 0 nữa"
    assert (
        post(client, f"/console/sessions/{ids[0]}/return", {"comment": comment}).status_code == 303
    )

    query, _, _ = period_query()
    export = client.get(f"/console/exports/sessions.csv?{query}").content.decode("utf-8-sig")
    household_export = client.get(f"/console/households/{hid}/export.json").text
    with db.read() as s:
        household = s.get(Household, hid)
        assert household is not None
        stored_notes = [_session(s, sid).notes for sid in ids]
        audit = " ".join(
            json.dumps(e.detail, ensure_ascii=False) for e in s.exec(select(AuditEvent))
        )
        [note] = s.exec(select(Notification)).all()
        message = push_module.message(note)
        returned = _session(s, ids[0]).review_comment
    assert household.head_name == f"Bà Lan CCCD {M}"
    for text in stored_notes:
        assert M in text and _no_digit(text), text
    assert returned == f"Xóa số CCCD {M} khỏi ghi chú, OTP {M} nữa"
    assert message["body"] == returned and note.payload["comment"] == returned
    for secret in ("001203004567", "012345678901", "483920"):
        for where in (export, household_export, audit, json.dumps(message)):
            assert secret not in _digits_joined(where)


def _session(s: Session, sid: uuid.UUID) -> AssistanceSession:
    row = s.get(AssistanceSession, sid)
    assert row is not None
    return row


def _digits_joined(text: str) -> str:
    """Digits of any script as 0-9, invisible marks dropped, separators between digits removed:
    a secret split by spaces, dots or dashes shows as one run."""
    key = "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() else ch
        for ch in unicodedata.normalize("NFKC", text)
        if unicodedata.category(ch) != "Cf"
    )
    return re.sub(r"(?<=[0-9])[\s.\-–]+(?=[0-9])", "", key)


def test_a_households_address_is_masked_exported_and_erased(db: Database, world: World) -> None:
    from server import privacy_actions
    from server.models import Member, RecordHistory

    from .test_sync import household_data
    from .test_sync import op as sync_op
    from .test_sync import push as sync_push

    hid = uuid.uuid4()
    data = {
        **household_data(world.village_a, "ADDR-1"),
        "address": "Số 12, xóm Đông, CCCD 001203004567",
    }
    [r] = sync_push(db, world.vol_a, [sync_op("household", hid, data)])
    assert r.status == "applied"
    with db.write() as s:
        household = s.get(Household, hid)
        assert household.address == f"Số 12, xóm Đông, CCCD {MASK}"
        assert (
            privacy_actions.export_household(s, household)["household"]["address"]
            == household.address
        )
        privacy_actions.erase_household(s, household, s.get(Member, world.coord_a.id))
    with db.read() as s:
        assert s.get(Household, hid).address == ""
        pulled = sync.pull(s, s.get(Member, world.vol_a.id), 0)["changes"]["households"]
        assert [x for x in pulled if x["id"] == str(hid)] == [{"id": str(hid), "deleted": True}]
        history = [json.dumps(h.data, ensure_ascii=False) for h in s.exec(select(RecordHistory))]
        assert history and not any("xóm Đông" in text for text in history)
