"""Masking of ID numbers and one-time codes in notes, on notes volunteers really write."""

from __future__ import annotations

import unicodedata

import pytest

from server.privacy import MASK, mask_secrets

M = MASK

NOTES = [
    # National ID numbers (12 digits, the old CMND has 9), however they are typed.
    ("CCCD 001122334455, đã cài VNeID mức 1", f"CCCD {M}, đã cài VNeID mức 1"),
    ("Số định danh: 0011 2233 4455.", f"Số định danh: {M}."),
    ("cccd 001-122-334-455 của bà Lan", f"cccd {M} của bà Lan"),
    ("CMND cũ 123.456.789 hết hạn", f"CMND cũ {M} hết hạn"),
    ("CMND 123456789", f"CMND {M}"),
    ("0912345678 001122334455", f"0912345678 {M}"),
    ("Ông Tư (001122334455) cần làm lại thẻ", f"Ông Tư ({M}) cần làm lại thẻ"),
    # One-time codes, PINs and passwords after the word that names them.
    ("Bà đọc mã OTP 482913 cho em", f"Bà đọc mã OTP {M} cho em"),
    ("ma otp: 123456, đã nhắc không đưa OTP cho ai", f"ma otp: {M}, đã nhắc không đưa OTP cho ai"),
    ("MÃ XÁC THỰC LÀ 5678", f"MÃ XÁC THỰC LÀ {M}"),
    ("Mã kích hoạt VNeID 123 456", f"Mã kích hoạt VNeID {M}"),
    ("mã 2468", f"mã {M}"),
    ("PIN 1234, nhớ đổi", f"PIN {M}, nhớ đổi"),
    ("code 99887766", f"code {M}"),
    ("mật khẩu mới 20242024", f"mật khẩu mới {M}"),
    ("MK: Lan@1985.", f"MK: {M}."),
    ("password của bác là hoa1960", f"password của bác là {M}"),
]

UNCHANGED = [
    "SĐT con trai 0912 345 678, gọi lại sau 5 giờ",
    "Gọi +84 912 345 678 nếu cần",
    "Zalo +84912345678",
    "Mã hồ sơ 000.00.12.H40-240315-0001 đã nộp",
    "Mã hồ sơ G22.39-250101-000123, chờ kết quả",
    "Mã hồ sơ 240315 chưa có",
    "Mã BHXH 0123456789",
    "Đóng BHYT 1.105.000 đồng cho 3 người",
    "Giá đất 450.000.000 đồng",
    "Hẹn ngày 15/3/2026 quay lại, năm sinh 1958",
    "Hướng dẫn đặt mật khẩu mạnh, không đưa mã OTP cho ai",
    "mật khẩu 2 lớp đã bật",
    "mã 123 không đúng",
    "",
]


@pytest.mark.parametrize(("note", "masked"), NOTES)
def test_secrets_are_masked(note: str, masked: str) -> None:
    assert mask_secrets(note) == masked


@pytest.mark.parametrize("note", UNCHANGED)
def test_phones_dossier_codes_and_amounts_stay(note: str) -> None:
    assert mask_secrets(note) == note


def test_masking_twice_changes_nothing_more() -> None:
    for note, masked in NOTES:
        assert mask_secrets(mask_secrets(note)) == masked


def test_decomposed_marks_are_matched_and_returned_composed() -> None:
    note = unicodedata.normalize("NFD", "Mã xác thực 5678 của bà Ánh")
    assert mask_secrets(note) == f"Mã xác thực {M} của bà Ánh"


def test_no_digit_of_a_masked_id_is_left() -> None:
    masked = mask_secrets("Hộ ông Tư: CCCD 0011.2233.4455 và CCCD vợ 001 122 334 466")
    assert not any(ch.isdigit() for ch in masked), masked
