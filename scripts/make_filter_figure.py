"""Make docs/filters.png, the README's before/after figure of ``fovea filter``.

A deterministic synthetic 256 × 256 grayscale "photo" (shaded sphere, a building with windows,
a mountain, a grating, a checkerboard, grass-like texture, mild noise) is written to a
temporary PNG and filtered by the real command line (``fovea.cli.main``): a Gaussian blur,
unsharp masking, Sobel edges and Canny edges. The panels are composed with matplotlib and
saved as an 8-bit grayscale PNG.

    python scripts/make_filter_figure.py [OUT]      (default: docs/filters.png)
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fovea.cli import main as fovea_main  # noqa: E402
from fovea.filters.io import read_image, write_image  # noqa: E402
from fovea.filters.smoothing import gaussian_filter  # noqa: E402

SIZE = 256
SEED = 7

PANELS = [  # (title, fovea filter arguments after INPUT -o OUTPUT)
    ("input (synthetic, 256×256)", None),
    ("-k gaussian:sigma=2", ["-k", "gaussian:sigma=2"]),
    ("-k sharpen:alpha=1.5", ["-k", "sharpen:alpha=1.5"]),
    ("--edges sobel", ["--edges", "sobel"]),
    ("--edges canny", ["--edges", "canny:sigma=1.4,low=0.1,high=0.3"]),
]


def synthetic_photo(size: int = SIZE, seed: int = SEED) -> np.ndarray:
    """A deterministic photo-like grayscale test image, uint8 (size × size)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    img = 150 - 70 * y + 20 * x  # sky: a gradient, brighter at the top

    # a mountain: a triangle with a darker, textured flank
    ridge = 0.36 + 0.8 * np.abs(x - 0.32)
    mountain = y > ridge
    img[mountain] = 85 + 40 * (x[mountain] > 0.32) + 25 * y[mountain]

    # a shaded sphere (the sun / a ball), lit from the upper left
    cy, cx, r = 0.27, 0.72, 0.15
    d2 = ((y - cy) ** 2 + (x - cx) ** 2) / r**2
    inside = d2 < 1
    nz = np.sqrt(np.clip(1 - d2, 0, 1))
    light = np.clip((-(x - cx) / r * 0.45 - (y - cy) / r * 0.55 + nz * 0.7), 0, 1)
    img[inside] = 80 + 170 * light[inside]

    # a building with a grid of lit windows
    bx0, bx1, by0 = 0.56, 0.86, 0.52
    building = (x > bx0) & (x < bx1) & (y > by0)
    img[building] = 45
    wx = ((x - bx0) * size) % 14
    wy = ((y - by0) * size) % 18
    windows = building & (wx > 5) & (wx < 11) & (wy > 6) & (wy < 13) & (y < 0.93)
    img[windows] = 215

    # ground: grass-like texture (smoothed noise) over the bottom
    grass = y > 0.8
    texture = gaussian_filter(rng.normal(0.0, 1.0, (size, size)), 1.2)
    img[grass & ~building] = (70 + 120 * texture)[grass & ~building]

    # a sinusoidal grating and a checkerboard: fine detail for the blur to remove
    grating = (x > 0.05) & (x < 0.27) & (y > 0.06) & (y < 0.28)
    img[grating] = 128 + 80 * np.sin(2 * np.pi * (x[grating] * 22 + y[grating] * 8))
    checker = (x > 0.06) & (x < 0.26) & (y > 0.84) & (y < 0.96)
    img[checker] = np.where(((x[checker] * size) // 6 + (y[checker] * size) // 6) % 2, 235, 20)

    img = gaussian_filter(img, 0.7) + rng.normal(0.0, 3.0, img.shape)  # a lens, a sensor
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def run_panels(workdir: Path) -> list[tuple[str, np.ndarray]]:
    """The input and each filtered output, made by ``fovea filter``."""
    src = write_image(workdir / "input.png", synthetic_photo())
    panels = []
    for i, (title, args) in enumerate(PANELS):
        if args is None:
            panels.append((title, read_image(src)))
            continue
        out = workdir / f"panel{i}.png"
        code = fovea_main(["filter", str(src), "-o", str(out), *args])
        if code != 0:
            raise SystemExit(f"fovea filter {' '.join(args)} failed with status {code}")
        panels.append((title, read_image(out)))
    return panels


def compose(panels, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(1, len(panels), figsize=(2.3 * len(panels), 2.75), dpi=120)
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8.5, family="monospace")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("fovea filter: before and after", fontsize=10)
    fig.tight_layout(pad=0.4)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    # every pixel of the figure is a gray: store it as an 8-bit grayscale PNG (a third the size)
    gray = np.asarray(Image.open(buf).convert("L"))
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_image(out, gray)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "filters.png")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        panels = run_panels(Path(tmp))
    path = compose(panels, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
