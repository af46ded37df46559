"""`tfls.models.load`: .keras, legacy .h5 and SavedModel (any signature); one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import tiny_conv
from tfls.models import load


@pytest.fixture(scope="module")
def conv():
    return tiny_conv((8, 8, 3), 4, seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, 8, 8, 3), dtype=np.float32)


def test_keras_and_h5_files_load(conv, images, tmp_path):
    conv.save(tmp_path / "m.keras")
    conv.save(tmp_path / "m.h5")
    for name in ("m.keras", "m.h5"):
        model, run = load(tmp_path / name)
        assert run == {}
        np.testing.assert_allclose(np.asarray(model(images)), np.asarray(conv(images)), 1e-5)


def test_saved_model_loads_with_the_signature_shape(conv, images, tmp_path):
    conv.export(tmp_path / "sm", verbose=False)
    model, run = load(tmp_path / "sm")
    assert run == {} and model.input_shape == (None, 8, 8, 3) and model.output_shape[-1] == 4
    np.testing.assert_allclose(np.asarray(model(images)), np.asarray(conv(images)), atol=1e-5)
    served, _ = load(tmp_path / "sm", signature="serve")
    np.testing.assert_allclose(np.asarray(served(images)), np.asarray(conv(images)), atol=1e-5)
    with pytest.raises(ValueError, match=r"no signature 'predict' \(signatures: serve, serving_"):
        load(tmp_path / "sm", signature="predict")


def test_a_saved_model_is_attacked_without_xla_on_cpu(tmp_path):
    """Its layers are hidden behind TFSMLayer: `jit_compile="auto"` assumes convolutions (XLA
    ~8× slower on CPU, and without a deterministic MaxPool gradient under op determinism)."""
    from tests.tiny_models import tiny_mlp
    from tfls.attacks.compiling import resolve_jit

    mlp = tiny_mlp((8, 8, 3), 4, seed=0)
    mlp.export(tmp_path / "mlp", verbose=False)
    model, _ = load(tmp_path / "mlp")
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("auto is XLA on accelerators")
    assert resolve_jit("auto", mlp) is True  # visible layers, no convolution: XLA on CPU
    assert resolve_jit("auto", model) is False


def test_saved_model_without_a_serving_signature(tmp_path):
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "bare"))
    with pytest.raises(ValueError, match=r"signatures: none\).*--signature") as info:
        load(tmp_path / "bare")
    assert "\n" not in str(info.value)


def test_other_paths_are_one_line(conv, tmp_path):
    with pytest.raises(FileNotFoundError, match="No model at"):
        load(tmp_path / "missing.keras")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="is not a Keras model"):
        load(tmp_path / "notes.txt")
    (tmp_path / "fake.keras").write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip archive"):
        load(tmp_path / "fake.keras")
    (tmp_path / "fake.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable Keras model"):
        load(tmp_path / "fake.h5")
    conv.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="SavedModel directory only"):
        load(tmp_path / "m.keras", signature="serving_default")


def test_a_model_with_several_outputs_is_refused_at_load(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    keras.Model(inputs, [keras.layers.Dense(4)(flat), keras.layers.Dense(2)(flat)]).save(
        tmp_path / "two.keras"
    )
    keras.Model(inputs, {"logits": keras.layers.Dense(4)(flat)}).save(tmp_path / "dict.keras")
    with pytest.raises(ValueError) as info:
        load(tmp_path / "two.keras")
    message = str(info.value)
    assert "\n" not in message and "two.keras` has 2 outputs ((None, 4), (None, 2))" in message
    with pytest.raises(ValueError, match=r"dict\.keras` outputs a dict of 1 tensor \('logits'"):
        load(tmp_path / "dict.keras")


def test_a_folder_that_holds_no_model_and_a_path_that_is_no_path(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(FileNotFoundError) as info:
        load(tmp_path / "images")
    message = str(info.value)
    assert "\n" not in message
    assert (
        "neither a tfls run folder (model.keras is missing) nor a TensorFlow SavedModel" in message
    )
    with pytest.raises(ValueError, match=r"Received: model=3"):
        load(3)
