"""Step images: check that an upload really is a JPEG, PNG or WebP picture, drop its metadata
(EXIF holds where and with which phone it was taken), and keep two WebP sizes under var/media
with a random name. Plain functions: the editor calls them, `/media/{name}` serves the files.
"""

from __future__ import annotations

import io
import re
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from PIL import Image, ImageOps

from .i18n import gettext

MAX_BYTES = 8 * 1024 * 1024
# At most 40 megapixels, well above a guide's needs; anything bigger is
# refused from its header, before it is decoded: a 49 MP picture took ~290 MB to decode, and a
# small file declaring a huge picture cannot fill the memory.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
WIDTHS = (360, 720)
MAX_RATIO = 8  # height / width: a long screenshot, not a 720 × 50,000 strip
FORMATS = ("JPEG", "PNG", "WEBP")
QUALITY = 80
_NAME = re.compile(r"[0-9a-f]{32}")  # store()'s names
CACHE_MAX_AGE = 365 * 86400  # names are never reused: a file never changes

IMAGE_NAME = re.compile(r"^[0-9a-f]{32}$")
FILE_NAME = re.compile(r"^([0-9a-f]{32})-(360|720)\.webp$")


class ImageError(ValueError):
    """An upload that is not a picture we accept; the message is ready to show."""


@dataclass(frozen=True)
class Prepared:
    """A checked picture, resized and encoded, not yet written anywhere."""

    files: dict[int, bytes]  # width → WebP bytes
    width: int
    height: int  # of the widest file


def media_dir(var_dir: Path) -> Path:
    return var_dir / "media"


def file_name(name: str, width: int) -> str:
    return f"{name}-{width}.webp"


def _refuse() -> ImageError:
    return ImageError(gettext("This file is not a photo. Choose a JPEG, PNG or WebP picture."))


def prepare(raw: bytes) -> Prepared:
    """Decode `raw` safely and make the WebP files; raise ImageError for anything else.

    The format is read from the bytes, never from the file name or the declared type.
    """
    if len(raw) > MAX_BYTES:
        raise ImageError(gettext("This picture is larger than 8 MB. Choose a smaller one."))
    if not raw:
        raise _refuse()
    too_big = ImageError(gettext("This picture has too many pixels. Choose a smaller one."))
    try:
        with warnings.catch_warnings():
            # Past MAX_PIXELS Pillow only warns (it raises at twice that): refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=FORMATS) as image:
                if image.format not in FORMATS:
                    raise _refuse()
                width, height = image.size
                if width < 1 or height < 1:
                    raise _refuse()
                if width * height > MAX_PIXELS:
                    raise too_big
                if height > width * MAX_RATIO:
                    raise ImageError(gettext("This picture is too tall. Crop it and try again."))
                # JPEG can decode at a reduced scale: no need for every pixel of a big photo.
                image.draft("RGB", (WIDTHS[-1] * 2, WIDTHS[-1] * 2 * height // width))
                image.load()
                upright = ImageOps.exif_transpose(image)
                mode = "RGBA" if _has_alpha(upright) else "RGB"
                clean = upright.convert(mode)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise too_big from e
    except Exception as e:  # any decoder failure on untrusted bytes means "not a picture"
        raise _refuse() from e
    files: dict[int, bytes] = {}
    size = (0, 0)
    for target in WIDTHS:
        size = (target, max(1, round(clean.height * target / clean.width)))
        resized = clean.resize(size, Image.Resampling.LANCZOS)
        resized.info.clear()  # nothing of the original's metadata goes into the copy
        out = io.BytesIO()
        resized.save(out, "WEBP", quality=QUALITY, method=4, exif=b"", xmp=b"")
        files[target] = out.getvalue()
    return Prepared(files=files, width=size[0], height=size[1])


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def store(var_dir: Path, prepared: Prepared) -> str:
    """Write the files under a new random name and return the name."""
    folder = media_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    for width, data in prepared.files.items():
        path = folder / file_name(name, width)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # never a half-written file under a served name
    return name


def dimensions(var_dir: Path, name: str) -> tuple[int, int] | None:
    """Width and height of the widest file of a stored picture; None for a name this module
    did not make or whose files are missing (the name comes back from a form)."""
    if not IMAGE_NAME.match(name):
        return None
    folder = media_dir(var_dir)
    if not all((folder / file_name(name, width)).is_file() for width in WIDTHS):
        return None
    try:
        with Image.open(folder / file_name(name, WIDTHS[-1]), formats=["WEBP"]) as image:
            return image.size
    except (OSError, ValueError):
        return None


def served_path(var_dir: Path, filename: str) -> Path | None:
    """The file behind /media/{filename}, only for names this module generated."""
    if not FILE_NAME.match(filename):
        return None
    path = media_dir(var_dir) / filename
    return path if path.is_file() else None


UNSAVED_AFTER = timedelta(days=1)


def remove_unsaved(var_dir: Path, used: set[str], older_than: timedelta = UNSAVED_AFTER) -> int:
    """Remove the files of pictures no guide version names (uploaded for a preview, never
    saved) once they are `older_than`; an editor still at work keeps theirs. Returns how many
    pictures went."""
    folder = media_dir(var_dir)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    gone: set[str] = set()
    for path in folder.iterdir():
        name = path.name.split("-", 1)[0].split(".", 1)[0]
        if name in used or not _NAME.fullmatch(name):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                gone.add(name)
        except FileNotFoundError:
            continue
    return len(gone)
