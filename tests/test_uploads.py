"""Step images: a real photo comes back as two clean WebP sizes; anything else is refused with
a clear message and leaves nothing behind (no file, no version)."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import func, select
from starlette.testclient import TestClient

from server import media
from server.config import Settings
from server.db import Database
from server.models import Guide, GuideVersion

from .conftest import World, csrf, login
from .test_guide_editor import create, form, versions, vi
from .test_push import _cli

GPS_IFD, MAKE, MODEL, ORIENTATION = 0x8825, 0x010F, 0x0110, 0x0112


def photo_with_exif(size: tuple[int, int] = (1600, 1200), orientation: int = 1) -> bytes:
    """A JPEG as a phone makes it: camera make and model, GPS position, orientation."""
    image = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 100):  # some detail, so that the encoder has work to do
        image.paste((240, 200, 20), (x, 0, x + 50, size[1] // 2))
    exif = Image.Exif()
    exif[MAKE] = "Xiaomi"
    exif[MODEL] = "Redmi Note 13"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (21.0, 11.0, 30.5), 3: "E", 4: (106.0, 4.0, 12.2)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    raw = out.getvalue()
    assert b"Redmi Note 13" in raw and Image.open(io.BytesIO(raw)).getexif()[MAKE] == "Xiaomi"
    return raw


def picture(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt)
    return out.getvalue()


def media_files(settings: Settings) -> list[Path]:
    folder = media.media_dir(settings.var_dir)
    return sorted(folder.iterdir()) if folder.exists() else []


def upload(client: TestClient, url: str, content: bytes, name: str, kind: str, **changes: str):
    return client.post(
        url,
        data={"csrf_token": csrf(client), **form(**changes)},
        files={"file-1": (name, content, kind)},
    )


def test_a_photo_becomes_two_webp_sizes_without_exif(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    login(client, world.phone("coord_a"))
    response = upload(
        client,
        "/console/guides/new",
        photo_with_exif(),
        "IMG_2026.jpg",
        "image/jpeg",
        status="published",
        **{"alt-1": "Màn hình Zalo của xã"},
    )
    assert response.status_code == 303, response.text
    slug = response.headers["location"].split("/")[3]
    [v1] = versions(db, slug)
    image = v1.body["steps"][0]["image"]
    name = image["name"]
    assert re.fullmatch(r"[0-9a-f]{32}", name)
    assert image == {"name": name, "width": 720, "height": 540, "alt": "Màn hình Zalo của xã"}
    assert [p.name for p in media_files(settings)] == [f"{name}-360.webp", f"{name}-720.webp"]
    for width in (360, 720):
        raw = (media.media_dir(settings.var_dir) / f"{name}-{width}.webp").read_bytes()
        with Image.open(io.BytesIO(raw)) as webp:
            assert (webp.format, webp.size) == ("WEBP", (width, width * 3 // 4))
            assert dict(webp.getexif()) == {}
            assert "exif" not in webp.info and "xmp" not in webp.info
        assert b"EXIF" not in raw and b"Exif" not in raw
        assert b"Xiaomi" not in raw and b"Redmi" not in raw

        served = client.get(f"/media/{name}-{width}.webp")
        assert served.status_code == 200 and served.content == raw
        assert served.headers["content-type"] == "image/webp"
        assert "max-age=31536000" in served.headers["cache-control"]
        assert "immutable" in served.headers["cache-control"]
        assert served.headers["x-content-type-options"] == "nosniff"

    page = client.get(f"/vi/guides/{slug}")
    assert page.status_code == 200
    assert f'srcset="/media/{name}-360.webp 360w, /media/{name}-720.webp 720w"' in page.text
    assert 'loading="lazy"' in page.text and 'alt="Màn hình Zalo của xã"' in page.text


def test_a_sideways_photo_is_turned_upright(settings: Settings) -> None:
    """Phones store portrait photos sideways with an EXIF orientation: apply it before it goes."""
    prepared = media.prepare(photo_with_exif((1600, 1200), orientation=6))
    assert (prepared.width, prepared.height) == (720, 960)


def test_an_image_survives_preview_and_later_saves(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    login(client, world.phone("coord_a"))
    preview = upload(
        client,
        "/console/guides/new",
        picture("PNG", (800, 400)),
        "a.png",
        "image/png",
        op="preview",
    )
    assert preview.status_code == 200
    [name] = re.findall(r'name="image-1" value="([0-9a-f]{32})"', preview.text)
    assert f"/media/{name}-360.webp 360w" in preview.text
    slug = create(client, **{"image-1": name})
    assert versions(db, slug)[0].body["steps"][0]["image"]["name"] == name
    # A name the server did not make, or one whose files are gone, is dropped.
    for forged in ("../../secret_key", "0" * 32):
        other = create(client, title=f"Khác {forged[:3]}", **{"image-1": forged})
        assert "image" not in versions(db, other)[0].body["steps"][0]
    # Ticking "remove the picture" saves a version without it; the old version keeps it.
    edited = client.post(
        f"/console/guides/{slug}/edit",
        data={
            "csrf_token": csrf(client),
            **form(base_version="1", **{"image-1": name, "drop-1": "yes"}),
        },
    )
    assert edited.status_code == 303
    v1, v2 = versions(db, slug)
    assert "image" in v1.body["steps"][0] and "image" not in v2.body["steps"][0]


def count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.exec(select(func.count()).select_from(model)).one()


BAD = [
    pytest.param(
        b"Xin chao, day khong phai anh.\n" * 20,
        "anh.jpg",
        "image/jpeg",
        "This file is not a photo. Choose a JPEG, PNG or WebP picture.",
        id="text-named-jpg",
    ),
    pytest.param(
        picture("GIF"),
        "dong.gif",
        "image/gif",
        "This file is not a photo. Choose a JPEG, PNG or WebP picture.",
        id="gif",
    ),
    pytest.param(
        picture("GIF"),
        "dong.png",
        "image/png",
        "This file is not a photo. Choose a JPEG, PNG or WebP picture.",
        id="gif-named-png",
    ),
    pytest.param(
        photo_with_exif()[:2000],
        "cut.jpg",
        "image/jpeg",
        "This file is not a photo. Choose a JPEG, PNG or WebP picture.",
        id="truncated-jpeg",
    ),
    pytest.param(
        b"\xff\xd8\xff\xe0" + b"\0" * (8 * 1024 * 1024),
        "lon.jpg",
        "image/jpeg",
        "This picture is larger than 8 MB. Choose a smaller one.",
        id="over-8-mb",
    ),
    pytest.param(
        picture("PNG", (30000, 30000), mode="1"),
        "bom.png",
        "image/png",
        "This picture has too many pixels. Choose a smaller one.",
        id="bomb-30000x30000",
    ),
    pytest.param(
        picture("PNG", (8000, 8000), mode="1"),
        "bom-nho.png",
        "image/png",
        "This picture has too many pixels. Choose a smaller one.",
        id="bomb-64-megapixels",
    ),
    pytest.param(
        picture("PNG", (7000, 7000), mode="1"),
        "anh-lon.png",
        "image/png",
        "This picture has too many pixels. Choose a smaller one.",
        id="49-megapixels",
    ),
    pytest.param(
        picture("PNG", (100, 1000)),
        "dai.png",
        "image/png",
        "This picture is too tall. Crop it and try again.",
        id="too-tall",
    ),
]


@pytest.mark.parametrize(("content", "name", "kind", "message"), BAD)
def test_bad_uploads_are_refused_and_leave_nothing(
    client: TestClient,
    world: World,
    db: Database,
    settings: Settings,
    content: bytes,
    name: str,
    kind: str,
    message: str,
) -> None:
    login(client, world.phone("coord_a"))
    new = upload(client, "/console/guides/new", content, name, kind)
    assert new.status_code == 400
    assert vi(message) in new.text
    assert 'id="e-file-1"' in new.text and "Traceback" not in new.text
    assert count(db, Guide) == 0 and media_files(settings) == []

    slug = create(client)
    edited = upload(client, f"/console/guides/{slug}/edit", content, name, kind, base_version="1")
    assert edited.status_code == 400 and vi(message) in edited.text
    assert [v.version for v in versions(db, slug)] == [1]
    assert count(db, GuideVersion) == 1
    assert media_files(settings) == []


def test_one_bad_picture_keeps_the_good_ones_out_too(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    login(client, world.phone("coord_a"))
    response = client.post(
        "/console/guides/new",
        data={"csrf_token": csrf(client), **form()},
        files={
            "file-1": ("tot.png", picture("PNG"), "image/png"),
            "file-2": ("xau.jpg", b"not an image", "image/jpeg"),
        },
    )
    assert response.status_code == 400 and 'id="e-file-2"' in response.text
    assert media_files(settings) == [] and count(db, Guide) == 0


@pytest.mark.parametrize(
    "name",
    [
        "secret_key",
        "..%2Fsecret_key",
        "abc.webp",
        f"{'0' * 32}-720.webp",  # well formed, not stored
        f"{'0' * 32}-1080.webp",
        f"{'0' * 32}-720.tmp",
    ],
)
def test_media_serves_only_generated_names(
    client: TestClient, settings: Settings, name: str
) -> None:
    (settings.var_dir / "secret_key").write_text("bí mật")
    folder = media.media_dir(settings.var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{'0' * 32}-720.tmp").write_bytes(b"half written")
    response = client.get(f"/media/{name}")
    assert response.status_code == 404
    assert "bí mật" not in response.text and "half written" not in response.text


def test_the_worker_removes_pictures_of_previews_never_saved(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    login(client, world.phone("coord_a"))

    def previewed() -> str:
        page = upload(
            client,
            "/console/guides/new",
            picture("PNG", (80, 40)),
            "a.png",
            "image/png",
            op="preview",
        )
        [name] = re.findall(r'name="image-1" value="([0-9a-f]{32})"', page.text)
        return name

    saved, abandoned, fresh = previewed(), previewed(), previewed()
    create(client, **{"image-1": saved})
    two_days_ago = time.time() - 2 * 86400
    for path in media_files(settings):
        if not path.name.startswith(fresh):
            os.utime(path, (two_days_ago, two_days_ago))
    result = _cli(["worker", "--once"], settings, settings.var_dir)
    assert result.returncode == 0, result.stderr
    left = {path.name.split("-")[0] for path in media_files(settings)}
    assert abandoned not in left and left == {saved, fresh}  # an editor at work keeps theirs
    assert client.get(f"/media/{saved}-360.webp").status_code == 200
