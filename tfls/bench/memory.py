"""Benchmark: peak memory of `evaluate` does not grow with the number of images.

Each size runs in a fresh process (tiny CNN, FGSM, synthetic 32x32x3 images generated batch by
batch, results streamed to a temporary folder) and reports its peak resident set size. Holding
10,000 such images in memory would alone cost 123 MB, so a non-streaming evaluator shows up.

    python -m tfls.bench.memory --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

SHAPE = (32, 32, 3)


def child(n: int, batch_size: int) -> dict:
    import keras
    import tensorflow as tf

    from tfls.attacks import suite
    from tfls.eval import evaluate

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )

    def make_batch(i):
        i = tf.cast(i, tf.int32)
        size = tf.minimum(batch_size, n - i * batch_size)
        x = tf.random.stateless_uniform(tf.concat([[size], SHAPE], 0), [i, 0])
        y = tf.random.stateless_uniform([size], [i, 1], 0, 10, tf.int32)
        return x, y

    num_batches = -(-n // batch_size)
    dataset = tf.data.Dataset.range(num_batches).map(make_batch)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        report = evaluate(model, dataset, suite(model, ["fgsm"], eps=8 / 255), out=out)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "images": report.images,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "seconds": round(time.perf_counter() - start, 1),
        "clean_accuracy": report.clean_accuracy,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.batch_size)))
        return 0
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tfls.bench.memory",
                "--child",
                str(n),
                "--batch-size",
                str(args.batch_size),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| images | peak RSS (MB) | seconds |\n|---:|---:|---:|")
    for r in rows:
        print(f"| {r['images']} | {r['peak_rss_mb']} | {r['seconds']} |")
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
        print(f"\ngrowth from {rows[0]['images']} to {rows[-1]['images']} images: {growth:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
