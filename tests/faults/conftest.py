"""What every fault-injection test starts from: a small trained model file and the CLI's flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, shared_data_dir) -> Path:
    """A tiny conv net (28×28×1 → 10) fitted for two epochs on 1,000 Fashion-MNIST images, so
    most test images are attacked."""
    import keras

    import tfls.data
    from tests.tiny_models import tiny_conv

    path = tmp_path_factory.mktemp("faults-model") / "model.keras"
    model = tiny_conv((28, 28, 1), 10, seed=0, filters=4, strides=2)
    x, y = tfls.data.load_arrays("fashion_mnist", "train", data_dir=shared_data_dir, limit=1000)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=50, epochs=2, verbose=0)
    model.save(path)
    return path


def eval_args(model, out, data_dir, *, attacks="fgsm,pgd20", n=600, eps="8/255"):
    """`tfls eval` of `model` on the first `n` test images, ten to a batch."""
    return [
        "eval", "--model", model, "--dataset", "fashion_mnist", "--attacks", attacks,
        "--eps", eps, "--n", n, "--seed", 0, "--batch-size", 10, "--out", out,
        "--data-dir", data_dir, "--quiet",
    ]  # fmt: skip


def records(out: Path) -> list[dict]:
    """The per-example content of an evaluation's finished batches (no checksums, no bindings)."""
    keep = ("batch", "digest", "clean", "robust", "attacked")
    lines = (out / "batches.jsonl").read_text().splitlines()
    return [{k: r[k] for k in keep} for r in map(json.loads, lines)]


def report_numbers(out: Path) -> dict:
    """What an evaluation reports, without its timings."""
    report = json.loads((out / "report.json").read_text())
    attacks = {
        name: {k: a[k] for k in ("robust", "attacked", "cumulative_robust")}
        for name, a in report["attacks"].items()
    }
    head = {k: report[k] for k in ("images", "batches", "clean_correct", "worst_case")}
    return {**head, "attacks": attacks, "complete": report.get("complete", True)}
