"""Safe image loading: paths stay under the images root, bad files are clear errors."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import write_image

from semcat.images import ImageError, decode_base64, load_image, resolve_image


def test_resolve_keeps_paths_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "images"
    photo = write_image(root / "sub" / "a.jpg", (200, 30, 30))
    (tmp_path / "secret.jpg").write_bytes(photo.read_bytes())
    assert resolve_image("sub/a.jpg", root) == photo.resolve()
    for escaping in ("../secret.jpg", "sub/../../secret.jpg", str(tmp_path / "secret.jpg")):
        with pytest.raises(ImageError, match="leaves the images root"):
            resolve_image(escaping, root)
    os.symlink(tmp_path / "secret.jpg", root / "link.jpg")
    with pytest.raises(ImageError, match="leaves the images root"):
        resolve_image("link.jpg", root)
    with pytest.raises(ImageError, match="not found under"):
        resolve_image("sub/missing.jpg", root)
    with pytest.raises(ImageError, match="never downloads"):
        resolve_image("https://example.com/a.jpg", root)


def test_load_image_applies_exif_orientation_and_converts_to_rgb(tmp_path: Path) -> None:
    # a 60x20 landscape photo whose EXIF says "rotate 90°": the user sees 20x60
    image = Image.new("RGB", (60, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, "JPEG", exif=exif.tobytes())
    loaded = load_image(path)
    assert loaded.size == (20, 60) and loaded.mode == "RGB"
    # transparency is flattened onto white (product shots), palette and grey become RGB
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    flat = load_image(buffer.getvalue())
    assert flat.mode == "RGB" and flat.getpixel((3, 3)) == (255, 255, 255)
    grey = io.BytesIO()
    Image.new("L", (8, 8), 90).save(grey, "PNG")
    assert load_image(grey.getvalue()).getpixel((0, 0)) == (90, 90, 90)


def test_oversized_corrupt_and_empty_images_are_refused(tmp_path: Path) -> None:
    big = write_image(tmp_path / "big.png", (1, 2, 3), size=(300, 200), fmt="PNG")
    with pytest.raises(ImageError, match="60,000 pixels, over the limit of 50,000"):
        load_image(big, max_pixels=50_000)
    assert load_image(big, max_pixels=60_000).size == (300, 200)
    truncated = write_image(tmp_path / "t.jpg", (9, 9, 9), size=(200, 200)).read_bytes()[:300]
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(truncated, name="upload")
    with pytest.raises(ImageError, match="not a usable image"):
        load_image(b"%PDF-1.4 not an image", name="upload")
    with pytest.raises(ImageError, match="is empty"):
        load_image(b"", name="upload")
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.jpg")


def test_decode_base64_accepts_data_urls_and_names_bad_input(tmp_path: Path) -> None:
    raw = write_image(tmp_path / "a.png", (5, 200, 5), fmt="PNG").read_bytes()
    encoded = base64.b64encode(raw).decode()
    assert decode_base64(encoded) == raw
    assert decode_base64("data:image/png;base64," + encoded) == raw
    with pytest.raises(ImageError, match=r"items\[2\].image_base64 is not valid base64"):
        decode_base64("not base64!!", "items[2].image_base64")
