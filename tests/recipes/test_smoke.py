"""Every recipe end to end at `--scale smoke`: trains (cached), evaluates, writes, judges.

Every recipe runs in the default suite, as the issue asks: the smoke scale exists for this.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfls.recipes import RECIPES, claim_entries, load_spec, run_recipe
from tfls.recipes import table1 as table1_module

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The verdict each claim gets on the paper's own numbers (`results["paper_claims"]`, judged in the
# runner's `paper` mode), in spec order: the paper's claims hold on the paper's numbers wherever
# the spec's [paper.values] carry what the claim needs, and are "n/a" where they do not (the
# figures give no table, and the paper never reported the `ce-smoothed` readings).
PAPER_VERDICTS = {
    "figure2": ["n/a", "n/a", "n/a"],
    "figure3": ["n/a", "n/a"],
    "table1": ["held", "held", "n/a", "n/a", "n/a"],
    "table2": ["held"],
    "table3": [],
    "table4": ["held", "held", "n/a", "n/a"],
    "table5": ["held"],
    "table6": ["held"],
}
TWO_THREAT_MODELS = Path(__file__).with_name("two_threat_models.toml")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """One trained-model cache for the module: recipes that share a configuration train it once."""
    return tmp_path_factory.mktemp("recipe-models")


# table4 trains Madry and TRADES models (about a minute): slow. Its paper-scale dry run
# (tests/recipes/test_dryrun.py) runs the same recipe code in the default suite.
_SLOW = {"table4"}


def _params():
    for name in RECIPES:
        marks = [pytest.mark.slow] if name in _SLOW else []
        yield pytest.param(name, id=name, marks=marks)


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
    if spec["kind"] == "logits":
        for measures in results["measures"].values():
            assert measures["logit_min"] <= measures["logit_max"]
            assert 0.0 <= measures["clean"] <= 1.0
    else:
        _check_worst_cases(results)

    # Audits: a scale that asks for one gives each evaluated model the verdict its audit wrote.
    if spec["scales"]["smoke"].get("audit"):
        assert sorted(results["audits"]) == sorted(evaluated)
        for mid, a in results["audits"].items():
            stored = json.loads((Path(a["folder"]) / "audit.json").read_text(encoding="utf-8"))
            assert stored["verdict"] == a["verdict"]
            assert a["worst_case"] <= a["pgd20"] <= results["measures"][mid]["clean"] + 1e-9
            label = results["models"][mid]["label"]
            assert f"| {label} | **{a['verdict']}** |" in md
    else:
        assert "audits" not in results

    # Claims: one verdict per spec entry, the one the judging function gives on the numbers
    # beside it; the paper's numbers judged too, with the verdicts they are known to give.
    assert [c["id"] for c in results["claims"]] == [c["id"] for c in spec["claims"]]
    for entry, claim in zip(spec["claims"], results["claims"], strict=True):
        again = claim_entries.evaluate_claim(entry, results["measures"], results["groups"])
        assert (again.verdict, again.detail) == (claim["verdict"], claim["detail"])
        assert any(f"{claim['id']}" in line and claim["verdict"].upper() in line for line in lines)
    assert [c["verdict"] for c in results["paper_claims"]] == PAPER_VERDICTS[name]
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


def _check_worst_cases(results):
    """Each threat model's worst case lies below exactly that threat model's attacks, and the
    evaluation behind it ran those attacks, and only those, in that norm and at that ε."""
    norm_of = {name: info["norm"] for name, info in results["attacks"].items()}
    for model_id, measures in results["measures"].items():
        clean = measures["clean"]
        worst_keys = [k for k in measures if k.startswith("worst-case ")]
        attacked = [k for k in measures if k in norm_of]
        assert worst_keys and attacked, measures
        # `worst-case {norm} ε={eps:.4g}`: one per threat model the model's attacks use.
        by_norm = {k.split()[1]: k for k in worst_keys}
        assert len(by_norm) == len(worst_keys) and set(by_norm) == {norm_of[a] for a in attacked}
        for norm, key in by_norm.items():
            mine = sorted(a for a in attacked if norm_of[a] == norm)
            worst = measures[key]
            assert all(0.0 <= worst <= measures[a] <= clean <= 1.0 for a in mine), (key, measures)
            folder = Path(results["evaluations"][f"{model_id}/{norm}"]["folder"])
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
            assert (report["norm"], f"ε={report['eps']:.4g}") == (norm, key.split()[2]), key
            assert sorted(report["attacks"]) == mine
            for name, res in report["attacks"].items():
                assert res["config"]["norm"] == norm, (name, res["config"])
                assert res["robust_accuracy"] == measures[name]
            assert report["worst_case_accuracy"] == worst


def _check_second_run_reuses_everything(first, data_dir, cache, out):
    """Nothing is retrained and no batch is evaluated again: the finished evaluations are read
    back, their `batches.jsonl` untouched, and the cached models too."""
    folders = [Path(e["folder"]) for e in first["evaluations"].values()]
    hashes = {m["hash"] for m in first["models"].values()}
    # Six rows, two configurations: the stand-ins share one natural and one LS model.
    assert len(hashes) == 2
    watched = [f / "batches.jsonl" for f in folders] + [cache / h / "model.keras" for h in hashes]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in watched}
    lines = []
    second = run_recipe(
        "table1", scale="smoke", out=out, cache_dir=cache, data_dir=data_dir, log=lines.append
    )
    assert not any(m["trained_now"] for m in second["models"].values())
    assert not any(w in line for line in lines for w in ("training ", "resuming ")), lines
    assert second["measures"] == first["measures"]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in watched} == before


@pytest.fixture(scope="module")
def two_threat_models(shared_data_dir, model_cache, tmp_path_factory):
    """A spec whose model is attacked in L∞ and in L2 (no shipped recipe is, yet)."""
    out = tmp_path_factory.mktemp("two-threat-models")
    results = run_recipe(
        str(TWO_THREAT_MODELS),
        scale="smoke",
        out=out,
        cache_dir=model_cache,
        data_dir=shared_data_dir,
        log=lambda _: None,
    )
    return results


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_each_threat_model_has_its_own_worst_case(two_threat_models, norm):
    results = two_threat_models
    measures = results["measures"]["mnist-natural"]
    assert sorted(k.split()[1] for k in measures if k.startswith("worst-case ")) == ["l2", "linf"]
    only_this_norm = {
        **results,
        "attacks": {a: i for a, i in results["attacks"].items() if i["norm"] == norm},
        "measures": {
            "mnist-natural": {
                k: v
                for k, v in measures.items()
                if k == "clean"
                or results["attacks"].get(k, {}).get("norm") == norm
                or k.startswith(f"worst-case {norm} ")
            }
        },
    }
    _check_worst_cases(only_this_norm)


def test_cli_refuses_bad_overrides_before_work(tmp_path, capsys):
    assert table1_module.main(["--scale", "smoke", "--out", str(tmp_path), "--set", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err
    assert not (tmp_path / "results.json").exists()
