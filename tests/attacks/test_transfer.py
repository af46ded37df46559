"""TransferAttack: returns exactly the inner attack's points on the source, takes ε/norm/seed from
it, round-trips its config, builds presets with a named source, and transfers to a second model."""

from __future__ import annotations

import numpy as np
import pytest

import tfls.attacks as attacks
from tests.tiny_models import make_prototype_data, tiny_mlp, trained_tiny_mlp
from tfls.attacks import PGD, TransferAttack


def _model(seed=0):
    return tiny_mlp(hidden=None, seed=seed)


def test_returns_the_inner_attack_points_and_takes_its_config(trained_mlp):
    source = trained_mlp
    x, y = make_prototype_data(16, seed=3)
    inner = PGD(source, eps=0.05, steps=5, norm="l2", seed=4)
    transfer = TransferAttack(source, inner)
    assert (transfer.eps, transfer.norm, transfer.seed) == (0.05, "l2", 4)
    np.testing.assert_array_equal(transfer(x, y), inner(x, y))
    by_name = TransferAttack(source, "pgd20", eps=0.05, seed=4)
    np.testing.assert_array_equal(
        by_name(x, y), attacks.get("pgd20", source, eps=0.05, seed=4)(x, y)
    )
    np.testing.assert_array_equal(TransferAttack(source, "pgd20", eps=0.0)(x, y), x)


def test_bad_arguments_are_named():
    source, other = _model(0), _model(1)
    with pytest.raises(ValueError, match="eps=None"):
        TransferAttack(source, "pgd20")
    with pytest.raises(ValueError, match="pgd20"):
        TransferAttack(source, "pgd-21", eps=0.1)
    with pytest.raises(ValueError, match="built on `source_model`"):
        TransferAttack(source, PGD(other, eps=0.1))
    with pytest.raises(ValueError, match="eps=0.2"):
        TransferAttack(source, PGD(source, eps=0.1), eps=0.2)
    with pytest.raises(ValueError, match="attack=42"):
        TransferAttack(source, 42)


def test_config_round_trip_keeps_one_source_and_the_same_points(trained_mlp):
    source = trained_mlp
    x, y = make_prototype_data(8, seed=5)
    transfer = TransferAttack(source, attacks.get("mt", source, eps=0.05, restarts=2, steps=3))
    config = transfer.get_config()
    assert "model" not in config["attack"]["config"]  # the source is stored once
    clone = TransferAttack.from_config(config)
    assert clone.get_config() == config
    assert clone.attack.model is clone.source_model
    assert clone.attack.restarts == 2
    # Configs carry architectures, not weights (as every Keras config): copy them over, then the
    # rebuilt attack must craft the same points.
    clone.source_model.set_weights(source.get_weights())
    np.testing.assert_allclose(clone(x, y), transfer(x, y), atol=1e-6)


def test_preset_needs_a_named_source():
    target, source = _model(0), _model(1)
    with pytest.raises(ValueError, match="source=None"):
        attacks.get("transfer-pgd20", target, eps=0.1)
    attack = attacks.get("transfer-pgd20", target, eps=0.1, source=source, steps=7)
    assert attack.source_model is source and attack.attack.model is source
    assert attack.attack.steps == 7 and attack.attack.step_size == pytest.approx(0.01)


def test_points_crafted_on_one_model_transfer_to_another():
    source, target = trained_tiny_mlp(seed=0), trained_tiny_mlp(seed=1)
    x, y = make_prototype_data(128, seed=6)
    eps = 0.1
    clean = float(np.mean(np.argmax(target(x), -1) == y))
    x_adv = attacks.get("transfer-pgd20", target, eps=eps, source=source)(x, y)
    transferred = float(np.mean(np.argmax(target(x_adv), -1) == y))
    white_box = float(
        np.mean(np.argmax(target(attacks.get("pgd20", target, eps=eps)(x, y)), -1) == y)
    )
    assert white_box <= transferred < clean - 0.1, (white_box, transferred, clean)
