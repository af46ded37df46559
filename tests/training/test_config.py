"""TrainConfig defaults and validation, and the learning-rate schedule."""

from __future__ import annotations

import pytest

from tfls.training import PAPER_DEFAULTS, TrainConfig
from tfls.training.schedules import learning_rate, make_optimizer


def test_cifar_defaults_follow_the_papers():
    madry = TrainConfig("cifar10", "wrn-34-10", method="madry").resolved()
    assert (madry.optimizer, madry.lr, madry.momentum) == ("sgd", 0.1, 0.9)
    assert madry.eps == pytest.approx(8 / 255) and madry.attack_steps == 10
    assert madry.attack_step_size == pytest.approx(2 / 255) and madry.augment
    trades = TrainConfig("cifar100", "wrn-34-10", method="trades").resolved()
    assert trades.trades_beta == 6.0 and trades.lr_milestones == (0.75, 0.9)
    natural = TrainConfig("cifar10", "wrn-34-10").resolved()
    assert natural.weight_decay == 5e-4 and natural.lr_milestones == (0.5, 0.75)


def test_mnist_like_defaults_and_overrides():
    cfg = TrainConfig("fashion_mnist", "cnn4", label_smoothing=0.9).resolved()
    assert (cfg.optimizer, cfg.lr, cfg.augment, cfg.lr_schedule) == (
        "adam",
        1e-3,
        False,
        "constant",
    )
    madry = TrainConfig("mnist", "cnn4", method="madry", eps="0.2", lr=0.5, epochs=3).resolved()
    assert (madry.eps, madry.attack_steps, madry.attack_step_size) == (0.2, 40, 0.01)
    assert (madry.lr, madry.epochs) == (0.5, 3)
    assert set(PAPER_DEFAULTS) == {
        (f, m) for f in ("mnist", "cifar") for m in ("natural", "madry", "trades")
    }


def test_config_round_trips_through_a_dict():
    cfg = TrainConfig("cifar10", "small-cnn", method="trades", limit=100).resolved()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"dataset": "imagenet"}, "dataset='imagenet'"),
        ({"method": "fgsm"}, "method='fgsm'"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
        ({"label_smoothing": -0.1}, "label_smoothing=-0.1"),
        ({"eps": -0.1}, "eps=-0.1"),
        ({"eps": "eight"}, "eps='eight'"),
        ({"epochs": 0}, "epochs=0"),
        ({"lr": -1.0}, "lr=-1.0"),
        ({"optimizer": "rmsprop"}, "optimizer='rmsprop'"),
        ({"lr_milestones": (0.8, 0.5)}, "lr_milestones=(0.8, 0.5)"),
        # keras.utils.set_random_seed said only "Seed must be between 0 and 2**32 - 1".
        ({"seed": -1}, "seed=-1"),
        ({"seed": 2**32}, "seed=4294967296"),
    ],
)
def test_bad_config_is_refused_by_name(changes, named):
    base = {"dataset": "cifar10", "model": "small-cnn"}
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{**base, **changes}).resolved()


def test_piecewise_schedule_decays_at_the_milestones():
    cfg = TrainConfig("cifar10", "small-cnn", epochs=4).resolved()  # milestones 50%, 75%
    lr = learning_rate(cfg, steps_per_epoch=10)
    got = [float(lr(step)) for step in (0, 19, 21, 29, 31, 39)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    opt = make_optimizer(cfg, 10)
    assert opt.momentum == 0.9 and opt.weight_decay == pytest.approx(5e-4)
    assert learning_rate(TrainConfig("mnist", "cnn4").resolved(), 10) == 1e-3


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        (None, True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
        (
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                "task": {"type": "worker", "index": 0},
            },
            False,
        ),
        (
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                "task": {"type": "chief", "index": 0},
            },
            True,
        ),
    ],
)
def test_only_the_chief_writes(tf_config, chief, monkeypatch):
    import json

    from tfls import distribute

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribute.is_chief(None) is chief


def test_strategy_names_are_checked():
    from tfls import distribute

    with pytest.raises(ValueError, match="strategy='tpu'"):
        distribute.strategy("tpu")
    assert distribute.strategy("auto").num_replicas_in_sync == 1
