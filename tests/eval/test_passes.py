"""Each attack's forward and backward passes in the evaluation's records and report: equal to the
model's pass counters around the run, summed over batches, and unknown (None) for old records."""

from __future__ import annotations

import numpy as np

from tests.tiny_models import tiny_conv
from tfls.attacks import get, passes
from tfls.eval import evaluate
from tfls.eval.store import read_records
from tfls.eval.tally import Tally


def test_report_passes_are_the_counters_delta(tmp_path):
    model = tiny_conv(seed=0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(40, 8, 8, 1)).astype(np.float32)
    y = np.argmax(np.asarray(model(x)), -1)
    attacks = {"fgsm": get("fgsm", model, eps=0.05), "pgd10": get("pgd10", model, eps=0.05)}
    before = passes.read(model)
    report = evaluate(model, (x, y), attacks, out=tmp_path, checks=False)
    spent = np.subtract(passes.read(model), before)
    total = (
        [report.attacks[n].forward_passes + 0 for n in attacks],
        [report.attacks[n].backward_passes for n in attacks],
    )
    assert [sum(total[0]), sum(total[1])] == list(spent)
    # FGSM: one backward pass per attacked image, whatever it fools.
    assert report.attacks["fgsm"].backward_passes == report.attacks["fgsm"].attacked
    records = read_records(tmp_path)
    assert sum(r["passes"]["pgd10"][1] for r in records) == report.attacks["pgd10"].backward_passes


def test_a_record_without_passes_makes_them_unknown():
    tally = Tally(["a"])
    record = {
        "n": 1,
        "clean": "1",
        "robust": {"a": "1"},
        "attacked": {"a": 1},
        "seconds": {"clean": 0.0, "a": 0.0},
    }
    tally.add({**record, "passes": {"a": [3, 2]}})
    assert tally.passes["a"] == [3, 2]
    tally.add(record)  # written before passes were counted
    assert tally.passes["a"] is None
