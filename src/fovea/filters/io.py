"""Reading and writing image files as NumPy arrays, through Pillow.

``read_image(path)`` gives the pixels as stored:

- grayscale → ``(H, W)``; colour → ``(H, W, 3)`` (RGB order);
- ``uint8`` for 8-bit images, ``uint16`` for 16-bit grayscale (PNG, TIFF, PGM; Pillow modes
  "I;16", "I;16B" and "I" with values that fit 16 bits); 32-bit float TIFFs (mode "F") come
  back as ``float32``. Pillow reads a 16-bit-per-channel colour PNG as 8-bit RGB (the high
  byte of each sample).
- An alpha channel is dropped, not composited: RGBA → RGB and LA → L with the colour values
  as stored (so a fully transparent pixel keeps whatever colour it was saved with).
- Palette images become RGB, their palette applied (grayscale when every palette entry is a
  gray); 1-bit images become ``uint8`` 0/255;
  CMYK, YCbCr and HSV images are converted to RGB by Pillow.
- Of an animated or multi-page file (GIF, TIFF) only the first frame is read; EXIF
  orientation is not applied.

``write_image(path, array)`` picks the format from the file extension (``.png``, ``.jpg``,
``.tif``, ``.bmp``, ``.webp``, ... — whatever Pillow can write):

- ``(H, W)`` and ``(H, W, 1)`` are written as grayscale, ``(H, W, 3)`` as RGB.
- ``uint8`` is written as is.
- ``uint16`` is written as 16-bit grayscale; only PNG, TIFF and PGM/PPM store 16 bits, so a
  16-bit image to another format (JPEG is 8-bit) is an error, as is a 16-bit colour image
  (Pillow cannot write one). Convert explicitly, e.g. ``(a / 257).round().astype(np.uint8)``.
- ``bool`` is written as 0/255.
- Any other real dtype (float, signed or wider integers): float results are clipped to
  [0, 255] and rounded (half to even) to ``uint8`` when written to integer formats. NaN is an
  error.
- JPEG is written with quality 95.

The file is encoded in memory first and then written atomically
(:func:`fovea.serialization.atomic_write_bytes`), so a failure never leaves a partial file and
an error is raised before anything touches the disk. Every failure is a
:class:`fovea.errors.DataError` (a :class:`fovea.errors.ShapeError` for an array of the wrong
shape) whose message names the path and why.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import DataError, ShapeError
from ..files import MAX_IMAGE_FILE_BYTES, open_regular
from ..serialization import atomic_write_bytes

__all__ = ["read_image", "write_image", "encode_image", "writable_format",
           "SIXTEEN_BIT_FORMATS", "MAX_IMAGE_FILE_BYTES"]

#: Pillow formats that store 16-bit grayscale losslessly.
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF", "PPM")

_SAVE_OPTIONS = {"JPEG": {"quality": 95}}


def _pillow():
    from PIL import Image

    Image.init()  # register every plugin, so SAVE and the extension table are complete
    return Image


def _to_array(im, path) -> np.ndarray:
    """The pixels of a loaded Pillow image as an (H, W) or (H, W, 3) array."""
    mode = im.mode
    if mode.startswith("I;16"):  # I;16, I;16L, I;16B, I;16N: 16-bit grayscale
        return np.asarray(im).astype(np.uint16)
    if mode == "I":  # 32-bit integers; older Pillow versions read 16-bit PNGs this way
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DataError(f"{path}: 32-bit integer images are not supported "
                            f"(values {a.min()}..{a.max()} do not fit 16 bits)")
        return a.astype(np.uint16)
    if mode == "F":
        return np.asarray(im, dtype=np.float32).copy()
    if mode == "L":
        return np.asarray(im).copy()
    if mode in ("1", "LA", "La"):
        return np.asarray(im.convert("L")).copy()
    if mode == "RGB":
        return np.asarray(im).copy()
    if mode in ("RGBA", "RGBa", "RGBX"):
        return np.asarray(im)[..., :3].copy()
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        rgb = np.asarray(im.convert("RGBA" if has_alpha else "RGB"))[..., :3]
        palette = np.asarray(im.getpalette("RGB") or [0, 0, 0]).reshape(-1, 3)
        if (palette == palette[:, :1]).all():  # a gray palette: a grayscale image
            return rgb[..., 0].copy()
        return rgb.copy()
    return np.asarray(im.convert("RGB")).copy()  # CMYK, YCbCr, HSV, ...


def read_image(path) -> np.ndarray:
    """Read an image file as a NumPy array (see the module docstring for the rules); ``path``
    must be a regular file (not a FIFO or a device) of at most :data:`MAX_IMAGE_FILE_BYTES`."""
    path = Path(path)
    Image = _pillow()
    with open_regular(path, MAX_IMAGE_FILE_BYTES) as f:
        try:
            with Image.open(f) as im:
                im.load()
                return _to_array(im, path)
        except DataError:
            raise
        except Image.UnidentifiedImageError:
            raise DataError(f"{path}: not a readable image (not an image format Pillow "
                            f"knows)") from None
        except OSError as exc:  # "image file is truncated", decoder errors
            raise DataError(f"{path}: not a readable image ({exc})") from None
        except Exception as exc:  # plugins also raise SyntaxError, ValueError, struct.error, ...
            raise DataError(f"{path}: not a readable image ({type(exc).__name__}: "
                            f"{exc})") from None


def writable_format(path) -> str:
    """The Pillow format name ``write_image`` would use for ``path``; DataError if none."""
    path = Path(path)
    ext = path.suffix.lower()
    if not ext:
        raise DataError(f"{path}: no file extension to choose an image format from "
                        f"(use .png, .jpg, .tif, ...)")
    Image = _pillow()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise DataError(f"{path}: cannot write images with extension {ext!r} "
                        f"(use .png, .jpg, .tif, .bmp, ...)")
    return fmt


def _prepare(array, path, fmt) -> np.ndarray:
    """``array`` as a C-contiguous uint8 or uint16 array of shape (H, W) or (H, W, 3)."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ShapeError(f"{path}: an image to write must be (H, W), (H, W, 1) or (H, W, 3), "
                         f"got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"{path}: cannot write an empty image of shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * np.uint8(255)
    elif a.dtype == np.uint16:
        if a.ndim == 3:
            raise DataError(f"{path}: cannot write a 16-bit colour image (Pillow writes 16 bits "
                            f"for grayscale only); convert it to uint8 first")
        if fmt not in SIXTEEN_BIT_FORMATS:
            raise DataError(f"{path}: {fmt} stores 8-bit images; write a 16-bit image as "
                            f"PNG, TIFF or PGM, or convert it to uint8 first")
    elif a.dtype != np.uint8:
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise DataError(f"{path}: cannot write an image of dtype {a.dtype}")
        if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
            raise DataError(f"{path}: cannot write an image with NaN values")
        a = np.rint(np.clip(a, 0, 255)).astype(np.uint8)
    return np.ascontiguousarray(a)


def encode_image(array, fmt: str, path="<image>") -> bytes:
    """The bytes of ``array`` encoded as Pillow format ``fmt`` (nothing is written)."""
    a = _prepare(array, path, fmt)
    Image = _pillow()
    buf = io.BytesIO()
    try:
        Image.fromarray(a).save(buf, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
    except Exception as exc:  # OSError "cannot write mode", ValueError, missing handlers
        kind = "grayscale" if a.ndim == 2 else "RGB"
        raise DataError(f"{path}: cannot write a {a.dtype} {kind} image as {fmt} "
                        f"({exc})") from None
    return buf.getvalue()


def write_image(path, array) -> Path:
    """Write ``array`` to ``path`` in the format its extension names, atomically."""
    path = Path(path)
    fmt = writable_format(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory")
    data = encode_image(array, fmt, path)
    try:
        return atomic_write_bytes(path, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DataError(f"{path}: cannot write ({reason})") from None
