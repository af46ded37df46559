"""AutoAttack: the standard protocol's order, robust accuracy ≤ every component's, components run
only on still-robust points, custom lists, bad arguments, config round trip."""

from __future__ import annotations

import numpy as np
import pytest

from tests.attacks.helpers import accuracy as _accuracy
from tests.tiny_models import trained_quadrant_cnn
from tfls.attacks import APGD, FAB, AutoAttack, Square, apgd, autoattack, fab, get, square
from tfls.attacks.autoattack import build_components

CHEAP = {
    "apgd-ce": {"steps": 8},
    "apgd-t": {"steps": 8, "n_targets": 2},
    "fab-t": {"steps": 8, "n_targets": 2},
    "square": {"n_queries": 80},
}


def _trained():
    """`tiny_models.trained_quadrant_cnn` and the first 64 of its training images."""
    model, x, y = trained_quadrant_cnn()
    return model, x[:64], y[:64]


def test_standard_version_is_the_published_protocol():
    model, _, _ = _trained()
    components = build_components(model, eps=8 / 255)
    assert [name for name, _ in components] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    (_, ce), (_, t), (_, f), (_, s) = components
    assert isinstance(ce, APGD) and (ce.loss, ce.targeted, ce.steps, ce.restarts) == (
        "ce",
        False,
        100,
        1,
    )
    assert isinstance(t, APGD) and (t.loss, t.targeted, t.n_targets, t.steps) == (
        "dlr",
        True,
        9,
        100,
    )
    assert isinstance(f, FAB) and (f.n_targets, f.steps, f.restarts) == (9, 100, 1)
    assert isinstance(s, Square) and s.n_queries == 5000


def test_robust_accuracy_at_most_every_components():
    model, x, y = _trained()
    eps = 0.07
    x_aa, robust_after = autoattack(model, x, y, eps=eps, overrides=CHEAP, return_robust=True)
    aa = _accuracy(model, x_aa, y)
    alone = {
        "apgd-ce": apgd(model, x, y, eps=eps, **CHEAP["apgd-ce"]),
        "apgd-t": apgd(model, x, y, eps=eps, loss="dlr", targeted=True, **CHEAP["apgd-t"]),
        "fab-t": fab(model, x, y, eps=eps, **CHEAP["fab-t"]),
        "square": square(model, x, y, eps=eps, **CHEAP["square"]),
    }
    accs = {name: _accuracy(model, x_adv, y) for name, x_adv in alone.items()}
    assert _accuracy(model, x, y) > aa  # the setting is one where attacks do something
    for name, acc in accs.items():
        assert aa <= acc, (name, aa, accs)
    # Robust masks only shrink along the chain, and the last one is the reported accuracy.
    masks = [np.asarray(robust_after[n]) for n in ("apgd-ce", "apgd-t", "fab-t", "square")]
    for before, after in zip(masks[:-1], masks[1:], strict=True):
        assert np.all(after <= before)
    assert masks[-1].mean() == pytest.approx(aa)
    # The first component ran on exactly the clean-correct points: rerunning it on that subset
    # reproduces its robust mask (random starts depend on the batch, so compare on the subset).
    correct = np.argmax(model(x), -1) == y
    sub = apgd(model, x[correct], y[correct], eps=eps, **CHEAP["apgd-ce"])
    np.testing.assert_array_equal(masks[0][correct], np.argmax(model(sub), -1) == y[correct])
    assert not masks[0][~correct].any()
    # Inside the ε-ball and the box.
    assert np.abs(np.asarray(x_aa) - x).max() <= eps + 1e-6
    assert np.asarray(x_aa).min() >= 0.0 and np.asarray(x_aa).max() <= 1.0


def test_later_components_run_only_on_still_robust_points():
    model, x, y = _trained()
    calls = []

    class Recording(APGD):
        def generate(self, xs, ys):
            calls.append(int(xs.shape[0]))
            return super().generate(xs, ys)

    attack = AutoAttack(
        model, eps=0.07, version="custom", attacks=["apgd-ce", "apgd-t"], overrides=CHEAP
    )
    attack.components = [
        (n, Recording(**{**a.get_config(), "model": model})) for n, a in attack.components
    ]
    x_adv, robust_after = autoattack(
        model,
        x,
        y,
        eps=0.07,
        version="custom",
        attacks=["apgd-ce"],
        overrides=CHEAP,
        return_robust=True,
    )
    attack(x, y)
    clean_correct = int(np.sum(np.argmax(model(x), -1) == y))
    assert calls[0] == clean_correct
    assert calls[1] == int(np.sum(robust_after["apgd-ce"]))
    assert calls[1] < calls[0]


def test_custom_list_layer_and_config_round_trip():
    model, x, y = _trained()
    attack = get("autoattack", model, eps=0.07, overrides=CHEAP)
    config = attack.get_config()
    assert AutoAttack.from_config(config).get_config() == config
    custom = AutoAttack(
        model, eps=0.07, version="custom", attacks=["square"], overrides=CHEAP, seed=3
    )
    np.testing.assert_array_equal(
        np.asarray(custom(x, y)), np.asarray(square(model, x, y, eps=0.07, n_queries=80, seed=3))
    )
    np.testing.assert_array_equal(np.asarray(AutoAttack(model, eps=0.0, overrides=CHEAP)(x, y)), x)
    # L2: every component supports it; the output stays inside the L2 ball.
    l2 = AutoAttack(
        model,
        eps=0.5,
        norm="l2",
        overrides=CHEAP,
    )
    out = np.asarray(l2(x[:16], y[:16]))
    assert np.sqrt(((out - x[:16]) ** 2).reshape(16, -1).sum(1)).max() <= 0.5 + 1e-5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"version": "plus"}, "version 'plus'"),
        ({"version": "custom"}, "attacks=None"),
        ({"version": "custom", "attacks": ["apgd-ce", "pgd20"]}, "'pgd20'"),
        ({"attacks": ["apgd-ce"]}, "version='custom'"),
        ({"overrides": {"square": {"eps": 0.1}}}, r"overrides\['square'\]\['eps'\]"),
        ({"overrides": {"sqaure": {}}}, "'sqaure'"),
        ({"overrides": {"apgd-ce": {"steps": 0}}}, "steps=0"),
    ],
)
def test_bad_arguments_are_named_before_any_work(kwargs, match):
    model, _, _ = _trained()
    with pytest.raises(ValueError, match=match):
        AutoAttack(model, eps=0.1, **kwargs)
