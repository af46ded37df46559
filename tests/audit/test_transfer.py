"""Transfer done right (`tfls.audit.surrogate`, `tfls.audit.transfer_checks`): a standard
surrogate trained on the training split and cached, check 8 (exact McNemar against the white-box
worst case) and check 16 (transfer failure), on the zero-gradient fixture, a control and hand-made
cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.audit import fixtures as fx
from tfls.audit import surrogate as sg
from tfls.audit import transfer_checks as tc
from tfls.audit.workspace import Workspace
from tfls.eval.evidence import Evidence
from tfls.stats import mcnemar_greater

TINY = {"epochs": 1, "limit": 256}  # the standard surrogate at a size tests can afford


# -- the standard surrogate ---------------------------------------------------------------------


def test_defaults_are_cpu_sized_natural_training_on_the_training_split(shared_data_dir):
    config = sg.surrogate_config(
        "fashion_mnist", input_shape=(28, 28, 1), num_classes=10, data_dir=shared_data_dir
    )
    assert (config.dataset, config.model, config.method) == ("fashion_mnist", "cnn4", "natural")
    assert (config.epochs, config.limit) == (sg.EPOCHS, sg.LIMIT) == (5, 20_000)
    assert config.label_smoothing == 0.0
    rgb = sg.surrogate_config(
        "cifar10", input_shape=(32, 32, 3), num_classes=10, data_dir=shared_data_dir
    )
    assert rgb.model == "small-cnn"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data_dir):
    """The standard surrogate at `TINY` size in a fresh cache, with every `tfls.data.load` the
    training made."""
    import tfls.data

    cache = tmp_path_factory.mktemp("model-cache")
    calls, logged = [], []
    real = tfls.data.load

    def spy(spec, split, **kwargs):
        calls.append((spec, split, kwargs.get("shuffle", False), kwargs.get("limit")))
        return real(spec, split, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfls.data, "load", spy)
        model = sg.standard_surrogate(
            "fashion_mnist",
            input_shape=(28, 28, 1),
            num_classes=10,
            data_dir=shared_data_dir,
            cache_dir=cache,
            log=logged.append,
            **TINY,
        )
    return {"model": model, "cache": cache, "calls": calls, "log": logged}


def test_the_surrogate_is_trained_on_the_training_split_only(trained):
    # Every pipeline the training fitted on is the training split, capped at the limit; the test
    # split is read once, unshuffled, for run.json's clean accuracy.
    fitted = [c for c in trained["calls"] if c[2]]
    assert fitted and all(c[:2] == ("fashion_mnist", "train") and c[3] == 256 for c in fitted)
    assert [c for c in trained["calls"] if c[1] != "train"] == [
        ("fashion_mnist", "test", False, 256)
    ]
    (run_dir,) = [p for p in trained["cache"].iterdir() if p.is_dir()]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["dataset"] == "fashion_mnist" and run["config"]["limit"] == 256
    assert (run["model"], run["method"], run["epochs"]) == ("cnn4", "natural", 1)


def test_the_surrogate_is_the_standard_architecture_not_the_audited_one(trained):
    import tfls.models

    model = trained["model"]
    standard = tfls.models.build("cnn4", num_classes=10, input_shape=(28, 28, 1), seed=0)
    assert [w.shape for w in model.weights] == [w.shape for w in standard.weights]
    audited = fx.build("control")  # an 8×8 MLP: nothing of it is copied
    assert [w.shape for w in model.weights] != [w.shape for w in audited.weights]
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)


def test_a_second_call_loads_the_cached_run_without_training(trained, shared_data_dir):
    import tfls.training

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    logged = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfls.training, "train", no_training)
        again = sg.standard_surrogate(
            "fashion_mnist",
            input_shape=(28, 28, 1),
            num_classes=10,
            data_dir=shared_data_dir,
            cache_dir=trained["cache"],
            log=logged.append,
            **TINY,
        )
    assert any("training cnn4" in line for line in trained["log"])
    assert len(logged) == 1 and "loaded from" in logged[0] and str(trained["cache"]) in logged[0]
    for a, b in zip(again.weights, trained["model"].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "dataset, shape, classes, match",
    [
        ("arrays", (28, 28, 1), 10, r"data given as arrays has none: pass a surrogate model"),
        ("npz", (28, 28, 1), 10, r"array file .* has none: pass a surrogate model"),
        ("folder", (28, 28, 1), 10, r"built-in datasets .*--surrogate PATH"),
        ("fashion_mnist", (8, 8, 1), 10, r"No standard surrogate for inputs of shape \(8, 8, 1\)"),
        ("fashion_mnist", (64, 64, 3), 10, r"cnn4 for 28×28×1, small-cnn for 32×32×3"),
        ("fashion_mnist", (32, 32, 3), 10, r"at its own size \(28, 28, 1\)"),
        ("fashion_mnist", (28, 28, 1), 5, r"has 10 classes but the model outputs 5"),
    ],
)
def test_refusals_are_one_line_naming_what_to_pass(
    dataset, shape, classes, match, tmp_path, shared_data_dir
):
    if dataset == "arrays":
        dataset = fx.data()
    elif dataset == "npz":
        x, y = fx.data()
        dataset = tmp_path / "points.npz"
        np.savez(dataset, x=x, y=y)
    elif dataset == "folder":
        for split in ("train", "test"):
            for label in ("a", "b"):
                (tmp_path / split / label).mkdir(parents=True)
        dataset = str(tmp_path)
    with pytest.raises(ValueError, match=match) as info:
        sg.standard_surrogate(
            dataset,
            input_shape=shape,
            num_classes=classes,
            data_dir=shared_data_dir,
            cache_dir=tmp_path / "cache",
        )
    assert "\n" not in str(info.value) and "Received" in str(info.value)
    assert not (tmp_path / "cache").exists()  # refused before anything is trained


# -- checks 8 and 16 on the fixtures ------------------------------------------------------------


def _checks(name, surrogate=None):
    x, y = fx.data()
    model = fx.build(name)
    ws = Workspace(model, x, y, eps=fx.EPS, norm="linf", seed=0, jit_compile=False)
    try:
        main = ws.evaluation("main", ["fgsm", "pgd20"])
        return tc.transfer_checks(ws, main, fx.surrogate() if surrogate is None else surrogate)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def zero_gradient():
    return _checks("zero-gradient")


def test_check_8_fires_on_the_zero_gradient_fixture(zero_gradient):
    check8, _ = zero_gradient
    assert (check8.id, check8.title, check8.kind) == (8, "Transfer beats white-box", "evidence")
    b, c = check8.numbers["b"], check8.numbers["c"]
    # Zero gradients: the white-box attacks break nothing, so every discordant point is b.
    assert c == 0 and b > 5
    assert check8.p_value == pytest.approx(0.5**b) == pytest.approx(mcnemar_greater(b, c))
    assert check8.p_value < 0.05 and check8.status == "fail"
    assert check8.test.startswith("exact McNemar, one-sided")
    assert len(check8.evidence["broken_only_by_transfer"]) == b
    assert "Athalye" in check8.source and check8.advice


def test_check_8_does_not_fire_on_the_control():
    check8, _ = _checks("control")
    assert check8.numbers["b"] == 0 and check8.numbers["c"] > 0
    assert check8.p_value == 1.0 and check8.status == "ok" and not check8.advice


def test_check_16_counts_the_surrogates_successes_that_fail_on_the_model(zero_gradient):
    _, check16 = zero_gradient
    assert (check16.id, check16.title, check16.kind) == (16, "Transfer failure", "diagnostic")
    assert check16.p_value is None
    n = check16.numbers
    assert n["replay_mismatches"] == 0  # the replay crafted the very points the evaluation scored
    assert n["transfer_failure"] == pytest.approx(n["failed_on_model"] / n["fooled_surrogate"])
    assert len(check16.evidence["transfer_failed"]) == n["failed_on_model"]
    assert check16.status == ("warn" if n["transfer_failure"] > 0.5 else "ok")


def test_a_surrogate_identical_to_the_model_has_no_transfer_failure():
    model = fx.build("control")
    check8, check16 = _checks("control", surrogate=model)
    n = check16.numbers
    assert n["fooled_surrogate"] > 0 and n["failed_on_model"] == 0
    assert n["transfer_failure"] == 0.0 and check16.status == "ok"
    assert (check8.numbers["b"], check8.numbers["c"], check8.p_value) == (0, 0, 1.0)


# -- hand-made cases ----------------------------------------------------------------------------


def _bits(text):
    return np.array([ch == "1" for ch in text])


def test_check_8_counts_discordant_points_against_the_gradient_only_worst_case():
    # 8 points; AutoAttack holds Square, so its bits are left out of the white-box worst case.
    evidence = Evidence(
        clean=_bits("11111110"),
        robust={"pgd20": _bits("11110100"), "autoattack": _bits("00000000")},
    )
    transfer = _bits("00111110")
    result = tc.transfer_beats_whitebox(evidence, transfer)
    # b: robust to PGD, broken by transfer: points 0, 1; c: PGD broke, transfer did not: 4, 6.
    assert (result.numbers["b"], result.numbers["c"]) == (2, 2)
    assert result.evidence == {"broken_only_by_transfer": [0, 1], "broken_only_by_whitebox": [4, 6]}
    assert result.p_value == pytest.approx(11 / 16)  # P(X >= 2), X ~ Bin(4, 1/2)
    assert result.numbers["transfer"] == 5 / 8 and result.numbers["whitebox_worst_case"] == 5 / 8


def test_check_16_by_hand():
    replay = tc.Replay(
        attacked=_bits("111111"),
        target_correct=_bits("110001"),
        surrogate_clean=_bits("111110"),
        surrogate_correct=_bits("000011"),
    )
    # Fooled on the surrogate: 0-3 (point 4 stays right there, point 5 is wrong clean on it);
    # of those the model still gets 0 and 1 right.
    result = tc.transfer_failure(replay, transfer_robust=_bits("110000"))
    n = result.numbers
    assert (n["fooled_surrogate"], n["failed_on_model"], n["transfer_failure"]) == (4, 2, 0.5)
    assert n["surrogate_clean_errors"] == 1 and n["attacked"] == 6
    assert n["replay_mismatches"] == 1  # point 5: right in the replay, not in the evaluation
    assert result.status == "ok" and "1 point(s)" in result.summary  # 0.5 is not above 0.5
    worse = tc.Replay(**{**replay.__dict__, "target_correct": _bits("111001")})
    assert tc.transfer_failure(worse).status == "warn"


def test_check_16_warns_when_the_surrogate_is_never_fooled():
    never = tc.Replay(*(np.ones(4, bool),) * 4)
    result = tc.transfer_failure(never)
    assert result.status == "warn" and result.numbers["transfer_failure"] is None
    assert "probes nothing" in result.summary


# -- the CLI ------------------------------------------------------------------------------------


def test_cli_train_surrogate_trains_the_standard_one_and_loads_it_again(
    tmp_path, capsys, monkeypatch, shared_data_dir
):
    import tfls.audit
    from tests.audit.test_cli import audit_args
    from tests.eval.test_cli import save_model
    from tfls.cli.main import main

    model_file = save_model(tmp_path / "tiny.keras")
    monkeypatch.setenv("TFLS_RECIPES_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sg, "EPOCHS", TINY["epochs"])
    monkeypatch.setattr(sg, "LIMIT", TINY["limit"])
    given = []

    def audit(model, dataset, **kwargs):  # stands in for the audit itself: only its inputs count
        given.append(kwargs)
        raise ValueError("stop here. Received: nothing")

    monkeypatch.setattr(tfls.audit, "audit", audit)
    args = audit_args(model_file, tmp_path / "audit", "--train-surrogate", data_dir=shared_data_dir)
    args.remove("--quiet")
    for _ in range(2):
        assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("training cnn4 on fashion_mnist") == 1 and "loaded from" in err
    first, second = (g["surrogate"] for g in given)
    assert "train_surrogate" not in given[0]
    assert first.input_shape == (None, 28, 28, 1) and len(first.weights) == len(second.weights)
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--surrogate", "MODEL"], "pass one of them"),
        (["--split", "train[:100]"], "audit the test split, or pass --surrogate"),
    ],
)
def test_cli_train_surrogate_refusals_are_one_line(tmp_path, capsys, extra, match):
    from tests.audit.test_cli import audit_args
    from tests.eval.test_cli import save_model
    from tfls.cli.main import main

    model_file = save_model(tmp_path / "tiny.keras")
    extra = [str(model_file) if e == "MODEL" else e for e in extra]
    out = tmp_path / "audit"
    assert main(audit_args(model_file, out, "--train-surrogate", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not out.exists()
