"""Image files and arrays as 8-bit grayscale: ``load_image`` reads a file safely (regular
files only, sizes checked before decoding, EXIF orientation applied, one-line errors), and
``to_gray`` turns any image array into the gray image every later step reads."""

from __future__ import annotations

import io
import stat
import warnings
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

try:  # a bad image is reported by us, in one line; OpenCV's own log lines would repeat it
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
except AttributeError:  # an OpenCV build without its logging module
    pass

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit grayscale, with a clear error for anything else."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image")
    check_regular_file(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read it ({exc.strerror})") from None
    if not raw:
        raise ImageError(f"{path}: empty file")
    if raw[:5] == b"%PDF-":
        raise ImageError(
            f"{path}: is a PDF, not an image: `handwriting recognize` reads its pages; "
            "elsewhere convert them to PNG/JPEG first (e.g. `pdftoppm -r 300 -png FILE.pdf page`)"
        )
    if raw[:4] in TIFF_MAGIC and (pages := _tiff_pages(raw)) > 1:
        # imdecode would silently read the first page only
        raise ImageError(
            f"{path}: is a TIFF with {pages} pages: `handwriting recognize` reads them; "
            "elsewhere one image per file is read: split it first (e.g. `tiffsplit FILE.tif page-`)"
        )
    if size := _oversize(raw):
        if size.startswith("a format"):
            raise ImageError(
                f"{path}: not a readable image, or {size}; convert it to PNG, JPEG or TIFF first"
            )
        raise ImageError(
            f"{path}: too large ({size}; the limit is {MAX_PIXELS // 10**6} "
            "megapixels); scale it down first (300 dpi is plenty)"
        )
    if raw[:8] == _PNG_MAGIC and not _png_whole(raw):
        raise ImageError(
            f"{path}: a damaged PNG (truncated, or its data do not match their checksums)"
        )
    # IMREAD_UNCHANGED keeps alpha and 16 bits, but leaves JPEG/PNG/WebP EXIF turns undone
    try:
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # a decoder that gave up loudly instead of returning None
        image = None
    if image is None:
        raise ImageError(
            f"{path}: not a readable image (corrupt, truncated or not an image "
            f"format OpenCV reads: {', '.join(IMAGE_SUFFIXES)})"
        )
    return to_gray(_exif_upright(image, raw))


def check_regular_file(path: Path) -> None:
    """Refuse, with an :class:`ImageError`, what is not a regular file (a named pipe would
    block the read forever, a device such as /dev/zero would fill the memory), also behind
    a symbolic link."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ImageError(f"{path}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a file"
        )
        raise ImageError(f"{path}: is {kind}, not a regular file; give an image file")


TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # TIFF, BigTIFF
MAX_PIXELS = 100_000_000  # an A3 page at 600 dpi is 70 megapixels


def _oversize(raw: bytes) -> str | None:
    """Why the image may not be decoded: its size, read from its header without decoding
    it, if it is over :data:`MAX_PIXELS`, or that its size cannot be read first (a format
    Pillow does not parse, such as Radiance HDR or OpenEXR, could be of any size); None if
    it may be decoded (or Pillow is not installed: a device reads the images it is given)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    with warnings.catch_warnings():  # we decide (MAX_PIXELS) and report, not Pillow's warnings
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(raw)) as im:
                width, height = im.size
        except Image.DecompressionBombError:  # over twice Pillow's own limit: size not given
            limit = 2 * Image.MAX_IMAGE_PIXELS
            return f"over {limit // 10**6} megapixels" if limit >= MAX_PIXELS else None
        except Exception:  # noqa: BLE001 - Pillow cannot parse it
            return "a format whose size cannot be read before decoding"
    return f"{width} x {height} px" if width * height > MAX_PIXELS else None


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_whole(raw: bytes) -> bool:
    """Whether a PNG's chunks are all there with matching checksums (Pillow reads them
    without decompressing); libpng would print its own line about a damaged one."""
    try:
        from PIL import Image
    except ImportError:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(raw)) as im:
                im.verify()
        except Exception:  # noqa: BLE001 - truncated, bad checksum, not a PNG after all
            return False
    return True


def tiff_frames(source) -> list[int]:
    """The indices of the full-resolution images in a TIFF (a path or a binary file):
    its pages, without the reduced-resolution previews. Raises Pillow's errors."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a damaged tag: the caller decides
        with Image.open(source) as im:
            frames = []
            for i in range(getattr(im, "n_frames", 1)):
                im.seek(i)
                if not int(im.tag_v2.get(254, 0)) & 1:  # NewSubfileType: reduced
                    frames.append(i)
            return frames


def _tiff_pages(raw: bytes) -> int:
    """Full-resolution images in a TIFF (reduced-resolution previews are not pages)."""
    try:  # (a device may run without Pillow: then OpenCV decides)
        return len(tiff_frames(io.BytesIO(raw)))
    except Exception:  # noqa: BLE001 - Pillow cannot parse it: leave it to OpenCV
        return 1


# EXIF orientation tag (1-8) -> the turn that makes the image upright (as cv2.imread does)
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a.swapaxes(0, 1), 2),
    8: lambda a: np.rot90(a, 1),
}


def _exif_upright(image: np.ndarray, raw: bytes) -> np.ndarray:
    """Apply the EXIF orientation of a JPEG, PNG or WebP photo (phones store pictures turned
    and say so in EXIF). TIFF is left to OpenCV, whose decoder reads its Orientation tag."""
    web = (
        raw[:3] == b"\xff\xd8\xff"
        or raw[:8] == _PNG_MAGIC
        or (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP")
    )
    if not web or not any(tag in raw for tag in (b"Exif", b"eXIf", b"EXIF")):
        return image
    try:
        from PIL import Image  # (a device may run without Pillow: photos stay as decoded)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(raw)) as im:
                turn = _ORIENT.get(im.getexif().get(0x0112))
    except Exception:  # noqa: BLE001 - unreadable EXIF, or no Pillow: keep the image as decoded
        return image
    return np.ascontiguousarray(turn(image)) if turn else image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any 8/16-bit or float, 1/3/4-channel array -> uint8 grayscale (alpha over white); 16-bit
    data is scaled by the bit depth its values use (8, 10, 12, 14 or 16 bits)."""
    image = np.asarray(image)
    if image.size == 0 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] > 4):
        raise ImageError(
            f"not an image array (shape {image.shape}; expected height x width, "
            "optionally x 1, 3 or 4 channels last)"
        )
    if image.dtype == np.uint16:  # scanners store 10-, 12- and 14-bit data in 16-bit files
        top = int(image.max())
        full = next(f for f in (255, 1023, 4095, 16383, 65535) if top <= f)
        image = np.round(image * (255.0 / full)).astype(np.uint8)
    elif image.dtype != np.uint8:  # float: 0..1 or 0..255; a NaN pixel is paper
        image = np.nan_to_num(image.astype(np.float64), nan=np.nan, posinf=np.nan, neginf=np.nan)
        top = np.nanmax(image) if np.isfinite(image).any() else 1.0
        image = np.nan_to_num(image, nan=top)
        image = np.clip(image * (255.0 if top <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 3:
        if image.shape[2] == 4:
            alpha = image[:, :, 3:4].astype(np.float32) / 255.0
            rgb = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)
            image = cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_BGR2GRAY)
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            image = image[:, :, 0]
    return np.ascontiguousarray(image)
