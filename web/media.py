"""Product photos: an upload checked, cleaned and resized with Pillow, stored by content hash.

An upload is decoded (JPEG, PNG or WebP only, at most 5 MB and 40 megapixels), turned upright by
its EXIF orientation, brought to sRGB, cropped to a square from the centre and re-encoded as WebP
at each size the pages show (cart line, product card and product page, each at 1x and 2x).
Nothing but pixels survives: no EXIF, GPS, ICC profile or anything appended to the file. The
files are named by the SHA-256 of what they hold, so a name never changes its content and can be
cached forever. No HTTP here; decoding is CPU work, so routes run prepare() in a worker thread.
Housekeeping deletes the files of photos no product shows (remove_unused()) once they have been
left alone for a day.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from web.problems import InvalidInput, TooLarge

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
# The product page shows 480 × 480: a smaller photo would look blurred there.
MIN_SIDE = 480
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# The sizes the pages show photos at (cart line 64, product card 240, product page 480), and twice each.
PAGE_SIZES = (64, 240, 480)
WIDTHS = tuple(sorted({size * scale for size in PAGE_SIZES for scale in (1, 2)}))
WEBP_QUALITY = 82
CONTENT_TYPE = "image/webp"
# What products.photo holds, and the names of the files stored for it.
PHOTO = re.compile(r"[0-9a-f]{32}")
FILE_NAME = re.compile(rf"(?P<photo>[0-9a-f]{{32}})-(?P<width>{'|'.join(map(str, WIDTHS))})\.webp")
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
TOO_MANY_PIXELS = f"at most {MAX_PIXELS // 1_000_000} megapixels, please."
NOT_A_PHOTO = "That file is not a JPEG, PNG or WebP image, or it is damaged: upload a photo in one of those formats."


@dataclass(frozen=True)
class Photo:
    """A cleaned photo: its content hash and its WebP file at each width."""

    digest: str
    files: dict[int, bytes]


def file_name(digest: str, width: int) -> str:
    return f"{digest}-{width}.webp"


def prepare(data: bytes) -> Photo:
    """Check, clean and resize an upload; InvalidInput (TooLarge past 5 MB) with the reason otherwise."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"The photo is {megabytes(len(data))}: it can be at most 5 MB.", field="photo")
    if not data:
        raise InvalidInput("Choose a photo to upload.", field="photo")
    if data.startswith(b"GIF8"):
        raise InvalidInput("GIF images are not accepted: upload the photo as JPEG, PNG or WebP.", field="photo")
    square = upright_square(decoded(data))
    files = {width: webp(square.resize((width, width), Image.Resampling.LANCZOS)) for width in WIDTHS}
    digest = hashlib.sha256(b"".join(files[width] for width in WIDTHS)).hexdigest()[:32]
    return Photo(digest, files)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def decoded(data: bytes) -> Image.Image:
    """The upload's pixels, fully decoded; refused when Pillow cannot read it as an accepted format,
    when it is truncated, too small, or so large that decoding it would exhaust memory."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(f"The photo is {width} × {height} pixels: {TOO_MANY_PIXELS}", field="photo")
            if min(width, height) < MIN_SIDE:
                raise InvalidInput(
                    f"The photo is {width} × {height} pixels: it needs at least {MIN_SIDE} on its shorter side.",
                    field="photo",
                )
            if image.format == "JPEG":
                image.draft(image.mode, (2 * MIN_SIDE, 2 * MIN_SIDE))  # decode big JPEGs at a fraction of their size
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidInput(f"The photo has too many pixels: {TOO_MANY_PIXELS}", field="photo") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt data
            raise InvalidInput(NOT_A_PHOTO, field="photo") from None
    return image


def upright_square(image: Image.Image) -> Image.Image:
    """Turned by its EXIF orientation, in sRGB (RGBA only where it has transparency), cropped to a
    square from the centre, with no metadata left."""
    upright = ImageOps.exif_transpose(image) or image
    side = min(upright.size)
    square = ImageOps.fit(in_srgb(upright, image.info.get("icc_profile")), (side, side), Image.Resampling.LANCZOS)
    square.info = {}
    return square


def in_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB or RGBA pixels as sRGB: converted by the embedded colour profile when there is a usable one."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    mode = "RGBA" if has_transparency(image) else "RGB"
    if icc:
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), SRGB, outputMode=mode
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None  # a broken or unusual profile: the pixels as they are
        if converted is not None:
            return converted
    return image.convert(mode)


def has_transparency(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = image.getchannel("A").getextrema()
        return isinstance(alpha, tuple) and alpha[0] != 255
    return image.mode == "P" and "transparency" in image.info


def webp(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY, method=4, exif=b"", xmp=b"", icc_profile=b"")
    return out.getvalue()


def store(photo: Photo, media_dir: Path) -> None:
    """Write each file under media_dir atomically (a temporary file renamed), unless already there;
    one already there is touched, so housekeeping counts its day of grace from this upload."""
    media_dir.mkdir(parents=True, exist_ok=True)
    for width, content in photo.files.items():
        final = media_dir / file_name(photo.digest, width)
        if already_stored(final):
            continue
        temporary = media_dir / f".{final.name}.{secrets.token_hex(6)}.tmp"
        try:
            with temporary.open("wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)


def already_stored(path: Path) -> bool:
    """Whether `path` exists, touching it if so."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def prepare_and_store(data: bytes, media_dir: Path) -> str:
    """prepare() and store(): the new photo's content hash, for products.photo."""
    photo = prepare(data)
    store(photo, media_dir)
    return photo.digest


def remove_unused(media_dir: Path, in_use: set[str], before: float) -> int:
    """Delete the stored files of photos not in `in_use` last written before `before` (a Unix
    time): the grace period keeps an upload not yet shown and a page rendered a moment ago whole.
    How many files went."""
    removed = 0
    for path in media_dir.iterdir() if media_dir.is_dir() else ():
        named = FILE_NAME.fullmatch(path.name)
        if named is None or named["photo"] in in_use:
            continue
        try:
            if path.stat().st_mtime < before:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # removed meanwhile (another housekeeping run)
    return removed


def stored_file(media_dir: Path, name: str) -> Path | None:
    """The stored file called `name`, if `name` is one of ours (never a path) and it exists."""
    if FILE_NAME.fullmatch(name) is None:
        return None
    path = media_dir / name
    return path if path.is_file() else None
