"""The one place that normalises Vietnamese text and turns it into a search key."""

from __future__ import annotations

import re
import unicodedata

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
