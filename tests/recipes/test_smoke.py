"""Every recipe end to end at `--scale smoke`: trains (cached), evaluates, writes, judges.

Every recipe runs in the default suite, as the issue asks: the smoke scale exists for this.
"""

from __future__ import annotations

import json

import pytest

from tfls.recipes import RECIPES, load_spec, run_recipe
from tfls.recipes import table1 as table1_module

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """One trained-model cache for the module: recipes that share a configuration train it once."""
    return tmp_path_factory.mktemp("recipe-models")


def _params():
    for name in RECIPES:
        yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_recipe_runs_at_smoke_scale(name, shared_data_dir, model_cache, tmp_path):
    lines = []
    results = run_recipe(
        name,
        scale="smoke",
        out=tmp_path,
        cache_dir=model_cache,
        data_dir=shared_data_dir,
        log=lines.append,
    )
    spec = load_spec(name)
    on_disk = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert on_disk["recipe"] == name and on_disk["scale"] == "smoke"
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert md.startswith(f"# {name}:")

    if spec["kind"] == "presets":
        assert all(row["match"] in (True, None) for row in results["presets"]), results["presets"]
        assert "| FGSM | `fgsm` |" in md
        return

    # Stand-ins are said out loud, in the log and in the Markdown.
    for sub in results["substitutions"]:
        assert any(f"STAND-IN: {sub['paper_dataset']} → {sub['dataset']}" in line for line in lines)
        assert f"the paper's `{sub['paper_dataset']}` is replaced by `{sub['dataset']}`" in md
    assert "| model | dataset (paper → ours) | measure | paper | ours | 95% CI |" in md

    evaluated = [m for m, info in results["models"].items() if info["evaluate"]]
    assert sorted(results["measures"]) == sorted(evaluated)
    for measures in results["measures"].values():
        if spec["kind"] == "logits":
            assert measures["logit_min"] <= measures["logit_max"]
            assert 0.0 <= measures["clean"] <= 1.0
            continue
        clean = measures["clean"]
        worst = [v for k, v in measures.items() if k.startswith("worst-case")]
        attacks = [v for k, v in measures.items() if k in results["attacks"]]
        assert attacks and worst
        assert all(0.0 <= w <= a <= clean <= 1.0 for a in attacks for w in worst if len(worst) == 1)

    # Claims: one verdict per spec entry, each with its numbers; the paper's numbers judged too.
    assert [c["id"] for c in results["claims"]] == [c["id"] for c in spec["claims"]]
    for claim in results["claims"]:
        assert claim["verdict"] in ("held", "not held", "n/a")
        assert any(f"{claim['id']}" in line and claim["verdict"].upper() in line for line in lines)
    if results["claims"]:
        assert "## Claims check" in md

    # The paper's numbers sit beside ours.
    for key, row in spec["paper"].get("values", {}).items():
        if key in results["measures"]:
            for measure, value in row.items():
                assert f"| {value:.2f} |" in md, (key, measure)

    for plot in spec["plots"]:
        assert (tmp_path / plot["file"]).read_bytes()[:8] == PNG_MAGIC
        assert f"![{plot['file']}]({plot['file']})" in md

    if name == "table1":
        _check_second_run_reuses_everything(results, shared_data_dir, model_cache, tmp_path)


def _check_second_run_reuses_everything(first, data_dir, cache, out):
    """Nothing is retrained and the finished evaluations are read back, not recomputed."""
    second = run_recipe(
        "table1", scale="smoke", out=out, cache_dir=cache, data_dir=data_dir, log=lambda _: None
    )
    assert not any(m["trained_now"] for m in second["models"].values())
    assert second["measures"] == first["measures"]
    hashes = {m["hash"] for m in second["models"].values()}
    assert (
        len(hashes) == 2
    )  # six rows, two configurations: the stand-ins share one natural and one LS model
    assert all((cache / h / "model.keras").is_file() for h in hashes)
    assert second["wall_time_s"] < first["wall_time_s"]


def test_cli_refuses_bad_overrides_before_work(tmp_path, capsys):
    assert table1_module.main(["--scale", "smoke", "--out", str(tmp_path), "--set", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err
    assert not (tmp_path / "results.json").exists()
