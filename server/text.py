"""The one place that normalises Vietnamese text and turns it into a search key."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import unquote_to_bytes

# đ/Đ have no decomposition; Ð (U+00D0) and Ɖ (U+0189) are look-alikes typed by some keyboards.
_D_MAP = str.maketrans({"đ": "d", "Đ": "d", "Ð": "d", "Ɖ": "d", "ɖ": "d"})
_SPACES = re.compile(r"\s+")


def nfc(value: str) -> str:
    """Return `value` in NFC with surrounding whitespace removed and inner runs collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def fold(value: str) -> str:
    """Return the search key: no marks, đ→d, lower case, single spaces.

    "Xã Thuận Hoà" and "xa thuan hoa" and "XÃ THUẬN HÒA" share one key.
    """
    decomposed = unicodedata.normalize("NFD", value.translate(_D_MAP))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.translate(_D_MAP).lower()).strip()


def matches(query: str, key: str) -> bool:
    """True when every word of the folded query occurs in the folded key."""
    return all(word in key for word in fold(query).split())


# --- Text that can be read and stored ----------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def unreadable(value: object, nul: bool = True) -> str | None:
    """Where `value` (a str, or JSON's lists and dicts of them, keys too) holds text no database
    keeps: a lone UTF-16 surrogate ("\\ud800" in JSON) or, with `nul`, a NUL character.
    Returns the path of the first such text ("" for `value` itself, "services.0.service"), or
    None when all of it is fine."""
    if isinstance(value, str):
        return "" if _SURROGATE.search(value) or (nul and "\x00" in value) else None
    items: list[tuple[object, object]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, item in items:
        if isinstance(key, str) and unreadable(key, nul) is not None:
            return key.encode("utf-8", "backslashreplace").decode()
        where = unreadable(item, nul)
        if where is not None:
            return f"{key}.{where}" if where else str(key)
    return None


def without_nul(value: Any) -> Any:
    """`value` (JSON's str, lists and dicts) with every NUL character removed, keys too."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def decodes(raw: bytes, form: bool = False) -> bool:
    """Whether percent-encoded `raw` (a path, a query string, a form body) is UTF-8 without NUL."""
    if form:
        raw = raw.replace(b"+", b" ")
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text
