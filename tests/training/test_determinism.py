"""Same seed, same weights: training is bit-for-bit reproducible on one machine and TF version."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfls import training
from tfls.training import TrainConfig


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("method", ["natural", "madry"])
def test_two_one_epoch_runs_give_identical_weights(method, shared_data_dir, tmp_path):
    config = TrainConfig(
        "fashion_mnist",
        "cnn4",
        method=method,
        label_smoothing=0.9 if method == "natural" else 0.0,
        epochs=1,
        limit=512,
        batch_size=64,
        eps=0.03,
        attack_steps=2,
        attack_step_size=0.015,
        seed=3,
        data_dir=str(shared_data_dir),
    )
    first = training.train(config, tmp_path / "a")
    second = training.train(config, tmp_path / "b")
    a, b = _weights(first.model), _weights(second.model)
    assert len(a) == len(b) > 0
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert json.loads((tmp_path / "a" / "run.json").read_text())["deterministic"] is True
    # A different seed is a different model: the check above can fail.
    other = training.train(config.replace(seed=4), tmp_path / "c")
    assert any(not np.array_equal(x, y) for x, y in zip(a, _weights(other.model), strict=True))


def test_the_cli_has_the_opt_out(capsys):
    from tfls.cli.main import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--no-determinism" in capsys.readouterr().out


def test_a_run_resumed_across_the_setting_is_not_called_deterministic(shared_data_dir, tmp_path):
    config = TrainConfig(
        "fashion_mnist", "cnn4", epochs=2, limit=256, batch_size=64, data_dir=str(shared_data_dir)
    )

    def stop(epoch, logs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.train(config, tmp_path / "run", deterministic=False, on_epoch=stop)
    training.train(None, tmp_path / "run", resume=True)  # the second epoch, deterministic
    assert json.loads((tmp_path / "run" / "run.json").read_text())["deterministic"] is False
