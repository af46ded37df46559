"""The gate of autoattack-fast: where the gradient checks fire, full AutoAttack runs, per batch, and
the record says so; where they pass, the fast ensemble runs; attack-major is refused."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audit import lying_fixtures as lf
from tfls.attacks import get, passes
from tfls.eval import evaluate
from tfls.eval.record_format import decode_bits
from tfls.eval.store import read_records

# Small budgets keep full AutoAttack (the fallback) quick on the tiny models.
SMALL = {"apgd-ce": {"steps": 10}, "apgd-t": {"steps": 10, "n_targets": 3}}
SMALL |= {"fab-t": {"steps": 10, "n_targets": 3}, "square": {"n_queries": 50}}


def _robust(out, name):
    return np.concatenate([decode_bits(r["robust"][name])[: r["n"]] for r in read_records(out)])


def _suite(model, eps):
    fast = get("autoattack-fast", model, eps=eps, steps=10, ce_steps=10)
    full = get("autoattack", model, eps=eps, overrides=SMALL)
    # The fallback a fired gate builds is the preset at the fast attack's settings; for the test,
    # the same small budgets as the AutoAttack it is compared with.
    object.__setattr__(fast, "_tfls_fallback", get("autoattack", model, eps=eps, overrides=SMALL))
    return {"autoattack": full, "autoattack-fast": fast}


def test_lying_gradients_send_every_batch_to_full_autoattack(tmp_path):
    model = lf.lying("reversed")
    x, y = lf.data(n=96)
    evaluate(model, (x[:96], y[:96]), _suite(model, 0.1), out=tmp_path, checks=False)
    records = read_records(tmp_path)
    assert records and all(r["gates"]["autoattack-fast"]["fired"] == [15] for r in records)
    assert all(r["gates"]["autoattack-fast"]["ran"] == "autoattack" for r in records)
    # The same AutoAttack on the same points, same seed: the same per-example outcomes.
    np.testing.assert_array_equal(
        _robust(tmp_path, "autoattack-fast"), _robust(tmp_path, "autoattack")
    )


def test_honest_gradients_keep_the_fast_ensemble(tmp_path):
    """No check fires on an honest MLP; at these small budgets the fast ensemble's own FAB-T
    probe sends some points on to full AutoAttack, and each record says how many."""
    model, x, y = lf.control("mlp")
    before = passes.escalated(model)
    evaluate(model, (x[:96], y[:96]), _suite(model, 0.1), out=tmp_path, checks=False)
    records = read_records(tmp_path)
    gates = [r["gates"]["autoattack-fast"] for r in records]
    assert records and all(g["fired"] == [] and g["ran"] is None for g in gates)
    assert sum(g["escalated"] for g in gates) == passes.escalated(model) - before


def test_attack_major_is_refused_in_one_line():
    model, x, y = lf.control("mlp")
    with pytest.raises(ValueError, match="schedule='batch-major' only"):
        evaluate(model, (x, y), _suite(model, 0.1), schedule="attack-major")
