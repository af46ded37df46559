"""The suite builder: the one road from attack choices to built attacks, and its threat-model rules."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_models import tiny_conv
from tfls.attacks import PRESETS, TransferAttack, get, plan_suite, suite

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return tiny_conv(input_shape=(8, 8, 1), num_classes=10, seed=0)


@pytest.fixture(scope="module")
def source():
    return tiny_conv(input_shape=(8, 8, 1), num_classes=10, seed=1)


def _config(attack) -> dict:
    config = attack.get_config()
    config.pop("name")
    config.pop("model", None)
    return config


def test_each_preset_built_by_the_suite_equals_the_preset(model):
    """Same config as `get`: evaluation fingerprints of existing result folders stay valid."""
    for name, spec in PRESETS.items():
        if spec["attack"] == "TransferAttack":
            continue
        eps = 0.5 if spec.get("norm") == "l2" else 0.1
        built = suite(model, [name], eps=eps)[name]
        assert _config(built) == _config(get(name, model, eps=eps)), name


def test_presets_keep_their_own_norm_when_none_is_given(model):
    assert plan_suite("pgd20,fgsm", eps=0.1).norm == "linf"
    attacks = suite(model, ["cw-l2"], eps=0.5)
    assert attacks["cw-l2"].norm == "l2"


def test_an_explicit_norm_reaches_every_preset_that_does_not_fix_one(model):
    attacks = suite(model, "pgd20,apgd-ce,fgsm", eps=0.5, norm="l2")
    assert {a.norm for a in attacks.values()} == {"l2"}
    assert all(a.eps == 0.5 for a in attacks.values())


def test_an_l2_pgd_stays_in_the_l2_ball_and_leaves_the_linf_one(model):
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, 16).astype(np.int32)
    x_adv = np.asarray(suite(model, ["pgd20"], eps=1.0, norm="l2")["pgd20"](x, y))
    delta = (x_adv - x).reshape(16, -1)
    assert np.all(np.linalg.norm(delta, axis=1) <= 1.0 + 1e-5)
    # An L∞ attack at ε=1 could move every pixel by up to 1; the L2 one must not.
    assert np.abs(delta).max() > 0 and np.linalg.norm(delta, axis=1).max() > 0.5


@pytest.mark.parametrize(
    ("names", "norm", "message"),
    [
        ("pgd20,cw-l2", None, "different norms"),
        ("cw-l2", "linf", "cw-l2 is an l2 attack"),
        ("pgd20,nope", None, "Unknown attack 'nope'"),
        ("pgd20,pgd20", None, "listed twice"),
        ("", None, "at least one attack"),
        ("pgd20", "l3", "l3"),
    ],
)
def test_bad_choices_are_refused_before_any_model(names, norm, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plan_suite(names, eps=0.1, norm=norm)


def test_mixed_norms_name_each_attack_and_its_norm():
    with pytest.raises(ValueError) as e:
        plan_suite(["pgd20", "cw-l2"], eps=0.1)
    assert "pgd20 (linf)" in str(e.value) and "cw-l2 (l2)" in str(e.value)


@pytest.mark.parametrize("eps", [-0.1, "nan", "x/255"])
def test_bad_eps_is_refused(eps):
    with pytest.raises(ValueError, match="eps"):
        plan_suite("pgd20", eps=eps)


def test_eps_is_parsed_once_for_the_whole_suite():
    assert plan_suite("pgd20", eps="8/255").eps == pytest.approx(8 / 255)


def test_overrides_are_checked_by_name(model):
    with pytest.raises(ValueError, match="takes no argument 'stepz'"):
        plan_suite("pgd20", eps=0.1, overrides={"pgd20": {"stepz": 3}})
    with pytest.raises(ValueError, match="not in the suite"):
        plan_suite("pgd20", eps=0.1, overrides={"odi": {"restarts": 2}})
    with pytest.raises(ValueError, match="belong to the whole suite"):
        plan_suite("pgd20", eps=0.1, overrides={"pgd20": {"eps": 0.3}})
    built = suite(model, ["pgd20"], eps=0.1, overrides={"pgd20": {"restarts": 3, "steps": 7}})
    assert (built["pgd20"].restarts, built["pgd20"].steps) == (3, 7)


def test_the_seed_reaches_every_attack_unless_overridden(model):
    built = suite(model, "pgd20,odi", eps=0.1, seed=7, overrides={"odi": {"seed": 3}})
    assert built["pgd20"].seed == 7 and built["odi"].seed == 3


def test_labels_map_to_presets(model):
    built = suite(
        model,
        {"pgd20": "pgd20", "pgd20-ce(0.9)": "pgd20"},
        eps=0.1,
        overrides={"pgd20-ce(0.9)": {"loss": "ce-smoothed", "label_smoothing": 0.9}},
    )
    assert list(built) == ["pgd20", "pgd20-ce(0.9)"]
    assert built["pgd20-ce(0.9)"].loss == "ce-smoothed"
    assert built["pgd20"].loss == "ce"


def test_transfer_of_any_preset_crafts_on_the_source(model, source):
    plan = plan_suite("pgd20,transfer-pgd20,transfer-apgd-ce", eps=0.1)
    assert plan.transfer_labels == ("transfer-pgd20", "transfer-apgd-ce")
    with pytest.raises(ValueError, match="source_model"):
        plan.build(model)
    built = plan.build(model, source_model=source)
    for label in plan.transfer_labels:
        assert isinstance(built[label], TransferAttack)
        assert built[label].source_model is source and built[label].attack.model is source
        assert built[label].eps == 0.1 and built[label].norm == "linf"
    assert built["pgd20"].model is model
    # The preset path and the suite path build the same transfer attack.
    preset = get("transfer-pgd20", model, eps=0.1, source=source)
    assert _config(built["transfer-pgd20"].attack) == _config(preset.attack)


def test_transfer_sources_can_differ_per_attack(model, source):
    other = tiny_conv(input_shape=(8, 8, 1), num_classes=10, seed=2)
    built = suite(
        model,
        {"from-a": "transfer-fgsm", "from-b": "transfer-fgsm"},
        eps=0.1,
        source_model={"from-a": source, "from-b": other},
    )
    assert built["from-a"].source_model is source and built["from-b"].source_model is other


def test_nothing_outside_tfls_attacks_builds_attacks_by_hand():
    """Clients (CLI, recipes, app, benchmarks) call the suite builder, never a preset or class."""
    classes = "|".join(
        ["FGSM", "PGD", "MultiTargeted", "ODI", "CarliniWagnerL2", "TanhLinf", "TransferAttack"]
        + ["APGD", "FAB", "Square", "AutoAttack"]
    )
    by_hand = re.compile(rf"(attacks\.get\(|\b({classes})\()")
    offenders = []
    for folder in ("tfls", "tui"):
        for path in (REPO / folder).rglob("*.py"):
            if path.parts[-2] == "attacks" and path.parts[-3] == "tfls":
                continue
            if path.relative_to(REPO).as_posix() == "tfls/bench/pytorch.py":
                continue  # builds the PyTorch peers' own attacks (fra31, torchattacks), not tfls'
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if by_hand.search(code) and ">>>" not in code:
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
