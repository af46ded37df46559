"""Spec loading, validation, scale resolution and the paper's numbers as the specs hold them."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from tfls.recipes import RECIPES, SCALES, configs, judge, load_spec, resolve, schema, spec_dir
from tfls.recipes import spec_files as spec_mod

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO.parent / "shared" / "paper" / "label-smoothing-and-adversarial-robustness.md"


def _raw(name: str) -> dict:
    with open(spec_dir() / f"{name}.toml", "rb") as f:
        return spec_mod.tomllib.load(f)


def _available(name):
    return name in ("fashion_mnist", "cifar10")


@pytest.mark.parametrize("name", RECIPES)
def test_every_spec_loads_and_resolves_at_every_scale(name):
    spec = load_spec(name)
    assert spec["recipe"] == name
    for scale in SCALES:
        plan = resolve(spec, scale, available=_available)
        assert plan.scale == scale and plan.n >= 1
        if scale == "paper":
            assert plan.substitutions == ()
            assert all(m.train.get("model") in ("wrn-34-10", "cnn4") for m in plan.models)
            assert all(m.dataset == m.paper_dataset for m in plan.models)


def test_spec_dir_is_the_repo_folder_and_env_overrides_it(tmp_path, monkeypatch):
    assert spec_dir() == REPO / "recipes"
    text = (REPO / "recipes" / "table3.toml").read_text(encoding="utf-8")
    (tmp_path / "table3.toml").write_text(
        text.replace('title = "Settings', 'title = "Mine'), encoding="utf-8"
    )
    monkeypatch.setenv(spec_mod.SPECS_ENV, str(tmp_path))
    assert load_spec("table3")["title"].startswith("Mine")
    with pytest.raises(FileNotFoundError, match="table4.toml"):
        load_spec("table4")


def test_unknown_recipe_is_refused_by_name():
    with pytest.raises(ValueError, match="table9"):
        load_spec("table9")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda s: s.update(colour="red"), "unknown keys \\['colour'\\]"),
        (lambda s: s.update(kind="movie"), "movie"),
        (lambda s: s["scales"].pop("cpu"), "scales.cpu"),
        (lambda s: s["models"][2].update(label_smoothing=1.5), "label_smoothing=1.5"),
        (lambda s: s["models"][0].update(method="magic"), "magic"),
        (lambda s: s["models"][1].update(id="madry"), "duplicate model id"),
        (lambda s: s["attacks"][0].update(preset="pgd7"), "pgd7"),
        (lambda s: s["attacks"][0].update(models=["ghost"]), "ghost"),
        (lambda s: s["scales"]["smoke"].update(eps=-0.1), "eps"),
        (lambda s: s["scales"]["smoke"].update(eps=8), "did you mean 8/255"),
        (lambda s: s["scales"]["smoke"].update(n=0), "n"),
        (lambda s: s["scales"]["smoke"]["train"].update(epoch=3), "unknown keys \\['epoch'\\]"),
        (lambda s: s["scales"]["smoke"].update(substitute={"cifar10": "imagenet"}), "imagenet"),
        (lambda s: s["scales"]["smoke"]["attacks"].update(nope={"steps": 1}), "nope"),
        (lambda s: s["claims"][0].update(attacks=["pgd10", "pgd20", "pgd99"]), "pgd99"),
        (lambda s: s["claims"].append({"id": "C9"}), "C9"),
        (lambda s: s["paper"]["values"]["ls"].update(pgd20="lots"), "must be a number"),
    ],
)
def test_validation_errors_name_the_problem(mutate, match):
    raw = copy.deepcopy(_raw("table4"))
    mutate(raw)
    with pytest.raises(ValueError, match=match):
        schema.validate_spec(raw, source="table4.toml")


def test_stand_ins_are_recorded_with_their_reason():
    plan = resolve(load_spec("table1"), "cpu", available=_available)
    subs = {s.paper_dataset: (s.dataset, s.reason) for s in plan.substitutions}
    assert subs["mnist"] == ("fashion_mnist", "not available offline here")
    assert subs["cifar100"] == ("fashion_mnist", "not available offline here")
    assert subs["cifar10"][0] == "fashion_mnist" and "stand-in" in subs["cifar10"][1]
    # Where everything is available and the scale forces nothing, nothing is replaced.
    spec = load_spec("table1")
    spec["scales"]["cpu"].pop("substitute")
    plan = resolve(spec, "cpu", available=lambda name: True)
    assert plan.substitutions == () and plan.model("mnist-ls").dataset == "mnist"


def test_alpha_lists_and_sweeps_expand():
    plan = resolve(load_spec("figure2"), "smoke", available=_available)
    assert [m.id for m in plan.models] == ["ls@0", "ls@0.5", "ls@0.9"]
    assert [m.label_smoothing for m in plan.models_in("ls")] == [0.0, 0.5, 0.9]
    plan = resolve(load_spec("figure3"), "smoke", available=_available)
    eta = plan.attacks_in("tanh-eta")
    assert [a.params["step_size"] for a in eta] == [0.01, 0.1] and all(
        a.params["steps"] == 5 for a in eta
    )
    assert [a.params["steps"] for a in plan.attacks_in("tanh-k-0.1")] == [2, 5]
    # The Adam reading of Algorithm 1 is swept beside the as-written attack, and labelled.
    adam = plan.attacks_in("tanh-adam-eta")
    assert [a.params["step_size"] for a in adam] == [0.01, 0.1]
    assert all(a.preset == "tanh-linf-adam" and a.reading for a in adam)
    assert all(a.preset == "tanh-linf" and not a.reading for a in eta)


def test_overrides_change_the_scale_and_are_validated():
    spec = load_spec("table4")
    plan = resolve(
        spec,
        "smoke",
        available=_available,
        overrides=[
            "n=7",
            "train.epochs=3",
            "eps=0.05",
            "models.ls.label_smoothing=[0.8, 0.9]",
            "attacks.pgd20.steps=9",
        ],
    )
    assert plan.n == 7
    assert [m.id for m in plan.models_in("ls")] == ["ls@0.8", "ls@0.9"]
    assert plan.model("madry").train["epochs"] == 3
    assert next(a for a in plan.attacks if a.id == "pgd20").params["steps"] == 9
    assert plan.eps_for("linf", "fashion_mnist") == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown keys \\['bogus'\\]"):
        resolve(spec, "smoke", available=_available, overrides=["bogus=1"])
    with pytest.raises(ValueError, match="key=value"):
        resolve(spec, "smoke", available=_available, overrides=["n"])
    with pytest.raises(ValueError, match="wizard"):
        resolve(spec, "smoke", available=_available, overrides=["models.wizard.epochs=1"])


def test_missing_eps_is_refused_before_any_training():
    spec = load_spec("table1")
    spec["scales"]["paper"]["eps"] = {"cifar10": "8/255"}
    with pytest.raises(ValueError, match="no linf ε for dataset 'mnist'"):
        resolve(spec, "paper", available=_available)


def test_train_config_needs_an_architecture():
    plan = resolve(load_spec("table4"), "smoke", available=_available, overrides=["train.model=''"])
    with pytest.raises(ValueError, match="model"):
        configs.train_config(plan.model("ls"))


# --------------------------------------------------------------------------------------------
# The paper's numbers


def test_paper_numbers_spot_checks():
    """Values typed by hand from the paper's tables, against what the specs hold."""
    t1 = load_spec("table1")["paper"]["values"]
    assert t1["mnist-ls"] == {"clean": 99.11, "fgsm": 99.03}
    assert t1["cifar10-ls"]["pgd20"] == 75.10 and t1["cifar100-natural"]["pgd20"] == 0.03
    t2 = load_spec("table2")["paper"]["values"]
    assert (t2["ls@0"]["logit_min"], t2["ls@0"]["logit_max"]) == (-5.0, 15)
    assert (t2["ls@0.9"]["logit_min"], t2["ls@0.9"]["logit_max"]) == (-0.08, 0.7)
    t4 = load_spec("table4")["paper"]["values"]
    assert (
        t4["ls"]["odi"] == 0.15
        and t4["madry"]["pgd20"] == 51.24
        and t4["trades"]["apgd-ce"] == 53.15
    )
    t5 = load_spec("table5")["paper"]["values"]
    assert t5["ls"] == {"cw-zero": 8.49, "cw-input": 37.83}
    t6 = load_spec("table6")["paper"]["values"]
    assert t6["ls"]["transfer-pgd"] == 8.15 and t6["trades"]["transfer-fgsm"] == 86.11


def _paper_rows(label: str) -> list[list[float]]:
    rows = []
    for line in PAPER.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if cells[0].strip() == label and len(cells) > 2:
            rows.append([float(x) for x in cells[1:] if re.fullmatch(r"-?\d+(\.\d+)?", x.strip())])
    return rows


@pytest.mark.skipif(not PAPER.is_file(), reason="the paper's text is not beside the repository")
def test_paper_numbers_match_the_paper_text():
    t4 = load_spec("table4")["paper"]["values"]
    order = ["clean", "fgsm", "pgd10", "pgd20", "pgd40", "pgd-cw", "mt", "odi", "apgd-ce"]
    for label, key in (("Madry", "madry"), ("Zhang", "trades"), ("LS", "ls")):
        assert [t4[key][k] for k in order] in _paper_rows(label)
    t6 = load_spec("table6")["paper"]["values"]
    for label, k in (("FGSM", "transfer-fgsm"), ("PGD", "transfer-pgd"), ("CW", "transfer-cw")):
        assert [t6["madry"][k], t6["trades"][k], t6["ls"][k]] in _paper_rows(label)
    t5 = load_spec("table5")["paper"]["values"]
    text = PAPER.read_text(encoding="utf-8")
    for k, start in (("cw-zero", "= 0$"), ("cw-input", "_{orig}$")):
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith("$\\mathbf{x}_0") and ln.split("\t")[0].endswith(start)
        )
        assert [float(x) for x in line.split("\t")[1:]] == [
            t5["ls"][k],
            t5["madry"][k],
            t5["trades"][k],
        ]
    t2 = load_spec("table2")["paper"]["values"]
    pairs = re.findall(r"(?:^|\t)(0\.\d|0)\t\[(-?[\d.]+), ([\d.]+)\]", text, flags=re.M)
    assert len(pairs) == 10 == len(t2)
    for a, lo, hi in pairs:
        key = f"ls@{float(a):g}"
        assert (t2[key]["logit_min"], t2[key]["logit_max"]) == (float(lo), float(hi))


@pytest.mark.parametrize("name", ["table1", "table2", "table4", "table5", "table6"])
def test_claims_hold_on_the_papers_own_numbers(name):
    """The criteria are fair: fed the paper's numbers, every checkable claim holds."""
    plan = resolve(load_spec(name), "paper", available=_available)
    verdicts = judge.judge(plan, judge.paper_measures(plan), paper=True)
    assert verdicts, name
    assert all(v["verdict"] in ("held", "n/a") for v in verdicts), verdicts
    assert any(v["verdict"] == "held" for v in verdicts)


def test_an_unknown_audit_budget_is_refused_naming_it():
    raw = _raw("table1")
    raw["scales"]["smoke"]["audit"] = "exhaustive"
    with pytest.raises(ValueError, match=r"audit budget.*exhaustive|exhaustive.*audit budget"):
        schema.validate_spec(raw, source="table1.toml")


def test_eot_and_bpda_reach_a_recipe_column_through_the_suite_builder():
    """`params = { eot = 10 }` in a spec (here as `--set`) builds that column with EOT and BPDA."""
    import keras

    from tfls.models.defences import defend
    from tfls.recipes.measure import build_attacks

    spec = load_spec("table4")
    plan = resolve(
        spec,
        "smoke",
        available=_available,
        overrides=["attacks.pgd20.eot=10", 'attacks.pgd20.bpda=["quantize"]'],
    )
    column = next(a for a in plan.attacks if a.id == "pgd20")
    assert column.params["eot"] == 10 and column.params["bpda"] == ["quantize"]
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model = defend(base, noise=0.1, levels=4)
    built = build_attacks([column], plan.model("ls"), model, norm="linf", eps=0.03, sources={})
    attack = built["pgd20"]
    assert attack.eot == 10 and attack.bpda == {"quantize": "identity"}
    assert attack.adapted().eot == 10  # the model is random: every draw counts
