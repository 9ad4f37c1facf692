"""The one place that masks secrets typed into free text: national ID numbers and one-time codes.

No national ID number, password or OTP is ever stored (DESIGN.md, "Data"). The phone masks notes
before saving; the server masks them again with `mask_secrets` before they reach the database.
Phone numbers and dossier codes stay: volunteers need them to call back and to track a dossier.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .text import fold

MASK = "•••"

# A run of digits with single spaces, dots or dashes between groups ("0011 2233 4455"). It must
# not touch a letter or digit, directly or through a dot/dash/slash: "H40-240315-0001" and
# "G22.39-250101-000123" are dossier codes, not ID numbers. "+84…" is a phone number.
_DIGIT_RUN = re.compile(r"(?<![\w+])(?<!\w[./-])\+?[0-9](?:[ .-]?[0-9])*(?![./-]?\w)")
_ID_LENGTHS = (12, 9)  # số định danh / CCCD (12 digits) and the old CMND (9 digits)
# An amount of money is not an ID number: "450.000.000 đồng".
_CURRENCY_AFTER = re.compile(r"\s*(?:d|dong|vnd)\b")

# A code after a word that names it, with a few linking words between: "mã OTP là 482913",
# "mật khẩu mới: 20242024", "PIN 1234". Matched on the folded text (no marks, lower case).
_WORD_END = r"(?![^\W\d_])"  # the next character is not a letter ("la" is not "lan")
_LINK = (
    rf"(?:(?:otp|pin|xac thuc|xac nhan|kich hoat|dang nhap|vneid|moi|cu|la|cua \w+){_WORD_END}"
    r"|[:=-])"
)
_CODE_WORDS = (
    r"otp|ma xac thuc|ma xac nhan|ma kich hoat|ma pin|ma|code|pin|passcode|mat khau|mk|password"
)
_CODE = re.compile(
    rf"(?<!\w)(?:{_CODE_WORDS}){_WORD_END}(?:\s*{_LINK})*\s*[:=]?\s*"
    r"([0-9]{3} [0-9]{3}|[0-9]{4,8})(?![0-9]|[./-]?\w)"
)
# A password may have letters too ("mk: Lan@1985"): mask the next word when it has a digit.
_PASSWORD = re.compile(
    rf"(?<!\w)(?:mat khau|mk|password|pass){_WORD_END}(?:\s*{_LINK})*\s*[:=]?\s*(\S{{4,40}})"
)
_TRAILING = ".,;:!?)]}\"'"
_ANY_DIGIT = re.compile(r"[0-9]")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """One character of the search key, so that folded positions match the original text."""
    if ch.isspace():
        return " "
    key = fold(ch)
    return key[:1] if key else " "


def _folded(text: str) -> str:
    return "".join(_fold_char(ch) for ch in text)


def _id_spans(text: str, key: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _DIGIT_RUN.finditer(text):
        if m[0].startswith("+") or _CURRENCY_AFTER.match(key, m.end()):
            continue
        # Chunks split at spaces: "0912345678 001122334455" is a phone and an ID number.
        chunks = [(c.start() + m.start(), c.end() + m.start()) for c in re.finditer(r"\S+", m[0])]
        digits = [sum(ch.isdigit() for ch in text[a:b]) for a, b in chunks]
        total = sum(digits)
        if total in _ID_LENGTHS:
            spans.append((m.start(), m.end()))
            continue
        if _is_phone(m[0]):
            continue
        i = 0
        while i < len(chunks):
            for n in _ID_LENGTHS:
                count, j = 0, i
                while j < len(chunks) and count < n:
                    count += digits[j]
                    j += 1
                if count == n:
                    spans.append((chunks[i][0], chunks[j - 1][1]))
                    i = j
                    break
            else:
                i += 1
    return spans


def _is_phone(run: str) -> bool:
    digits = re.sub(r"[^0-9]", "", run)
    return len(digits) == 10 and digits.startswith("0")


def _code_spans(key: str) -> list[tuple[int, int]]:
    spans = [m.span(1) for m in _CODE.finditer(key)]
    for m in _PASSWORD.finditer(key):
        start, end = m.span(1)
        while end > start and key[end - 1] in _TRAILING:
            end -= 1
        if end - start >= 4 and any(ch.isdigit() for ch in key[start:end]):
            spans.append((start, end))
    return spans


def mask_secrets(text: str) -> str:
    """`text` in NFC with ID numbers (9 or 12 digits) and OTPs, PINs, passwords replaced by •••."""
    text = unicodedata.normalize("NFC", text)
    if not _ANY_DIGIT.search(text):
        return text  # every secret we mask has a digit in it
    key = _folded(text)
    spans = sorted(_id_spans(text, key) + _code_spans(key))
    out: list[str] = []
    pos = 0
    for start, end in spans:
        if end <= pos:
            continue
        start = max(start, pos)
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)
