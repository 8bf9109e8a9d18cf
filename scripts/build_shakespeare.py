"""Build src/fovea/assets/shakespeare.txt.xz, the embedded ``shakespeare`` text dataset, from
tinyshakespeare's input.txt (checked against its SHA256SUMS and fovea's own checksum first).

    python scripts/build_shakespeare.py [TINYSHAKESPEARE_DIR]   (default: ../shared/data/tinyshakespeare)

xz (LZMA2, preset 9 extreme) through Python's lzma, so the asset is reproducible byte for byte
from the same text and Python's liblzma.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fovea.data.text import ASSET, SHAKESPEARE_CHARS, SHAKESPEARE_SHA256, load_shakespeare  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source_dir", nargs="?",
                        default=str(ROOT.parent / "shared/data/tinyshakespeare"))
    args = parser.parse_args(argv)
    source = Path(args.source_dir)
    data = (source / "input.txt").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sums = dict(line.split()[::-1] for line in (source / "SHA256SUMS").read_text().splitlines()
                if line.strip())
    if digest != sums.get("input.txt") or digest != SHAKESPEARE_SHA256:
        print(f"{source / 'input.txt'}: SHA-256 {digest} does not match SHA256SUMS / "
              f"fovea.data.text.SHAKESPEARE_SHA256", file=sys.stderr)
        return 1
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    ASSET.write_bytes(lzma.compress(data, format=lzma.FORMAT_XZ,
                                    preset=9 | lzma.PRESET_EXTREME))
    text = load_shakespeare(ASSET)  # the round trip, checksum included
    assert len(text) == SHAKESPEARE_CHARS, len(text)
    print(f"{ASSET}: {ASSET.stat().st_size} bytes, {len(text)} characters, "
          f"{len(set(text))} symbols")
    return 0


if __name__ == "__main__":
    sys.exit(main())
