"""`tfls bench autoattack --pytorch`: the PyTorch copy of a Keras model, and fra31's rows."""

import json

import numpy as np
import pytest

from tests.tiny_models import tiny_conv
from tfls.cli.main import main

torch = pytest.importorskip("torch")
reference = pytest.importorskip("tfls.bench.pytorch")


def _images(shape, n=6, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


def _cnn4_like(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(4, 3, strides=2)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def _residual(seed=0):
    """A pre-activation residual block with TensorFlow's asymmetric 'same' padding at stride 2."""
    import keras

    from tfls.models.layers import Standardize

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((10, 10, 3))
    x = Standardize((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    pre = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    y = keras.layers.Conv2D(6, 3, strides=2, padding="same", use_bias=False)(pre)
    y = keras.layers.Conv2D(6, 3, padding="same", use_bias=False)(keras.layers.ReLU()(y))
    shortcut = keras.layers.Conv2D(6, 1, strides=2, padding="same", use_bias=False)(pre)
    x = keras.layers.Add()([shortcut, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _wrn():
    from tfls.models import build

    return build("wrn-16-4", num_classes=10, input_shape=(32, 32, 3), seed=0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: tiny_conv((8, 8, 1), 10, seed=0, filters=3),
        lambda: tiny_conv((9, 9, 2), 4, seed=1, filters=3, strides=2, pool="average"),
        lambda: tiny_conv((8, 8, 3), 7, seed=2, padding="same"),
        _cnn4_like,
        _residual,
        _wrn,
    ],
    ids=[
        "flatten",
        "strided-average",
        "same-padding",
        "conv-bn-pool-dense",
        "residual",
        "wrn-16-4",
    ],
)
def test_the_pytorch_copy_gives_the_keras_logits(build):
    import keras

    model = build()
    if any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        # Non-trivial moving statistics, so that a wrong copy of them would show.
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                rng = np.random.default_rng(3)
                for w in layer.weights:
                    w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    x = _images(model.input_shape[1:], n=3)
    net = reference.to_torch(model, x)  # checks the logits itself
    with torch.no_grad():
        copied = net(reference.nchw(x)).numpy()
    np.testing.assert_allclose(copied, np.asarray(model(x, training=False)), atol=1e-4)


def test_a_copy_that_disagrees_is_refused(monkeypatch):
    model = tiny_conv((8, 8, 2), 10, seed=0, filters=3)
    # Flattening channels-first instead of Keras' channels-last: the check must catch it.
    monkeypatch.setattr(reference.FlattenNHWC, "forward", lambda self, t: t.flatten(1))
    with pytest.raises(ValueError, match=r"disagrees with it: max \|logit gap\|"):
        reference.to_torch(model, _images((8, 8, 2)))


def test_a_layer_without_a_copy_is_named():
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="tanh")])
    with pytest.raises(ValueError, match=r"activation 'tanh'.*Received: 'tanh'"):
        reference.to_torch(model)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.LayerNormalization()])
    with pytest.raises(ValueError, match=r"LayerNormalization.*takes Conv2D"):
        reference.to_torch(model)


@pytest.mark.parametrize(
    "library, module", [("fra31", "autoattack"), ("torchattacks", "torchattacks")]
)
def test_pytorch_rows_sit_beside_tfls_on_the_same_budget(
    library, module, shared_data_dir, tmp_path
):
    pytest.importorskip(module)
    model = tmp_path / "tiny.keras"
    tiny_conv((28, 28, 1), 10, seed=0, filters=4, strides=2).save(model)
    out = tmp_path / "aa.json"
    args = [
        "bench", "autoattack", "--model", str(model), "--dataset", "fashion_mnist",
        "--data-dir", str(shared_data_dir), "--n", "4", "--eps", "0.1", "--no-art",
        f"--pytorch={library}", "--components", "apgd-ce,fab-t,square", "--budget=apgd-ce.steps=3",
        "--budget=fab-t.steps=3", "--budget=fab-t.n_targets=2", "--budget=square.n_queries=12",
        "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    result = json.loads(out.read_text())
    rows = {(r["component"], r["library"]): r for r in result["rows"]}
    assert list(rows) == [
        (c, lib) for c in ("apgd-ce", "fab-t", "square") for lib in ("tfls", library)
    ]
    peer = {c: rows[c, library] for c in ("apgd-ce", "fab-t", "square")}
    # The peer ran on the copy (its passes counted there) within the same budget: 3 APGD steps,
    # 2 targets × 3 FAB steps, 12 Square queries, each with a few checks of its own (per image
    # over all 4: clean mistakes are not attacked).
    assert 0 < peer["apgd-ce"]["backwards_per_image"] <= 3 + 2
    assert 0 < peer["fab-t"]["backwards_per_image"] <= 2 * (3 + 1)
    assert (
        peer["square"]["backwards_per_image"] == 0
        and 0 < peer["square"]["forwards_per_image"] <= 12 + 6
    )
    assert all(r["efficiency"] is None for r in peer.values())
    assert "torch" in result["versions"]
    assert f"{bench_peers()[library]} s / tfls s" in (tmp_path / "aa.md").read_text()


def bench_peers():
    from tfls.bench.autoattack_peers import PEERS

    return PEERS


def test_a_peer_row_says_where_the_copy_and_keras_disagree(shared_data_dir, tmp_path, monkeypatch):
    pytest.importorskip("torchattacks")
    model = tmp_path / "tiny.keras"
    tiny_conv((28, 28, 1), 10, seed=0, filters=4, strides=2).save(model)
    # A copy that calls every point a class Keras does not: the note must count all of them.
    monkeypatch.setattr(reference, "predict", lambda net, x: np.full(len(x), -1))
    out = tmp_path / "aa.json"
    args = [
        "bench", "autoattack", "--model", str(model), "--dataset", "fashion_mnist",
        "--data-dir", str(shared_data_dir), "--n", "4", "--eps", "0.1", "--no-art",
        "--pytorch=torchattacks", "--components", "apgd-ce", "--budget=apgd-ce.steps=2",
        "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    tfls_row, peer = json.loads(out.read_text())["rows"]
    assert tfls_row["note"] == ""
    assert peer["note"].startswith("4 of 4 points: the PyTorch copy and Keras predict different")
    assert "torchattacks apgd-ce: 4 of 4 points" in (tmp_path / "aa.md").read_text()


def test_the_counted_copy_stays_in_inference_mode():
    """A library that calls `.train()` on the model it was given (torchattacks restores the flag
    it found) must not switch the copy's BatchNorm to batch statistics."""
    model = _cnn4_like()
    x = _images(model.input_shape[1:], n=4)
    counted = reference.Counted(reference.to_torch(model, x))
    counted.train()
    assert not any(m.training for m in counted.modules())
    np.testing.assert_allclose(
        reference.predict(counted, x), np.argmax(np.asarray(model(x, training=False)), -1)
    )
    with torch.no_grad():
        counted(reference.nchw(x))
    assert counted.forwards == 4 + 4 and counted.backwards == 0  # predict, then the call
