import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.eval import helpers
from tfls.attacks import FGSM, PGD
from tfls.eval import Cancelled, Progress, Report, ThreatModelViolation, evaluate
from tfls.eval.record_format import decode_bits


@pytest.fixture(scope="module")
def model():
    return helpers.tiny_model(seed=0)


@pytest.fixture(scope="module")
def data(model):
    return helpers.tiny_data(model, n=60, seed=0)


def read_batches(out):
    return [json.loads(line) for line in (out / "batches.jsonl").read_text().splitlines()]


def counts(report: Report):
    return (
        report.images,
        report.clean_correct,
        {k: (a.robust, a.attacked, a.cumulative_robust) for k, a in report.attacks.items()},
        report.worst_case,
    )


def check_per_example_consistency(report, out):
    """Robust points are clean-correct; the worst case is the AND over attacks; counts add up."""
    clean_total, worst_total = 0, 0
    robust_totals = dict.fromkeys(report.attacks, 0)
    for rec in read_batches(out):
        clean = decode_bits(rec["clean"])
        worst = clean.copy()
        for name in report.attacks:
            bits = decode_bits(rec["robust"][name])
            assert not (bits & ~clean).any(), "robust but misclassified clean"
            worst &= bits
            robust_totals[name] += int(bits.sum())
        clean_total += int(clean.sum())
        worst_total += int(worst.sum())
    assert clean_total == report.clean_correct
    assert worst_total == report.worst_case
    assert robust_totals == {k: a.robust for k, a in report.attacks.items()}


def test_report_numbers_and_files(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, batch_size=16)
    report = evaluate(
        model, ds, helpers.deterministic_attacks(model), out=tmp_path, meta={"dataset": "toy"}
    )
    clean = int((np.argmax(model(x), -1) == y).sum())
    assert report.images == 60 and report.batches == 4 and report.complete
    assert report.clean_correct == clean
    assert report.clean_accuracy == pytest.approx(clean / 60)
    for a in report.attacks.values():
        assert a.attacked == clean  # individual=True: every attack sees every clean-correct point
        assert a.exact
        assert a.interval[0] <= a.robust_accuracy <= a.interval[1]
        assert "model" in a.config and a.config["model"] == "<the evaluated model>"
    assert report.worst_case <= min(a.robust for a in report.attacks.values())
    assert report.attacks["pgd5"].cumulative_robust == report.worst_case
    assert report.norm == "linf" and report.eps == pytest.approx(0.05)
    assert set(report.versions) >= {"tfls", "tensorflow", "keras"}
    assert report.meta == {"dataset": "toy"}
    check_per_example_consistency(report, tmp_path)
    # The three files: JSON round-trips, Markdown has the table, CSV one row per measure.
    assert Report.load(tmp_path) == report
    md = (tmp_path / "report.md").read_text()
    assert "| **worst-case** |" in md and "pgd5" in md and "PARTIAL" not in md
    csv_rows = (tmp_path / "report.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in csv_rows] == ["measure", "clean", "fgsm", "pgd5", "worst-case"]


def test_attack_results_are_the_attacks_own(model, data):
    """The per-attack count equals running the attack by hand on the clean-correct points."""
    x, y = data
    attack = PGD(model, eps=0.05, steps=5, init="none")
    report = evaluate(model, helpers.dataset(x, y, 60), {"pgd5": attack})
    ok = np.argmax(model(x), -1) == y
    x_adv = attack(x[ok], y[ok]).numpy()
    assert report.attacks["pgd5"].robust == int((np.argmax(model(x_adv), -1) == y[ok]).sum())


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    eps=st.sampled_from([0.01, 0.05, 0.2]),
    batch_size=st.integers(3, 40),
    individual=st.booleans(),
)
def test_worst_case_never_exceeds_any_attack(
    model, tmp_path_factory, seed, eps, batch_size, individual
):
    x, y = helpers.tiny_data(model, n=40, seed=seed, correct=0.8)
    attacks = {
        "noise": helpers.NoiseAttack(model, eps=eps, seed=seed),
        "fgsm": FGSM(model, eps=eps),
        "pgd3": PGD(model, eps=eps, steps=3, seed=seed),
    }
    out = tmp_path_factory.mktemp("prop")
    report = evaluate(
        model, helpers.dataset(x, y, batch_size), attacks, out=out, individual=individual
    )
    for a in report.attacks.values():
        assert report.worst_case <= a.robust <= report.clean_correct
        assert report.worst_case <= a.cumulative_robust
    assert report.worst_case_accuracy <= min(a.robust_accuracy for a in report.attacks.values())
    check_per_example_consistency(report, out)


def test_sequential_mode_is_cheaper_with_the_same_worst_case(model, data):
    x, y = data
    attacks = helpers.deterministic_attacks(model, eps=0.05)
    ds = helpers.dataset(x, y, 16)
    full = evaluate(model, ds, attacks, individual=True)
    seq = evaluate(model, ds, attacks, individual=False)
    assert seq.worst_case == full.worst_case
    assert seq.attacks["fgsm"].attacked == full.clean_correct
    # The second attack only ran on points FGSM did not break.
    assert seq.attacks["pgd5"].attacked == full.attacks["fgsm"].robust
    assert not seq.attacks["pgd5"].exact and "Upper bound" in seq.to_markdown()
    # Its number is an upper bound on its own robust accuracy.
    assert seq.attacks["pgd5"].robust >= full.attacks["pgd5"].robust


def test_progress_after_every_batch(model, data):
    x, y = data
    seen: list[Progress] = []
    evaluate(
        model,
        helpers.dataset(x, y, 16),
        helpers.deterministic_attacks(model),
        n=50,
        on_batch=seen.append,
    )
    assert [p.images_done for p in seen] == [16, 32, 48, 50]
    assert [p.batches_done for p in seen] == [1, 2, 3, 4]
    last = seen[-1]
    assert last.images_total == 50 and last.fraction == 1.0 and last.eta_s == 0.0
    assert last.attacks == ("fgsm", "pgd5")
    assert set(last.robust) == {"fgsm", "pgd5"}
    assert last.worst_case <= min(last.robust.values()) <= last.clean_correct
    assert last.images_per_s > 0 and last.elapsed_s > 0
    assert seen[0].eta_s > 0


@pytest.mark.parametrize("how", ["return-false", "raise"])
def test_cancel_keeps_partial_results_and_resumes(model, data, tmp_path, how):
    x, y = data
    ds = helpers.dataset(x, y, 10)
    attacks = {"counting": helpers.CountingAttack(model, eps=0.05)}

    def stop_after_two(p):
        if p.batches_done == 2:
            if how == "raise":
                raise Cancelled
            return False
        return None

    partial = evaluate(model, ds, attacks, out=tmp_path / "a", on_batch=stop_after_two)
    assert not partial.complete and partial.images == 20 and partial.batches == 2
    assert len(read_batches(tmp_path / "a")) == 2
    assert Report.load(tmp_path / "a").complete is False
    assert "PARTIAL" in (tmp_path / "a" / "report.md").read_text()

    helpers.CountingAttack.calls.clear()
    resumed = evaluate(model, ds, attacks, out=tmp_path / "a")
    assert len(helpers.CountingAttack.calls) == 4  # only the 4 unfinished batches were attacked
    straight = evaluate(model, ds, attacks, out=tmp_path / "b")
    assert resumed.complete and counts(resumed) == counts(straight)


def test_resume_after_a_torn_write(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, 16)
    attacks = helpers.deterministic_attacks(model)
    straight = evaluate(model, ds, attacks, out=tmp_path)
    path = tmp_path / "batches.jsonl"
    text = path.read_text()
    path.write_text(text[: len(text) - 25])  # the last record was being written when killed
    assert counts(evaluate(model, ds, attacks, out=tmp_path)) == counts(straight)
    assert len(read_batches(tmp_path)) == 4


def test_resume_refuses_a_different_evaluation(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, 20)
    evaluate(model, ds, {"pgd": PGD(model, eps=0.05, steps=2)}, out=tmp_path)
    with pytest.raises(ValueError, match=r"different evaluation.*attacks\.pgd\.steps: 2 -> 3"):
        evaluate(model, ds, {"pgd": PGD(model, eps=0.05, steps=3)}, out=tmp_path)
    other = helpers.tiny_model(seed=1)
    with pytest.raises(ValueError, match=r"model\.weights_sha256"):
        evaluate(other, ds, {"pgd": PGD(other, eps=0.05, steps=2)}, out=tmp_path)
    with pytest.raises(ValueError, match=r"meta\.seed"):
        evaluate(model, ds, {"pgd": PGD(model, eps=0.05, steps=2)}, out=tmp_path, meta={"seed": 1})
    # Different images with the same configuration: caught by the per-batch digests.
    with pytest.raises(ValueError, match="Batch 0 of `dataset` differs"):
        evaluate(
            model,
            helpers.dataset(x[::-1].copy(), y[::-1].copy(), 20),
            {"pgd": PGD(model, eps=0.05, steps=2)},
            out=tmp_path,
        )
    # resume=False starts over.
    report = evaluate(model, ds, {"pgd": PGD(model, eps=0.05, steps=3)}, out=tmp_path, resume=False)
    assert report.complete and report.attacks["pgd"].config["steps"] == 3


def test_attack_leaving_the_ball_or_box_is_caught(model, data):
    x, y = data
    ds = helpers.dataset(x, y, 60)
    with pytest.raises(
        ThreatModelViolation, match=r"'cheat' left its linf ball: perturbation 0\.1 > eps=0\.05"
    ):
        evaluate(model, ds, {"cheat": helpers.OutsideBallAttack(model, eps=0.05)})
    with pytest.raises(ThreatModelViolation, match=r"left the valid input box \[0, 1\]"):
        evaluate(model, ds, {"cheat": helpers.OutsideBoxAttack(model, eps=0.05)})


def test_bad_arguments_fail_before_any_work(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, 20)
    fgsm = FGSM(model, eps=0.05)
    with pytest.raises(ValueError, match="must be a mapping"):
        evaluate(model, ds, [fgsm])
    with pytest.raises(ValueError, match="share a threat model"):
        evaluate(model, ds, {"a": fgsm, "b": FGSM(model, eps=0.1)}, out=tmp_path / "x")
    with pytest.raises(ValueError, match="Received: n=0"):
        evaluate(model, ds, {"a": fgsm}, n=0)
    with pytest.raises(ValueError, match="on_batch"):
        evaluate(model, ds, {"a": fgsm}, on_batch=3)
    with pytest.raises(ValueError, match="reserved"):
        evaluate(model, ds, {"worst-case": fgsm})
    with pytest.raises(ValueError, match="`eps` and `norm`"):
        evaluate(model, ds, {"a": lambda x, y: x})
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match=r"only 60 images.*Received: n=100"):
        evaluate(model, ds, {"a": fgsm}, n=100)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        evaluate(model, helpers.dataset(x * 2, y, 20), {"a": fgsm})
    with pytest.raises(ValueError, match="Labels must lie in"):
        evaluate(model, helpers.dataset(x, y + 10, 20), {"a": fgsm})


def test_softmax_model_is_refused(data):
    import keras

    x, y = data
    base = helpers.tiny_model()
    probs = keras.Sequential([base, keras.layers.Softmax()])
    with pytest.raises(ValueError, match="outputs probabilities"):
        evaluate(probs, helpers.dataset(x, y, 20), {})


def test_no_attacks_gives_clean_accuracy(model, data):
    x, y = data
    report = evaluate(model, helpers.dataset(x, y, 25), {})
    assert report.worst_case == report.clean_correct and report.eps is None
    assert "worst-case" in report.to_markdown()


def test_fingerprint_ignores_auto_numbered_layer_names(model):
    from tfls.attacks import get
    from tfls.eval.fingerprint import attack_config, model_fingerprint

    twin = helpers.tiny_model(seed=0)
    assert twin.name != model.name and twin.weights[0].path != model.weights[0].path
    assert model_fingerprint(twin) == model_fingerprint(model)
    assert model_fingerprint(helpers.tiny_model(seed=1)) != model_fingerprint(model)

    source = helpers.tiny_model(seed=1)
    first = [PGD(model, eps=0.1), get("transfer-pgd20", model, eps=0.1, source=source)]
    second = [PGD(model, eps=0.1), get("transfer-pgd20", model, eps=0.1, source=source)]
    assert first[0].name != second[0].name
    for a, b in zip(first, second, strict=True):
        assert attack_config(a, model) == attack_config(b, model)
    config = attack_config(first[1], model)
    assert config["source_model"].startswith("<model ") and "name" not in config
    other = attack_config(
        get("transfer-pgd20", model, eps=0.1, source=helpers.tiny_model(seed=2)), model
    )
    assert other["source_model"] != config["source_model"]  # another source is another evaluation


def nan_beyond(model, threshold):
    """`model`, but its logits are NaN wherever some pixel exceeds `threshold`."""
    import keras

    inputs = keras.Input(model.input_shape[1:])
    logits = model(inputs)

    def garbage_beyond(args):
        x, z = args
        far = keras.ops.max(keras.ops.reshape(x, (keras.ops.shape(x)[0], -1)), axis=1) > threshold
        return keras.ops.where(far[:, None], keras.ops.full_like(z, float("nan")), z)

    return keras.Model(inputs, keras.layers.Lambda(garbage_beyond)([inputs, logits]))


def test_nan_logits_at_an_adversarial_point_count_as_broken_and_are_reported(model, data, tmp_path):
    x, y = data
    x = x * 0.5  # clean pixels in [0, 0.5]: finite logits; FGSM's step of 0.05 may cross 0.52
    broken = nan_beyond(model, 0.52)
    y = np.argmax(model(x), axis=-1).astype(np.int32)  # every point clean-correct
    fgsm = FGSM(broken, eps=0.05)
    x_adv = np.asarray(fgsm(x, y))
    garbage = int((x_adv.reshape(60, -1).max(axis=1) > 0.52).sum())
    assert 0 < garbage < 60
    report = evaluate(broken, helpers.dataset(x, y, 20), {"fgsm": fgsm}, out=tmp_path)
    result = report.attacks["fgsm"]
    assert report.clean_correct == 60 and result.attacked == 60
    assert result.nonfinite == garbage
    assert result.robust <= 60 - garbage and report.worst_case == result.robust
    notes = f"fgsm: {garbage} adversarial point(s) where the model output NaN or inf logits"
    assert notes in report.to_markdown()
    assert json.loads((tmp_path / "report.json").read_text())["attacks"]["fgsm"]["nonfinite"] == (
        garbage
    )


def test_nan_clean_logits_are_refused_naming_the_model_and_the_count(model, data):
    x, y = data
    broken = nan_beyond(model, 0.9)  # some images of every batch have a pixel above 0.9
    with pytest.raises(
        ValueError, match=r"`nanny` outputs non-finite logits .* for \d+ of 20 images"
    ):
        evaluate(broken, helpers.dataset(x, y, 20), {}, meta={"model": "nanny"})


def test_nan_gradients_are_blamed_on_the_model_not_the_attack(model, data):
    import keras

    inputs = keras.Input(model.input_shape[1:])
    # Finite logits (sqrt(0) = 0), NaN input gradients (0 · ∞ in the chain rule at 0).
    poison = keras.layers.Lambda(
        lambda x: keras.ops.sum(keras.ops.sqrt(x * 0.0), axis=(1, 2, 3))[:, None]
    )
    broken = keras.Model(inputs, model(inputs) + poison(inputs))
    x, y = data
    with pytest.raises(ThreatModelViolation, match=r"model .* has NaN or inf .* not the attack"):
        evaluate(broken, helpers.dataset(x, y, 20), {"fgsm": FGSM(broken, eps=0.05)})
