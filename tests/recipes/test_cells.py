"""Recipes as jobs: `--plan` writes the cells and their commands; `--jobs 2` equals the sequential
run; a cell alone trains and evaluates only its own model."""

from __future__ import annotations

import json
import os
import shlex

import pytest

from tests.conftest import REPO
from tfls.recipes.cli import main

SAME = ("measures", "intervals", "claims", "paper_claims")  # what a run concludes


def test_plan_writes_one_command_a_cell(tmp_path, shared_data_dir, capsys):
    out = tmp_path / "out"
    args = ["--scale", "smoke", "--out", str(out), "--cache", str(tmp_path / "c"), "--plan"]
    args += ["--jobs", "2"]  # a cell's command runs that cell alone
    assert main("table4", [*args, "--data-dir", str(shared_data_dir)]) == 0
    cells = json.loads((out / "cells.json").read_text())["cells"]
    lines = (out / "cells.txt").read_text().splitlines()
    assert [c["models"] for c in cells] == [["madry"], ["trades"], ["ls"]]
    assert len({c["config_hash"] for c in cells}) == 3
    assert all(c["cache"].endswith(c["config_hash"]) for c in cells)
    for i, (cell, line) in enumerate(zip(cells, lines, strict=True)):
        words = shlex.split(line)
        assert line == cell["command"] and words[:3] == ["python", "-m", "tfls.recipes.table4"]
        assert words[-2:] == ["--cell", str(i)] and "--plan" not in words
        assert "--jobs" not in words and words.count("--cell") == 1
    assert not (tmp_path / "c").exists()  # nothing trained
    assert "3 independent cells" in capsys.readouterr().out


def test_a_cell_out_of_range_is_one_line(tmp_path, shared_data_dir, capsys):
    args = ["--scale", "smoke", "--out", str(tmp_path / "o"), "--cell", "3"]
    assert main("table4", [*args, "--data-dir", str(shared_data_dir)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("cell must be one of 0..2 (3 cells in table4). Received: cell=3")
    assert "Traceback" not in "\n".join(err)


@pytest.mark.slow
def test_two_jobs_equal_the_sequential_run(tmp_path, shared_data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    common = ["--scale", "smoke", "--data-dir", str(shared_data_dir)]
    assert main("table4", [*common, "--out", "seq", "--cache", "cache-seq"]) == 0
    assert main("table4", [*common, "--out", "par", "--cache", "cache-par", "--jobs", "2"]) == 0
    seq, par = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("seq", "par"))
    for key in SAME:
        assert seq[key] == par[key], key
    assert not any(m["trained_now"] for m in par["models"].values())  # the cells trained them
    for cell in range(3):
        assert f"cell {cell} done" in (tmp_path / "par" / "cells" / f"{cell}.log").read_text()
    for name in ("evals", "audits"):
        ours = sorted(
            p.relative_to(tmp_path / "seq") for p in (tmp_path / "seq" / name).rglob("*.jsonl")
        )
        assert ours == sorted(
            p.relative_to(tmp_path / "par") for p in (tmp_path / "par" / name).rglob("*.jsonl")
        )
        for rel in ours:  # the per-example outcomes, bit for bit (timings aside)
            assert _outcomes(tmp_path / "seq" / rel) == _outcomes(tmp_path / "par" / rel), rel


def _outcomes(path):
    timed = ("seconds", "checksum")  # the checksum covers the timings
    return [
        {k: v for k, v in json.loads(line).items() if k not in timed}
        for line in path.read_text().splitlines()
    ]
