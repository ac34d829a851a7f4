"""engine.data.imageio: header probes, the pixel budget and the one RGB conversion."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from engine.data.imageio import (DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, MAX_ASPECT_RATIO, MIN_IMAGE_SIDE, ImageInfo,
                                 is_image_file, open_regular, probe_image, read_image, to_rgb8, verify_image)
from engine.errors import ImageReadError, ImageTooLargeError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (18, 21, 3), dtype=np.uint8)  # above MIN_IMAGE_SIDE (16 px)
GRAY = RNG.integers(0, 256, (18, 21), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (18, 21), dtype=np.uint8)


def over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Reference compositing: c * a + 255 * (1 - a), rounded."""
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.rint(color.astype(np.float64) * a + 255.0 * (1 - a)).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_bomb(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A real small PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed)."""
    Image.fromarray(RGB).save(path)
    data = path.read_bytes()
    ihdr = struct.pack(">II", width, height) + data[24:29]
    path.write_bytes(data[:8] + _chunk(b"IHDR", ihdr) + data[33:])
    return path


def write_tiff_bomb(path: Path, size: int = 60_000) -> Path:
    """A small TIFF whose ImageWidth/ImageLength tags are patched to ``size``."""
    tifffile.imwrite(path, RGB)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        for name in ("ImageWidth", "ImageLength"):
            fmt = "<H" if tags[name].dtype == 3 else "<I"
            struct.pack_into(fmt, data, tags[name].valueoffset, size)
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path) -> Path:
    """Cut a file in half."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_constants_and_extensions():
    assert DEFAULT_MAX_PIXELS == 100_000_000
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"} == set(IMAGE_EXTENSIONS)
    assert is_image_file("A.PNG") and is_image_file("x.Tiff") and not is_image_file("notes.txt")


# --- every container and pixel type reads to the same uint8 RGB ------------------
def _rgb(path: Path, a: np.ndarray) -> None:
    Image.fromarray(a).save(path)


def _tiff(path: Path, a: np.ndarray, **kw) -> None:
    tifffile.imwrite(path, a, **kw)


CASES = {
    "rgb.png": (lambda p: _rgb(p, RGB), RGB),
    "rgb.bmp": (lambda p: _rgb(p, RGB), RGB),
    "rgb.tif": (lambda p: _tiff(p, RGB, photometric="rgb"), RGB),
    "planar.tif": (lambda p: _tiff(p, np.moveaxis(RGB, -1, 0), photometric="rgb", planarconfig="separate"), RGB),
    "gray.png": (lambda p: _rgb(p, GRAY), np.repeat(GRAY[..., None], 3, 2)),
    "gray.tif": (lambda p: _tiff(p, GRAY), np.repeat(GRAY[..., None], 3, 2)),
    "gray.bmp": (lambda p: _rgb(p, GRAY), np.repeat(GRAY[..., None], 3, 2)),
    "rgba.png": (lambda p: _rgb(p, np.dstack([RGB, ALPHA])), over_white(RGB, ALPHA)),
    "la.png": (lambda p: Image.fromarray(np.dstack([GRAY, ALPHA]), "LA").save(p),
               over_white(np.repeat(GRAY[..., None], 3, 2), ALPHA)),
    "rgba.tif": (lambda p: _tiff(p, np.dstack([RGB, ALPHA]), photometric="rgb", extrasamples=[2]),
                 over_white(RGB, ALPHA)),
    "gray16.png": (lambda p: Image.fromarray(GRAY.astype(np.uint16) * 257).save(p), np.repeat(GRAY[..., None], 3, 2)),
    "rgb16.tif": (lambda p: _tiff(p, RGB.astype(np.uint16) * 257, photometric="rgb"), RGB),
    "float01.tif": (lambda p: _tiff(p, RGB.astype(np.float32) / 255.0, photometric="rgb"), RGB),
    "float255.tif": (lambda p: _tiff(p, RGB.astype(np.float32), photometric="rgb"), RGB),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_formats_read_to_the_same_rgb8(tmp_path, name):
    write, expected = CASES[name]
    path = tmp_path / name
    write(path)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (18, 21, 3)
    np.testing.assert_array_equal(out, expected)
    info = probe_image(path)
    assert (info.width, info.height, info.pages) == (21, 18, 1)


def test_palette_png_matches_pil_conversion(tmp_path):
    img = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), np.asarray(img.convert("RGB")))


def test_palette_transparency_composites_over_white(tmp_path):
    img = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    img.info["transparency"] = 0
    img.save(tmp_path / "pt.png", transparency=0)
    out = read_image(tmp_path / "pt.png")
    index = np.asarray(img)
    assert (out[index == 0] == 255).all()
    np.testing.assert_array_equal(out[index != 0], np.asarray(img.convert("RGB"))[index != 0])


def test_jpeg_reads_close_to_source(tmp_path):
    smooth = np.dstack([np.tile(np.linspace(40, 200, 32, dtype=np.uint8), (24, 1))] * 3)
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=95)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == (24, 32, 3) and np.abs(out.astype(int) - smooth).mean() < 3


def test_multipage_tiff_pages(tmp_path):
    pages = [np.full((20, 16, 3), v, np.uint8) for v in (10, 120, 250)]
    with tifffile.TiffWriter(tmp_path / "multi.tif") as tw:
        for page in pages:
            tw.write(page, photometric="rgb")
    info = probe_image(tmp_path / "multi.tif")
    assert info == ImageInfo(16, 20, 3, ((16, 20),) * 3, "TIFF")
    for i, page in enumerate(pages):
        np.testing.assert_array_equal(read_image(tmp_path / "multi.tif", page=i), page)
    with pytest.raises(ImageReadError, match="page 3 does not exist"):
        read_image(tmp_path / "multi.tif", page=3)


def test_uint16_scaling_is_exact():
    v = np.arange(256, dtype=np.uint16)
    np.testing.assert_array_equal(to_rgb8((v * 257)[None, :])[0, :, 0], v)
    edge = np.array([[0, 128, 129, 385, 65535]], np.uint16)  # round(v / 257)
    assert to_rgb8(edge)[0, :, 0].tolist() == [0, 0, 1, 1, 255]


def test_to_rgb8_layouts_and_types():
    planar = np.moveaxis(RGB, -1, 0)
    np.testing.assert_array_equal(to_rgb8(planar), RGB)
    np.testing.assert_array_equal(to_rgb8(GRAY[..., None]), np.repeat(GRAY[..., None], 3, 2))
    assert to_rgb8(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]
    assert to_rgb8(np.array([[-5, 2**31 - 1]], np.int32))[0, :, 0].tolist() == [0, 255]
    assert to_rgb8(np.array([[np.nan, 0.2, 1.0, -1.0]], np.float32))[0, :, 0].tolist() == [0, 51, 255, 0]
    assert to_rgb8(np.array([[300.0, 20.0]], np.float64))[0, :, 0].tolist() == [255, 20]
    with pytest.raises(ImageReadError):
        to_rgb8(np.zeros((2, 2, 2, 2)))


# --- bad files ------------------------------------------------------------------
def test_empty_file(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ImageReadError) as err:
        probe_image(tmp_path / "e.png")
    assert err.value.reason == "empty file (0 bytes)"


def test_random_bytes_are_not_an_image(tmp_path):
    (tmp_path / "r.png").write_bytes(np.random.default_rng(1).bytes(500))
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(tmp_path / "r.png")


@pytest.mark.parametrize("name", ["t.png", "t.jpg", "t.tif"])
def test_truncated_files_raise(tmp_path, name):
    big = np.random.default_rng(2).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    path = tmp_path / name
    (_tiff if name.endswith(".tif") else _rgb)(path, big)
    truncate(path)
    with pytest.raises(ImageReadError, match="truncated or corrupt") as err:
        verify_image(path)
    assert not isinstance(err.value, ImageTooLargeError)
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        read_image(path)


@pytest.mark.parametrize("writer", [write_png_bomb, write_tiff_bomb])
def test_decompression_bomb_refused_without_decoding(tmp_path, writer):
    path = writer(tmp_path / ("bomb.png" if writer is write_png_bomb else "bomb.tif"))
    start = time.perf_counter()
    for fn in (probe_image, verify_image, read_image):
        with pytest.raises(ImageTooLargeError) as err:
            fn(path)
        assert "pixels" in str(err.value) and "100,000,000" in str(err.value)
    assert time.perf_counter() - start < 1.0
    assert "50000 x 50000" in str(err.value) or "60000 x 60000" in str(err.value)


def test_budget_is_configurable(tmp_path):
    _rgb(tmp_path / "a.png", RGB)
    with pytest.raises(ImageTooLargeError, match="budget of 377 pixels"):
        read_image(tmp_path / "a.png", max_pixels=377)
    assert read_image(tmp_path / "a.png", max_pixels=378).shape == (18, 21, 3)


def test_png_named_jpg_is_sniffed(tmp_path):
    _rgb(tmp_path / "x.png", RGB)
    (tmp_path / "x.jpg").write_bytes((tmp_path / "x.png").read_bytes())
    np.testing.assert_array_equal(read_image(tmp_path / "x.jpg"), RGB)


# --- only regular files, never a blocking open; degenerate shapes ---------------------
@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "evil.png"
    os.mkfifo(fifo)
    for fn in (probe_image, verify_image, read_image, open_regular):
        with pytest.raises(ImageReadError) as err:
            fn(fifo)
        assert err.value.reason == "not a regular file: a FIFO (named pipe)"


@pytest.mark.timeout(30)
def test_devices_and_folders_are_refused(tmp_path):
    (tmp_path / "dir.png").mkdir()
    os.symlink("/dev/zero", tmp_path / "zero.png")
    with pytest.raises(ImageReadError, match="not a regular file: a folder"):
        read_image(tmp_path / "dir.png")
    with pytest.raises(ImageReadError, match="not a regular file: a character device"):
        read_image(tmp_path / "zero.png")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_descriptor_is_checked_after_open(tmp_path, monkeypatch):
    """A FIFO swapped in between the stat and the open is caught by fstat, not read."""
    import engine.data.imageio as imageio

    fifo = tmp_path / "swap.png"
    os.mkfifo(fifo)
    monkeypatch.setattr(imageio, "check_regular_file", lambda path: None)  # the stat said "regular"
    with pytest.raises(ImageReadError, match="a FIFO"):
        imageio.open_regular(fifo)


@pytest.mark.parametrize("shape, reason", [((1, 1), "image too small"), ((15, 40), "image too small"),
                                           ((3, 10000), "extreme aspect ratio"), ((400, 39), "extreme aspect ratio")])
def test_degenerate_images_are_refused_from_the_header(tmp_path, shape, reason):
    path = tmp_path / "odd.png"
    Image.fromarray(np.zeros(shape + (3,), np.uint8)).save(path)
    for fn in (probe_image, verify_image, read_image):
        with pytest.raises(ImageReadError, match=reason) as err:
            fn(path)
        assert err.value.reason.startswith(reason)
    assert MIN_IMAGE_SIDE == 16 and MAX_ASPECT_RATIO == 10


def test_limits_accept_real_tissue_shapes(tmp_path):
    for h, w in ((460, 700), (50, 50), (16, 160)):  # BreaKHis, IDC patch, the limits themselves
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / "ok.png")
        assert read_image(tmp_path / "ok.png").shape == (h, w, 3)


def test_every_tiff_page_is_checked(tmp_path):
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tw:
        tw.write(np.zeros((20, 20, 3), np.uint8), photometric="rgb")
        tw.write(np.zeros((2, 20, 3), np.uint8), photometric="rgb")
    with pytest.raises(ImageReadError, match="page 1 is 20 x 2"):
        probe_image(tmp_path / "pages.tif")
