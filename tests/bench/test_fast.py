"""`tfls bench autoattack --fast` and the ingredients bench: their pairings agree with the robust
counts, their passes with the model's counters, and the bank's sums and verdict with the rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.audit import lying_fixtures as lf
from tfls.attacks import passes
from tfls.bench import fast, fast_ingredients

SMALL = {"apgd-ce": {"steps": 10}, "apgd-t": {"steps": 10, "n_targets": 3}}
SMALL |= {"fab-t": {"steps": 10, "n_targets": 3}, "square": {"n_queries": 50}}
BUDGETS = {
    "autoattack": {"overrides": SMALL},
    "autoattack-fast": {"steps": 10, "ce_steps": 10, "escalate": 1.0},
}


def _measure(tmp_path, name="mlp"):
    model, x, y = lf.control("mlp")
    before = passes.read(model)
    result = fast.measure(
        model,
        x[:64],
        y[:64],
        eps=0.1,
        store=tmp_path / f"{name}-store",
        about={"name": name},
        settings=BUDGETS,
    )
    return result, np.subtract(passes.read(model), before)


def test_one_model_row_agrees_with_its_counts(tmp_path):
    result, spent = _measure(tmp_path)
    a, f = result["attacks"]["autoattack"], result["attacks"]["autoattack-fast"]
    # The images robust to one only explain the difference in robust counts.
    assert f["robust"] - a["robust"] == result["fast_only_robust"] - result["standard_only_robust"]
    assert 0 < a["robust"] < result["clean"]  # the comparison is not empty on either side
    # Every pass the model saw is some attack's (the gate's checks are fast's).
    total = [a["forward_passes"] + f["forward_passes"], a["backward_passes"] + f["backward_passes"]]
    assert total == [int(s) for s in spent]
    assert 0 <= result["mcnemar_p_fast_weaker"] <= 1
    assert result["gate"]["batches"] >= 1 and result["gate"]["fell_back"] == 0


def test_the_bank_sums_its_rows_and_names_what_fails(tmp_path):
    one, _ = _measure(tmp_path, "one")
    two = json.loads(json.dumps(one))
    two["model"]["name"] = "two"
    two["attacks"]["autoattack-fast"]["robust"] = two["attacks"]["autoattack"]["robust"] + 2
    s = fast.summarise([one, two])
    fwd = sum(r["attacks"]["autoattack"]["forward_passes"] for r in (one, two))
    assert s["total"]["autoattack"]["forward_passes"] == fwd
    assert s["ratios"]["forward"] == fwd / s["total"]["autoattack-fast"]["forward_passes"]
    assert s["images_above"]["two"] == 2 and not s["holds"]["images_above"]
    table = fast.to_markdown([one, two], title="bank")
    assert "| one |" in table and "| **sum** |" in table and "images_above FAILS" in table
    assert s["full_autoattack"]["models"] == [] and "Full AutoAttack ran" not in table

    # Points sent on by the probe on "two": its passes are weighed against the whole budget.
    two["gate"]["escalated"] = 5
    s = fast.summarise([one, two])
    full = s["full_autoattack"]
    assert full["models"] == ["two"] and full["others"] == ["one"]
    fwd = full["passes"]["forward"]
    assert fwd["spent"] == two["attacks"]["autoattack-fast"]["forward_passes"]
    assert fwd["budget"] == s["total"]["autoattack"]["forward_passes"] / fast.BAR["forward"]
    assert full["others_ratios"]["backward"] == fast.ratio(
        one["attacks"]["autoattack"]["backward_passes"],
        one["attacks"]["autoattack-fast"]["backward_passes"],
    )
    table = fast.to_markdown([one, two], title="bank")
    assert "Full AutoAttack ran inside autoattack-fast on two." in table
    assert f"forward {fwd['spent']:,} of the budget {round(fwd['budget']):,}" in table


def test_ingredients_pair_each_variant_with_the_first(tmp_path):
    model, x, y = lf.control("mlp")
    variants = (
        ("autoattack", "autoattack", {"overrides": SMALL}),
        ("ce", "apgd-ce", {"steps": 10}),
        ("fast", "autoattack-fast", BUDGETS["autoattack-fast"]),
    )
    found = fast_ingredients.measure(
        model, x[:64], y[:64], eps=0.1, store=tmp_path / "s", variants=variants
    )
    rows = {r["variant"]: r for r in found["rows"]}
    reference = rows["autoattack"]["robust"]
    for name in ("ce", "fast"):
        r = rows[name]
        diff = r["robust_where_autoattack_broke"] - r["broke_where_autoattack_did_not"]
        assert r["robust"] - reference == diff
    # APGD-CE is AutoAttack's first stage: AutoAttack never keeps an image it breaks.
    assert rows["ce"]["broke_where_autoattack_did_not"] == 0
    assert "| fast |" in fast_ingredients.to_markdown(
        found["rows"], title="t", clean=found["clean"], n=found["n"]
    )


def test_the_bank_command_sums_earlier_results(tmp_path, capsys):
    from tfls.cli.main import main

    one, _ = _measure(tmp_path, "one")
    paths = []
    for name in ("one", "two"):
        row = json.loads(json.dumps(one))
        row["model"]["name"] = name
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps({"results": [row]}))
    out = tmp_path / "bank.json"
    args = ["bench", "autoattack", "--fast", "--bank", *map(str, paths), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| one |" in printed and "| two |" in printed and "| **sum** |" in printed
    saved = json.loads(out.read_text())
    assert (
        saved["summary"]["total"]["autoattack"]["forward_passes"]
        == 2 * (one["attacks"]["autoattack"]["forward_passes"])
    )
    assert out.with_suffix(".md").read_text().startswith("# AutoAttack-standard")


def test_a_store_so_far_agrees_with_the_finished_row(tmp_path):
    result, _ = _measure(tmp_path, "m")
    now = fast.so_far(tmp_path / "m-store")
    for name in ("autoattack", "autoattack-fast"):
        assert now["robust"][name] == result["attacks"][name]["robust"]
        spent = [
            result["attacks"][name]["forward_passes"],
            result["attacks"][name]["backward_passes"],
        ]
        assert now["passes"][name] == spent
    assert now["fast_only_robust"] == result["fast_only_robust"]
    # A store with no finished batch yet (or no store at all) is one line naming it.
    for empty in (tmp_path / "nothing-yet", tmp_path / "m"):
        with pytest.raises(ValueError, match="no finished batch yet.*" + empty.name):
            fast.so_far(empty)


def test_ingredients_rows_out_of_the_table_are_refused_in_one_line(tmp_path):
    args = ["--model", str(tmp_path / "none"), "--dataset", "fashion_mnist", "--eps", "0.03"]
    with pytest.raises(SystemExit, match=r"--rows takes 1 to \d+\. Received: --rows 99"):
        fast_ingredients.main([*args, "--rows", "11", "99", "--out", str(tmp_path / "o.json")])
