"""Measurements behind the training issue's "done when" (not a timed test; run on a quiet machine).

    python -m tfls.bench.training label-smoothing --out /tmp/tfls-bench   # α=0 vs α=0.9
    python -m tfls.bench.training epoch-cost --repeats 5                  # α=0.9 vs α=0 epoch time
    python -m tfls.bench.training adversarial --out /tmp/tfls-bench       # natural/Madry/TRADES

`label-smoothing` trains cnn4 on Fashion-MNIST for one epoch with α=0 and α=0.9 through
`tfls.training.train` (clean accuracy, logit range: the paper's Table 2 trend).

`epoch-cost` times epochs of both α on the same data, interleaved, after a warm-up epoch, and
reports the α=0.9 / α=0 epoch-time ratio (min and median over repeats).

`adversarial` trains small-cnn one epoch on a CIFAR-10 subset with each method and reports clean
and PGD-20 (ε=8/255, step ε/10, random start) accuracy on the first test images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _train(config, out: Path, *, verbose):
    from tfls.training import train

    return train(config, out, overwrite=out.exists(), verbose=verbose)


def label_smoothing(args) -> dict:
    from tfls.training import TrainConfig

    results = {}
    for alpha in (0.0, 0.9):
        config = TrainConfig(
            "fashion_mnist",
            "cnn4",
            label_smoothing=alpha,
            epochs=1,
            seed=args.seed,
            data_dir=args.data_dir,
            limit=args.limit,
        )
        run = _train(config, Path(args.out) / f"ls{int(alpha * 10):02d}", verbose=args.verbose).run
        results[f"alpha={alpha}"] = {
            k: run[k] for k in ("clean_accuracy", "logit_stats", "wall_time_s")
        }
    return results


def epoch_cost(args) -> dict:
    import numpy as np

    from tfls import data, models
    from tfls.training import TrainConfig
    from tfls.training.trainer import build_trainer

    results = {}
    # Same pipeline, same data, compiled once per α; interleaved timed epochs after a warm-up.
    # Epoch cost: same pipeline, same data, compiled once per α; interleaved timed epochs.
    trainers = {}
    for alpha in (0.0, 0.9):
        config = TrainConfig(
            "fashion_mnist", "cnn4", label_smoothing=alpha, seed=args.seed
        ).resolved()
        net = models.build("cnn4", num_classes=10, input_shape=(28, 28, 1), seed=args.seed)
        ds = data.load(
            "fashion_mnist",
            "train",
            batch_size=config.batch_size,
            data_dir=args.data_dir,
            shuffle=True,
            seed=args.seed,
            limit=args.timing_limit,
        )
        trainer = build_trainer(net, config, num_classes=10, steps_per_epoch=int(ds.cardinality()))
        trainer.fit(ds, epochs=1, verbose=0, shuffle=False)  # warm-up: tracing, data cache
        trainers[alpha] = (trainer, ds)
    # Wall time suffers from other processes on a shared machine; the process' CPU time less so.
    times = {0.0: [], 0.9: []}
    cpu = {0.0: [], 0.9: []}
    for _ in range(args.repeats):
        for alpha, (trainer, ds) in trainers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            trainer.fit(ds, epochs=1, verbose=0, shuffle=False)
            times[alpha].append(time.perf_counter() - t0)
            cpu[alpha].append(time.process_time() - c0)
    for name, measured in (("epoch_time", times), ("epoch_cpu_time", cpu)):
        results[f"{name}_s"] = {f"alpha={a}": t for a, t in measured.items()}
        results[f"{name}_ratio_min"] = min(measured[0.9]) / min(measured[0.0])
        results[f"{name}_ratio_median"] = float(np.median(measured[0.9]) / np.median(measured[0.0]))
    return results


def adversarial(args) -> dict:
    from tfls import attacks, data
    from tfls.eval import evaluate
    from tfls.training import TrainConfig

    test = data.load("cifar10", "test", batch_size=100, data_dir=args.data_dir, limit=args.n_eval)
    results = {}
    for method in ("natural", "madry", "trades"):
        config = TrainConfig(
            "cifar10",
            args.model,
            method=method,
            epochs=args.epochs,
            limit=args.limit,
            batch_size=args.batch_size,
            seed=args.seed,
            data_dir=args.data_dir,
        )
        result = _train(config, Path(args.out) / f"cifar-{method}", verbose=args.verbose)
        suite = attacks.suite(result.model, ["pgd20"], eps=8 / 255, seed=args.seed)
        report = evaluate(
            result.model, test, suite
        )  # the one evaluator, threat-model checks included
        results[method] = {
            "clean_accuracy": report.clean_accuracy,
            "pgd20_accuracy": report.attacks["pgd20"].robust_accuracy,
            "train_wall_time_s": result.run["wall_time_s"],
        }
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tfls.bench.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="what", required=True)
    ls = sub.add_parser("label-smoothing")
    ls.add_argument("--limit", type=int, default=None, help="training images (default: all 60,000)")
    cost = sub.add_parser("epoch-cost")
    cost.add_argument("--timing-limit", type=int, default=20_000, help="images per timed epoch")
    cost.add_argument("--repeats", type=int, default=5)
    adv = sub.add_parser("adversarial")
    adv.add_argument("--model", default="small-cnn")
    adv.add_argument("--limit", type=int, default=2000)
    adv.add_argument("--epochs", type=int, default=1)
    adv.add_argument("--batch-size", type=int, default=64)
    adv.add_argument("--n-eval", type=int, default=500)
    for p in (ls, cost, adv):
        p.add_argument("--out", default="/tmp/tfls-bench")
        p.add_argument("--data-dir", default=None)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    what = {
        "label-smoothing": label_smoothing,
        "epoch-cost": epoch_cost,
        "adversarial": adversarial,
    }
    results = what[args.what](args)
    print(json.dumps(results, indent=2), file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
