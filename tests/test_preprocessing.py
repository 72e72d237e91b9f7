import cv2
import numpy as np
import pytest

from handwriting.augment import augment
from handwriting.config import PreprocessConfig
from handwriting.errors import ImageError
from handwriting.images import load_image
from handwriting.preprocessing import (
    _rotate,
    _shear,
    estimate_skew,
    estimate_slant,
    ink_map,
    preprocess,
    to_columns,
)

from conftest import render_line

TEXT = "The quick brown fox jumps over 13 lazy dogs"


def test_output_shape_range_and_determinism():
    cfg = PreprocessConfig(height=40, pad=6)
    img = render_line(TEXT)
    out = preprocess(img, cfg)
    assert out.dtype == np.float32 and out.shape[0] == 40
    assert out.min() >= 0 and out.max() <= 1 and out.max() > 0.9
    assert np.all(out[:, :6] == 0) and np.all(out[:, -6:] == 0)  # padding
    assert np.array_equal(out, preprocess(img, cfg))
    assert to_columns(out).shape == (out.shape[1], 40)


def test_aspect_ratio_kept():
    img = render_line(TEXT)
    cfg = PreprocessConfig(height=32, pad=0, deskew=False, slant=False)
    out = preprocess(img, cfg)
    ink = ink_map(img) > 0.3
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    ratio = (cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1)
    assert out.shape[1] / 32 == pytest.approx(ratio, rel=0.08)


@pytest.mark.parametrize("angle", [-6.0, 4.0])
def test_rotated_line_is_straightened(angle):
    ink = ink_map(render_line(TEXT))
    tilted = _rotate(ink, angle)
    assert estimate_skew(tilted, 10) == pytest.approx(-angle, abs=0.6)
    # after preprocessing, the ink occupies far fewer rows than the tilted line did
    cfg = PreprocessConfig(height=48, slant=False)
    straight = preprocess(255 - (tilted * 220).astype(np.uint8), cfg)
    skewed = preprocess(255 - (tilted * 220).astype(np.uint8), cfg.replace(deskew=False))
    assert straight.shape[1] > 1.5 * skewed.shape[1]  # a thin band scaled to H is wider


@pytest.mark.parametrize("shear", [-0.4, 0.5])
def test_slanted_line_is_unslanted(shear):
    ink = ink_map(render_line("lIlIl HIH lllI", scale=1.5, thickness=3))
    slanted = _shear(ink, -shear)
    assert estimate_slant(slanted, 1.0) == pytest.approx(shear, abs=0.1)
    assert estimate_slant(ink, 1.0) == pytest.approx(0.0, abs=0.1)


def test_inverted_polarity_gives_the_same_line():
    img = render_line(TEXT)
    a, b = preprocess(img), preprocess(255 - img)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.02


def test_uneven_light_and_yellowed_paper():
    img = render_line(TEXT).astype(np.float32)
    gradient = np.linspace(0.45, 1.0, img.shape[1])[None, :]
    dim = (img * gradient).astype(np.uint8)
    color = cv2.merge(
        [(dim * 0.75).astype(np.uint8), (dim * 0.92).astype(np.uint8), dim]
    )  # BGR sepia
    a, b = preprocess(img.astype(np.uint8)), preprocess(color)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 0.05


def test_blank_image_gives_empty_line():
    out = preprocess(np.full((50, 300), 240, np.uint8), PreprocessConfig(height=32))
    assert out.shape[0] == 32 and out.max() == 0


def test_load_image_errors(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "doc.jpg").write_bytes(b"%PDF-1.7\n...")
    with pytest.raises(ImageError, match="is a PDF"):
        load_image(tmp_path / "doc.jpg")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "notes.txt")
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), render_line("ok"))
    (tmp_path / "broken.jpg").write_bytes(good.read_bytes()[:40])
    with pytest.raises(ImageError):
        load_image(tmp_path / "broken.jpg")
    assert load_image(good).ndim == 2


def test_multipage_tiff_is_refused_not_truncated(tmp_path):
    page = render_line("12")
    assert cv2.imwritemulti(str(tmp_path / "two.tif"), [page, page])
    with pytest.raises(ImageError, match="TIFF with 2 pages"):
        load_image(tmp_path / "two.tif")
    cv2.imwrite(str(tmp_path / "one.tif"), page)
    assert load_image(tmp_path / "one.tif").shape == page.shape[:2]


@pytest.mark.parametrize(
    "suffix,mode", [("png", "L"), ("png", "RGBA"), ("jpg", "L"), ("webp", "RGB"), ("tif", "RGB")]
)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation, suffix, mode):
    """Upright as Pillow's exif_transpose (an independent reader) has it, in every format."""
    from PIL import Image, ImageOps

    img = np.full((40, 120), 255, np.uint8)
    img[5:15, 10:50] = 0  # asymmetric: every turn and flip gives a different array
    img[20:38, 100:110] = 90
    pil = Image.fromarray(img).convert(mode)
    exif = pil.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.{suffix}"
    pil.save(path, exif=exif, **({"lossless": True} if suffix == "webp" else {}))
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("L"))
    assert expected.shape == ((40, 120) if orientation < 5 else (120, 40))
    got = load_image(path)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).mean() < 2  # JPEG: two decoders


def test_tiff_preview_is_not_a_page(tmp_path):
    """A TIFF holding a page and a reduced-resolution preview is one page; two pages are not."""
    from PIL import Image, TiffImagePlugin

    page = Image.fromarray(render_line("12"))
    preview = page.resize((page.width // 4, page.height // 4))
    with open(tmp_path / "q.tif", "w+b") as f, TiffImagePlugin.AppendingTiffWriter(f) as tf:
        for kind, image in ((0, page), (1, preview)):  # NewSubfileType 1: a reduced copy
            info = TiffImagePlugin.ImageFileDirectory_v2()
            info[254] = kind
            image.save(tf, format="TIFF", tiffinfo=info)
            tf.newFrame()
    with Image.open(tmp_path / "q.tif") as im:
        assert im.n_frames == 2
    assert load_image(tmp_path / "q.tif").shape == (page.height, page.width)
    page.save(tmp_path / "p.tif", save_all=True, append_images=[page])
    with pytest.raises(ImageError, match="TIFF with 2 pages"):
        load_image(tmp_path / "p.tif")


def test_augment_is_seeded_and_keeps_height():
    line = preprocess(render_line(TEXT), PreprocessConfig(height=32))
    a = augment(line, np.random.default_rng(3), p=1.0)
    b = augment(line, np.random.default_rng(3), p=1.0)
    c = augment(line, np.random.default_rng(4), p=1.0)
    assert a.shape[0] == 32 and np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize("shear", [0.0, 0.45])
def test_extent_maps_the_line_back_to_the_image(shear):
    """A point of the normalized line goes back to the same stroke in the image, through
    the crop, the slant correction and the resizing."""
    from handwriting.preprocessing import preprocess_with_extent

    h, w = 80, 420
    img = np.full((h, w), 240, np.uint8)
    xs = (40, 150, 300, 380)
    for x in xs:  # upright bars from row 15 to 64, then leant right by the shear
        cv2.rectangle(img, (x, 15), (x + 5, 64), 20, -1)
    img = cv2.warpAffine(
        img, np.float32([[1, -shear, shear * (h - 1)], [0, 1, 0]]), (w, h), borderValue=240
    )
    cfg = PreprocessConfig(height=40, pad=8, deskew=False)
    line, extent = preprocess_with_extent(img, cfg)
    assert np.array_equal(line, preprocess(img, cfg))
    assert extent is not None and extent.x0 <= 40 + shear * (h - 1 - 64)
    cols = np.flatnonzero(line[20] > 0.5)  # the bars where the normalized line's mid row cuts them
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    assert len(runs) == len(xs)
    for x, run in zip(xs, runs):
        cx, cy = extent.to_image @ (run.mean(), 20.0, 1.0)
        assert abs(cx - (x + 2.5 + shear * (h - 1 - cy))) < 2.5  # the bar's centre on that row
    top, bottom = extent.rows(extent.x0, extent.x1 + 1)
    assert abs(top - 15) <= 1 and abs(bottom - 64) <= 1
    assert extent.rows(0, 10) is None
    for r in (8, 32):  # the slant was corrected: the bars stand upright
        c = np.flatnonzero(line[r] > 0.5)
        centres = [run.mean() for run in np.split(c, np.flatnonzero(np.diff(c) > 1) + 1)]
        assert np.allclose(centres, [run.mean() for run in runs], atol=2)
    blank, none = preprocess_with_extent(np.full((40, 100), 230, np.uint8), cfg)
    assert none is None and blank.shape[0] == 40


def test_an_image_too_large_to_read_safely_is_refused_before_decoding(tmp_path, monkeypatch):
    from handwriting import images

    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.full((200, 300), 255, np.uint8))
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)
    with pytest.raises(ImageError, match=r"too large \(300 x 200 px"):
        load_image(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 60_000)
    assert load_image(path).shape == (200, 300)


def test_a_header_past_pillows_bomb_limit_is_refused_without_a_made_up_size(tmp_path, monkeypatch):
    import struct
    import zlib

    from PIL import Image

    # Pillow's own limit (other libraries raise it when imported: ocrd_utils does)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(1024 * 1024 * 1024 // 4 // 3))

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    path = tmp_path / "bomb.png"  # a 20000 x 20000 header (400 megapixels) and no pixel data
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageError, match=r"too large \(over \d+ megapixels; the limit is 100 "):
        load_image(path)


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_16_bit_files_are_scaled_by_the_depth_their_values_use(tmp_path, bits):
    line = render_line("123")  # uint8, paper 255
    deep = (line.astype(np.uint32) * ((1 << bits) - 1) // 255).astype(np.uint16)
    path = tmp_path / f"scan{bits}.png"
    cv2.imwrite(str(path), deep)
    back = load_image(path)
    assert back.dtype == np.uint8 and np.abs(back.astype(int) - line).max() <= 1
