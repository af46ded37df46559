"""`tfls bench autoattack`: rows for every component, counted passes, ART beside tfls."""

import json
import re

import pytest

from tests.tiny_models import tiny_conv
from tfls.bench import autoattack_inputs as inputs
from tfls.bench import autoattack_peers as peers
from tfls.cli.main import main

TINY = [
    "--budget=apgd-ce.steps=3",
    "--budget=apgd-t.steps=3",
    "--budget=apgd-t.n_targets=2",
    "--budget=fab-t.steps=3",
    "--budget=fab-t.n_targets=2",
    "--budget=square.n_queries=12",
]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_conv((28, 28, 1), 10, seed=0, filters=4, strides=2).save(path)
    return path


def bench_args(model_file, data_dir, out, *extra, components="apgd-ce,fab-t,square"):
    return [
        "bench",
        "autoattack",
        "--model",
        str(model_file),
        "--dataset",
        "fashion_mnist",
        "--data-dir",
        str(data_dir),
        "--n",
        "4",
        "--eps",
        "0.1",
        "--components",
        components,
        "--out",
        str(out),
        *TINY,
        *extra,
    ]


def test_tfls_rows_count_the_passes_each_component_makes(model_file, shared_data_dir, tmp_path):
    out = tmp_path / "aa.json"
    assert main(bench_args(model_file, shared_data_dir, out, "--no-art")) == 0
    result = json.loads(out.read_text())
    assert result["complete"] is True
    rows = {r["component"]: r for r in result["rows"]}
    assert list(rows) == ["apgd-ce", "fab-t", "square"]
    assert {r["library"] for r in rows.values()} == {"tfls"}
    # Square queries the model and never asks for a gradient; the gradient attacks do.
    assert rows["square"]["backwards_per_image"] == 0
    assert 0 < rows["square"]["forwards_per_image"] <= 12 + 2
    for name in ("apgd-ce", "fab-t"):
        assert rows[name]["backwards_per_image"] > 0, name
    # APGD-CE makes at most one gradient per step per point (3 steps, 4 points).
    assert rows["apgd-ce"]["backwards_per_image"] <= 3 + 1
    for r in rows.values():
        assert 0 <= r["robust_accuracy"] <= 1 and r["seconds"] > 0
        assert r["efficiency"] is not None and r["efficiency"] > 0
    assert result["budgets"]["square"].startswith("square 12 queries")
    table = (tmp_path / "aa.md").read_text()
    assert re.search(r"\| fab-t \| 4 \|.*\| no FAB in ART \|", table)


def test_art_runs_beside_tfls_on_the_same_budget(model_file, shared_data_dir, tmp_path):
    pytest.importorskip("art")
    out = tmp_path / "aa.json"
    args = bench_args(model_file, shared_data_dir, out, components="apgd-t,square")
    assert main(args) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["component"], r["library"]) for r in rows] == [
        ("apgd-t", "tfls"),
        ("apgd-t", "art"),
        ("square", "tfls"),
        ("square", "art"),
    ]
    art = {r["component"]: r for r in rows if r["library"] == "art"}
    # ART ran on the same model (counted by the same instrumented layer) within the budget:
    # 2 targets, 3 steps each, at most one gradient per step and point (plus ART's checks).
    assert 0 < art["apgd-t"]["backwards_per_image"] <= 2 * (3 + 2)
    assert 0 < art["square"]["forwards_per_image"] and art["square"]["backwards_per_image"] == 0
    assert "ART s / tfls s" in (tmp_path / "aa.md").read_text()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match=r"Received: 'square.queries=5'"):
        inputs.parse_budgets(["square.queries=5"])
    with pytest.raises(ValueError, match=r"Received: model='no/such/thing'"):
        inputs.load_benchmark("no/such/thing")
    assert inputs.parse_budgets(["square.n_queries=1000", "square.p_init=0.5"]) == {
        "square": {"n_queries": 1000, "p_init": 0.5}
    }


def test_an_offset_loads_a_held_out_slice(model_file, shared_data_dir):
    import numpy as np

    import tfls.data

    kw = dict(dataset="fashion_mnist", data_dir=shared_data_dir)
    _, x, y, about = inputs.load_benchmark(model_file, n=5, offset=7, **kw)
    xs, ys = tfls.data.load_arrays("fashion_mnist", "test", data_dir=shared_data_dir, limit=12)
    np.testing.assert_array_equal(x, xs[7:])
    np.testing.assert_array_equal(y, ys[7:])
    assert about["offset"] == 7 and about["name"].endswith("(test 7-11)")
    with pytest.raises(ValueError, match="offset=-1"):
        inputs.load_benchmark(model_file, n=5, offset=-1, **kw)
    with pytest.raises(ValueError, match="offset \\+ n = 10005 images: .*larger than"):
        inputs.load_benchmark(model_file, n=5, offset=10000, **kw)


def test_pytorch_without_torch_or_fra31_is_one_clear_line(
    monkeypatch, model_file, tmp_path, capsys
):
    monkeypatch.setattr(peers, "pytorch_available", lambda library: False)
    args = ["bench", "autoattack", "--model", str(model_file), "--no-art"]
    for value, expected in [
        ("fra31", "--pytorch fra31 needs torch installed and a checkout of fra31/auto-attack"),
        (
            "torchattacks",
            "--pytorch torchattacks needs torch installed and pip install torchattacks",
        ),
        ("foolbox", "Unknown PyTorch library; expected some of fra31, torchattacks"),
    ]:
        assert main([*args, f"--pytorch={value}", "--out", str(tmp_path / "o.json")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
        assert f"Received: --pytorch={value}" in err[0]
    assert not (tmp_path / "o.json").exists()


def test_warm_rows_time_a_second_call(model_file, shared_data_dir, tmp_path):
    out = tmp_path / "aa.json"
    args = bench_args(model_file, shared_data_dir, out, "--no-art", "--warm", components="apgd-ce")
    assert main(args) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["warm_seconds"] > 0 and row["seconds"] > 0
    # The passes counted are the first call's alone (3 steps, at most one gradient each).
    assert 0 < row["backwards_per_image"] <= 3 + 1
    table = (tmp_path / "aa.md").read_text()
    assert re.search(r"\| model \| component \| tfls warm s \|", table)
    assert re.search(rf"\| apgd-ce \| {row['warm_seconds']:.1f} \|", table)
