"""The one place that masks secrets typed into free text: national ID numbers and one-time codes.

No national ID number, password or OTP is ever stored (DESIGN.md, "Data"). The phone masks free
text before it queues a record (pwa/js/text.js, the same rules); the server masks it again with
`mask_secrets` before it reaches the database, an export, the audit log or a notification: a
session's notes, a household's head name, a coordinator's comment. Phone numbers and dossier
codes stay: volunteers need them to call back and to track a dossier.

People write numbers in many ways, so the patterns read a key of the text, not the text as typed:
every character compatibility-normalised (full-width ０１２ → 012), every decimal digit of any
script as 0-9, every dash as "-", format characters (zero-width spaces and joiners, direction
marks, soft hyphens) dropped, letters without marks in lower case. The key remembers where each of
its characters came from, so only the secret is replaced and the rest stays as typed.
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
_SEP = r"(?: ?[.-] ?| {1,2})?"
_DIGIT_RUN = re.compile(rf"(?<![\w+])(?<!\w[./-])\+?[0-9](?:{_SEP}[0-9])*(?![./-]?\w)")
# A number glued to the word that names it: "cccd001203004567", "CMND:123456789".
_ID_GLUED = re.compile(
    rf"(?<![^\W\d_])(?:cccd|cmnd|cmt|cc|cancuoc|ddcn|dinhdanh)[:#]?([0-9](?:{_SEP}[0-9])*)"
    r"(?![./-]?\w)"
)
# A one-time code read out in pairs or one by one, with no word before it: "48 39 20".
_PAIRS = re.compile(r"(?<![\w+.,/-])[0-9]{1,2}(?: [0-9]{1,2}){2,5}(?![\w/-]|[.,][0-9])")
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
    rf"([0-9](?:{_SEP}[0-9]){{3,7}})(?!{_SEP}[0-9]|[./-]?\w)"
)
# A password may have letters too ("mk: Lan@1985"): mask the next word when it has a digit.
_PASSWORD = re.compile(
    rf"(?<!\w)(?:mat khau|mk|password|pass){_WORD_END}(?:\s*{_LINK})*\s*[:=]?\s*(\S{{4,40}})"
)
_TRAILING = ".,;:!?)]}\"'"


@lru_cache(maxsize=4096)
def _key_char(ch: str) -> str:
    """One character of the key ("" to drop it), so that key positions map to the text's."""
    category = unicodedata.category(ch)
    if category == "Cf":
        return ""  # zero-width space, joiners, direction marks, soft hyphen, BOM
    if ch.isdecimal():
        return str(unicodedata.decimal(ch))  # ０, ٣, ৫ … as 0-9
    if category == "Pd":
        return "-"
    if ch.isspace():
        return " "
    key = fold(unicodedata.normalize("NFKC", ch))
    return key[:1] if key else " "


def _key(text: str) -> tuple[str, list[int]]:
    """The text as the patterns read it, and for each key character its index in `text`."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        k = _key_char(ch)
        if k:
            chars.append(k)
            where.append(i)
    return "".join(chars), where


def _id_spans(key: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for m in _DIGIT_RUN.finditer(key):
        if m[0].startswith("+") or _CURRENCY_AFTER.match(key, m.end()):
            continue
        # Chunks split at spaces: "0912345678 001122334455" is a phone and an ID number.
        chunks = [(c.start() + m.start(), c.end() + m.start()) for c in re.finditer(r"\S+", m[0])]
        digits = [_count_digits(key[a:b]) for a, b in chunks]
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
    for m in _ID_GLUED.finditer(key):
        if _count_digits(m[1]) in _ID_LENGTHS:
            spans.append(m.span(1))
    for m in _PAIRS.finditer(key):
        if _count_digits(m[0]) == 6 and not _CURRENCY_AFTER.match(key, m.end()):
            spans.append(m.span())
    return spans


def _count_digits(run: str) -> int:
    return sum("0" <= ch <= "9" for ch in run)


def _is_phone(run: str) -> bool:
    digits = re.sub(r"[^0-9]", "", run)
    return len(digits) == 10 and digits.startswith("0")


def _code_spans(key: str) -> list[tuple[int, int]]:
    spans = [m.span(1) for m in _CODE.finditer(key)]
    for m in _PASSWORD.finditer(key):
        start, end = m.span(1)
        while end > start and key[end - 1] in _TRAILING:
            end -= 1
        if end - start >= 4 and any("0" <= ch <= "9" for ch in key[start:end]):
            spans.append((start, end))
    return spans


def mask_secrets(text: str) -> str:
    """`text` in NFC with ID numbers (9 or 12 digits) and OTPs, PINs, passwords replaced by •••."""
    text = unicodedata.normalize("NFC", text)
    if not any(ch.isdigit() for ch in text):
        return text  # every secret we mask has a digit in it
    key, where = _key(text)
    merged: list[list[int]] = []  # overlapping matches become one mask
    for key_start, key_end in sorted(_id_spans(key) + _code_spans(key)):
        start, end = where[key_start], where[key_end - 1] + 1
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    pos = 0
    for start, end in merged:
        out.append(text[pos:start])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)
