"""Reading images safely: header probes, a pixel budget and one RGB conversion.

Every image HistoDesk reads goes through :func:`read_image`, which returns a
``uint8`` ``H x W x 3`` RGB array made by :func:`to_rgb8`, so a 16-bit TIFF, a
palette PNG and a grayscale JPEG all look the same to the rest of the engine.

Safety rules:

* The file type is sniffed from its first bytes (a ``.png`` that really is a
  JPEG still reads); the extension only decides what a scan looks at.
* The pixel budget (:data:`DEFAULT_MAX_PIXELS`, per page) is checked from the
  header, *before* any pixel is decoded, so a decompression bomb is refused at
  once with :class:`~engine.errors.ImageTooLargeError`. PIL's global bomb
  limit is bypassed by building the format's image class directly, so this
  budget, not ``PIL.Image.MAX_IMAGE_PIXELS``, decides.
* Truncated files raise :class:`~engine.errors.ImageReadError`; PIL's
  ``LOAD_TRUNCATED_IMAGES`` is never set, so nothing is silently padded.
* Only regular files are opened (:func:`open_regular`): a FIFO, socket,
  device or folder named like an image is refused without blocking, and the
  one descriptor that was checked is the one decoded (no stat/open race).
* Degenerate images are refused from the header: a side under
  :data:`MIN_IMAGE_SIDE` pixels or a long side over :data:`MAX_ASPECT_RATIO`
  times the short one (a 1x1 pixel or a 10000x3 strip is not a tissue image;
  BreaKHis 700x460 and 50x50 IDC patches pass).
* Every page of a multi-page TIFF is an image of its own: each is checked
  here, a scan records one catalog row per page and prediction one row per
  page (:attr:`ImageInfo.pages`).

Every :class:`~engine.errors.ImageReadError` raised here carries a short
``reason`` attribute (e.g. ``"empty file (0 bytes)"``) that a scan records as
the skip reason; the exception's message adds the file's path.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
import tifffile
from PIL import BmpImagePlugin, GifImagePlugin, Image, JpegImagePlugin, PngImagePlugin

from engine.errors import ImageReadError, ImageTooLargeError
from engine.io_utils import display_path

#: File extensions a scan treats as images (compared lower-case).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})

#: Largest number of pixels (width x height) accepted per image page.
DEFAULT_MAX_PIXELS = 100_000_000

#: Smallest accepted width and height, in pixels (16 px holds too little tissue to classify or to show).
MIN_IMAGE_SIDE = 16

#: Largest accepted ratio of the long side to the short side (10000x3 is refused, 700x460 passes).
MAX_ASPECT_RATIO = 10.0

# Never wait on a FIFO's writer, never make a terminal ours, never leak the fd to children.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PIL_MAGIC: tuple[tuple[bytes, Any], ...] = (
    (b"\x89PNG\r\n\x1a\n", PngImagePlugin.PngImageFile),
    (b"\xff\xd8\xff", JpegImagePlugin.jpeg_factory),
    (b"BM", BmpImagePlugin.BmpImageFile),
    (b"GIF8", GifImagePlugin.GifImageFile),
)


@dataclass(frozen=True)
class ImageInfo:
    """What a header says about an image: size of page 0 and the page count."""

    width: int
    height: int
    pages: int = 1
    page_sizes: tuple[tuple[int, int], ...] = ()  # (width, height) of every page
    format: str = ""  # "PNG", "JPEG", "BMP", "GIF" or "TIFF"


def is_image_file(path: str | os.PathLike) -> bool:
    """True when ``path`` has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _error(path: Path, reason: str, cls: type[ImageReadError] = ImageReadError) -> ImageReadError:
    err = cls(f"Cannot use image {display_path(path)}: {reason}")
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _corrupt(path: Path, exc: BaseException) -> ImageReadError:
    """Turn a decoder's exception into an ImageReadError with a readable reason."""
    if isinstance(exc, OSError) and exc.errno is not None:  # permission denied, vanished...
        return _error(path, f"cannot open file: {exc.strerror or exc}")
    return _error(path, f"truncated or corrupt: {str(exc) or type(exc).__name__}")


def _check_budget(path: Path, size: tuple[int, int], max_pixels: int, page: int = 0) -> None:
    width, height = int(size[0]), int(size[1])
    if width * height > max_pixels:
        where = f"page {page} is" if page else "it is"
        reason = (f"image too large: {where} {width} x {height} = {width * height:,} pixels, over the "
                  f"budget of {max_pixels:,} pixels; refused without decoding (raise the pixel budget "
                  "to accept it)")
        raise _error(path, reason, ImageTooLargeError)


def _check_shape(path: Path, size: tuple[int, int], page: int = 0) -> None:
    """Refuse a degenerate page: a side under MIN_IMAGE_SIDE or an aspect ratio over MAX_ASPECT_RATIO."""
    width, height = int(size[0]), int(size[1])
    where = f"page {page} is" if page else "it is"
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise _error(path, f"extreme aspect ratio: {where} {width} x {height} pixels, more than "
                           f"{MAX_ASPECT_RATIO:g}:1; not a tissue image (crop it into tiles)")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise _error(path, f"image too small: {where} {width} x {height} pixels; each side must be at least "
                           f"{MIN_IMAGE_SIDE} px to hold tissue")


def _check_page(path: Path, size: tuple[int, int], max_pixels: int, page: int = 0) -> None:
    """Every header check of one page: the pixel budget, then the size and aspect limits."""
    _check_budget(path, size, max_pixels, page)
    _check_shape(path, size, page)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def _refuse_irregular(path: Path, mode: int) -> None:
    """Raise the "not a regular file: <kind>" error unless ``mode`` is a regular file's."""
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
        raise _error(path, f"not a regular file: {kind}")


def check_regular_file(path: str | os.PathLike) -> os.stat_result:
    """``os.stat(path)``; :class:`ImageReadError` unless ``path`` (after symlinks) is a regular file.

    Opening a FIFO blocks until a writer appears and a device can stream for
    ever, so nothing named like an image is opened before this check; the
    reason reads e.g. ``"not a regular file: a FIFO (named pipe)"``. This is
    a ``stat`` only: to read, use :func:`open_regular`, which checks the
    opened descriptor again.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise _corrupt(p, exc) from exc
    _refuse_irregular(p, st.st_mode)
    return st


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for binary reading, only when it is a regular file (raises ImageReadError).

    :func:`check_regular_file` first (a device is never opened), then an
    ``O_NONBLOCK`` open, so a FIFO swapped in meanwhile cannot block, and an
    ``fstat`` of the opened descriptor: what is read is what was checked.
    """
    p = Path(path)
    check_regular_file(p)
    try:
        fd = os.open(p, _OPEN_FLAGS)
    except OSError as exc:
        raise _corrupt(p, exc) from exc
    try:
        _refuse_irregular(p, os.fstat(fd).st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # no effect on a regular file; plain reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _sniff_head(path: Path, fh: BinaryIO) -> Any:
    """``"tiff"`` or the PIL image factory for the open file ``fh``, chosen from its magic bytes."""
    try:
        head = fh.read(16)
        fh.seek(0)
    except OSError as exc:
        raise _corrupt(path, exc) from exc
    if not head:
        raise _error(path, "empty file (0 bytes)")
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    for magic, factory in _PIL_MAGIC:
        if head.startswith(magic):
            return factory
    raise _error(path, "not an image (unrecognised file contents)")


@contextmanager
def _opened(path: Path) -> Iterator[tuple[str, Any]]:
    """Open ``path`` as ``("tiff", TiffFile)`` or ``("pil", Image)`` from its magic bytes.

    The file is opened once, through :func:`open_regular`, and decoded from
    that descriptor. Any exception, in opening or in the caller's block,
    leaves as ImageReadError.
    """
    with open_regular(path) as fh:
        factory = _sniff_head(path, fh)
        try:
            if factory == "tiff":
                with tifffile.TiffFile(fh, name=path.name) as tif:
                    yield "tiff", tif
            else:
                with factory(fh) as im:
                    yield "pil", im
        except ImageReadError:
            raise
        except Exception as exc:  # SyntaxError, struct.error, OSError... from a broken file
            raise _corrupt(path, exc) from exc


def _inspect(path: Path, max_pixels: int, verify: bool) -> ImageInfo:
    """Probe (and with ``verify`` fully check) ``path``; shared by probe and verify."""
    with _opened(path) as (kind, img):
        if kind == "tiff":
            sizes = tuple((int(p.imagewidth), int(p.imagelength)) for p in img.pages)
            for page, size in enumerate(sizes):
                _check_page(path, size, max_pixels, page)
            for page in img.pages if verify else ():
                page.asarray()
            return ImageInfo(sizes[0][0], sizes[0][1], len(sizes), sizes, "TIFF")
        _check_page(path, img.size, max_pixels)
        info = ImageInfo(img.size[0], img.size[1], 1, (tuple(img.size),), img.format or "")
        if verify and img.format == "PNG":
            img.verify()  # checks every chunk's CRC up to IEND without decoding
        elif verify:
            if img.format == "JPEG":  # decode at 1/8 scale: cheap, still reads every byte
                img.draft(img.mode, (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
        return info


def probe_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Read only the header of ``path``: its size and page count.

    Raises :class:`ImageTooLargeError` when any page has more than
    ``max_pixels`` pixels (nothing is decoded) and :class:`ImageReadError`
    when the file is empty, not an image, or its header is truncated/corrupt.
    """
    return _inspect(Path(path), max_pixels, verify=False)


def verify_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Like :func:`probe_image`, then check the whole file can be decoded.

    PNG: PIL's ``verify()`` (every chunk and CRC, up to IEND); JPEG: a decode
    at 1/8 scale; TIFF: every page decoded; other formats: a full decode.
    A truncated or corrupt file raises :class:`ImageReadError`.
    """
    return _inspect(Path(path), max_pixels, verify=True)


def _pil_array(im: Image.Image) -> np.ndarray:
    """Pixels of a PIL image as an array :func:`to_rgb8` understands."""
    if im.mode in ("P", "PA"):  # palette: let PIL map the colours (and transparency)
        has_alpha = im.mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif im.mode in ("RGBa", "La"):  # premultiplied alpha
        im = im.convert(im.mode.upper())
    return np.asarray(im)


def _tiff_array(page: Any) -> np.ndarray:
    """Decode one tifffile page, applying its palette or white-is-zero inversion."""
    arr = page.asarray()
    photometric = int(page.photometric)
    if photometric == int(tifffile.PHOTOMETRIC.PALETTE) and page.colormap is not None:
        cmap = np.asarray(page.colormap)
        if cmap.max() < 256:  # some writers store 8-bit values in the 16-bit colormap
            cmap = cmap.astype(np.uint8)
        arr = np.moveaxis(cmap[:, arr], 0, -1)
    elif photometric == int(tifffile.PHOTOMETRIC.MINISWHITE):
        arr = ~arr if arr.dtype.kind in "bu" else arr.max() - arr
    if int(page.bitspersample) == 1 and arr.dtype != bool:
        arr = arr.astype(bool)
    return arr


def read_image(path: str | os.PathLike, page: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode ``path`` (page ``page`` of a multi-page TIFF) to ``uint8`` RGB ``H x W x 3``.

    The pixel budget is checked from the header before decoding. Any failure
    raises :class:`ImageReadError` (:class:`ImageTooLargeError` for the budget).
    """
    path = Path(path)
    with _opened(path) as (kind, img):
        if kind == "tiff":
            count = len(img.pages)
            if not 0 <= page < count:
                raise _error(path, f"page {page} does not exist (the file has {count} page(s))")
            tpage = img.pages[page]
            _check_page(path, (tpage.imagewidth, tpage.imagelength), max_pixels, page)
            return to_rgb8(_tiff_array(tpage))
        if page != 0:
            raise _error(path, f"page {page} does not exist (only TIFF files have several pages)")
        _check_page(path, img.size, max_pixels)
        img.load()
        return to_rgb8(_pil_array(img))


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map any dtype to ``uint8`` (see :func:`to_rgb8` for the rules)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype == np.uint16:  # round(v / 257), exact integer arithmetic
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if arr.dtype.kind in "iu":
        top = float(np.iinfo(arr.dtype).max)
        return np.rint(np.clip(arr, 0, None).astype(np.float64) * (255.0 / top)).astype(np.uint8)
    if arr.dtype.kind == "f":
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        finite_max = float(arr.max()) if arr.size else 0.0
        if finite_max <= 1.0:
            arr = arr * 255.0
        return np.rint(np.clip(arr, 0.0, 255.0)).astype(np.uint8)
    raise ImageReadError(f"Unsupported pixel type {arr.dtype}; expected integers or floats.")


def to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Convert any decoded pixel array to ``uint8`` RGB ``H x W x 3`` (the one conversion).

    Layout: ``H x W`` and ``H x W x 1`` are grayscale and replicated to three
    channels; ``H x W x 2`` is gray + alpha, ``H x W x 4`` RGBA; a planar
    ``C x H x W`` array (C in 1, 3, 4 and the last axis longer than 4) is
    transposed to channels-last. Extra channels beyond four are dropped.

    Values: ``uint8`` unchanged; ``bool`` -> 0/255; ``uint16`` ->
    ``round(v / 257)`` (the exact inverse of 8->16 bit expansion ``v * 257``,
    so 65535 -> 255); other integers -> ``round(v * 255 / dtype max)`` with
    negatives clipped to 0; floats -> taken as [0, 1] when the maximum is
    <= 1, else as [0, 255], then clipped (NaN -> 0).

    Alpha: composited over **white** (``c * a + 255 * (1 - a)``), because in
    brightfield microscopy empty glass is white, so transparent areas read as
    background rather than as dark tissue. Palette images are expanded by PIL
    before they get here.
    """
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] > 4:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[-1] < 1:
        raise ImageReadError(f"Unsupported image array shape {arr.shape}; expected H x W [x C].")
    arr = _scale_to_uint8(arr[:, :, :4])
    channels = arr.shape[-1]
    if channels in (2, 4):
        color = arr[:, :, :channels - 1].astype(np.uint16)
        alpha = arr[:, :, channels - 1:].astype(np.uint16)
        arr = ((color * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)
