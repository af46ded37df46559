"""`tfls.analysis.logit_stats` against hand-computed values, and `tfls train` from the CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfls.analysis import logit_stats, logit_stats_from_logits
from tfls.cli.main import main


def test_logit_stats_hand_computed():
    logits = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]], np.float32)
    identity = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    ds = tf.data.Dataset.from_tensor_slices((logits, np.array([1, 2], np.int32))).batch(1)
    # margins: 3 - 2 = 1 and 5 - 0 = 5
    assert logit_stats(identity, ds) == pytest.approx({"min": -1.0, "max": 5.0, "mean_margin": 3.0})


def test_logit_stats_refuses_bad_input():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        logit_stats_from_logits(np.zeros(3))
    empty = tf.data.Dataset.from_tensor_slices(
        (np.zeros((0, 3), np.float32), np.zeros(0, np.int32))
    ).batch(2)
    with pytest.raises(ValueError, match="empty"):
        logit_stats(keras.Sequential([keras.Input((3,)), keras.layers.Identity()]), empty)


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--label-smoothing", "1.0"], "label_smoothing=1.0"),
        (["--method", "fgsm"], "method='fgsm'"),
        (["--dataset", "imagenet"], "dataset='imagenet'"),
        (["--method", "madry", "--eps", "-0.1"], "eps=-0.1"),
        (["--eps", "8/0"], "eps='8/0'"),
        (["--strategy", "tpu"], "strategy='tpu'"),
    ],
)
def test_cli_bad_input_is_one_line(flags, named, tmp_path, capsys):
    argv = [
        "train",
        "--dataset",
        "fashion_mnist",
        "--model",
        "cnn4",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(argv + flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_cli_trains_and_refuses_to_clobber(shared_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--dataset", "fashion_mnist", "--model", "cnn4", "--label-smoothing", "0.9",
            "--epochs", "1", "--limit", "128", "--batch-size", "64", "--out", str(out),
            "--data-dir", str(shared_data_dir), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert "clean accuracy" in capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    assert run["label_smoothing"] == 0.9 and run["method"] == "natural" and run["batch_size"] == 64
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    # Resuming a finished run trains nothing more and rewrites the same result.
    assert (
        main(
            ["train", "--out", str(out), "--resume", "--quiet", "--data-dir", str(shared_data_dir)]
        )
        == 0
    )
    assert json.loads((out / "run.json").read_text())["clean_accuracy"] == run["clean_accuracy"]
