"""Build src/fovea/assets/mnist-mini.npz (+ .json provenance) from the full MNIST IDX files.

A stratified subset with a fixed seed: 1,000 train and 200 test images per class, uint8.

    python scripts/build_mnist_mini.py [MNIST_DIR]     (default: ../shared/data/mnist)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fovea.data.mini import ASSET, KEYS, PROVENANCE, array_sha256  # noqa: E402
from fovea.data.mnist import FILES, SHA256_UNCOMPRESSED, load_mnist  # noqa: E402

SEED = 20240601
PER_CLASS = {"train": 1000, "test": 200}


def stratified(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` indices of each class drawn without replacement, then shuffled together."""
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return rng.permutation(np.concatenate(chosen))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", nargs="?", default=str(ROOT.parent / "shared/data/mnist"))
    args = parser.parse_args(argv)

    rng = np.random.default_rng(SEED)
    arrays, provenance = {}, {"splits": {}}
    for split, per_class in PER_CLASS.items():
        images, labels = load_mnist(split, data_dir=args.mnist_dir, download=False)
        idx = stratified(labels, per_class, rng)
        arrays[f"{split}_images"] = images[idx]
        arrays[f"{split}_labels"] = labels[idx].astype(np.uint8)
        provenance["splits"][split] = {
            "count": len(idx),
            "per_class": np.bincount(labels[idx], minlength=10).tolist(),
            "source_count": len(labels),
        }

    ASSET.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ASSET, **{k: arrays[k] for k in KEYS})
    provenance = {
        "name": "mnist-mini",
        "description": "Stratified subset of MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0): "
        "1,000 train and 200 test images per class, uint8 28x28, labels uint8 0-9.",
        "license": "CC BY-SA 3.0",
        "built_by": "scripts/build_mnist_mini.py",
        "method": "per class, numpy.random.default_rng(seed).choice(class indices, n, "
        "replace=False) for classes 0..9, train then test, then one permutation per split",
        "seed": SEED,
        "source_sha256_uncompressed": {
            name: SHA256_UNCOMPRESSED[name] for split in FILES.values() for name in split
        },
        **provenance,
        "sha256": {k: array_sha256(arrays[k]) for k in KEYS},
        "sha256_note": "SHA-256 of dtype.str + str(shape) + C-order bytes of each array",
    }
    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {ASSET} ({ASSET.stat().st_size / 1e6:.2f} MB) and {PROVENANCE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
