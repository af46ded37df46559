"""A recipe column's norm reaches the attack that runs: an L2 column is an L2 attack at the L2 ε."""

from __future__ import annotations

import json

import pytest

from tfls.recipes import run_recipe

SPEC = """
recipe = "l2-check"
title = "one model, the same preset as an L∞ and an L2 column"
kind = "robustness"
dataset = "fashion_mnist"

[[models]]
id = "natural"
label = "natural"

[[attacks]]
id = "pgd20-linf"
label = "PGD-20 (L∞)"
preset = "pgd20"
[[attacks]]
id = "pgd20-l2"
label = "PGD-20 (L2)"
preset = "pgd20"
norm = "l2"

"""
# Every scale is the same small setting: only smoke runs here, the others must validate.
SCALE = """
n = 16
batch_size = 16
eps = 0.05
eps_l2 = 0.75
train = { model = "cnn4", epochs = 1, limit = 256, batch_size = 64 }
"""
SPEC += "".join(f"\n[scales.{scale}]{SCALE}" for scale in ("smoke", "cpu", "paper"))


@pytest.fixture(scope="module")
def l2_run(tmp_path_factory, shared_data_dir):
    root = tmp_path_factory.mktemp("l2-recipe")
    spec = root / "l2-check.toml"
    spec.write_text(SPEC, encoding="utf-8")
    out = root / "out"
    results = run_recipe(
        spec,
        scale="smoke",
        out=out,
        cache_dir=root / "cache",
        data_dir=shared_data_dir,
        log=lambda _: None,
    )
    return results, out


def _fingerprints(out):
    """Each evaluation folder's stored attack configs, keyed by attack id."""
    found = {}
    for fp in (out / "evals").glob("*/fingerprint.json"):
        components = json.loads(fp.read_text(encoding="utf-8"))
        attacks = components.get("components", components)["attacks"]
        found.update(attacks)
    return found


def test_an_l2_column_runs_an_l2_attack_at_the_l2_eps(l2_run):
    results, out = l2_run
    configs = _fingerprints(out)
    assert configs["pgd20-l2"]["norm"] == "l2"
    assert configs["pgd20-l2"]["eps"] == pytest.approx(0.75)
    assert configs["pgd20-linf"]["norm"] == "linf"
    assert configs["pgd20-linf"]["eps"] == pytest.approx(0.05)
    measures = results["measures"]["natural"]
    assert any(k.startswith("worst-case l2") for k in measures)
    assert any(k.startswith("worst-case linf") for k in measures)
