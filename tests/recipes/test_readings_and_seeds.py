"""The `own-loss` reading (each model attacked with its own training loss) and `--seeds K`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tfls.attacks import pgd
from tfls.attacks.losses import kl_from_logits
from tfls.recipes import load_spec, run_recipe, seeds
from tfls.recipes.measure import attack_params, own_loss
from tfls.recipes.plan import AttackPlan, ModelPlan

HERE = Path(__file__).parent


def _model(method="natural", alpha=0.0):
    return ModelPlan("m", "m", "m", "cifar10", "cifar10", method, alpha, {}, True)


@pytest.mark.parametrize(
    ("method", "alpha", "expected"),
    [
        ("natural", 0.0, {"loss": "ce"}),
        ("natural", 0.3, {"loss": "ce-smoothed", "label_smoothing": 0.3}),
        ("madry", 0.0, {"loss": "ce"}),
        ("madry", 0.9, {"loss": "ce-smoothed", "label_smoothing": 0.9}),
        ("trades", 0.0, {"loss": "trades-kl"}),
    ],
)
def test_own_loss_is_the_training_loss(method, alpha, expected):
    assert own_loss(_model(method, alpha)) == expected
    atk = AttackPlan("a", "a", "a", "pgd20", "linf", {"loss": "model", "steps": 3}, None, None, "r")
    assert attack_params(atk, _model(method, alpha)) == {**expected, "steps": 3}


@pytest.mark.parametrize("recipe", ["table1", "table4", "figure2"])
def test_the_recipes_carry_the_own_loss_reading_and_judge_it(recipe):
    spec = load_spec(recipe)
    own = [a for a in spec["attacks"] if a.get("params", {}).get("loss") == "model"]
    assert own and all(a.get("reading") for a in own)
    ids = {a["id"] for a in own}
    judged = [
        c
        for c in spec["claims"]
        if ids & {c.get("attack"), c.get("baseline")} and "own-loss" in c.get("variant", "")
    ]
    assert judged


def test_pgd_trades_kl_raises_the_kl_inside_the_ball(tiny_cnn, tiny_batch):
    x, _ = tiny_batch
    y = np.argmax(tiny_cnn(x), axis=-1)  # clean-correct, as the evaluator attacks them
    eps = 0.1
    x_adv = np.asarray(pgd(tiny_cnn, x, y, eps=eps, steps=10, loss="trades-kl", seed=1))
    assert np.all(np.abs(x_adv - x) <= eps + 1e-6) and x_adv.min() >= 0 and x_adv.max() <= 1
    clean = tiny_cnn(x)
    kl_adv = np.asarray(kl_from_logits(clean, tiny_cnn(x_adv)))
    rng = np.random.default_rng(0)
    x_rand = np.clip(x + rng.uniform(-eps, eps, x.shape).astype(np.float32), 0, 1)
    kl_rand = np.asarray(kl_from_logits(clean, tiny_cnn(x_rand)))
    assert kl_adv.mean() > 2 * kl_rand.mean()


def test_pgd_trades_kl_refuses_a_target(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(ValueError, match="trades-kl"):
        pgd(tiny_cnn, x, y, eps=0.1, loss="trades-kl", target=y)


def test_spread_is_the_sample_mean_and_deviation():
    stats = seeds.spread({0: {"m": {"pgd": 0.2}}, 1: {"m": {"pgd": 0.4}}, 2: {"m": {"pgd": 0.6}}})
    s = stats["m"]["pgd"]
    assert s["mean"] == pytest.approx(0.4)
    assert s["sd"] == pytest.approx(0.2)
    assert (s["min"], s["max"], s["values"]) == (0.2, 0.6, [0.2, 0.4, 0.6])
    assert seeds.mean_measures(stats) == {"m": {"pgd": pytest.approx(0.4)}}
    assert seeds.ranges(stats) == {"m": {"pgd": [0.2, 0.6]}}


def test_seed_values_are_checked():
    from tfls.recipes.plan import resolve

    plan = resolve(load_spec(HERE / "two_threat_models.toml"), "smoke", available=lambda n: True)
    assert seeds.seed_values(plan, 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="seeds"):
        seeds.seed_values(plan, 0)
    assert {m.train["seed"] for m in seeds.with_seed(plan, 5).models} == {5}


@pytest.mark.filterwarnings("ignore::tfls.TflsWarning")  # the evaluator's diagnostics on seed 1
def test_a_recipe_over_two_seeds_reports_mean_and_spread(shared_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFLS_RECIPES_DIR", str(tmp_path / "cache"))
    results = run_recipe(
        HERE / "two_threat_models.toml",
        scale="smoke",
        out=tmp_path / "out",
        data_dir=str(shared_data_dir),
        seeds=2,
        log=lambda line: None,
    )
    per_seed = results["seeds"]["measures"]
    assert results["seeds"]["values"] == [0, 1] and set(per_seed) == {"0", "1"}
    hashes = results["seeds"]["models"]
    assert hashes["0"]["mnist-natural"] != hashes["1"]["mnist-natural"]  # two trained models
    for name, mean in results["measures"]["mnist-natural"].items():
        values = [per_seed[s]["mnist-natural"][name] for s in ("0", "1")]
        assert mean == pytest.approx(sum(values) / 2)
        sd = results["seeds"]["spread"]["mnist-natural"][name]["sd"]
        assert sd == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    md = (tmp_path / "out" / "results.md").read_text()
    assert "Training seeds:** 0, 1" in md and "range over seeds" in md and " ± " in md


def test_the_audit_section_says_which_seed_it_audited():
    from tfls.recipes.write_results import _audits_md

    audit = {
        "budget": "standard",
        "verdict": "overestimated",
        "pgd20": 0.463,
        "worst_case": 0.153,
        "recommended_suite": ["autoattack"],
        "reason": "check 7",
    }
    results = {"audits": {"ls": audit}, "models": {"ls": {"label": "LS α=0.9"}}}
    assert not any("first training seed" in line for line in _audits_md(results))
    results["seeds"] = {"values": [3, 4, 5]}
    text = "\n".join(_audits_md(results))
    assert (
        "models of the first training seed (3)" in text and "| LS α=0.9 | **overestimated**" in text
    )
