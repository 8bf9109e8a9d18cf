"""A dataset of image files, one sub-folder per class (torchvision's ImageFolder layout).

::

    root/cat/001.png
    root/cat/nested/002.jpg
    root/dog/003.jpeg

Class names are the sub-folder names, sorted; their positions are the labels. Images are
found recursively under each class folder (sorted, hidden files and folders skipped, the
extension matched case-insensitively), read with Pillow, converted to one mode and, when
``size`` is given, resized with bilinear resampling.

Modes: "L" (one channel; colour is converted with Pillow's ITU-R 601-2 luma), "RGB" (three;
gray is replicated), or "auto": "RGB" if any image is in colour, else "L". An alpha channel is
dropped, not composited; palette images are expanded (a gray palette counts as gray); 16-bit
grayscale is scaled to [0, 1] by 65535; 32-bit float images are refused (their range is
unknown). Of an animated file only the first frame is read; EXIF orientation is not applied.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import MAX_IMAGE_FILE_BYTES, open_regular
from .dataset import DataArgumentError, TensorDataset

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg")
MODES = ("auto", "L", "RGB")


def _pillow():
    from PIL import Image

    return Image


def _size_arg(size):
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise DataArgumentError(f"size must be an integer or (H, W), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise DataArgumentError(f"size must be positive, got {size!r}")
    return h, w


def _within(path: str, folder: str) -> bool:
    """Whether the real path ``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def walk(top, skip_hidden: bool = False):
    """``os.walk(top, followlinks=True)`` as (dirpath, sorted file names), sub-folders in sorted
    order, without its loops: a symlinked folder is entered only when its real path is neither
    one already walked nor an ancestor of where the link sits (a link back up would repeat the
    tree without end)."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        keep = []
        for d in sorted(dirnames):
            target = os.path.realpath(os.path.join(dirpath, d))
            if (skip_hidden and d.startswith(".")) or target in seen or _within(real, target):
                continue
            keep.append(d)
        dirnames[:] = keep
        yield dirpath, sorted(f for f in filenames if not (skip_hidden and f.startswith(".")))


def find_classes(root) -> list[str]:
    """The sorted names of the (non-hidden) sub-folders of ``root``; a sub-folder that is a
    symlink back to ``root`` or above it (a class holding every class) is a DataError."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    names = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    real_root = os.path.realpath(root)
    for name in names:
        target = os.path.realpath(root / name)
        if _within(real_root, target):
            raise DataError(f"{root / name}: a symlink to {target}, which holds the dataset "
                            f"itself (a loop), not a class folder")
    return names


def find_images(folder, extensions=IMG_EXTENSIONS) -> list[Path]:
    """The image files under ``folder``, recursively, in sorted order (hidden entries skipped).
    Symlinks are followed, but without loops (see :func:`walk`) and each real file once."""
    exts = tuple(e.lower() for e in extensions)
    out, seen = [], set()
    for dirpath, filenames in walk(folder, skip_hidden=True):
        for f in filenames:
            path = Path(dirpath) / f
            if f.lower().endswith(exts) and (real := os.path.realpath(path)) not in seen:
                seen.add(real)
                out.append(path)
    return out


def _is_gray_palette(im) -> bool:
    palette = np.asarray(im.getpalette("RGB") or [0, 0, 0]).reshape(-1, 3)
    return bool((palette == palette[:, :1]).all())


def _native(im, path):
    """A loaded Pillow image as ("L" | "RGB", image in mode "L", "RGB" or "F" (0..255))."""
    Image = _pillow()
    mode = im.mode
    if mode in ("L", "1", "LA", "La"):
        return "L", im if mode == "L" else im.convert("L")
    if mode in ("P", "PA"):
        gray = _is_gray_palette(im)
        rgb = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
        rgb = rgb.convert("RGB") if rgb.mode != "RGB" else rgb
        return ("L", rgb.convert("L")) if gray else ("RGB", rgb)
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DataError(f"{path}: 32-bit integer images are not supported (values "
                            f"{a.min()}..{a.max()} do not fit 16 bits)")
        return "L", Image.fromarray(a.astype(np.float32) * np.float32(255 / 65535))
    if mode == "F":
        raise DataError(f"{path}: 32-bit float images are not supported (unknown range)")
    return "RGB", im if mode == "RGB" else im.convert("RGB")  # RGBA, CMYK, YCbCr, ...


def _load(path: Path, mode: str, size):
    """The image at ``path`` as an (H, W) or (H, W, 3) array with values in 0..255."""
    Image = _pillow()
    try:
        with open_regular(path, MAX_IMAGE_FILE_BYTES) as f, Image.open(f) as im:
            im.load()
            kind, im = _native(im, path)
            if mode == "L" and kind == "RGB":
                im = im.convert("L")
            elif mode == "RGB" and kind == "L" and im.mode == "L":
                im = im.convert("RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im)
    except DataError:
        raise
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (not an image format Pillow "
                        f"knows)") from None
    except OSError as exc:  # truncated files, decoder errors
        raise DataError(f"{path}: not a readable image ({exc})") from None
    except Exception as exc:  # plugins also raise SyntaxError, ValueError, struct.error, ...
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from None
    if mode == "RGB" and a.ndim == 2:  # a 16-bit gray image (mode F) to replicate
        a = np.repeat(a[..., None], 3, axis=2)
    return a


class ImageFolder(TensorDataset):
    """The images under ``root/<class>/`` as a TensorDataset(images float32 (N, C, H, W) in
    [0, 1], labels int64), with ``classes`` (sorted folder names) and ``class_to_idx``.

    ``size``: an int or (H, W) to resize every image to (bilinear); None keeps the sizes, which
    must then all be equal (a DataError names the first image of another size). ``mode``:
    "auto", "L" or "RGB" (see the module docstring); ``self.mode`` is the one applied.
    ``classes``: a fixed class list (e.g. a training split's, for its test split): the labels
    follow it, and a sub-folder not in it is an error. ``extensions``: the file endings to read.
    An unreadable image raises DataError naming the file. ``samples`` lists (path, label).
    """

    def __init__(self, root, size=None, mode="auto", extensions=IMG_EXTENSIONS, classes=None):
        if mode not in MODES:
            raise DataArgumentError(f"unknown image mode {mode!r}; use one of "
                                    f"{', '.join(MODES)}")
        if isinstance(extensions, str):
            extensions = (extensions,)
        self.root = Path(root)
        self.size = _size_arg(size)
        self.extensions = tuple(extensions)
        found = find_classes(self.root)
        if classes is None:
            self.classes = found
            if not found:
                raise DataError(f"{self.root}: no class sub-folders (expected "
                                f"{self.root}/<class>/<image>)")
        else:
            self.classes = list(classes)
            unknown = [c for c in found if c not in self.classes]
            if unknown:
                raise DataError(f"{self.root / unknown[0]}: class {unknown[0]!r} is not one of "
                                f"the known classes ({', '.join(self.classes)})")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = []
        for c in found:
            files = find_images(self.root / c, self.extensions)
            if not files and classes is None:
                raise DataError(f"{self.root / c}: no images ({', '.join(self.extensions)}) "
                                "in this class folder")
            self.samples.extend((p, self.class_to_idx[c]) for p in files)
        if not self.samples:
            raise DataError(f"{self.root}: no images ({', '.join(self.extensions)})")
        load_mode = "L" if mode == "L" else "RGB" if mode == "RGB" else None
        pixels = []
        for path, _ in self.samples:
            a = _load(path, load_mode or "auto", self.size)
            if pixels and a.shape[:2] != pixels[0].shape[:2]:
                h, w = a.shape[:2]
                first = self.samples[0][0]
                hh, ww = pixels[0].shape[:2]
                raise DataError(f"{path}: image is {h}×{w} but {first} is {hh}×{ww}; a "
                                "folder dataset needs images of one size (resize them, or "
                                "from Python pass ImageFolder(size=(H, W)))")
            pixels.append(a)
        self.mode = mode if load_mode else ("RGB" if any(a.ndim == 3 for a in pixels)
                                            else "L")
        channels = 3 if self.mode == "RGB" else 1
        h, w = pixels[0].shape[:2]
        images = np.empty((len(pixels), channels, h, w), dtype=np.float32)
        for i, a in enumerate(pixels):
            if a.ndim == 2:
                images[i] = a  # broadcast over the channels (gray replicated for "RGB")
            else:
                images[i] = a.transpose(2, 0, 1)
        images *= np.float32(1 / 255)
        labels = np.asarray([label for _, label in self.samples], dtype=np.int64)
        super().__init__(images, labels)

    @property
    def targets(self) -> list[int]:
        """The labels, as a list (torchvision's name)."""
        return self.arrays[1].tolist()

    def __repr__(self) -> str:
        n, c, h, w = self.arrays[0].shape
        return (f"ImageFolder({str(self.root)!r}, {n} images of {c}×{h}×{w}, "
                f"{len(self.classes)} classes, mode {self.mode!r})")
