"""`tfls.models.build`: architectures, parameter counts, logits, seeds, names and saving."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tfls
from tfls import models
from tfls._validation import check_logits

MNIST = (28, 28, 1)
CIFAR = (32, 32, 3)


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


PARAM_COUNTS = [
    ("cnn4", MNIST, 312_202),  # 320 + 9,248 + 18,496 + 36,928 + 205,000 + 40,200 + 2,010
    ("small-cnn", CIFAR, 72_954),
    ("wrn-16-4", CIFAR, 2_748_890),
    ("wrn-28-10", CIFAR, 36_479_194),
    ("wrn-34-10", CIFAR, 46_160_474),  # the 46.16M of TRADES' WRN-34-10
    ("preact-resnet18", CIFAR, 11_172_170),
]


@pytest.mark.parametrize("name,shape,count", PARAM_COUNTS)
def test_parameter_counts(name, shape, count):
    model = models.build(name, num_classes=10, input_shape=shape)
    assert _trainable(model) == count


def test_cnn4_layout_is_the_carlini_wagner_net():
    model = models.build("cnn4", num_classes=10, input_shape=MNIST)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    assert [d.units for d in dense] == [200, 200, 10]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 2


@pytest.mark.parametrize(
    "name,shape",
    [("cnn4", MNIST), ("small-cnn", CIFAR), ("wrn-10-1", CIFAR), ("preact-resnet18", (16, 16, 3))],
)
def test_outputs_are_logits_of_the_right_shape(name, shape):
    model = models.build(name, num_classes=7, input_shape=shape, seed=0)
    x = np.random.default_rng(0).random((3, *shape), dtype=np.float32)
    out = model(x, training=False).numpy()
    assert out.shape == (3, 7) and np.isfinite(out).all()
    check_logits(out)  # raises on softmax-like outputs
    assert model.layers[-1].get_config()["activation"] == "linear"


def test_same_seed_same_weights_other_seed_other_weights():
    a = models.build("wrn-10-1", num_classes=10, input_shape=CIFAR, seed=5)
    b = models.build("wrn-10-1", num_classes=10, input_shape=CIFAR, seed=5)
    c = models.build("wrn-10-1", num_classes=10, input_shape=CIFAR, seed=6)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    kernels = [
        (wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights(), strict=True) if wa.ndim == 4
    ]
    assert all(not np.array_equal(wa, wc) for wa, wc in kernels)
    # Layers of one model get different seeds (no two identical kernels).
    same_shape = [w for w in a.get_weights() if w.shape == (3, 3, 16, 16)]
    assert len(same_shape) >= 2 and not np.array_equal(same_shape[0], same_shape[1])


def test_wider_variants_parse():
    wide = models.build("preact-resnet18-w2", num_classes=10, input_shape=(8, 8, 3))
    assert wide.get_layer("conv1").filters == 128
    assert _trainable(wide) > 3.9 * 11_172_170
    assert models.build("WRN-22-2", num_classes=10, input_shape=(8, 8, 3)).name == "wrn_22_2"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="resnet50"), r"Unknown model 'resnet50'.*cnn4.*small-cnn.*wrn-34-10"),
        (dict(name="wrn-15-2"), "depth=15"),
        (dict(name="wrn-16-0"), "width=0"),
        (dict(name=None), "name=None"),
        (dict(num_classes=1), "num_classes=1"),
        (dict(input_shape=(32, 32)), r"input_shape=\(32, 32\)"),
        (dict(input_shape=(0, 32, 3)), r"input_shape=\(0, 32, 3\)"),
        (dict(seed=1.5), "seed=1.5"),
        (dict(name="cnn4", input_shape=(8, 8, 1)), r"input_shape=\(8, 8, 1\)"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(name="small-cnn", num_classes=10, input_shape=CIFAR) | kwargs
    with pytest.raises(ValueError, match=match):
        models.build(args.pop("name"), **args)


def test_every_name_is_built_and_counted_above():
    assert set(models.NAMES) == {name for name, _, _ in PARAM_COUNTS}


def test_standardize_layer_values_and_config():
    layer = models.Standardize(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    out = layer(np.ones((1, 1, 1, 3), np.float32)).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 3.0, 0.5])
    clone = models.Standardize.from_config(layer.get_config())
    assert (clone.mean, clone.std) == (layer.mean, layer.std)
    assert keras.saving.get_registered_name(models.Standardize) == "tfls>Standardize"
    with pytest.raises(ValueError, match="std"):
        models.Standardize(mean=0.0, std=(1.0, 0.0))
    with pytest.raises(ValueError, match="mean"):
        models.Standardize(mean=(0.1, 0.2), std=1.0)(np.ones((1, 2, 2, 3), np.float32))


def test_saved_model_loads_in_a_fresh_process_with_identical_logits(tmp_path):
    model = models.build("small-cnn", num_classes=10, input_shape=(16, 16, 3), seed=1)
    x = np.random.default_rng(1).random((4, 16, 16, 3), dtype=np.float32)
    expected = model(x, training=False).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, keras
        import tfls.models  # registers the tfls custom layers (bare `import tfls` is lazy)
        model = keras.models.load_model({str(path)!r})
        assert any(type(l).__name__ == "Standardize" for l in model.layers)
        assert "textual" not in sys.modules
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "out.npy")!r}, model(x, training=False).numpy())
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    assert tfls.models is models
