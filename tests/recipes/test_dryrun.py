"""`--scale paper --dry-run`: every recipe's paper configuration built, stepped and attacked once.

Every recipe runs at batch 2 with one timed step and every iteration count capped at 1; one
process-wide cache shares the networks (and their traced steps) between recipes. WideResNet-34-10
costs about half a second per forward+backward pass at batch 2 on two CPU cores and a few seconds
per new trace, so the eight take about six minutes together (table1, with two WRNs, the longest at
~110 s). The default suite runs table4's, the one the README's Quickstart names (~70-100 s with
its networks' first traces); the other seven are `slow` (`python -m pytest -m slow
tests/recipes/test_dryrun.py`), which keeps the default suite near ten minutes on two cores.
"""

from __future__ import annotations

import pytest

from tfls.recipes import RECIPES, run_recipe
from tfls.recipes.cli import parser
from tfls.recipes.pass_counts import capped_params, gradient_passes

_CACHE: dict = {}


DEFAULT = {"table4"}


@pytest.mark.filterwarnings("ignore::tfls.TflsWarning")  # diagnostics of untrained networks
@pytest.mark.parametrize(
    "recipe", [pytest.param(r, marks=() if r in DEFAULT else (pytest.mark.slow,)) for r in RECIPES]
)
def test_every_recipe_dry_runs_at_paper_scale(recipe, shared_data_dir, tmp_path, monkeypatch):
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("TFLS_RECIPES_DIR", str(cache))
    lines: list[str] = []
    results = run_recipe(
        recipe,
        scale="paper",
        out=tmp_path / "out",
        data_dir=str(shared_data_dir),
        dry_run=True,
        dry_run_batch=2,
        dry_run_steps=1,
        dry_run_cap=1,
        dry_run_cache=_CACHE,
        log=lines.append,
    )
    assert not cache.exists()  # nothing trained, nothing cached
    md = (tmp_path / "out" / "results.md").read_text()
    assert "DRY RUN" in md and "DRY RUN" in lines[0]
    dry = results["dry_run"]
    if results["kind"] == "presets":
        assert dry["networks"] == {}
        return
    # Every model the paper names is built at its paper architecture.
    for mid, m in results["models"].items():
        assert m["architecture"] in ("wrn-34-10", "cnn4"), mid
        assert f"{m['architecture']}/{m['dataset']}" in dry["networks"]
    wrn = [n for name, n in dry["networks"].items() if name.startswith("wrn-34-10/cifar10")]
    assert wrn and 46.1e6 < wrn[0]["parameters"] < 46.3e6
    assert wrn[0]["forward_flops"] > 1e10
    # Every training method ran optimiser steps; every attack column ran (or shares a run).
    methods = {m["method"] for m in results["models"].values()}
    assert {t["method"] for t in dry["training"].values()} == methods
    assert all(t["seconds_per_step"] > 0 for t in dry["training"].values())
    if results["kind"] == "robustness":
        ran = {entry["attack"] for entry in dry["attacks"].values()}
        assert ran == set(results["attacks"])
        assert all(e["passes_full"] >= e["passes_run"] for e in dry["attacks"].values())
    est = dry["estimate"]
    assert est["cpu_hours"] > est["train_cpu_hours"] > 0 or results["kind"] == "logits"
    assert est["flops"] > 0 and est["gpu_hours_at_assumed_throughput"] > 0
    assert any("estimate for the full recipe" in line for line in lines)


def test_iteration_counts_and_caps_follow_the_presets():
    # AutoAttack standard: APGD-CE 100, APGD-T 9 × 100, FAB-T 9 × 100, Square 5000 forwards.
    assert gradient_passes("autoattack", {}) == pytest.approx(100 + 900 + 900 + 5000 / 3)
    capped = capped_params("autoattack", {}, 1)
    assert gradient_passes("autoattack", capped) == pytest.approx(1 + 1 + 1 + 1 / 3)
    assert gradient_passes("odi", {}) == 20 * (2 + 20)
    assert gradient_passes("mt", {}) == 18 * 20
    assert gradient_passes("pgd20", {"steps": 7}) == 7
    assert gradient_passes("cw-l2", {}) == 1000
    assert capped_params("pgd20", {"loss": "model"}, 1) == {"loss": "model", "steps": 1}


def test_the_dry_run_options_parse():
    args = parser("table4").parse_args(
        ["--scale", "paper", "--dry-run", "--dry-run-batch", "2", "--dry-run-steps", "1"]
    )
    assert (args.dry_run, args.dry_run_batch, args.dry_run_steps, args.dry_run_cap) == (
        True,
        2,
        1,
        None,
    )


def test_a_bad_dry_run_batch_is_one_line(capsys, shared_data_dir):
    from tfls.recipes.cli import main

    code = main(
        "table2",
        [
            "--scale",
            "paper",
            "--dry-run",
            "--dry-run-batch",
            "0",
            "--data-dir",
            str(shared_data_dir),
        ],
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "dry-run batch size" in err[0]


def test_the_command_lines_dry_run_is_the_quick_one_unless_full():
    """`--dry-run` alone is what this file runs (batch 2, one step, cap 1); `--dry-run-full` the
    configuration's own; a flag given wins over either."""
    from tfls.recipes.cli import dry_run_settings

    def settings(*flags):
        return dry_run_settings(parser("table4").parse_args(["--dry-run", *flags]))

    assert settings() == {"batch": 2, "steps": 1, "cap": 1}
    assert settings("--dry-run-full") == {"batch": None, "steps": 2, "cap": None}
    assert settings("--dry-run-full", "--dry-run-cap", "3") == {"batch": None, "steps": 2, "cap": 3}
    assert settings("--dry-run-batch", "8") == {"batch": 8, "steps": 1, "cap": 1}
