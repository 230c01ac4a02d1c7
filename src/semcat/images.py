"""Safe image loading, for catalog photos and query uploads.

- A catalog's image reference is a path relative to an images root the user gives;
  a reference that would leave that root (``../``, an absolute path, a symlink out)
  is refused, and URLs are never fetched.
- Decoding checks the pixel count from the header before reading the pixels (a
  decompression-bomb guard), applies the EXIF orientation, flattens transparency onto
  white (product shots) and converts to RGB.
- Every problem is an :class:`ImageError` naming the image; the indexer turns it into a
  per-row warning and indexes that product text-only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

from semcat.errors import InvalidInputError

DEFAULT_MAX_PIXELS = 40_000_000
_URL_SCHEMES = ("http://", "https://", "ftp://", "s3://", "gs://", "file://", "data:")


class ImageError(InvalidInputError):
    """An image that cannot be used: missing, outside the root, unreadable, too large."""

    code = "invalid_image"


def leaves_root(ref: str) -> bool:
    """Whether an image reference could never be under an images root, whichever it is: a
    URL, an absolute path, or one that climbs out with ``..``."""
    ref = (ref or "").strip()
    if ref.lower().startswith(_URL_SCHEMES) or Path(ref).is_absolute() or ref.startswith("~"):
        return True
    depth = 0
    for part in Path(ref).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


def resolve_image(ref: str, root: Path) -> Path:
    """The file an image reference names under ``root``; refuses anything outside it."""
    ref = (ref or "").strip()
    if not ref:
        raise ImageError("empty image reference")
    if ref.lower().startswith(_URL_SCHEMES):
        raise ImageError(
            f"image {ref!r} is a URL: semcat never downloads images; save them under the images root "
            "and give paths relative to it"
        )
    base = Path(root).expanduser().resolve()
    path = (base / ref).resolve()
    if not path.is_relative_to(base):
        raise ImageError(f"image path {ref!r} leaves the images root {root}")
    if not path.is_file():
        raise ImageError(f"image {ref!r} not found under {root}")
    return path


def file_digest(path: Path) -> str:
    """A short content hash, so a replaced photo is re-embedded on the next run."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def decode_base64(data: str, name: str = "image_base64") -> bytes:
    """Bytes of a base64 image (a ``data:image/...;base64,`` prefix is allowed)."""
    text = data.strip()
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{name} is not valid base64") from None
    if not raw:
        raise ImageError(f"{name} is empty")
    return raw


def load_image(source: bytes | Path, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Any:
    """Decode an image safely to an RGB ``PIL.Image``.

    Raises :class:`ImageError` for unreadable data or more than ``max_pixels`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = name or (source.name if isinstance(source, Path) else "the uploaded image")
    if isinstance(source, bytes | bytearray) and not source:
        raise ImageError(f"{label} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes | bytearray) else source)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{label} has {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
                    "(SEMCAT_IMAGE_MAX_PIXELS)"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                image = flat
            return image.convert("RGB")
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{label} does not exist") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{label} is not a usable image: not a format semcat reads (JPEG, PNG, WebP, GIF, ...)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{label} is not a usable image: {_plain(exc)}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise ImageError(f"{label} is corrupt or truncated: {_plain(exc)}") from None


def _plain(exc: BaseException) -> str:
    """An image library's message without the Python object reprs it may carry."""
    return re.sub(r"<[\w.]+ object at 0x[0-9a-fA-F]+>", "the data", str(exc))
