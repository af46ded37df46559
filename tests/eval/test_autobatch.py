"""`--batch-size auto`: an injected out-of-memory halves the chunk and redoes that batch exactly;
the wrapper's options are part of the fingerprint; `evaluate` takes `(x, y)` numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tfls.attacks
from tests.tiny_models import tiny_conv
from tfls.eval import evaluate
from tfls.eval.autobatch import AutoBatch, fitting_batch_size, merge_records
from tfls.models import ThreatModel


class OutOfMemoryAbove:
    """FGSM that raises `ResourceExhaustedError` when asked to attack more than `limit` images."""

    def __init__(self, model, limit):
        self.inner = tfls.attacks.suite(model, ["fgsm"], eps=0.1)["fgsm"]
        self.eps, self.norm, self.limit = self.inner.eps, self.inner.norm, limit
        self.sizes = []

    def __call__(self, x, y):
        self.sizes.append(int(x.shape[0]))
        if x.shape[0] > self.limit:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return self.inner(x, y)

    def get_config(self):
        return self.inner.get_config()


@pytest.fixture(scope="module")
def data():
    model = tiny_conv((8, 8, 1), 3, seed=0)
    x = np.random.default_rng(0).random((24, 8, 8, 1), dtype=np.float32)
    y = np.argmax(np.asarray(model(x)), -1).astype(np.int32)  # every point is attacked
    return model, x, y


def batches(x, y, size=12):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def test_out_of_memory_halves_and_retries_that_batch(data, tmp_path):
    model, x, y = data
    attack = OutOfMemoryAbove(model, limit=3)
    auto = AutoBatch(8)
    report = evaluate(
        model, batches(x, y), {"fgsm": attack}, out=tmp_path / "a", autobatch=auto, checks=False
    )
    assert auto.halvings == [(8, 4), (4, 2)] and auto.size == 2
    assert max(s for s in attack.sizes if s <= 3) == 2  # every chunk that ran fitted
    # The same numbers as without chunking (FGSM is deterministic), one record per batch.
    plain = evaluate(model, batches(x, y), tfls.attacks.suite(model, ["fgsm"], eps=0.1))
    assert report.clean_accuracy == plain.clean_accuracy == 1.0
    assert report.worst_case_accuracy == plain.worst_case_accuracy
    lines = (tmp_path / "a" / "batches.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # Resuming with another chunk size reads the stored batches back, attacks nothing.
    again = OutOfMemoryAbove(model, limit=3)
    resumed = evaluate(
        model, batches(x, y), {"fgsm": again}, out=tmp_path / "a", autobatch=AutoBatch(2)
    )
    assert again.sizes == [] and resumed.worst_case_accuracy == report.worst_case_accuracy


def test_out_of_memory_at_one_image_is_raised(data):
    model, x, y = data
    with pytest.raises(tf.errors.ResourceExhaustedError):
        evaluate(model, batches(x, y), {"fgsm": OutOfMemoryAbove(model, 0)}, autobatch=AutoBatch(4))


def test_merge_records_concatenates_bits_and_adds_counts():
    a = {"clean": "10", "robust": {"p": "00"}, "attacked": {"p": 1}, "nonfinite": {"p": 0}}
    b = {"clean": "1", "robust": {"p": "1"}, "attacked": {"p": 1}, "nonfinite": {"p": 1}}
    a["seconds"], b["seconds"] = {"clean": 1.0, "p": 2.0}, {"clean": 0.5, "p": 1.0}
    merged = merge_records([a, b])
    assert merged["clean"] == "101" and merged["robust"] == {"p": "001"}
    assert merged["attacked"] == {"p": 2} and merged["nonfinite"] == {"p": 1}
    assert merged["seconds"] == {"clean": 1.5, "p": 3.0}


def test_fitting_batch_size_halves_until_the_gradient_fits(data):
    model, _, _ = data

    def call(x, training=False):
        if x.shape[0] > 40:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM")
        return model(x, training=training)

    call.input_shape = model.input_shape
    assert fitting_batch_size(call, start=256) == 32


def test_a_resume_with_other_wrapper_options_is_refused_by_name(data, tmp_path):
    model, x, y = data
    attacks = tfls.attacks.suite(model, ["fgsm"], eps=0.1)
    evaluate(ThreatModel(model, input_range=(0, 1)), (x, y), attacks, out=tmp_path / "w")
    other = ThreatModel(model, input_range=(0, 2))
    with pytest.raises(ValueError, match=r"model\.wrapper\.input_range: \[0\.0, 1\.0\] -> "):
        evaluate(other, (x, y), tfls.attacks.suite(other, ["fgsm"], eps=0.1), out=tmp_path / "w")


def test_numpy_arrays_are_a_dataset(data):
    model, x, y = data
    report = evaluate(model, (x, y), tfls.attacks.suite(model, ["fgsm"], eps=0.1), n=20)
    assert report.clean_accuracy == 1.0 and report.images == 20
    with pytest.raises(ValueError, match="Received: x has 24 images, y has 23 labels"):
        evaluate(model, (x, y[:-1]), tfls.attacks.suite(model, ["fgsm"], eps=0.1))
