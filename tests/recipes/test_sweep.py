"""The sweep helper: grid parsing, its points, and a tiny sweep end to end (table3: no training)."""

from __future__ import annotations

import json

import pytest

from tfls.recipes import sweep


def test_parse_grid_and_points():
    grid = sweep.parse_grid(
        ["train.epochs=[4, 8]", "eps=0.03", 'substitute.cifar10="fashion_mnist"']
    )
    assert grid == [
        ("train.epochs", [4, 8]),
        ("eps", [0.03]),
        ("substitute.cifar10", ["fashion_mnist"]),
    ]
    pts = sweep.points(grid)
    assert pts == [
        ["train.epochs=4", "eps=0.03", 'substitute.cifar10="fashion_mnist"'],
        ["train.epochs=8", "eps=0.03", 'substitute.cifar10="fashion_mnist"'],
    ]
    assert sweep.points([("models.ls.label_smoothing", [[0.8, 0.9]])]) == [
        ["models.ls.label_smoothing=[0.8, 0.9]"]
    ]
    assert sweep.slug(pts[0]) == "train.epochs=4_eps=0.03_substitute.cifar10=-fashion_mnist"
    with pytest.raises(ValueError, match="at least one value"):
        sweep.parse_grid(["eps=[]"])


def test_sweep_runs_every_point_and_resumes(tmp_path):
    seen = []
    rows = sweep.run_sweep(
        "table3",
        scale="smoke",
        grid=sweep.parse_grid(["eps=[0.01, 0.02]"]),
        out=tmp_path,
        log=seen.append,
    )
    assert [r["overrides"] for r in rows] == [["eps=0.01"], ["eps=0.02"]]
    data = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    assert len(data["points"]) == 2
    assert "| point |" in (tmp_path / "sweep.md").read_text(encoding="utf-8")
    stamp = (tmp_path / "eps=0.01" / "results.json").stat().st_mtime_ns
    sweep.run_sweep(
        "table3",
        scale="smoke",
        grid=sweep.parse_grid(["eps=[0.01]"]),
        out=tmp_path,
        log=seen.append,
    )
    assert (tmp_path / "eps=0.01" / "results.json").stat().st_mtime_ns == stamp  # read, not rerun
