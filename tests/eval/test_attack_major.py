"""Attack-major scheduling: the same records as batch-major, pooled attacks, exact resume."""

import json

import numpy as np
import pytest

from tests.eval import helpers
from tfls.eval import Cancelled, evaluate

SAME = ("batch", "n", "digest", "clean", "robust", "attacked", "nonfinite")


@pytest.fixture(scope="module")
def model():
    return helpers.tiny_model(seed=0)


@pytest.fixture(scope="module")
def data(model):
    return helpers.tiny_data(model, n=60, seed=0, correct=0.9)


def records(out):
    lines = (out / "batches.jsonl").read_text().splitlines()
    return [{k: r[k] for k in SAME} for r in map(json.loads, lines)]


def steps(out):
    return [json.loads(line) for line in (out / "pending.jsonl").read_text().splitlines()]


def numbers(report):
    return (
        report.images,
        report.clean_correct,
        {k: (a.robust, a.attacked, a.cumulative_robust) for k, a in report.attacks.items()},
        report.worst_case,
    )


@pytest.mark.parametrize("individual", [True, False])
def test_deterministic_attacks_give_batch_major_records(model, data, tmp_path, individual):
    x, y = data
    ds = helpers.dataset(x, y, 16)
    attacks = helpers.deterministic_attacks(model, eps=0.1)
    straight = evaluate(model, ds, attacks, out=tmp_path / "b", individual=individual)
    pooled = evaluate(
        model,
        ds,
        attacks,
        out=tmp_path / "a",
        individual=individual,
        schedule="attack-major",
        pool_size=30,
    )
    assert records(tmp_path / "a") == records(tmp_path / "b")
    assert numbers(pooled) == numbers(straight)
    assert 0 < straight.worst_case < straight.clean_correct  # the attacks had work to do
    # Per attack, pools of whole batches of at most 30 points (or one batch): more than one.
    pools = [s for s in steps(tmp_path / "a") if s["step"] == "attack" and s["attack"] == "fgsm"]
    assert len(pools) >= 2
    for pool in pools:
        sizes = [b["attacked"] for b in pool["batches"]]
        assert sum(sizes) <= 30 or len(sizes) == 1


def test_sequential_pools_gather_the_still_robust_points_of_many_batches(model, data):
    x, y = data
    ds = helpers.dataset(x, y, 10)
    attacks = {
        "fgsm": helpers.deterministic_attacks(model, eps=0.1)["fgsm"],
        "counting": helpers.CountingAttack(model, eps=0.1),
    }
    helpers.CountingAttack.calls.clear()
    straight = evaluate(model, ds, attacks, individual=False)
    batch_calls = list(helpers.CountingAttack.calls)
    helpers.CountingAttack.calls.clear()
    pooled = evaluate(model, ds, attacks, individual=False, schedule="attack-major")
    assert numbers(pooled) == numbers(straight)
    assert len(batch_calls) >= 2 and helpers.CountingAttack.calls == [sum(batch_calls)]


def test_cancel_mid_attack_then_resume_equals_one_run_and_redoes_nothing(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, 10)
    # A seeded random attack too: a resumed run forms the same pools, so it draws the same.
    attacks = {
        "noise": helpers.NoiseAttack(model, eps=0.1, seed=3),
        "counting": helpers.CountingAttack(model, eps=0.1),
    }
    seen = []

    def stop_in_second_attack(p):
        seen.append(p.stage)
        if p.stage.startswith("counting"):
            raise Cancelled

    kw = {"schedule": "attack-major", "pool_size": 25, "individual": False}
    partial = evaluate(model, ds, attacks, out=tmp_path / "a", on_batch=stop_in_second_attack, **kw)
    assert not partial.complete and partial.images == 0
    done = (tmp_path / "a" / "pending.jsonl").read_text()
    assert [s.get("attack") for s in steps(tmp_path / "a")][-2:] == ["noise", "counting"]
    helpers.CountingAttack.calls.clear()
    resumed = evaluate(model, ds, attacks, out=tmp_path / "a", **kw)
    assert (tmp_path / "a" / "pending.jsonl").read_text().startswith(done)
    pairs = [
        (s["attack"], b["batch"])
        for s in steps(tmp_path / "a")
        if "attack" in s
        for b in s["batches"]
    ]
    assert len(pairs) == len(set(pairs)) == 12, "a finished pool was redone"
    resumed_calls = list(helpers.CountingAttack.calls)
    helpers.CountingAttack.calls.clear()
    straight = evaluate(model, ds, attacks, out=tmp_path / "b", **kw)
    assert resumed.complete and numbers(resumed) == numbers(straight)
    assert records(tmp_path / "a") == records(tmp_path / "b")
    # Only the pools the cancelled run had not finished were attacked again.
    assert resumed_calls == helpers.CountingAttack.calls[1:]
    assert seen[-1].startswith("counting")


def test_torn_pending_line_is_redone(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, 16)
    attacks = helpers.deterministic_attacks(model, eps=0.1)
    kw = {"schedule": "attack-major", "pool_size": 20}
    straight = evaluate(model, ds, attacks, out=tmp_path / "b", **kw)
    stop = lambda p: not p.stage.startswith("fgsm")  # noqa: E731  (after the first fgsm pool)
    evaluate(model, ds, attacks, out=tmp_path / "a", on_batch=stop, **kw)
    assert steps(tmp_path / "a")[-1]["attack"] == "fgsm"
    path = tmp_path / "a" / "pending.jsonl"
    text = path.read_text()
    path.write_text(text[:-30])  # killed while writing its last step
    assert numbers(evaluate(model, ds, attacks, out=tmp_path / "a", **kw)) == numbers(straight)
    assert records(tmp_path / "a") == records(tmp_path / "b")


def test_schedule_is_part_of_the_fingerprint_and_checked(model, data, tmp_path):
    x, y = data
    ds = helpers.dataset(x, y, 20)
    attacks = helpers.deterministic_attacks(model)
    evaluate(model, ds, attacks, out=tmp_path)
    with pytest.raises(ValueError, match=r"different evaluation.*schedule"):
        evaluate(model, ds, attacks, out=tmp_path, schedule="attack-major")
    # Work held only in pending.jsonl (no batch finished yet) is protected all the same.
    stop = lambda p: not p.stage.startswith("fgsm")  # noqa: E731
    evaluate(model, ds, attacks, out=tmp_path / "p", schedule="attack-major", on_batch=stop)
    assert not (tmp_path / "p" / "batches.jsonl").exists()
    with pytest.raises(ValueError, match=r"different evaluation.*attacks\.fgsm\.eps"):
        other = helpers.deterministic_attacks(model, eps=0.07)
        evaluate(model, ds, other, out=tmp_path / "p", schedule="attack-major")
    with pytest.raises(ValueError, match=r"Received: schedule='attack-first'"):
        evaluate(model, ds, attacks, schedule="attack-first")
    with pytest.raises(ValueError, match=r"Received: pool_size=8"):
        evaluate(model, ds, attacks, pool_size=8)
    with pytest.raises(ValueError, match=r"Received: pool_size=0"):
        evaluate(model, ds, attacks, schedule="attack-major", pool_size=0)


def test_a_one_shot_dataset_is_refused(model, data):
    x, y = data
    batches = ((x[i : i + 20], y[i : i + 20]) for i in range(0, 60, 20))
    with pytest.raises(ValueError, match="re-iterable"):
        evaluate(model, batches, helpers.deterministic_attacks(model), schedule="attack-major")


def test_a_dataset_changing_between_passes_is_refused(model, data):
    x, y = data

    class Shifting:
        passes = 0

        def __iter__(self):
            Shifting.passes += 1
            shift = np.float32(0.01 * (Shifting.passes > 1))
            return iter([(np.clip(x[:20] + shift, 0, 1), y[:20])])

    with pytest.raises(ValueError, match="differs from the one whose results are stored"):
        evaluate(model, Shifting(), helpers.deterministic_attacks(model), schedule="attack-major")
