"""Memory and speed of reading a split of large images (not a timed test; run on a quiet machine).

    python -m tfls.bench.data --n 2000 --size 224 --out /tmp/tfls-data-bench

Writes `n` random block images of `size`x`size`x3 once into `out` as a 5-class JPEG folder and as
a `.npz`, then reads each through `tfls.data.load(..., batch_size=64)` and reports, per source, the
rise of the process's peak resident memory during the pass (Linux `VmHWM`, reset before each pass)
next to the size of the split as uint8 arrays, and the images/s of the pass (after a one-batch
warm-up of each source).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _rss_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident size


def _images(n: int, size: int, seed: int = 0):
    """Smooth random images (8x8 blocks of colour) that JPEG compresses like photos."""
    rng = np.random.default_rng(seed)
    block = -(-size // 8)
    for _ in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        yield np.kron(small, np.ones((block, block, 1), np.uint8))[:size, :size]


def write_sources(out: Path, n: int, size: int) -> dict[str, Path]:
    from PIL import Image

    folder, npz = out / f"folder-{n}-{size}", out / f"arrays-{n}-{size}.npz"
    if not folder.is_dir():
        tmp = out / f".folder-{n}-{size}.partial"
        for i, image in enumerate(_images(n, size)):
            d = tmp / "test" / f"class{i % 5}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(d / f"{i:06d}.jpg", quality=90)
        tmp.rename(folder)
    if not npz.is_file():
        from tfls.io import atomic_path

        x = np.stack(list(_images(n, size)))
        with atomic_path(npz, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, x=x, y=np.arange(n) % 5)
        del x
    return {"folder": folder, "npz": npz}


def measure(spec: Path, *, batch_size: int = 64) -> dict:
    import tfls.data

    for _ in tfls.data.load(str(spec), "test", batch_size=batch_size, limit=batch_size):
        pass  # warm-up: TF's one-time allocations (thread pools, decoders) are not the split's
    _reset_peak()
    before = _rss_mib("VmRSS")
    start, count = time.perf_counter(), 0
    for _, y in tfls.data.load(str(spec), "test", batch_size=batch_size):
        count += int(y.shape[0])
    seconds = time.perf_counter() - start
    return {
        "images": count,
        "peak_rise_mib": round(_rss_mib("VmHWM") - before, 1),
        "images_per_s": round(count / seconds, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfls.bench.data", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="images in the split")
    parser.add_argument("--size", type=int, default=224, help="image height and width")
    parser.add_argument("--out", type=Path, default=Path("/tmp/tfls-data-bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sources = write_sources(args.out, args.n, args.size)
    import tensorflow as tf  # noqa: F401 - imported before measuring, so it is not counted

    uint8_mib = args.n * args.size * args.size * 3 / 2**20
    results = {"uint8_split_mib": round(uint8_mib, 1)}
    for name, spec in sources.items():
        results[name] = measure(spec)
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
